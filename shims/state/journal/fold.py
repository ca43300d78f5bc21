"""A run's journaled events folded into one row of `shims top`: pure (`fold(row, event) ->
row`), with the order rows are shown in. shims.state.journal.follow does the reading.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from normalize.jsonline import as_count, as_str

RUNNING = "running"
INTERRUPTED = "interrupted"  # the shim died before its result (as store.RunRecord.state says)


@dataclass(frozen=True, slots=True)
class Row:
    run: str  # the run folder's name, its id
    provider: str | None = None
    model: str | None = None
    mode: str | None = None
    started_at: float | None = None  # epoch seconds, meta.json's started_at
    status: str = RUNNING  # running, completed, failed, cancelled, interrupted
    failure_kind: str | None = None
    open_items: tuple[tuple[str, str], ...] = ()  # (item id, what it is): started, not completed yet
    tokens: int | None = None  # the turns' input + output so far; the result's total at the end
    cost_usd: float | None = None  # from the result (vendors report cost with it)
    duration_ms: int | None = None  # from the result
    ended_at: float | None = None  # epoch seconds, set by the reader when it sees the run end
    last: str | None = None  # once ended: the final message, or the error
    note: str | None = None  # what could not be read

    @property
    def current(self) -> str | None:
        """The item the worker is on: the last one started and not completed."""
        return self.open_items[-1][1] if self.open_items else None

    @property
    def ended(self) -> bool:
        return self.status != RUNNING


def seed(run: str, meta: dict[str, Any]) -> Row:
    """A run's row before any event: what meta.json says."""
    return Row(run=run, provider=as_str(meta.get("provider")), model=as_str(meta.get("model")),
               mode=as_str(meta.get("mode")), started_at=_epoch(meta.get("started_at")))


def with_meta(row: Row, meta: dict[str, Any]) -> Row:
    """meta.json rewritten while the run goes (the launch adds model and mode): its facts over
    the row's, what the events gave kept."""
    fresh = seed(row.run, meta)
    return dataclasses.replace(row, provider=fresh.provider or row.provider, model=fresh.model or row.model,
                               mode=fresh.mode or row.mode, started_at=fresh.started_at or row.started_at)


def fold(row: Row, event: Any) -> Row:
    """The row after one event of the run's stream. Anything not shaped like an event of the
    contract leaves the row as it was (the journal is read back, not trusted)."""
    if not isinstance(event, dict):
        return row
    kind = event.get("type")
    if kind in ("item.started", "item.updated", "item.completed"):
        item = event.get("item")
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            return row
        item_id = item["id"]
        if kind == "item.completed":
            return dataclasses.replace(row, open_items=tuple(e for e in row.open_items if e[0] != item_id))
        doing = describe(item)
        if doing is None:
            return row
        # An update keeps the item's place (a plan updated mid-turn is not what goes on now);
        # a new item goes last: it is.
        if any(e[0] == item_id for e in row.open_items):
            return dataclasses.replace(row, open_items=tuple((item_id, doing) if e[0] == item_id else e
                                                             for e in row.open_items))
        return dataclasses.replace(row, open_items=(*row.open_items, (item_id, doing)))
    if kind == "turn.completed":
        usage = event.get("usage")
        if not isinstance(usage, dict):
            return row
        turn = as_count(usage.get("input_tokens")) + as_count(usage.get("output_tokens"))
        return dataclasses.replace(row, tokens=(row.tokens or 0) + turn)
    if kind == "result":
        return _ended(row, event)
    return row


def describe(item: dict[str, Any]) -> str | None:
    """What an item in progress is, in a few words (vendor text: the view shows it escaped)."""
    kind = item.get("type")
    if kind == "command_execution":
        return f"$ {_first_line(item.get('command'))}"
    if kind == "file_change":
        paths = [f"{c.get('kind')} {c.get('path')}" for c in _list(item.get("changes")) if isinstance(c, dict)]
        return "edit " + (", ".join(paths) if paths else "files")
    if kind == "mcp_tool_call":
        return f"mcp {_first_line(item.get('server'))}.{_first_line(item.get('tool'))}"
    if kind == "web_search":
        return f"search {_first_line(item.get('query'))}"
    if kind == "agent_message":
        return "writing answer"
    if kind == "reasoning":
        return "thinking"
    if kind == "todo_list":
        entries = [e for e in _list(item.get("items")) if isinstance(e, dict)]
        return f"plan {sum(1 for e in entries if e.get('completed') is True)}/{len(entries)} done"
    return None


def interrupted(row: Row, at: float) -> Row:
    """The shim is gone without a result: the row keeps what it was doing when it died."""
    return dataclasses.replace(row, status=INTERRUPTED, ended_at=at)


def elapsed_s(row: Row, now: float) -> float | None:
    """Running: since it started. Ended: the result's duration, else until it was seen ending."""
    if row.duration_ms is not None:
        return row.duration_ms / 1000
    if row.started_at is None:
        return None
    return max((row.ended_at if row.ended and row.ended_at is not None else now) - row.started_at, 0.0)


def split_lines(pending: bytes, data: bytes) -> tuple[list[bytes], bytes]:
    """Whole lines of what was read after `pending`; the torn tail waits for its newline."""
    buf = pending + data
    *lines, rest = buf.split(b"\n")
    return [line for line in lines if line.strip()], rest


def order(rows: list[Row]) -> list[Row]:
    """Running runs first, oldest first (their places stay put), then the ended, latest first."""
    running = sorted((r for r in rows if not r.ended), key=lambda r: r.run)
    ended = sorted((r for r in rows if r.ended), key=lambda r: (-(r.ended_at or 0.0), r.run))
    return running + ended


def _ended(row: Row, result: dict[str, Any]) -> Row:
    usage = result.get("usage") if isinstance(result.get("usage"), dict) else {}
    provider = result.get("provider") if isinstance(result.get("provider"), dict) else {}
    status = result.get("status") if result.get("status") in ("completed", "failed", "cancelled") else "failed"
    total = usage.get("total_tokens")
    cost = usage.get("cost_usd")
    duration = result.get("duration_ms")
    return dataclasses.replace(
        row,
        status=status,
        failure_kind=as_str(result.get("failure_kind")),
        provider=as_str(provider.get("name")) or row.provider,
        model=as_str(provider.get("model")) or as_str(usage.get("model")) or row.model,
        tokens=as_count(total) if isinstance(total, int) and not isinstance(total, bool) else row.tokens,
        cost_usd=float(cost) if isinstance(cost, int | float) and not isinstance(cost, bool) else row.cost_usd,
        duration_ms=as_count(duration) if isinstance(duration, int) and not isinstance(duration, bool) else None,
        open_items=(),
        last=_first_line(result.get("error") if status != "completed" else result.get("final_message")) or None,
    )


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _first_line(value: Any) -> str:
    text = value if isinstance(value, str) else ""
    return text.strip().split("\n", 1)[0][:500]



def _epoch(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None
