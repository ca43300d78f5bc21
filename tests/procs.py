"""Find processes a test left behind.

Every test that starts a process puts a unique mark in its environment
(MARK_ENV=<uuid>). Environments are inherited, so the mark follows every
descendant, even ones that escaped into another process group or session, or
were reparented to init. Scanning /proc for the mark therefore finds leftovers
that a pid list or process-group walk would miss. Linux only.
"""

from __future__ import annotations

import os
import signal
import time
import uuid

MARK_ENV = "CODEX_SHIMS_TEST_MARK"


def new_mark() -> str:
    return uuid.uuid4().hex


def _state(pid: int) -> str | None:
    """The one-letter state from /proc/<pid>/stat, or None if the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # comm is in parentheses and may itself contain ") ", so split at the last one.
    rest = stat.rpartition(b")")[2].split()
    return rest[0].decode() if rest else None


def _has_mark(pid: int, needle: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return needle in f.read().split(b"\0")
    except OSError:  # vanished, or someone else's process we may not read
        return False


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except OSError:
        return ""


def processes_with_mark(mark: str) -> list[tuple[int, str]]:
    """(pid, cmdline) of every live, non-zombie process whose environment holds the mark."""
    return processes_with_env(MARK_ENV, mark)


def processes_with_env(name: str, value: str) -> list[tuple[int, str]]:
    """(pid, cmdline) of every live, non-zombie process whose environment has name=value. For
    processes a host starts with an environment of its own (Codex gives an MCP server only a
    few variables), a value unique to the test, such as its HOME, does what the mark does."""
    needle = f"{name}={value}".encode()
    me = os.getpid()  # the test process may carry the mark itself; it is not "left"
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        pid = int(name)
        if not _has_mark(pid, needle):
            continue
        # A zombie has already exited; it only waits for its parent to reap it.
        state = _state(pid)
        if state is None or state in ("Z", "X"):
            continue
        found.append((pid, _cmdline(pid)))
    return found


def wait_no_processes(mark: str, timeout_s: float = 5.0, *, env: tuple[str, str] | None = None
                      ) -> list[tuple[int, str]]:
    """Poll until no marked process (or none with `env`'s name=value) is left or the time is
    up; return what is left."""
    deadline = time.monotonic() + timeout_s
    while True:
        left = processes_with_env(*env) if env else processes_with_mark(mark)
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.05)


def kill_marked(mark: str) -> None:
    """SIGKILL every marked process, by pid. Cleanup only, after an assertion failed."""
    for pid, _ in processes_with_mark(mark):
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
