"""Process groups, parent-death signals and leftover cleanup (CONTRACT §14). Linux only.

Two cases, decided once at start:
- the shim leads its own process group (codex-lab, a shell job): the vendor stays in that
  group, so a host's group SIGKILL reaches everything. The shim then signals only the members
  of its group that descend from it, by pid (never itself, never a pipeline neighbour).
- the shim does not lead its group: the vendor gets a group of its own, which the shim
  signals as a whole (it never signals a group it did not make).
The shim is a child subreaper, so grandchildren orphaned by a dying vendor are re-parented to
the shim and stay findable as its descendants.
"""

from __future__ import annotations

import ctypes
import os
import signal

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36

_libc = None


def _prctl(option: int, value: int) -> int:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc.prctl(option, value, 0, 0, 0)


def leads_own_group() -> bool:
    return os.getpgrp() == os.getpid()


def become_subreaper() -> bool:
    try:
        return _prctl(PR_SET_CHILD_SUBREAPER, 1) == 0
    except OSError:  # pragma: no cover - not Linux
        return False


def child_setup(own_group: bool, parent_pid: int):
    """A preexec function for the vendor: die with the shim, default signal dispositions
    (a shim started with SIGINT ignored must still be able to interrupt its vendor), and a
    group of its own when the shim does not lead one."""

    def setup() -> None:
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent_pid:  # the shim died between fork and prctl
            os._exit(137)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        if own_group:
            os.setpgid(0, 0)

    return setup


def _stat(pid: int) -> tuple[int, int, str] | None:
    """(ppid, pgid, state) of a live process, None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # comm may contain spaces and parentheses: split after the last ')'
    rest = data[data.rfind(b")") + 2 :].split()
    return int(rest[1]), int(rest[2]), rest[0].decode()


def descendants(root: int, pgid: int | None = None) -> list[int]:
    """Live (non-zombie) descendants of `root`, parents before children; only the members of
    process group `pgid` when given. One pass over /proc."""
    children: dict[int, list[int]] = {}
    table: dict[int, tuple[int, int, str]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        st = _stat(int(name))
        if st is None:
            continue
        children.setdefault(st[0], []).append(int(name))
        table[int(name)] = st
    out: list[int] = []
    stack = list(children.get(root, []))
    while stack:
        pid = stack.pop()
        _, group, state = table[pid]
        if state != "Z" and (pgid is None or group == pgid):
            out.append(pid)
        stack.extend(children.get(pid, []))
    return out


def group_descendants(pgid: int) -> list[int]:
    """Descendants of this process that are members of `pgid`."""
    return descendants(os.getpid(), pgid)


def owner_alive(pid: object, host: object) -> bool:
    """Whether the process that recorded itself as (pid, host) in a state file (a journal's
    meta.json, a worktree's owner file) still runs. Another host's process cannot be checked:
    it counts as gone only on this one."""
    if host != os.uname().nodename:
        return False
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def signal_pids(pids: list[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def reap_children() -> None:
    """Collect exit statuses of re-parented orphans (we are their subreaper)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


# ---------------------------------------------------------------------------- the guardian

RUN_MARK_ENV = "CODEX_SHIMS_RUN"


def processes_marked(run_id: str) -> list[int]:
    """Live processes whose environment carries this run's mark (our vendor and everything it
    started, whatever session or group they moved to)."""
    needle = f"{RUN_MARK_ENV}={run_id}".encode()
    me = os.getpid()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                env = f.read()
        except OSError:
            continue
        if needle in env.split(b"\0"):
            st = _stat(int(name))
            if st is not None and st[2] != "Z":
                found.append(int(name))
    return found


def start_guardian(run_id: str, scratch_dir: str | None = None) -> int:
    """Fork a small watcher into a session of its own, where a host's group SIGKILL cannot reach
    it. It waits until the shim is gone (its pipe reaches EOF, however the shim ended), then
    SIGKILLs every process still carrying this run's mark: tool processes a vendor started in
    sessions of their own (Claude's Bash tool does) would otherwise outlive a killed shim.
    It also removes the run's scratch folder, which may hold conversation dumps.
    Returns the pipe's write end; closing it (or dying) releases the guardian."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the guardian
        try:
            os.setsid()
            os.closerange(0, r)
            os.closerange(r + 1, 1 << 16)
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                signal.signal(sig, signal.SIG_IGN)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            signal.set_wakeup_fd(-1)
            while os.read(r, 64):
                pass
            for _ in range(3):  # a process may fork while the first ones die
                left = processes_marked(run_id)
                if not left:
                    break
                signal_pids(left, signal.SIGKILL)
            if scratch_dir:
                from shims.runtime.scratch import remove_tree

                remove_tree(scratch_dir)
        finally:
            os._exit(0)
    os.close(r)
    os.set_inheritable(w, False)
    return w
