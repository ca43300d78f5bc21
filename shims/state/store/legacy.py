"""The files the state store replaced, read once to import them: `ledger.ndjson` (one entry a
line) and `quota.json` (`{provider: {account: entry}}`). Pure: bytes in, rows out; a line or
entry another program wrote, or a crash cut, is skipped as the old readers skipped it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

LEDGER_NAME = "ledger.ndjson"
QUOTA_NAME = "quota.json"
IMPORTED_SUFFIX = ".imported"

_TEXT_FIELDS = ("at", "provider", "model", "session_id", "cwd", "role", "account", "status")
_COUNTS = ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_output_tokens", "total_tokens")


def ledger_entries(data: bytes) -> Iterator[dict[str, Any]]:
    """Every well-formed entry of an old ledger, oldest first."""
    for line in data.splitlines():
        try:
            entry = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(entry, dict) and _well_formed(entry):
            yield entry


def quota_entries(data: bytes) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(provider, account, entry) of an old quota memory, for entries that say when they end."""
    try:
        memory = orjson.loads(data)
    except orjson.JSONDecodeError:
        return
    for provider, accounts in (memory.items() if isinstance(memory, dict) else ()):
        for account, entry in (accounts.items() if isinstance(accounts, dict) else ()):
            if isinstance(entry, dict) and isinstance(entry.get("until"), int | float) \
                    and not isinstance(entry["until"], bool):
                yield provider, account, entry


def _well_formed(entry: dict[str, Any]) -> bool:
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
