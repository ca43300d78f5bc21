"""`shims top`'s reading of the journal: each run's events folded into one row as they are
appended, for the runs going on now and those that ended a short while ago.

The fold (`fold(row, event) -> row`, shims.state.journal.fold) is pure; `Follower` does the
reading. It keeps, per run,
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
from typing import Any

import orjson

from shims.runtime.procs import owner_alive
from shims.state.journal.fold import Row, fold, interrupted, order, split_lines, with_meta
from shims.state.journal.store import run_dirs
from shims.state.private_files import open_private, read_private

READ_BUDGET = 4 << 20  # bytes of one run's events read in one tick: a flood of events cannot stall the view
MAX_LINE = 8 << 20  # a longer event line (a huge tool output) is skipped, never held
META_GRACE_S = 10.0  # a run folder without a meta.json for longer was left by a shim that died


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
