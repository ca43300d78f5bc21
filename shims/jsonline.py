"""The first step of every NDJSON vendor parser: one native line -> one JSON object."""

from __future__ import annotations

from typing import Any

import orjson

from normalize import observe as o


def read_object(line: bytes | bytearray) -> dict[str, Any] | o.Unparsed | None:
    """The line's object; None for a blank line; Unparsed for anything that is not one JSON
    object (noise on stdout, a truncated line, an array)."""
    if not line.strip():
        return None
    try:
        msg = orjson.loads(line)
    except orjson.JSONDecodeError:
        return o.Unparsed("not JSON")
    if not isinstance(msg, dict):
        return o.Unparsed("not a JSON object")
    return msg
