"""A cgroup v2 per run: the kernel's own list of the run's processes (CONTRACT §14). Linux only.

The vendor is moved into a fresh child of the shim's own v2 cgroup as soon as it has started,
with whatever it forked before the move (after it, a fork lands inside), and whatever it started, in any session or group, with any
environment, is killed at the end with one write to `cgroup.kill`. The guardian, which is not
in the run cgroup, does the same when the shim itself was killed.

Used where the machine offers it: a cgroup2 mount (/proc/self/mountinfo), the shim's own v2
cgroup (the `0::` line of /proc/self/cgroup) writable by us, and `cgroup.kill` (Linux 5.14).
Anywhere else (non-root without a delegated cgroup, no cgroup2 mount, CODEX_SHIMS_CGROUP=off)
`create()` returns None and the run relies on the subreaper and the guardian (shims.runtime.procs).
"""

from __future__ import annotations

import os
import time

PREFIX = "codex-shims-"
DISABLE_ENV = "CODEX_SHIMS_CGROUP"  # "off" (or "0") disables the run cgroup


def _v2_base() -> str | None:
    """The shim's own v2 cgroup folder, or None."""
    try:
        with open("/proc/self/mountinfo", "rb") as f:
            mounts = f.read().decode("utf-8", "replace").splitlines()
        with open("/proc/self/cgroup", "rb") as f:
            own = [line[3:] for line in f.read().decode("utf-8", "replace").splitlines() if line.startswith("0::")]
    except OSError:
        return None
    if not own:
        return None
    for line in mounts:
        fields, sep, tail = line.partition(" - ")
        if sep and tail.split(" ", 1)[0] == "cgroup2":
            parts = fields.split()
            if len(parts) > 4 and parts[3] == "/":
                return os.path.join(parts[4], own[0].lstrip("/")).rstrip("/") or "/"
    return None


def is_member(pid: int, rel: str) -> bool:
    """Whether the process is in the v2 cgroup `rel` (as /proc/<pid>/cgroup names it)."""
    try:
        with open(f"/proc/{pid}/cgroup", "rb") as f:
            return f"0::{rel}".encode() in f.read().splitlines()
    except OSError:
        return False


class RunCgroup:
    """One run's cgroup: `path` on disk, `rel` as /proc/<pid>/cgroup names it."""

    def __init__(self, path: str, rel: str) -> None:
        self.path = path
        self.rel = rel

    def adopt(self, pid: int) -> bool:
        """Move a started process into the cgroup, then whatever it forked before the move (a
        fork waits while a move is under way, and lands inside after it), until all of its
        tree is inside. From the parent, after the exec: a move waits for an RCU grace period
        (~10 ms), which the vendor's own start-up then overlaps instead of the shim's wait for
        the exec. True when `pid` is inside."""
        from shims.runtime.procs import tree

        procs_file = os.path.join(self.path, "cgroup.procs")
        moved: set[int] = set()
        for _ in range(8):
            todo = [p for p in (pid, *tree(pid)) if p not in moved and not self.holds(p)]
            if not todo:
                break
            for p in todo:
                try:
                    with open(procs_file, "w") as f:
                        f.write(str(p))
                except OSError:
                    pass  # gone already, or not ours to move
                moved.add(p)
        return self.holds(pid)

    def holds(self, pid: int) -> bool:
        return is_member(pid, self.rel)

    def populated(self) -> bool:
        return populated(self.path)

    def kill_all(self, wait_s: float = 2.0) -> bool:
        """SIGKILL every process in the cgroup, wait (bounded) until it is empty, remove it.
        True when it was emptied."""
        return kill_and_remove(self.path, wait_s)


def populated(path: str) -> bool:
    try:
        with open(os.path.join(path, "cgroup.events"), "rb") as f:
            return b"populated 1" in f.read()
    except OSError:
        return False


def kill_and_remove(path: str, wait_s: float = 2.0) -> bool:
    try:
        with open(os.path.join(path, "cgroup.kill"), "wb") as f:
            f.write(b"1")
    except OSError:
        pass
    end = time.monotonic() + wait_s
    delay = 0.001
    while populated(path) and time.monotonic() < end:
        time.sleep(delay)  # the kernel empties it within a few scheduler ticks
        delay = min(delay * 2, 0.02)
    try:
        os.rmdir(path)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return True


def _owner_gone(name: str) -> bool:
    pid = name[len(PREFIX):].split("-", 1)[0]
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def sweep(base: str) -> None:
    """Remove run cgroups whose shim is gone (a guardian that could not finish, a crash)."""
    try:
        names = [n for n in os.listdir(base) if n.startswith(PREFIX)]
    except OSError:
        return
    for name in names:
        if _owner_gone(name):
            kill_and_remove(os.path.join(base, name), wait_s=0.2)


def create(run_id: str) -> RunCgroup | None:
    """A new, empty cgroup for this run, or None where none can be made."""
    if os.environ.get(DISABLE_ENV, "").lower() in ("off", "0", "no", "false"):
        return None
    base = _v2_base()
    if base is None or not os.path.exists(os.path.join(base, "cgroup.procs")):
        return None
    sweep(base)
    name = f"{PREFIX}{os.getpid()}-{run_id[:12]}"
    path = os.path.join(base, name)
    try:
        os.mkdir(path)
    except OSError:
        return None
    if not os.path.exists(os.path.join(path, "cgroup.kill")):  # before Linux 5.14
        try:
            os.rmdir(path)
        except OSError:
            pass
        return None
    with open("/proc/self/cgroup", "rb") as f:
        own = next((ln[3:] for ln in f.read().decode("utf-8", "replace").splitlines() if ln.startswith("0::")), "/")
    rel = (own.rstrip("/") + "/" + name) if own != "/" else "/" + name
    return RunCgroup(path, rel)
