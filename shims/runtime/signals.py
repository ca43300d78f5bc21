"""Cancel signals with their sender (CONTRACT §14). Linux only.

The shim programs block SIGINT, SIGTERM, SIGHUP and SIGQUIT as the first thing they do
(shims/__init__.py) and keep them blocked for the whole run: a blocked signal waits, so it can
be taken with its siginfo (who sent it), which a Python handler never sees. Outside the vendor's
lifetime `Cancels.poll()` takes them at the run's checkpoints (sigtimedwait with no wait); while
the vendor runs, the loop reads them from a signalfd in its selector.

A signal is a cancel unless one of the run's own processes sent it: a tool's `kill 0` or
`trap 'kill 0' EXIT` reaches the shim when it shares its group with the vendor, and must not end
the run as `cancelled`. Own = a descendant of the shim (a zombie still has its /proc entry) or a
member of the run's cgroup. A terminal's Ctrl-C (sent by the kernel, no sender pid) and every
other sender are cancels; so is a sender that is already gone by the time the shim looks.
SIGHUP (the terminal closed) and SIGQUIT end the run as SIGTERM does.
"""

from __future__ import annotations

import os
import signal
import struct

CANCEL_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
SI_USER, SI_QUEUE, SI_TKILL = 0, -1, -6  # si_code of signals sent by a process (kill, sigqueue, tgkill)
_SFD_NONBLOCK, _SFD_CLOEXEC = os.O_NONBLOCK, 0o2000000
_SIGINFO_SIZE = 128  # struct signalfd_siginfo
_libc = None


def hold() -> None:
    """Block the cancel signals: they wait until taken with their sender."""
    signal.pthread_sigmask(signal.SIG_BLOCK, CANCEL_SIGNALS)


def release() -> None:
    """Unblock them (toolkit commands, --help, --preflight: Ctrl-C works there as always)."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, CANCEL_SIGNALS)


def child_defaults() -> None:
    """In a child before exec: an empty mask, so the vendor and its tools get signals."""
    signal.pthread_sigmask(signal.SIG_SETMASK, ())


def name_of(signo: int) -> str:
    """How the run names a cancel: SIGINT, else SIGTERM (SIGHUP and SIGQUIT end it as SIGTERM)."""
    return "SIGINT" if signo == signal.SIGINT else "SIGTERM"


def descends_from(pid: int, ancestor: int) -> bool:
    from shims.runtime.procs import parent_of  # only when a signal came: procs loads ctypes

    seen = 0
    while pid > 1 and seen < 4096:
        if pid == ancestor:
            return True
        parent = parent_of(pid)
        if parent is None:
            return False
        pid, seen = parent, seen + 1
    return False


class Cancels:
    """The run's cancel, if any: the first cancel signal that came from outside the run."""

    def __init__(self) -> None:
        self.signal: str | None = None
        self.cgroup_path: str | None = None  # the run cgroup's path below the v2 mount, while it exists

    def own_sender(self, code: int, pid: int) -> bool:
        if code not in (SI_USER, SI_QUEUE, SI_TKILL) or pid <= 0:
            return False  # the kernel: a terminal's Ctrl-C, a hang-up
        if pid != os.getpid() and descends_from(pid, os.getpid()):
            return True
        if self.cgroup_path is None:
            return False
        from shims.runtime.cgroup import is_member

        return is_member(pid, self.cgroup_path)

    def take(self, signo: int, code: int, pid: int) -> str | None:
        """Note one received signal; the cancel's name when it is one."""
        if self.own_sender(code, pid):
            return None
        if self.signal is None:
            self.signal = name_of(signo)
        return self.signal

    def poll(self) -> str | None:
        """Take every waiting cancel signal (a checkpoint outside the vendor's lifetime)."""
        while True:
            try:
                info = signal.sigtimedwait(CANCEL_SIGNALS, 0)
            except InterruptedError:  # pragma: no cover - PEP 475 retries
                continue
            if info is None:
                return self.signal
            self.take(info.si_signo, info.si_code, info.si_pid)


def _lib():
    global _libc
    if _libc is None:
        import ctypes

        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def open_signalfd() -> int | None:
    """A non-blocking fd that reads the (blocked) cancel signals with their sender; None when
    the system has none (the loop then polls at its wakes)."""
    import ctypes

    words = (ctypes.c_ulong * (1024 // (8 * ctypes.sizeof(ctypes.c_ulong))))()
    bits = 8 * ctypes.sizeof(ctypes.c_ulong)
    for sig in CANCEL_SIGNALS:
        words[(sig - 1) // bits] |= 1 << ((sig - 1) % bits)
    try:
        fd = _lib().signalfd(-1, ctypes.byref(words), _SFD_NONBLOCK | _SFD_CLOEXEC)
    except (OSError, AttributeError):  # pragma: no cover - not glibc/Linux
        return None
    return fd if fd >= 0 else None


def read_signalfd(fd: int) -> list[tuple[int, int, int]]:
    """(signal, si_code, sender pid) of each waiting signal."""
    out = []
    while True:
        try:
            data = os.read(fd, _SIGINFO_SIZE * 16)
        except (BlockingIOError, InterruptedError):
            return out
        if not data:
            return out
        for off in range(0, len(data) - _SIGINFO_SIZE + 1, _SIGINFO_SIZE):
            signo, _errno, code, pid = struct.unpack_from("=IiiI", data, off)
            out.append((signo, code, pid))
