"""The files the state store replaced, read once to import them: `ledger.ndjson` (one entry a
line) and `quota.json` (`{provider: {account: entry}}`). Pure: bytes in, rows out; a line or
entry another program wrote, or a crash cut, is skipped as the old readers skipped it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from shims.state.store.rows import well_formed

LEDGER_NAME = "ledger.ndjson"
QUOTA_NAME = "quota.json"
IMPORTED_SUFFIX = ".imported"



def ledger_entries(data: bytes) -> Iterator[dict[str, Any]]:
    """Every well-formed entry of an old ledger, oldest first."""
    for line in data.splitlines():
        try:
            entry = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(entry, dict) and well_formed(entry):
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
