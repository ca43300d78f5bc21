"""Size limits of the stream (CONTRACT §3, §4): 16 KiB lines, tail-keeping cuts.

Cuts keep the *end* of a text (the end of a command's output or of an answer is what a reader
needs) behind a `[… N bytes cut]` marker, N counted in UTF-8 bytes. The journal keeps the
whole text; only the stream is cut.
"""

from __future__ import annotations

from typing import Any

import orjson

MAX_LINE_BYTES = 16 * 1024
KEEP_BYTES = 4 * 1024
# Successively harder cuts for a line that still does not fit (many long fields in one item).
_KEEP_STEPS = (KEEP_BYTES, 1024, 256, 64)


def cut_marker(n: int) -> str:
    return f"[… {n} bytes cut]\n"


def tail_bytes(text: str, keep: int) -> str:
    """`text` cut to at most its last `keep` UTF-8 bytes (plus the marker), never splitting a
    character; unchanged when it already fits."""
    raw = text.encode("utf-8", "surrogatepass")
    if len(raw) <= keep:
        return text
    start = len(raw) - keep
    # step forward past UTF-8 continuation bytes so the tail starts on a character
    while start < len(raw) and (raw[start] & 0xC0) == 0x80:
        start += 1
    return cut_marker(start) + raw[start:].decode("utf-8", "replace")


def encode_line(event: dict[str, Any]) -> bytes:
    """One stream line (without newline), at most MAX_LINE_BYTES long."""
    data = orjson.dumps(event)
    if len(data) <= MAX_LINE_BYTES:
        return data
    for keep in _KEEP_STEPS:
        event = _cut_strings(event, keep)
        data = orjson.dumps(event)
        if len(data) <= MAX_LINE_BYTES:
            return data
    # Still too long: the bulk is in many small entries (a huge list). Drop list heads until it fits.
    while len(data) > MAX_LINE_BYTES:
        shrunk = _shrink_longest_list(event)
        if shrunk is None:
            break
        event = shrunk
        data = orjson.dumps(event)
    return data


def _cut_strings(value: Any, keep: int) -> Any:
    if isinstance(value, str):
        return tail_bytes(value, keep) if len(value) > keep // 4 else value
    if isinstance(value, dict):
        return {k: (v if k in ("type", "id") else _cut_strings(v, keep)) for k, v in value.items()}
    if isinstance(value, list):
        return [_cut_strings(v, keep) for v in value]
    return value


def _shrink_longest_list(value: Any) -> Any | None:
    """Halve the longest list found anywhere in `value` (keeping its tail); None if no list
    has more than one element."""
    best: list[Any] = []

    def walk(v: Any) -> None:
        nonlocal best
        if isinstance(v, list):
            if len(v) > len(best):
                best = v
            for x in v:
                walk(x)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)

    walk(value)
    if len(best) <= 1:
        return None
    target = id(best)

    def rebuild(v: Any) -> Any:
        if isinstance(v, list):
            if id(v) == target:
                return [rebuild(x) for x in v[len(v) // 2 :]]
            return [rebuild(x) for x in v]
        if isinstance(v, dict):
            return {k: rebuild(x) for k, x in v.items()}
        return v

    return rebuild(value)
