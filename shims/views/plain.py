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

    for_people = True  # its ✗ line says why a run failed (shims.run.output)

    def __init__(self, out: TextIO | None = None, *, clock: Callable[[], float] | None = time.monotonic,
                 width: int | None = None) -> None:
        self._out = Guarded(out or sys.stdout)
        self._console = console(self._out, width=width, terminal=False)
        self._tools = ToolClock(clock)

    @property
    def broken(self) -> str | None:
        return self._out.broken

    def __call__(self, event: dict[str, Any], line: bytes) -> None:
        shown = printed(event, self._tools.took(event))
        if shown is not None and self.broken is None:
            self._console.print(shown, soft_wrap=True)  # a log keeps its lines whole

    def close(self, result: dict[str, Any], exit_code: int) -> int:
        return exit_code


class ToolClock:
    """When each tool item started, by a view's own clock (live-only: never in the stream)."""

    def __init__(self, clock: Callable[[], float] | None) -> None:
        self._clock = clock
        self._started: dict[str, float] = {}

    def took(self, event: dict[str, Any]) -> float | None:
        """Seconds a tool item took, at its item.completed (its start is noted at item.started);
        None for anything else, or without a clock (a replay)."""
        item = event.get("item")
        if self._clock is None or not isinstance(item, dict) or item.get("type") not in TOOLS:
            return None
        if event["type"] == "item.started":
            self._started[item["id"]] = self._clock()
        elif event["type"] == "item.completed" and item.get("id") in self._started:
            return self._clock() - self._started.pop(item["id"])
        return None

    def started(self, item_id: str) -> float | None:
        return self._started.get(item_id)
