"""The one place a view gets its rich Console.

A terminal gets colour and in-place updates; anything else (a pipe, a log, a test's buffer)
gets plain text: no escape codes, nothing rewritten. `NO_COLOR` turns colour off on a terminal.
Vendor and model text reaches a view only through `cell`, so it cannot drive the terminal.
"""

from __future__ import annotations

import os
from typing import TextIO

from rich.console import Console
from rich.text import Text

from normalize.emit import visible


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
