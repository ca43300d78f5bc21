"""HOSTILE_TOOL=kill0 / trap-kill0 (tests/fakes/hostile_vendor.sh): start the tool that signals
its own process group, wait until it has, then become the fake vendor.

The tool's parent never reaps it, so the shim finds the sender (alive, or a zombie that still
names its parent) when it looks: the case the shim defends. A parent that reaps at once — dash
collects a background child as soon as it exits, even in a loop of builtins — leaves the shim a
vanished sender, which counts as a cancel (README, "Not covered")."""

import os
import sys
import time

TOOLS = {
    "kill0": 'kill 0; echo >"$HOSTILE_READY"',
    "trap-kill0": "trap 'kill 0; echo >\"$HOSTILE_READY\"' EXIT; true",
}

here = os.path.dirname(os.path.abspath(__file__))
# posix_spawn, not subprocess: nothing here keeps a record that would wait() for it later.
os.posix_spawn("/bin/sh", ["sh", "-c", TOOLS[os.environ["HOSTILE_TOOL"]]], os.environ)
while not os.path.exists(os.environ["HOSTILE_READY"]):
    time.sleep(0.001)
os.execv(sys.executable, [sys.executable, os.path.join(here, "fake_vendor.py"), *sys.argv[1:]])
