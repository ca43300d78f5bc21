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


def _libc_prctl():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc.prctl


def _prctl(option: int, value: int) -> int:
    return _libc_prctl()(option, value, 0, 0, 0)


def leads_own_group() -> bool:
    return os.getpgrp() == os.getpid()


def become_subreaper() -> bool:
    try:
        return _prctl(PR_SET_CHILD_SUBREAPER, 1) == 0
    except OSError:  # pragma: no cover - not Linux
        return False


def parent_death_setup(signo: int):
    """A preexec function: the child gets `signo` when this process (the thread that forks)
    dies, and exits 128 + signo at once if it already has. prctl is resolved here, before the
    fork, so the child only calls it."""
    prctl = _libc_prctl()
    parent = os.getpid()

    def setup() -> None:
        prctl(PR_SET_PDEATHSIG, signo, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(128 + signo)

    return setup


def child_setup(own_group: bool, parent_pid: int):
    """A preexec function for the vendor: die with the shim, default signal dispositions and
    an empty signal mask (the shim blocks its cancel signals; a shim started with SIGINT
    ignored must still be able to interrupt its vendor), and a group of its own when the shim
    does not lead one."""

    def setup() -> None:
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent_pid:  # the shim died between fork and prctl
            os._exit(137)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, ())
        if own_group:
            os.setpgid(0, 0)

    return setup


def _fields(pid: int) -> list[bytes] | None:
    """/proc/<pid>/stat after the command name (state first), None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # comm may contain spaces and parentheses: split after the last ')'
    return data[data.rfind(b")") + 2 :].split()


def _stat(pid: int) -> tuple[int, int, str] | None:
    """(ppid, pgid, state) of a live process, None if gone."""
    rest = _fields(pid)
    return None if rest is None else (int(rest[1]), int(rest[2]), rest[0].decode())


def parent_of(pid: int) -> int | None:
    """The parent's pid (a zombie's too: it still names whose child it was), None if gone."""
    rest = _fields(pid)
    return None if rest is None else int(rest[1])


def state_of(pid: int) -> str | None:
    rest = _fields(pid)
    return None if rest is None else rest[0].decode()


def start_time(pid: int) -> int | None:
    """When the process started (clock ticks since boot): with the pid, names one process."""
    rest = _fields(pid)
    return None if rest is None or len(rest) < 20 else int(rest[19])


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


def _children(pid: int) -> list[int]:
    """The children of a process, zombies included, from the kernel's own list: one read per
    thread, so a child that forks and exits is listed either itself (a zombie until reaped) or
    through its child (already re-parented), never neither, as a walk over /proc could miss."""
    out: list[int] = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                out.extend(int(x) for x in f.read().split())
        except OSError:
            pass
    return out


def tree(root: int, exclude: tuple[int, ...] = ()) -> list[int]:
    """Every descendant of `root` (zombies included), parents first."""
    out: list[int] = []
    todo = [p for p in _children(root) if p not in exclude]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(_children(pid))
    return out


def kill_tree(exclude: tuple[int, ...] = (), budget_s: float = 2.0) -> list[int]:
    """SIGKILL every descendant of this process, in any group or session, until none is left
    (bounded in time). Each round stops them all first, so a process that forks in a loop is
    frozen before its kill and cannot hand off to a new child the kill does not know of; the
    orphans of a round come back to us (we are their subreaper) and are reaped, or killed, in
    the next one. Returns the descendants still there when the time ran out."""
    import time

    end = time.monotonic() + budget_s
    while True:
        left = tree(os.getpid(), exclude)
        if not left or time.monotonic() >= end:
            return left
        signal_pids(left, signal.SIGSTOP)
        signal_pids(left, signal.SIGKILL)
        time.sleep(0.001)
        reap_children()


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
    """Collect exit statuses of re-parented orphans (we are their subreaper). Call only once
    the vendor's own status is known (VendorProcess.poll), or it would be collected here."""
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


def _children_table() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = _stat(int(name))
            if st is not None and st[2] != "Z":
                children.setdefault(st[0], []).append(int(name))
    return children


def freeze_and_kill(roots: list[int], exclude: tuple[int, ...] = ()) -> None:
    """SIGSTOP the roots and, round by round, every descendant they have (a stopped process
    forks no more), then SIGKILL them all."""
    frozen: set[int] = set()
    todo = set(roots) - set(exclude)
    for _ in range(50):
        todo -= frozen
        if not todo:
            break
        signal_pids(sorted(todo), signal.SIGSTOP)
        frozen |= todo
        table = _children_table()
        todo = {c for p in frozen for c in table.get(p, ()) if c not in exclude}
    signal_pids(sorted(frozen), signal.SIGKILL)


GUARDIAN_TICK_S = 0.15


def start_guardian(run_id: str, scratch_dir: str | None = None, cgroup_path: str | None = None) -> tuple[int, int]:
    """Fork a small watcher into a session of its own, where a host's group SIGKILL cannot reach
    it. While the shim lives it continues the shim when something stopped it (a tool's
    `kill -STOP 0` stops its whole group, the shim included) and, without a run cgroup,
    remembers the shim's descendants every few ticks. Once the shim is gone (its pipe reaches
    EOF, however the shim ended) it kills what is left of the run: the run cgroup as a whole
    when there is one, else every process carrying this run's mark or remembered as a
    descendant (with its start time, so a reused pid is not hit), and what descends from them.
    It also removes the run's scratch folder, which may hold conversation dumps.
    Returns (the pipe's write end, the guardian's pid); closing the pipe (or dying) releases it."""
    shim = os.getpid()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the guardian
        try:
            os.setsid()
            os.closerange(0, r)
            os.closerange(r + 1, 1 << 16)
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
                signal.signal(sig, signal.SIG_IGN)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            signal.set_wakeup_fd(-1)
            _guard(r, shim, run_id, scratch_dir, cgroup_path)
        finally:
            os._exit(0)
    os.close(r)
    os.set_inheritable(w, False)
    return w, pid


def _guard(r: int, shim: int, run_id: str, scratch_dir: str | None, cgroup_path: str | None) -> None:
    import select

    me = os.getpid()
    known: dict[int, int | None] = {}  # pid -> start time, of the shim's descendants seen
    tick = 0
    while True:
        ready, _, _ = select.select([r], [], [], GUARDIAN_TICK_S)
        if ready:
            if not os.read(r, 64):
                break
            continue
        if state_of(shim) == "T":
            try:
                os.kill(shim, signal.SIGCONT)
            except ProcessLookupError:
                pass
        if cgroup_path is None and tick % 3 == 0:
            for p in descendants(shim):
                if p != me and p not in known:
                    known[p] = start_time(p)
        tick += 1
    if cgroup_path is not None:
        from shims.runtime.cgroup import kill_and_remove

        kill_and_remove(cgroup_path, wait_s=5.0)
    for _ in range(3):  # a process may fork while the first ones die
        left = processes_marked(run_id) + [p for p, t in known.items() if t is not None and start_time(p) == t]
        if not left:
            break
        freeze_and_kill(left, exclude=(me,))
    if scratch_dir:
        from shims.runtime.scratch import remove_tree

        remove_tree(scratch_dir)
