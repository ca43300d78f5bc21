"""What a store keeps of an entry, the same for every store: masked like every state file
(shims.state.private_files.state_bytes: a request's thread_id, role or task_name, a vendor's
session id, model name or quota message may carry a secret), with the query columns taken from
the masked entry, so a lookup masks its value the same way before comparing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from shims.state.private_files import state_bytes
from shims.state.store.schema import RUN_COLUMNS


def masked(entry: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """The masked entry and its JSON text."""
    data = state_bytes(orjson.dumps(entry))
    return orjson.loads(data), data.decode()


def run_row(entry: Mapping[str, Any]) -> tuple[tuple[str | None, ...], str]:
    """The values of RUN_COLUMNS (None where the entry has no text) and the entry's JSON."""
    clean, text = masked(entry)
    return tuple(v if isinstance(v := clean.get(c), str) else None for c in RUN_COLUMNS), text


def as_stored(text: str) -> str:
    """A value as an entry holds it (masked where it looks like a secret), to compare with it."""
    return orjson.loads(state_bytes(orjson.dumps(text)))
