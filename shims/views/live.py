"""The live view of a run on a terminal (`--emit pretty`): what was said and done printed for
good as it ends; below it a region redrawn in place (rich's Live) with the answer as it is
being written, the tools running now (`$ cmd  … 3.2s` and their last output lines) and a
status line (elapsed time, tokens and cost so far when known, the current tool). A tool's
line becomes `$ cmd  ✓ exit 0  3.4s` when it ends; the region gives way to the usage table.

It is fed by the run's events, like every emitter, and by the assembler's live channel
(`live`, normalize.assembler): text and usage as they arrive, which never enter the stream.
Durations and elapsed time come from this view's own clock.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.live import Live
from rich.text import Text

from normalize import observe as o
from shims.views.plain import ToolClock
from shims.views.render import TOOLS, Status, printed, status_line, tool_line
from shims.views.terminal import Guarded, block, console

# The answer being written is kept up to this many characters (a screen shows far less), so a
# long stream costs the redraw no more than a short one.
PENDING_KEEP = 16 * 1024
REFRESH_PER_SECOND = 8


class LiveRegion:
    """The redrawn part, as data: what the live channel and the events said so far. Rendering
    it is a pure function of this state and the clock (`render`), so tests draw it directly."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.pending = ""  # the answer being written, not yet an item
        self.running: dict[str, tuple[dict[str, Any], float]] = {}  # item id -> (item, started)
        self.tokens: int | None = None
        self.cost_usd: float | None = None

    def text(self, chunk: str, restart: bool = False) -> None:
        text = chunk if restart else self.pending + chunk
        self.pending = text[-PENDING_KEEP:] if len(text) > 2 * PENDING_KEEP else text

    def render(self, now: float, console: Console, width: int, height: int) -> Group:
        running = [tool_line(item, running=True, took=now - since) for item, since in self.running.values()]
        current = list(self.running.values())[-1][0] if self.running else None
        status = status_line(Status(now - self.started, self.tokens, self.cost_usd, current))
        parts: list[Any] = []
        if self.pending:
            lines = block(self.pending.rstrip("\n")).wrap(console, width)
            room = max(3, height - 2 - 4 * len(running))  # the tail of the answer fits the screen
            parts.append(Text("\n").join(lines[-room:]))
        return Group(*parts, *running, status)


class LiveView:
    """An emitter (normalize.emit) for a terminal; `live` is the assembler's side channel."""

    for_people = True  # its ✗ line says why a run failed (shims.run.output)

    def __init__(self, out: TextIO | None = None, *, clock: Callable[[], float] = time.monotonic,
                 width: int | None = None, height: int | None = None,
                 refresh_per_second: float = REFRESH_PER_SECOND) -> None:
        self._out = Guarded(out or sys.stdout)
        self._console = console(self._out, width=width, terminal=True)
        if height is not None:
            self._console.height = height
        self._clock = clock
        self._region = LiveRegion(clock())
        self._lock = threading.Lock()  # the refresh thread draws what the run's thread changes
        self._tools = ToolClock(clock)
        self._live = Live(_Drawn(self), console=self._console, refresh_per_second=refresh_per_second,
                          transient=True, redirect_stdout=False, redirect_stderr=False, vertical_overflow="crop")
        self._on = False

    @property
    def broken(self) -> str | None:
        return self._out.broken

    def live(self, ob: Any) -> None:
        """The assembler's live channel: text as it arrives, usage so far."""
        with self._lock:
            t = type(ob)
            if t is o.MessageDelta:
                self._region.text(ob.text, ob.restart)
            elif t is o.LiveText:
                self._region.text(ob.text)
            elif t is o.LiveUsage:
                if ob.total_tokens is not None:
                    self._region.tokens = ob.total_tokens
                if ob.cost_usd is not None:
                    self._region.cost_usd = ob.cost_usd

    def __call__(self, event: dict[str, Any], line: bytes) -> None:
        if self.broken is not None:
            return
        t = event["type"]
        item = event.get("item") if isinstance(event.get("item"), dict) else {}
        took = self._tools.took(event)
        if t == "result":
            self._stop()  # the region gives way to the table
        else:
            self._start()
        if t in ("turn.failed", "turn.completed", "result"):
            self._keep_unfinished_text()
        with self._lock:
            if item.get("type") in TOOLS and t in ("item.started", "item.updated"):
                since = self._tools.started(item["id"])
                self._region.running[item["id"]] = (item, self._clock() if since is None else since)
            elif t == "item.completed":
                self._region.running.pop(item.get("id"), None)
                if item.get("type") == "agent_message":
                    self._region.pending = ""  # printed whole below
        shown = printed(event, took)
        if shown is not None:
            self._console.print(shown)

    def close(self, result: dict[str, Any], exit_code: int) -> int:
        self._stop()
        self._keep_unfinished_text()
        return exit_code

    def _keep_unfinished_text(self) -> None:
        """Text the person saw being written that never became a message (Claude's partial
        text when the vendor died mid-block): printed for good, marked, not wiped with the
        region. It is not the answer: the stream and the result never had it."""
        with self._lock:
            pending, self._region.pending = self._region.pending, ""
        if pending.strip():
            self._console.print(Text.assemble(block(pending.rstrip("\n")), "\n",
                                              ("(cut short: the vendor never finished this message)", "dim italic")))

    def refresh(self) -> None:
        """Redraw now, not at the next tick (tests read the screen at a known moment)."""
        if self._on:
            self._live.refresh()

    def _start(self) -> None:
        if not self._on:
            self._on = True
            self._live.start()

    def _stop(self) -> None:
        if self._on:
            self._on = False
            self._live.stop()

    def drawn(self, console: Console, options: ConsoleOptions) -> Group:
        with self._lock:
            return self._region.render(self._clock(), console, options.max_width,
                                       options.height or console.height)


class _Drawn:
    """What rich's Live redraws: the region, read under the view's lock."""

    def __init__(self, view: LiveView) -> None:
        self._view = view

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self._view.drawn(console, options)
