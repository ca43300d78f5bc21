"""The run loop: read the vendor's output, enforce deadlines, run the cancel ladder.

One thread, one selector: the vendor's stdout and stderr, a signalfd that carries the cancel
signals with their sender, and a wake-up pipe the SIGCHLD (the vendor ended) and SIGCONT
handlers write to.
Nothing here knows any vendor's format: lines go to `on_line`, raw bytes to the recorder.

The cancel ladder (on SIGINT/SIGTERM/SIGHUP/SIGQUIT to the shim from outside the run, a
deadline, or a host that closed our stdout): SIGINT to the vendor's group, `cancel_grace` later
SIGTERM, `cancel_grace` after that SIGKILL; the shim's cancel signals stay blocked meanwhile
(shims.runtime.signals) so it can still write its terminal events and `result`.
"""

from __future__ import annotations

import errno
import os
import select
import selectors
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from normalize.observe import ExitInfo
from shims.runtime import procs, signals
from shims.runtime.lines import LineFramer, TailBuffer
from shims.runtime.scratch import remove_tree
from shims.runtime.spawn import Launch, VendorProcess

READ_CHUNK = 256 * 1024
# After the vendor's main process ends, how long its pipes may stay open (held by a
# grandchild) before the leftovers are killed.
DRAIN_S = 1.0


class Recorder(Protocol):
    """What the loop hands the vendor's raw output to (the journal's VendorRecorder)."""

    def stdout(self, chunk: bytes) -> None: ...
    def stderr(self, chunk: bytes) -> None: ...


@dataclass(slots=True)
class Limits:
    timeout_s: float | None = None
    idle_timeout_s: float | None = 600.0
    cancel_grace_s: float = 3.0
    # Asked after every read: a sentence when the run must stop (the spend cap), else None.
    stop: Callable[[], str | None] | None = None
    max_line_bytes: int | None = None  # longer stdout lines reach on_line as one OversizedLine
    # Asked at every wake: why nobody can read the stream any more (e.g. "SIGPIPE"), else None.
    host_gone: Callable[[], str | None] | None = None


class _Ladder:
    """Which signal comes next, and when."""

    def __init__(self, grace: float, min_sigint_grace: float) -> None:
        self.steps = [
            (signal.SIGINT, 0.0),
            (signal.SIGTERM, max(grace, min_sigint_grace)),
            (signal.SIGKILL, grace),
        ]
        self.next_at: float | None = None

    def start(self, now: float) -> None:
        if self.next_at is None:
            self.next_at = now

    def due(self, now: float) -> int | None:
        if self.next_at is None or not self.steps or now < self.next_at:
            return None
        sig, _ = self.steps.pop(0)
        self.next_at = now + self.steps[0][1] if self.steps else None
        return sig


class SignalWatch:
    """Wakes the selector for the signals that matter while the vendor runs.

    The cancel signals (blocked since start-up, shims.runtime.signals) are read with their
    sender from a signalfd; `cancels` decides which are a cancel. SIGCHLD (the vendor ended)
    and SIGCONT (something continued the stopped shim) come through a Python handler and the
    wake-up pipe."""

    def __init__(self, cancels: signals.Cancels) -> None:
        self.cancels = cancels
        self.r, self.w = os.pipe()
        for fd in (self.r, self.w):
            os.set_blocking(fd, False)
        self.sfd: int | None = None
        self.continued = False
        self._old: dict[int, object] = {}
        self._old_wakeup = -1
        self._old_mask: set[int] = set()

    def __enter__(self) -> SignalWatch:
        self._old_wakeup = signal.set_wakeup_fd(self.w, warn_on_full_buffer=False)
        for sig in (signal.SIGCHLD, signal.SIGCONT):
            self._old[sig] = signal.signal(sig, self._handle)
        # Already blocked in a shim program; a library caller gets its own mask back at the end.
        self._old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, signals.CANCEL_SIGNALS)
        self.sfd = signals.open_signalfd()
        return self

    def _handle(self, signum: int, frame: object) -> None:
        if signum == signal.SIGCONT:
            self.continued = True

    def drain(self) -> None:
        try:
            while os.read(self.r, 512):
                pass
        except BlockingIOError:
            pass

    def take(self) -> str | None:
        """Take the waiting cancel signals; the run's cancel, if one came from outside it."""
        if self.sfd is None:
            return self.cancels.poll()
        for signo, code, pid in signals.read_signalfd(self.sfd):
            self.cancels.take(signo, code, pid)
        return self.cancels.signal

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)  # type: ignore[arg-type]
        signal.set_wakeup_fd(self._old_wakeup)
        for fd in (self.r, self.w, self.sfd):
            if fd is not None:
                os.close(fd)
        signal.pthread_sigmask(signal.SIG_SETMASK, self._old_mask)


