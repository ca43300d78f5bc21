"""`shims top`'s reading of the journal: each run's events folded into one row as they are
appended, for the runs going on now and those that ended a short while ago.

The fold (`fold(row, event) -> row`) is pure; `Follower` does the reading. It keeps, per run,
how far its events.ndjson was read and a torn last line until its newline comes, so a tick
reads only what was appended. Runs appear, grow, end and are pruned at any moment, and any file
may be unreadable or a planted link (opened O_NOFOLLOW, shims.state.private_files): a run
shows what could be read, with a note. A run that ended more than `linger_s` ago is never
read again, so a root of hundreds of old runs costs one scandir a tick.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from shims.runtime.procs import owner_alive
from shims.state.journal.store import run_dirs
from shims.state.private_files import open_private, read_private

RUNNING = "running"
INTERRUPTED = "interrupted"  # the shim died before its result (as store.RunRecord.state says)

READ_BUDGET = 4 << 20  # bytes of one run's events read in one tick: a flood of events cannot stall the view
MAX_LINE = 8 << 20  # a longer event line (a huge tool output) is skipped, never held
META_GRACE_S = 10.0  # a run folder without a meta.json for longer was left by a shim that died


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
    return Row(run=run, provider=_text(meta.get("provider")), model=_text(meta.get("model")),
               mode=_text(meta.get("mode")), started_at=_epoch(meta.get("started_at")))


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
        turn = _count(usage.get("input_tokens")) + _count(usage.get("output_tokens"))
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


# ---------------------------------------------------------------------- reading


@dataclass(slots=True)
class _Tail:
    """How far one run has been read."""

    path: str
    row: Row
    meta: dict[str, Any]
    meta_stamp: tuple[int, int] | None = None  # (mtime_ns, size) of the meta.json read
    offset: int = 0
    pending: bytes = b""
    skipping: bool = False  # inside an event line longer than MAX_LINE


class Follower:
    """The rows of the runs under `root` that run now or ended within `linger_s`."""

    def __init__(self, root: str | os.PathLike[str], *, linger_s: float = 60.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.root = os.fspath(root)
        self.linger_s = linger_s
        self._clock = clock
        self._tails: dict[str, _Tail] = {}
        self._done: set[str] = set()  # ended long ago, or left the table: never read again

    def poll(self) -> list[Row]:
        now = self._clock()
        present = {os.path.basename(p): p for p in run_dirs(self.root)}
        for name in [n for n in self._tails if n not in present]:
            del self._tails[name]  # pruned (or moved away) while shown
        self._done &= present.keys()
        for name, path in present.items():
            if name in self._done:
                continue
            tail = self._tails.get(name)
            if tail is None:
                if _ended_before(path, now - self.linger_s):
                    self._done.add(name)
                    continue
                tail = self._tails[name] = _Tail(path, Row(run=name), {})
            if not tail.row.ended:
                _refresh(tail, now)
            if tail.row.ended and (tail.row.ended_at or now) < now - self.linger_s:
                del self._tails[name]
                self._done.add(name)
        return order([t.row for t in self._tails.values()])


def _refresh(tail: _Tail, now: float) -> None:
    _reread_meta(tail)
    # Whether the owner lives is asked before the events are read: what it wrote before it
    # died is then in the file, so a run is never called interrupted with its result unread.
    alive = _owner_alive(tail, now)
    # A dead shim's journal no longer grows: read to its end now, so it is never shown running.
    caught_up = _read_events(tail, READ_BUDGET if alive else None)
    if tail.row.ended:
        tail.row = dataclasses.replace(tail.row, ended_at=_mtime(os.path.join(tail.path, "result.json")) or now)
        return
    result = _read_json(os.path.join(tail.path, "result.json"))
    if isinstance(result, dict):  # a result the events lack (a journal that stopped early)
        tail.row = dataclasses.replace(fold(tail.row, {**result, "type": "result"}),
                                       ended_at=_mtime(os.path.join(tail.path, "result.json")) or now)
    elif not alive and caught_up:  # (a run read in part may yet have its result further on)
        tail.row = interrupted(tail.row, _mtime(os.path.join(tail.path, "events.ndjson"))
                               or _mtime(os.path.join(tail.path, "meta.json")) or now)


def _owner_alive(tail: _Tail, now: float) -> bool:
    """Whether the shim that writes the run still runs. A folder is made a moment before its
    meta.json names the owner: without one, the run counts as starting for META_GRACE_S."""
    if tail.meta:
        return owner_alive(tail.meta.get("pid"), tail.meta.get("host"))
    made = _mtime(tail.path)
    return made is None or now - made < META_GRACE_S


def _reread_meta(tail: _Tail) -> None:
    path = os.path.join(tail.path, "meta.json")
    try:
        st = os.stat(path, follow_symlinks=False)
    except OSError:
        return
    stamp = (st.st_mtime_ns, st.st_size)
    if stamp == tail.meta_stamp:
        return
    tail.meta_stamp = stamp
    meta = _read_json(path)
    if isinstance(meta, dict):
        tail.meta = meta
        tail.row = with_meta(tail.row, meta)
    else:
        tail.row = dataclasses.replace(tail.row, note="meta.json unreadable")


def _read_events(tail: _Tail, budget: int | None) -> bool:
    """Fold what was appended since the last tick (up to `budget` bytes; None: all of it);
    whether all of it was."""
    try:
        fd = open_private(os.path.join(tail.path, "events.ndjson"), os.O_RDONLY)
    except FileNotFoundError:
        return True  # nothing emitted yet
    except OSError as exc:
        tail.row = dataclasses.replace(tail.row, note=f"events.ndjson: {exc.strerror or exc}")
        return True
    try:
        size = os.fstat(fd).st_size
        if size < tail.offset:  # the file was replaced or cut: read it again from the start
            tail.offset, tail.pending, tail.skipping = 0, b"", False
            tail.row = with_meta(Row(run=tail.row.run), tail.meta)
        left = size - tail.offset
        data = os.pread(fd, left if budget is None else min(left, budget), tail.offset) if left > 0 else b""
    except OSError as exc:
        tail.row = dataclasses.replace(tail.row, note=f"events.ndjson: {exc.strerror or exc}")
        return True
    finally:
        os.close(fd)
    tail.offset += len(data)
    if tail.skipping:
        cut = data.find(b"\n")
        if cut < 0:
            return tail.offset >= size
        data, tail.skipping = data[cut + 1:], False
    lines, tail.pending = split_lines(tail.pending, data)
    if len(tail.pending) > MAX_LINE:
        tail.pending, tail.skipping = b"", True
    row = tail.row
    for line in lines:
        try:
            row = fold(row, orjson.loads(line))
        except orjson.JSONDecodeError:
            continue
    tail.row = row
    return tail.offset >= size


def _ended_before(path: str, when: float) -> bool:
    """A run whose result.json was written before `when`: not worth opening."""
    stamp = _mtime(os.path.join(path, "result.json"))
    return stamp is not None and stamp < when


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
        failure_kind=_text(result.get("failure_kind")),
        provider=_text(provider.get("name")) or row.provider,
        model=_text(provider.get("model")) or _text(usage.get("model")) or row.model,
        tokens=_count(total) if isinstance(total, int) and not isinstance(total, bool) else row.tokens,
        cost_usd=float(cost) if isinstance(cost, int | float) and not isinstance(cost, bool) else row.cost_usd,
        duration_ms=_count(duration) if isinstance(duration, int) and not isinstance(duration, bool) else None,
        open_items=(),
        last=_first_line(result.get("error") if status != "completed" else result.get("final_message")) or None,
    )


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _first_line(value: Any) -> str:
    text = value if isinstance(value, str) else ""
    return text.strip().split("\n", 1)[0][:500]


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _epoch(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


def _mtime(path: str) -> float | None:
    try:
        return os.stat(path, follow_symlinks=False).st_mtime
    except OSError:
        return None


def _read_json(path: str) -> Any:
    try:
        return orjson.loads(read_private(path))
    except (OSError, orjson.JSONDecodeError):
        return None
