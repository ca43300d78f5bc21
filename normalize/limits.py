"""Size limits of the stream (CONTRACT §3, §4): 16 KiB lines, tail-keeping cuts.

Cuts keep the *end* of a text (the end of a command's output or of an answer is what a reader
needs) behind a `[… N bytes cut]` marker, N counted in UTF-8 bytes. The journal keeps the
whole text; only the stream is cut.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

MAX_LINE_BYTES = 16 * 1024
KEEP_BYTES = 4 * 1024
# Successively harder cuts for a line that still does not fit (many long fields in one item).
_KEEP_STEPS = (KEEP_BYTES, 1024, 256, 64)


def cut_marker(n: int) -> str:
    return f"[… {n} bytes cut]\n"


_MARKER = re.compile(r"\[… (\d+) bytes cut\]\n")


def tail_bytes(text: str, keep: int) -> str:
    """`text` cut to at most its last `keep` UTF-8 bytes (plus the marker), never splitting a
    character; unchanged when it already fits. A text that was already cut keeps one marker
    counting every byte cut so far."""
    if len(text) <= keep // 4:
        return text  # fits whatever the characters
    earlier = 0
    m = _MARKER.match(text)
    if m:
        earlier = int(m.group(1))
        text = text[m.end() :]
    # Encode only the tail: `keep` characters are at least `keep` bytes. The head's byte
    # length comes free for ASCII (isascii() is O(1) on CPython), so a 20 MB output is not
    # copied again just to count it.
    tail = text[-keep:].encode("utf-8", "surrogatepass") if keep > 0 else b""
    head_chars = max(len(text) - keep, 0)
    head_len = head_chars if text.isascii() else _utf8_len(text, head_chars)
    if head_len + len(tail) <= keep:
        return (cut_marker(earlier) + text) if earlier else text
    start = len(tail) - keep
    # step forward past UTF-8 continuation bytes so the tail starts on a character
    while start < len(tail) and (tail[start] & 0xC0) == 0x80:
        start += 1
    return cut_marker(earlier + head_len + start) + tail[start:].decode("utf-8", "replace")


def fit_tail(text: str, budget: int) -> str:
    """`text` as a value of at most `budget` UTF-8 bytes, the marker included: unchanged when it
    fits, else its tail behind one `[… N bytes cut]` marker (N counting every byte cut, an
    earlier cut's too). What a host that gave a byte budget expects of the whole value
    (CONTRACT §4 `max_final_message_bytes`; codex-lab cuts anything over its 8 KiB again and so
    loses our marker). A budget too small for the marker gets the marker alone: a reader must
    always see that text was cut."""
    if len(text) <= budget // 4:
        return text  # fits whatever the characters
    size = len(text) if text.isascii() else _utf8_len(text, len(text))
    if size <= budget:
        return text
    # The marker's own length grows with N; N is at most every byte there is (an earlier
    # marker's count included), so room for that marker is always enough.
    earlier = _MARKER.match(text)
    most = size + (int(earlier.group(1)) if earlier else 0)
    keep = max(budget - len(cut_marker(most).encode()), 0)
    out = tail_bytes(text, keep)
    for _ in range(2):  # the marker came out shorter than feared: give its room to the tail
        slack = budget - len(out.encode())
        better = tail_bytes(text, keep + slack) if slack > 0 else out
        if better is out or len(better.encode()) > budget:
            break
        keep, out = keep + slack, better
    return out


def _utf8_len(text: str, end: int, step: int = 1 << 20) -> int:
    """UTF-8 length of text[:end], counted a slice at a time (no copy of the whole)."""
    return sum(len(text[i : min(i + step, end)].encode("utf-8", "surrogatepass")) for i in range(0, end, step))


def encode_line(event: dict[str, Any]) -> bytes:
    """One stream line (without newline), at most MAX_LINE_BYTES long, still valid under the
    schema: strings keep their tails, lists their last entries, and free-form values (tool
    arguments and results, vendor details) may be folded into a cut JSON text."""
    try:
        return _encode_line(event)
    except RecursionError:
        # Nested deeper than the walks below recurse (found by attack: a tool input of 1000
        # levels, which orjson reads): cut to what orjson writes, then as usual.
        return _encode_line(_writable(event, 0))


def _encode_line(event: dict[str, Any]) -> bytes:
    if _has_huge_string(event):
        # A string this long can never fit: cut it before serializing it whole.
        event = _cut_strings(event, KEEP_BYTES, only_over=MAX_LINE_BYTES)
    try:
        data = orjson.dumps(event)
    except orjson.JSONEncodeError:
        event = writable(event)
        data = orjson.dumps(event)
    if len(data) <= MAX_LINE_BYTES:
        return data
    for keep in _KEEP_STEPS:
        event = _cut_strings(event, keep)
        data = orjson.dumps(event)
        if len(data) <= MAX_LINE_BYTES:
            return data
    # Still too long: the bulk is structure (many entries, many or long keys).
    for shrink in (_fold_largest_free_form, _shrink_longest_list, _shrink_models):
        while len(data) > MAX_LINE_BYTES:
            shrunk = shrink(event)
            if shrunk is None:
                break
            event = shrunk
            data = orjson.dumps(event)
    return data


# orjson writes integers of 64 bits and nests 254 levels deep (it reads 1024).
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1
_DEEPEST_WRITTEN = 200
_SURROGATE = re.compile("[\ud800-\udfff]")


def writable(value: Any) -> Any:
    """`value` as orjson can write it: `value` itself when it can; else a copy where integers
    past 64 bits are clamped to the nearest one that fits, lone surrogates in strings and keys
    are U+FFFD and anything nested deeper than orjson writes is null. Whatever a vendor made
    the translation compute (found by attack: sums of counts past 2**64, a tool input 600
    levels deep), the `result` line can be printed."""
    try:
        orjson.dumps(value)
        return value
    except orjson.JSONEncodeError:
        return _writable(value, 0)


def _writable(value: Any, depth: int) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return value
    if isinstance(value, int):
        return min(max(value, _INT_MIN), 2**63 - 1 if value > _INT_MAX else _INT_MAX)
    if isinstance(value, str):
        return _text(value)
    if depth >= _DEEPEST_WRITTEN:
        return None
    if isinstance(value, dict):
        return {_text(str(k)): _writable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_writable(v, depth + 1) for v in value]
    return _text(str(value))


def _text(s: str) -> str:
    if _SURROGATE.search(s) is None:
        return s
    return s.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


# Where values are free-form (CONTRACT §3/§4: `arguments`, `result`, `vendor`): a value there
# may become a cut JSON text without breaking the schema.
_FREE_FORM = (("item", "arguments"), ("item", "result"), ("vendor",))


def _fold_largest_free_form(event: dict[str, Any]) -> dict[str, Any] | None:
    best: tuple[int, tuple[Any, ...]] | None = None

    def walk(value: Any, path: tuple[Any, ...], inside: bool) -> None:
        nonlocal best
        if not isinstance(value, dict | list):
            return
        if inside and path not in (("vendor",),):
            size = len(orjson.dumps(value))
            if size > 64 and (best is None or size > best[0]):
                best = (size, path)
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for k, v in items:
            sub = (*path, k)
            walk(v, sub, inside or sub in _FREE_FORM)

    walk(event, (), False)
    if best is None:
        vendor = event.get("vendor")
        if isinstance(vendor, dict) and len(orjson.dumps(vendor)) > 64 and set(vendor) != {"cut"}:
            return {**event, "vendor": {"cut": tail_bytes(orjson.dumps(vendor).decode(), 1024)}}
        return None
    path = best[1]
    folded = tail_bytes(orjson.dumps(_get(event, path)).decode(), 256)
    return _set(event, path, folded)


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for k in path:
        value = value[k]
    return value


def _set(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _set(value[head], rest, new)}
    out = list(value)
    out[head] = _set(value[head], rest, new)
    return out


def _has_huge_string(value: Any) -> bool:
    # Runs on every event: plain loops, and strings checked without a call per value.
    if isinstance(value, str):
        return len(value) > MAX_LINE_BYTES
    if isinstance(value, dict):
        value = value.values()
    elif not isinstance(value, list):
        return False
    for v in value:
        if isinstance(v, str):
            if len(v) > MAX_LINE_BYTES:
                return True
        elif isinstance(v, dict | list) and _has_huge_string(v):
            return True
    return False


def _cut_strings(value: Any, keep: int, only_over: int = 0, depth: int = 0) -> Any:
    """Cut long strings to their tails; the `type` and `id` of the event and of its item are
    names, never cut (deeper down, keys called `type` hold ordinary data)."""
    longer = max(keep // 4, only_over)
    if isinstance(value, str):
        return tail_bytes(value, keep) if len(value) > longer else value
    # A dict's strings and scalars are handled in its loop, not by a call each (this runs on
    # every long event).
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if depth <= 1 and k in ("type", "id"):
                pass
            elif isinstance(v, str):
                if len(v) > longer:
                    v = tail_bytes(v, keep)
            elif isinstance(v, dict | list):
                v = _cut_strings(v, keep, only_over, depth + 1)
            out[k] = v
        return out
    if isinstance(value, list):
        return [_cut_strings(v, keep, only_over, depth + 1) for v in value]
    return value


def _shrink_models(event: dict[str, Any]) -> dict[str, Any] | None:
    """Halve the result's `usage.models` (a map, neither free-form nor a list: found by fuzzing,
    thousands of models, or models named with 100 KB, made a 400 KB line), keeping the models
    that used the most tokens; the last one goes too. None when there is nothing left to drop."""
    usage = event.get("usage")
    models = usage.get("models") if isinstance(usage, dict) else None
    if not isinstance(models, dict) or not models:
        return None

    def tokens(name: str) -> int:
        n = models[name].get("total_tokens") if isinstance(models[name], dict) else None
        return n if isinstance(n, int) else 0

    kept = set(sorted(models, key=lambda name: -tokens(name))[: len(models) // 2])  # stable: ties keep order
    return {**event, "usage": {**usage, "models": {k: v for k, v in models.items() if k in kept}}}


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
