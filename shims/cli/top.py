"""`shims top`'s terminal: the follower's rows redrawn every tick with rich Live, keys read
from the tty in cbreak mode. The tty's settings come back however the view ends: `q` (exit 0),
Ctrl-C (130), SIGTERM (143), SIGHUP (129). Off a terminal (a pipe, a log) the table is printed
once, as plain text."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import termios
import time
import tty
from collections.abc import Iterator
from typing import TextIO

from rich.live import Live

from shims.state.journal.follow import Follower
from shims.views.terminal import UNBOUNDED_WIDTH, console, show
from shims.views.top import top_view

_HEADING_LINES = 4  # the heading line, the table's header and rule, the "… more" line


class _Ended(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


def run_top(root: str, *, interval_s: float, linger_s: float, once: bool, out: TextIO | None = None) -> int:
    """The view on `out` (stdout), keys from stdin when it is a terminal; the exit status."""
    follower = Follower(root, linger_s=linger_s)
    view = console(out)
    if once or not view.is_terminal:
        # Printed once: on a terminal within its width; for a log or grep every cell whole.
        width = view.width if view.is_terminal else UNBOUNDED_WIDTH
        show(top_view(follower.poll(), time.time(), linger_s=linger_s, root=root, width=width), view.file,
             width=width, terminal=view.is_terminal)
        return 0
    keys_fd = _keyboard()
    try:
        with _signals_end_the_view(), _cbreak(keys_fd), \
                Live(console=view, screen=True, auto_refresh=False, redirect_stdout=False,
                     redirect_stderr=False) as live:
            while True:
                rows = follower.poll()
                size = view.size
                live.update(top_view(rows, time.time(), linger_s=linger_s, root=root, keys=keys_fd is not None,
                                     max_rows=max(size.height - _HEADING_LINES, 1), width=size.width), refresh=True)
                if _wait_for_quit(keys_fd, interval_s):
                    return 0
    except _Ended as ended:
        return ended.code
    except KeyboardInterrupt:
        return 130


def _keyboard() -> int | None:
    """stdin's descriptor when it is a terminal to read keys from; else none (Ctrl-C ends the view)."""
    try:
        return sys.stdin.fileno() if sys.stdin is not None and sys.stdin.isatty() else None
    except (OSError, ValueError):  # closed
        return None


def _wait_for_quit(fd: int | None, timeout_s: float) -> bool:
    """Whether `q` was typed within the tick; other keys are read and ignored."""
    if fd is None:
        time.sleep(timeout_s)
        return False
    deadline = time.monotonic() + timeout_s
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            return False
        typed = os.read(fd, 64)
        if not typed:  # the terminal went away
            raise _Ended(129)
        if b"q" in typed or b"Q" in typed:
            return True
    return False


@contextlib.contextmanager
def _cbreak(fd: int | None) -> Iterator[None]:
    """Keys one at a time, not echoed; the tty's settings as they were afterwards, whatever
    ends the view (the caller turns signals into exceptions, so this finally runs)."""
    if fd is None:
        yield
        return
    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd, termios.TCSANOW)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


@contextlib.contextmanager
def _signals_end_the_view() -> Iterator[None]:
    """SIGTERM and SIGHUP as exceptions, so the terminal is restored before the exit."""

    def end(signo: int, _frame: object) -> None:
        raise _Ended(128 + signo)

    previous = {sig: signal.signal(sig, end) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
