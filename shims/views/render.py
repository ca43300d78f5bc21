"""The pieces of a run's view, as pure functions: stream events (and the view's own clock
readings) in, rich renderables out. The live view (shims.views.live) and the plain lines
(shims.views.plain) print the same pieces; only the live one redraws.

Vendor and model text goes through `cell`/`block` (shims.views.terminal), never rich markup.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.console import Group, RenderableType
from rich.text import Text

from normalize.usage import uncached_input_tokens
from shims.views.figures import tokens, usd
from shims.views.terminal import block, cell

MARKS = {"completed": ("✓", "green"), "failed": ("✗", "red"), "declined": ("⊘", "yellow")}
RUNNING = "…"
# The kinds of item that run for a while: shown running (live) and once when done.
TOOLS = ("command_execution", "file_change", "mcp_tool_call", "web_search")
OUTPUT_LINES_DONE = 5  # lines of a finished command's output shown under it
OUTPUT_LINES_RUNNING = 3


def seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}s"


def last_lines(text: str, n: int) -> list[str]:
    lines = text.rstrip("\n").splitlines()
    return lines[-n:] if lines else []


def _head(item: dict[str, Any]) -> Text:
    """What a tool item is, on one line: `$ cmd`, `✎ update a.py`, `⚙ server.tool`, `⌕ query`."""
    t = item["type"]
    if t == "command_execution":
        return Text.assemble(("$ ", "cyan"), cell(item.get("command"), "cyan"))
    if t == "file_change":
        paths = ", ".join(f"{c.get('kind')} {c.get('path')}" for c in item.get("changes") or [])
        return Text.assemble(("✎ ", "yellow"), cell(paths, "yellow"))
    if t == "mcp_tool_call":
        return Text.assemble(("⚙ ", "magenta"), cell(f"{item.get('server')}.{item.get('tool')}", "magenta"))
    return Text.assemble(("⌕ ", "blue"), cell(item.get("query"), "blue"))


def tool_line(item: dict[str, Any], *, running: bool, took: float | None) -> RenderableType:
    """`$ cmd  … 3.2s` while it runs, `$ cmd  ✓ exit 0  3.4s` (✗ on failure) once done, with
    the last lines of its output under it. `took`: the view's own clock, never the stream's."""
    line = _head(item)
    if running:
        line.append(f"  {RUNNING} {seconds(took)}".rstrip(), "dim")
    else:
        mark, style = MARKS.get(item.get("status") or "", ("•", ""))
        line.append(f"  {mark}", style)
        if item["type"] == "command_execution" and item.get("exit_code") is not None:
            line.append(f" exit {item.get('exit_code')}", style)
        if took is not None:
            line.append(f"  {seconds(took)}", "dim")
    output = (item.get("aggregated_output") or "") if item["type"] == "command_execution" else ""
    tail = last_lines(output, OUTPUT_LINES_RUNNING if running else OUTPUT_LINES_DONE)
    if not tail:
        return line
    rows = [Text.assemble("  ", cell(row, "dim"), no_wrap=True, overflow="ellipsis") for row in tail]
    return Group(line, *rows)  # an output line longer than the screen is cut, not wrapped under the tool


def printed(event: dict[str, Any], took: float | None = None) -> RenderableType | None:
    """What an event leaves on the screen for good (None: nothing). A tool shows once, when it
    ends; the result is the usage table."""
    t = event["type"]
    if t == "thread.started":
        return Text.assemble(("── thread ", "dim"), cell(event.get("thread_id"), "dim"))
    if t == "turn.failed":
        return Text.assemble(("✗ ", "red"), cell((event.get("error") or {}).get("message"), "red"))
    if t == "result":
        return usage_table(event)
    item = event.get("item") or {}
    kind = item.get("type")
    if t == "item.updated" and kind == "todo_list":
        return todo(item)
    if t != "item.completed":
        return None
    if kind == "agent_message":
        return block(item.get("text"))
    if kind == "reasoning":
        return Text.assemble(("thinking: ", "dim italic"), block(item.get("text"), "dim italic"))
    if kind in TOOLS:
        return tool_line(item, running=False, took=took)
    if kind == "todo_list":
        return todo(item)
    if kind == "error":
        return Text.assemble(("⚠ ", "yellow"), cell(item.get("message"), "yellow"))
    return cell(f"{kind}: {item}")


def todo(item: dict[str, Any]) -> RenderableType:
    rows = [Text.assemble(f"  [{'x' if e.get('completed') else ' '}] ", cell(e.get("text")))
            for e in item.get("items") or []]
    return Group(Text("todo:"), *rows)


def usage_table(r: dict[str, Any]) -> RenderableType:
    """How the run ended and what it used: input split into uncached, cache read and cache
    write; output with its reasoning; cost with its source, "unknown" when it is not known."""
    u = r.get("usage") or {}
    provider = r.get("provider") or {}
    ok = r.get("status") == "completed"
    status, kind = r.get("status"), r.get("failure_kind")
    status = f"{status} ({kind})" if kind and kind != status else status  # not "cancelled (cancelled)"
    head = Text.assemble((f"── {status} · ", "green" if ok else "red"),
                         cell(" ".join(str(p) for p in (provider.get("name"), provider.get("model")) if p),
                              "green" if ok else "red"))
    # The error is not repeated here: every failed result comes after its turn.failed, whose
    # ✗ line said it.
    parts: list[RenderableType] = [head]
    uncached = uncached_input_tokens(u) if isinstance(u.get("input_tokens"), int) else None
    rows = [
        ("input", tokens(uncached), "uncached"),
        ("cache read", tokens(u.get("cached_input_tokens")), ""),
        ("cache write", tokens(u.get("cache_write_input_tokens")), ""),
        ("output", tokens(u.get("output_tokens")), f"with reasoning {tokens(u.get('reasoning_output_tokens'))}"),
        ("total", tokens(u.get("total_tokens")), ""),
        ("cost", usd(u.get("cost_usd")), u.get("cost_source") or ""),
    ]
    for name, value, note in rows:  # plain lines, not a grid: no padding after the last word
        row = Text(f"   {name:<12}", "dim")
        row.append(f"{value:>12}")
        if note:
            row.append("  ")
            row.append_text(cell(note, "dim"))
        parts.append(row)
    if r.get("session_id"):
        parts.append(Text.assemble(("   session ", "dim"), cell(r["session_id"], "dim")))
    return Group(*parts)


@dataclass(slots=True)
class Status:
    """What the status line says: the view's clock, and what the stream said so far."""

    elapsed: float
    tokens: int | None = None
    cost_usd: float | None = None
    tool: dict[str, Any] | None = None  # the item running now


SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


def status_line(s: Status) -> Text:
    """`⠹ 12.3s · 1,234 tokens · $0.0123 · $ pytest -q`: only what is known (no made-up 0)."""
    line = Text(f"{SPINNER[int(s.elapsed * 10) % len(SPINNER)]} {seconds(s.elapsed)}", "bold")
    if s.tokens is not None:
        line.append(f" · {s.tokens:,} tokens")
    if s.cost_usd is not None:
        line.append(f" · {usd(s.cost_usd)}")
    if s.tool is not None:
        line.append(" · ")
        line.append_text(_head(s.tool))
    line.no_wrap, line.overflow = True, "ellipsis"
    return line
