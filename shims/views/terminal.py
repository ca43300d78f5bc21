"""The one place a view gets its rich Console.

A terminal gets colour and in-place updates; anything else (a pipe, a log, a test's buffer)
gets plain text: no escape codes, nothing rewritten. `NO_COLOR` turns colour off on a terminal.
Vendor and model text reaches a view only through `cell`, so it cannot drive the terminal.
"""

from __future__ import annotations

import errno
import os
from typing import TextIO

from rich.console import Console
from rich.text import Text

from normalize.emit import visible

# The width of a view printed into a pipe or a log: as wide as its text, so no cell is folded
# or cut (a log is grepped).
UNBOUNDED_WIDTH = 4096


def console(file: TextIO | None = None, *, width: int | None = None, terminal: bool | None = None) -> Console:
    """A Console on `file` (stdout by default). `terminal` forces the decision a real stream's
    isatty() makes (tests render both ways); `width` fixes the layout (snapshots)."""
    return Console(
        file=file,
        width=width,
        force_terminal=terminal,
        no_color=bool(os.environ.get("NO_COLOR")),
        highlight=False,  # rich would colour numbers and paths inside vendor text
        emoji=False,  # `:smile:` in a model's answer stays as written
        soft_wrap=False,
    )


def cell(value: object, style: str = "") -> Text:
    """Vendor or request text as one line of a view: control characters shown as visible
    escapes (normalize.emit.visible), rich markup not interpreted."""
    return Text(visible("" if value is None else str(value), keep=""), style=style)


def show(renderable: object, file: TextIO | None = None, *, width: int | None = None,
         terminal: bool | None = None) -> None:
    """Print a view. Off a terminal the lines lose the spaces rich pads table cells with, so
    a pipe, a log or a snapshot holds only what is shown."""
    out = console(file, width=width, terminal=terminal)
    if out.is_terminal:
        out.print(renderable)
        return
    with out.capture() as captured:
        out.print(renderable)
    out.file.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))
    out.file.flush()


def block(value: object, style: str = "") -> Text:
    """Vendor or model text of several lines (an answer): as `cell`, but its newlines and
    tabs stay the layout they are."""
    return Text(visible("" if value is None else str(value)), style=style)


class Guarded:
    """A view's output that never raises: the first failed write (SIGPIPE: the reader is gone;
    EIO: the terminal closed; ENOSPC) is kept in `broken` and later writes are dropped, so
    the run cancels its vendor and still records its result (as the protocol emitters do).
    rich's refresh thread writes here too, where an exception would be lost."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self.broken: str | None = None

    def _guard(self, call, *args):  # noqa: ANN001, ANN202 - write or flush
        if self.broken is not None:
            return None
        try:
            return call(*args)
        except BrokenPipeError:
            self.broken = "SIGPIPE"
        except OSError as exc:
            self.broken = errno.errorcode.get(exc.errno or 0, "EIO")
        except ValueError:  # written after close
            self.broken = "EIO"
        return None

    def write(self, text: str) -> int:
        self._guard(self._out.write, text)
        return len(text)

    def flush(self) -> None:
        self._guard(self._out.flush)

    def isatty(self) -> bool:
        try:
            return self._out.isatty()
        except (OSError, ValueError):
            return False

    def fileno(self) -> int:
        return self._out.fileno()

    @property
    def encoding(self) -> str:
        return getattr(self._out, "encoding", None) or "utf-8"


def is_live_terminal(out: TextIO) -> bool:
    """A terminal that can be redrawn: not a pipe or a file, and not TERM=dumb (which has no
    cursor movement)."""
    try:
        tty = out.isatty()
    except (OSError, ValueError):
        return False
    return tty and os.environ.get("TERM", "") not in ("dumb", "unknown")
