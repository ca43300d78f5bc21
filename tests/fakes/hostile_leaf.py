#!/usr/bin/env python3
"""A tool process that tries to outlive its run (tests/test_hostile_processes.py).

    hostile_leaf.py TOKEN PIDFILE MODES

MODES is a comma list of: clear-env (re-exec with an empty environment, so no marker is
inherited), setsid (a session of its own, out of reach of any group kill), double-fork (the
daemon trick: the process the shim started exits at once), fork-hop (forever: fork a child,
then exit, so no pid lives long). It ignores SIGINT, SIGTERM and SIGHUP. TOKEN is in argv
(an environment can be cleared, argv is what `ps` shows) so the test finds every copy; each
copy appends its pid to PIDFILE once it has settled (the first line means "ready").
"""

import os
import signal
import sys
import time

token, pidfile, modes = sys.argv[1], sys.argv[2], set(sys.argv[3].split(","))
if "clear-env" in modes:  # (not `if os.environ`: Python may set LC_CTYPE itself, PEP 538)
    rest = ",".join(sorted(modes - {"clear-env"})) or "none"
    os.execve(sys.executable, [sys.executable, os.path.abspath(__file__), token, pidfile, rest], {})
for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(sig, signal.SIG_IGN)
if "setsid" in modes:
    os.setsid()
if "double-fork" in modes:
    if os.fork():
        os._exit(0)
    os.setsid()
    if os.fork():
        os._exit(0)


def note() -> None:
    with open(pidfile, "a") as f:
        f.write(f"{os.getpid()}\n")


if "fork-hop" in modes:
    while True:
        note()
        time.sleep(0.01)
        if os.fork():
            os._exit(0)
note()
while True:
    time.sleep(1000)
