"""What a store keeps of an entry, the same for every store: masked like every state file
(shims.state.private_files.state_bytes: a request's thread_id, role or task_name, a vendor's
session id, model name or quota message may carry a secret), with the query columns taken from
the masked entry, so a lookup masks its value the same way before comparing; and which entries a
reader takes (well_formed: a hand edit or another program's row is skipped, not a crash)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from shims.state.private_files import state_bytes
from shims.state.store.base import RunQuery
from shims.state.store.schema import RUN_COLUMNS

# RunQuery's fields that name a column of `runs`, compared for equality.
QUERY_FIELDS = ("provider", "model", "account", "role", "session_id")


def masked(entry: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """The masked entry and its JSON text."""
    data = state_bytes(orjson.dumps(entry))
    return orjson.loads(data), data.decode()


def run_row(entry: Mapping[str, Any]) -> tuple[tuple[str | None, ...], str]:
    """The values of RUN_COLUMNS (None where the entry has no text) and the entry's JSON."""
    clean, text = masked(entry)
    return tuple(v if isinstance(v := clean.get(c), str) else None for c in RUN_COLUMNS), text


def entry_of(data: bytes | str) -> dict[str, Any] | None:
    """A kept row's JSON as the entry it holds, or None when it holds none (a damaged file,
    another program's row): readers skip it rather than crash."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def as_stored(text: str) -> str:
    """A value as an entry holds it (masked where it looks like a secret), to compare with it."""
    return orjson.loads(state_bytes(orjson.dumps(text)))


def query_filters(query: RunQuery) -> list[tuple[str, str, str]]:
    """The query as (column, operator, value) conditions, the values as entries hold them (masked
    alike); `at` is compared as text, ISO UTC instants sorting as time does. Every store builds its
    WHERE from these, and the outbox's rows are held against them (`matches`)."""
    found = [(name, "=", as_stored(value)) for name in QUERY_FIELDS if (value := getattr(query, name)) is not None]
    if query.since is not None:
        found.append(("at", ">=", query.since))
    if query.until is not None:
        found.append(("at", "<", query.until))
    return found


def matches(entry: Mapping[str, Any], query: RunQuery) -> bool:
    """The query on one entry (rows read outside a database: the outbox)."""
    for column, op, value in query_filters(query):
        held = entry.get(column) if isinstance(entry.get(column), str) else ("" if column == "at" else None)
        if op == "=" and held != value or op == ">=" and not held >= value or op == "<" and not held < value:
            return False
    return True


_TEXT_FIELDS = ("at", "provider", "model", "session_id", "cwd", "role", "account", "status")
_COUNTS = ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_output_tokens", "total_tokens")


def well_formed(entry: dict[str, Any]) -> bool:
    """An entry whose fields have the types the shim writes; anything else (a hand edit, another
    program's line) is skipped rather than crashing every reader."""
    if not all(entry.get(k) is None or isinstance(entry.get(k), str) for k in _TEXT_FIELDS):
        return False
    for name in ("usage", "session_total"):
        usage = entry.get(name)
        if usage is None and name == "session_total":
            continue
        if not isinstance(usage, dict):
            return False
        if not all(isinstance(usage.get(k, 0), int) and not isinstance(usage.get(k, 0), bool) for k in _COUNTS):
            return False
        cost = usage.get("cost_usd")
        if cost is not None and (not isinstance(cost, int | float) or isinstance(cost, bool)):
            return False
        if not isinstance(usage.get("models", {}), dict):
            return False
    return True
