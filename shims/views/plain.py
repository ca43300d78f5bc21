"""The view of a run off a terminal (a pipe, a log, `shims runs show`): plain lines, appended
only, no escape codes. Each tool shows once, when it ends; an answer when its item completes;
then the usage table. The same pieces as the live view (shims.views.render)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from shims.views.render import TOOLS, printed
from shims.views.terminal import Guarded, console


class PlainView:
    """An emitter (normalize.emit): `view(event, line)` per event, `close(result, code)`.
    `clock`: the tools' durations (None for a replay, whose clock would say nothing)."""

    def __init__(self, out: TextIO | None = None, *, clock: Callable[[], float] | None = time.monotonic,
                 width: int | None = None) -> None:
        self._out = Guarded(out or sys.stdout)
        self._console = console(self._out, width=width, terminal=False)
        self._clock = clock
        self._started: dict[str, float] = {}  # tool item id -> when it started

    @property
    def broken(self) -> str | None:
        return self._out.broken

    def __call__(self, event: dict[str, Any], line: bytes) -> None:
        shown = printed(event, took_of(event, self._started, self._clock))
        if shown is not None and self.broken is None:
            self._console.print(shown, soft_wrap=True)  # a log keeps its lines whole

    def close(self, result: dict[str, Any], exit_code: int) -> int:
        return exit_code


def took_of(event: dict[str, Any], started: dict[str, float], clock: Callable[[], float] | None) -> float | None:
    """How long a tool item took by the view's clock: noted at item.started, read (and
    forgotten) at item.completed. None for anything else, or without a clock."""
    item = event.get("item")
    if clock is None or not isinstance(item, dict) or item.get("type") not in TOOLS:
        return None
    if event["type"] == "item.started":
        started[item["id"]] = clock()
    elif event["type"] == "item.completed" and item.get("id") in started:
        return clock() - started.pop(item["id"])
    return None
