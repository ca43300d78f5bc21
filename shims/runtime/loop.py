"""The run loop: read the vendor's output, enforce deadlines, run the cancel ladder.

One thread, one selector: the vendor's stdout and stderr, and a wake-up pipe that signal
handlers (SIGINT, SIGTERM from a host or a person; SIGCHLD when the vendor ends) write to.
Nothing here knows any vendor's format: lines go to `on_line`, raw bytes to the recorder.

The cancel ladder (on SIGINT/SIGTERM to the shim, or a deadline): SIGINT to the vendor's
group, `cancel_grace` later SIGTERM, `cancel_grace` after that SIGKILL; the shim ignores
further SIGINT/SIGTERM meanwhile so it can still write its terminal events and `result`.
"""

from __future__ import annotations

import errno
import os
import selectors
import signal
import time
from collections.abc import Callable

from normalize.observe import ExitInfo
from normalize.records import record
from shims.runtime import procs
from shims.runtime.lines import LineFramer, TailBuffer
from shims.runtime.scratch import remove_tree
from shims.runtime.spawn import Launch, VendorProcess

READ_CHUNK = 256 * 1024
# After the vendor's main process ends, how long its pipes may stay open (held by a
# grandchild) before the leftovers are killed.
DRAIN_S = 1.0

_SIGNAL_NAMES = {signal.SIGINT: "SIGINT", signal.SIGTERM: "SIGTERM"}


class Recorder:
    """What the loop hands the vendor's raw output to (the journal's VendorRecorder has this
    shape). A plain class, not a typing.Protocol: typing is not imported at run time."""

    def stdout(self, chunk: bytes) -> None: ...
    def stderr(self, chunk: bytes) -> None: ...


@record
class Limits:
    timeout_s: float | None = None
    idle_timeout_s: float | None = 600.0
    cancel_grace_s: float = 3.0
    # Asked after every read: a sentence when the run must stop (the spend cap), else None.
    stop: Callable[[], str | None] | None = None
    max_line_bytes: int | None = None  # longer stdout lines reach on_line as one OversizedLine


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
    """Turns SIGINT/SIGTERM/SIGCHLD into bytes on a pipe the selector watches."""

    def __init__(self) -> None:
        self.r, self.w = os.pipe()
        for fd in (self.r, self.w):
            os.set_blocking(fd, False)
        self.pending: list[int] = []
        self._old: dict[int, object] = {}
        self._old_wakeup = -1

    def __enter__(self) -> SignalWatch:
        self._old_wakeup = signal.set_wakeup_fd(self.w, warn_on_full_buffer=False)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD):
            self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: object) -> None:
        if signum != signal.SIGCHLD:
            self.pending.append(signum)

    def drain(self) -> None:
        try:
            while os.read(self.r, 512):
                pass
        except BlockingIOError:
            pass

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)  # type: ignore[arg-type]
        signal.set_wakeup_fd(self._old_wakeup)
        os.close(self.r)
        os.close(self.w)


def run_vendor(
    launch: Launch,
    limits: Limits,
    on_line: Callable[[bytes], None],
    *,
    recorder: Recorder | None = None,
    on_started: Callable[[VendorProcess], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> ExitInfo:
    """Run the vendor to its end and say how it ended. Raises LaunchError if it cannot start."""
    procs.become_subreaper()
    run_id = os.urandom(16).hex()
    launch.env = {**launch.env, procs.RUN_MARK_ENV: run_id}
    guardian = procs.start_guardian(run_id, launch.scratch_dir)
    try:
        with SignalWatch() as watch:
            proc = VendorProcess(launch)
            try:
                if on_started:
                    on_started(proc)
                return _loop(proc, launch, limits, on_line, recorder, watch, clock)
            finally:
                proc.kill_leftovers()
                # Tool processes in sessions of their own are still this run's: nothing of it
                # may outlive the shim (CONTRACT §14).
                procs.signal_pids(procs.processes_marked(run_id), signal.SIGKILL)
                proc.close()
                if proc.poll() is not None:
                    procs.reap_children()
    finally:
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
            if watch.pending:
                sigs, watch.pending[:] = list(watch.pending), []
                if cancelled is None and timed_out is None:
                    cancelled = _SIGNAL_NAMES.get(sigs[0], "SIGTERM")
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
                wake.append(now + 0.5)  # SIGCHLD wakes us too; this only bounds a missed one
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