def stdout_reader_gone(fd: int = 1) -> bool:
    """Whether the reading end of our stdout (a pipe, a socket, a terminal) was closed: poll
    reports POLLERR/POLLHUP for it without writing anything."""
    try:
        p = select.poll()
        p.register(fd, 0)
        return any(ev & (select.POLLERR | select.POLLHUP | select.POLLNVAL) for _, ev in p.poll(0))
    except (OSError, ValueError):
        return False


def run_vendor(
    launch: Launch,
    limits: Limits,
    on_line: Callable[[bytes], None],
    *,
    recorder: Recorder | None = None,
    on_started: Callable[[VendorProcess], None] | None = None,
    cancels: signals.Cancels | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> ExitInfo:
    """Run the vendor to its end and say how it ended. Raises LaunchError if it cannot start.

    Nothing the vendor started outlives this call: with a run cgroup (where the machine has a
    writable cgroup v2) one `cgroup.kill` ends all of it; without, every descendant of the shim
    (we are their subreaper, so orphans come back to us) is frozen and killed. The guardian
    does the same if the shim itself is killed."""
    from shims.runtime import cgroup as cgroups

    cancels = cancels or signals.Cancels()
    procs.become_subreaper()
    run_id = os.urandom(16).hex()
    launch.env = {**launch.env, procs.RUN_MARK_ENV: run_id}
    group = cgroups.create(run_id)
    guardian, guardian_pid = procs.start_guardian(run_id, launch.scratch_dir, group.path if group else None)
    try:
        with SignalWatch(cancels) as watch:
            proc = VendorProcess(launch)
            if group is not None and not group.adopt(proc.pid) and proc.poll() is None:
                group.kill_all(wait_s=0.0)  # could not move the vendor in: do without
                group = None
            cancels.cgroup_path = group.rel if group else None
            try:
                if on_started:
                    on_started(proc)
                return _loop(proc, launch, limits, on_line, recorder, watch, clock)
            finally:
                proc.kill_leftovers()
                if group is not None:
                    group.kill_all()
                    cancels.cgroup_path = None
                # Tool processes in sessions of their own are still this run's: nothing of it
                # may outlive the shim (CONTRACT §14).
                procs.signal_pids(procs.processes_marked(run_id), signal.SIGKILL)
                proc.poll()
                procs.kill_tree(exclude=(guardian_pid,))
                proc.close()
                # A tool's `kill 0` may still wait unread (it came after the loop's last look):
                # take it while its sender is an unreaped zombie of ours, which still says
                # whose it was; once reaped, the sender would count as outside (a cancel).
                watch.take()
                if proc.poll() is not None:
                    procs.reap_children()
    finally:
        if group is not None:  # the vendor could not start: the cgroup is still empty
            group.kill_all(wait_s=0.0)
        os.close(guardian)
        if launch.scratch_dir:
            remove_tree(launch.scratch_dir)


def _loop(
    proc: VendorProcess,
    launch: Launch,
    limits: Limits,
    on_line: Callable[[bytes], None],
    recorder: Recorder | None,
    watch: SignalWatch,
    clock: Callable[[], float],
) -> ExitInfo:
    sel = selectors.DefaultSelector()
    framer = LineFramer(limits.max_line_bytes)
    stderr_tail = TailBuffer()
    sel.register(proc.stdout_fd, selectors.EVENT_READ, "out")
    sel.register(proc.stderr_fd, selectors.EVENT_READ, "err")
    sel.register(watch.r, selectors.EVENT_READ, "sig")
    if watch.sfd is not None:
        sel.register(watch.sfd, selectors.EVENT_READ, "sig")
    open_fds = {proc.stdout_fd, proc.stderr_fd}
    pending_stdin = memoryview(launch.stdin_data or b"")
    if proc.stdin_fd is not None:
        sel.register(proc.stdin_fd, selectors.EVENT_WRITE, "in")

    start = clock()
    last_output = start
    deadline = start + limits.timeout_s if limits.timeout_s else None
    ladder = _Ladder(limits.cancel_grace_s, launch.min_sigint_grace_s)
    cancelled: str | None = None
    timed_out: str | None = None
    stopped: str | None = None
    exited_at: float | None = None

    try:
        while True:
            now = clock()
            # ---- decide what is due
            cancel = watch.take()
            if cancel and cancelled is None and timed_out is None:
                cancelled = cancel
                ladder.start(now)
            if watch.continued:  # a tool's `kill -STOP 0` stopped us, the guardian continued us
                watch.continued = False
                proc.signal_group(signal.SIGCONT)
            if (limits.host_gone is not None and cancelled is None and timed_out is None and stopped is None
                    and exited_at is None and (gone := limits.host_gone())):
                cancelled = gone  # nobody reads the stream: the vendor must not run on for no one
                ladder.start(now)
            if cancelled is None and timed_out is None and stopped is None and exited_at is None:
                if limits.stop is not None and (reason := limits.stop()):
                    stopped = reason
                    ladder.start(now)
                elif deadline is not None and now >= deadline:
                    timed_out = "timeout"
                    ladder.start(now)
                elif limits.idle_timeout_s and now - last_output >= limits.idle_timeout_s:
                    timed_out = "idle"
                    ladder.start(now)
            sig = ladder.due(now)
            if sig is not None and proc.poll() is None:
                proc.signal_group(sig)
            if proc.poll() is not None and exited_at is None:
                exited_at = now
            if exited_at is not None and (not open_fds or now - exited_at >= DRAIN_S):
                break
            # ---- wait for the next thing
            wake = [t for t in (deadline, ladder.next_at) if t is not None]
            if limits.idle_timeout_s and cancelled is None and timed_out is None:
                wake.append(last_output + limits.idle_timeout_s)
            if exited_at is not None:
                wake.append(exited_at + DRAIN_S)
            if proc.poll() is None:
                # SIGCHLD wakes us too; this only bounds a missed one, and looks at what no
                # event reports: a host that closed our stdout, a vendor stopped by its tool
                wake.append(now + 0.5)
                if procs.state_of(proc.pid) == "T":
                    proc.signal_group(signal.SIGCONT)
            timeout = max(0.0, min(wake) - now) if wake else None
            for key, _ in sel.select(timeout):
                if key.data == "sig":
                    watch.drain()
                    continue
                if key.data == "in":
                    pending_stdin = _write_some(key.fd, pending_stdin)
                    if not pending_stdin:
                        sel.unregister(key.fd)
                        proc.close_stdin()
                    continue
                fd = key.fd
                chunk = _read(fd)
                if chunk is None:
                    continue
                if not chunk:
                    sel.unregister(fd)
                    open_fds.discard(fd)
                    continue
                last_output = clock()
                if key.data == "out":
                    if recorder:
                        recorder.stdout(chunk)
                    for line in framer.feed(chunk):
                        on_line(line)
                else:
                    if recorder:
                        recorder.stderr(chunk)
                    stderr_tail.write(chunk)
        # The vendor is gone; whatever kept the pipes open is not wanted.
        if open_fds:
            proc.kill_leftovers()
            for fd in list(open_fds):
                for chunk in _read_available(fd):
                    if fd == proc.stdout_fd:
                        if recorder:
                            recorder.stdout(chunk)
                        for line in framer.feed(chunk):
                            on_line(line)
                    else:
                        if recorder:
                            recorder.stderr(chunk)
                        stderr_tail.write(chunk)
        for line in framer.finish():
            on_line(line)
    finally:
        sel.close()

    rc = proc.poll()
    return ExitInfo(
        ended_at=round(time.time(), 3),
        exit_code=rc if rc is not None and rc >= 0 else None,
        signal=-rc if rc is not None and rc < 0 else None,
        stderr_tail=stderr_tail.text(),
        cancelled=cancelled,
        timed_out=timed_out,
        timeout_s=(limits.idle_timeout_s if timed_out == "idle" else limits.timeout_s) if timed_out else None,
        stopped=stopped,
    )


def _write_some(fd: int, data: memoryview) -> memoryview:
    """Write what the pipe takes now; a vendor that closed its stdin gets nothing more."""
    try:
        return data[os.write(fd, data[: 64 * 1024]) :]
    except BlockingIOError:
        return data
    except (BrokenPipeError, OSError):
        return data[len(data) :]


def _read(fd: int) -> bytes | None:
    """A chunk, b"" at EOF, None when nothing is there after all."""
    try:
        return os.read(fd, READ_CHUNK)
    except BlockingIOError:
        return None
    except OSError as exc:
        if exc.errno == errno.EIO:  # a pty whose other side closed: EOF
            return b""
        raise


def _read_available(fd: int, limit: int = 64 * 1024 * 1024) -> list[bytes]:
    out, total = [], 0
    while total < limit:
        chunk = _read(fd)
        if not chunk:
            break
        out.append(chunk)
        total += len(chunk)
    return out
