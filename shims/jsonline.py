"""The first step of every NDJSON vendor parser: one native line -> one JSON object."""

from __future__ import annotations

import orjson

from normalize import observe as o

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: importing typing costs start-up time
    from typing import Any


def read_object(line: bytes | bytearray) -> dict[str, Any] | o.Unparsed | None:
    """The line's object; None for a blank line; Unparsed for anything that is not one JSON
    object (noise on stdout, a truncated line, an array)."""
    try:
        msg = orjson.loads(line)
    except orjson.JSONDecodeError:
        # Blank only checked here: strip() copies the line, and most lines are JSON.
        return None if not line.strip() else o.Unparsed("not JSON")
    if not isinstance(msg, dict):
        return o.Unparsed("not a JSON object")
    return msg


# Coercions for fields of a vendor's JSON that may be missing or of the wrong type: a parser
# must never raise on them (wrong types are a vendor change, not a reason to lose the run).


def as_text(v: Any) -> str:
    return v if isinstance(v, str) else ("" if v is None else str(v))


def as_str(v: Any) -> str | None:
    """A non-empty string, else None."""
    return v if isinstance(v, str) and v else None


def as_count(v: Any) -> int:
    """A token count: a positive int, else 0 (booleans are not counts)."""
    return v if isinstance(v, int) and not isinstance(v, bool) and v > 0 else 0
