"""The first step of every NDJSON vendor parser: one native line -> one JSON object.

orjson reads nearly every line. What it refuses is read again tolerantly before the line is
called malformed (issue 13): invalid UTF-8 (bytes replaced with U+FFFD), lone UTF-16 surrogate
escapes (what JavaScript writes for a cut emoji; replaced with U+FFFD), numbers outside 64-bit
or float range and NaN/Infinity (dropped: read as null), and nesting deeper than orjson's 1024
levels (subtrees below DEEPEST_KEPT levels read as null). What comes out of the tolerant path
can always be written again by orjson, so no later step (usage sums, `encode_line`) can fail
on it. The object says what was repaired (`Repaired`), and the parser says so once, at the end
of the run (`Repairs`).
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from normalize import observe as o
from normalize.limits import writable

# Below this depth the tolerant path keeps nothing: meaningful vendor fields sit a few levels
# deep, the stdlib scanner must stay far from Python's recursion limit, and orjson writes only
# 254 levels.
DEEPEST_KEPT = 200
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1  # what orjson reads and writes as an integer
_SURROGATE = re.compile("[\ud800-\udfff]")
# A JSON string (escapes included) or a bracket: enough to measure nesting without parsing.
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.S)


class Repaired(dict):
    """An object that only the tolerant path could read, with what it had to change."""

    __slots__ = ("numbers", "deep", "text")

    def __init__(self, value: dict[str, Any], numbers: int, deep: int, text: bool) -> None:
        super().__init__(value)
        self.numbers, self.deep, self.text = numbers, deep, text


def read_object(line: bytes | bytearray) -> dict[str, Any] | o.Unparsed | None:
    """The line's object; None for a blank line; Unparsed for anything that is not one JSON
    object (noise on stdout, a truncated line, an array). A `Repaired` (a dict) when the line
    was read tolerantly."""
    try:
        msg = orjson.loads(line)
    except orjson.JSONDecodeError:
        # Blank only checked here: strip() copies the line, and most lines are JSON.
        if not line.strip():
            return None
        found = read_tolerantly(line)
        if found is None:
            return o.Unparsed("not JSON")
        msg, numbers, deep, text = found
        if not isinstance(msg, dict):
            return o.Unparsed("not a JSON object")
        return Repaired(msg, numbers, deep, text)
    if not isinstance(msg, dict):
        return o.Unparsed("not a JSON object")
    return msg


def read_document(data: bytes | bytearray) -> tuple[Any, int, int, bool] | None:
    """A whole JSON document (`--output-format json`): (value, numbers dropped, subtrees
    dropped, text repaired), strict where orjson can, else tolerantly; None when it is not JSON."""
    try:
        return orjson.loads(data), 0, 0, False
    except orjson.JSONDecodeError:
        return read_tolerantly(data)


def read_tolerantly(data: bytes | bytearray | str) -> tuple[Any, int, int, bool] | None:
    """JSON that orjson refused, read with the standard library: (value, numbers dropped,
    subtrees dropped, text repaired); None when it is not JSON even so."""
    import json  # only here: most runs never need it

    text_repaired = False
    if isinstance(data, str):
        text = data
    else:
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            text, text_repaired = bytes(data).decode("utf-8", "replace"), True
    dropped = [0]

    def number(s: str) -> Any:
        # Integers past 4300 digits do not even parse (int_max_str_digits); past 64 bits they
        # cannot be written again. Floats past their range are inf; NaN/Infinity are no numbers.
        if len(s) <= 20 or "." in s or "e" in s or "E" in s:
            try:
                n = float(s) if ("." in s or "e" in s or "E" in s) else int(s)
            except ValueError:
                n = None
            if isinstance(n, int) and _INT_MIN <= n <= _INT_MAX:
                return n
            if isinstance(n, float) and n - n == 0.0:  # finite
                return n
        dropped[0] += 1
        return None

    def constant(_name: str) -> None:
        dropped[0] += 1
        return None

    deep = 0
    if text.count("[") + text.count("{") > DEEPEST_KEPT:  # else it cannot nest that deep (cheap to count)
        text, deep = _without_deep_subtrees(text, DEEPEST_KEPT)
    try:
        value = json.loads(text, parse_int=number, parse_float=number, parse_constant=constant)
    except (ValueError, RecursionError):
        return None
    value, repaired = _repair_strings(value)
    return value, dropped[0], deep, text_repaired or repaired


def _without_deep_subtrees(text: str, limit: int) -> tuple[str, int]:
    """`text` with every array or object that opens deeper than `limit` replaced by null, and
    how many were replaced. Brackets inside strings do not count."""
    out: list[str] = []
    depth, kept_from, skip_from, dropped = 0, 0, -1, 0
    for m in _TOKEN.finditer(text):
        tok = m.group()
        if tok[0] == '"':
            continue
        if tok in "[{":
            depth += 1
            if depth == limit + 1 and skip_from < 0:
                skip_from = m.start()
        else:
            if depth == limit + 1 and skip_from >= 0:
                out.append(text[kept_from:skip_from])
                out.append("null")
                kept_from, skip_from = m.end(), -1
                dropped += 1
            depth -= 1
    if skip_from >= 0:  # never closed: a cut line, which will not parse anyway
        out.append(text[kept_from:skip_from])
        kept_from = len(text)
    out.append(text[kept_from:])
    return "".join(out), dropped


def _repair_strings(value: Any) -> tuple[Any, bool]:
    """Lone surrogates in strings and keys -> U+FFFD (orjson cannot write them). Iterative:
    a tree nearly as deep as the recursion limit must not hit it here."""
    repaired = False

    def fix(s: str) -> str:
        nonlocal repaired
        if _SURROGATE.search(s) is None:
            return s
        repaired = True
        # A high and low surrogate next to each other are one character; the rest are lone.
        return s.encode("utf-16", "surrogatepass").decode("utf-16", "replace")

    if isinstance(value, str):
        return fix(value), repaired
    stack = [value] if isinstance(value, dict | list) else []
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for k in list(node):
                v = node[k]
                if isinstance(v, str):
                    v = fix(v)
                elif isinstance(v, dict | list):
                    stack.append(v)
                fk = fix(k)
                if fk != k:
                    del node[k]
                node[fk] = v
        else:
            for i, v in enumerate(node):
                if isinstance(v, str):
                    node[i] = fix(v)
                elif isinstance(v, dict | list):
                    stack.append(v)
    return value, repaired


class Repairs:
    """What the tolerant path changed over a run, said once at its end: an `error` item when
    numbers or subtrees were dropped (accounting may be short), and `result.vendor.tolerant_lines`."""

    __slots__ = ("lines", "numbers", "deep", "text")

    def __init__(self) -> None:
        self.lines = self.numbers = self.deep = self.text = 0

    def note(self, msg: Repaired) -> None:
        self.lines += 1
        self.numbers += msg.numbers
        self.deep += msg.deep
        self.text += msg.text

    def note_document(self, numbers: int, deep: int, text: bool) -> None:
        if numbers or deep or text:
            self.lines += 1
            self.numbers, self.deep, self.text = self.numbers + numbers, self.deep + deep, self.text + text

    def observations(self, vendor: str) -> list[o.Observation]:
        if not self.lines:
            return []
        details = {"lines": self.lines, "numbers_dropped": self.numbers, "deep_subtrees_dropped": self.deep,
                   "lines_with_text_replaced": self.text}
        out: list[o.Observation] = [o.VendorInfo({"tolerant_lines": details})]
        lost = []
        if self.numbers:
            lost.append(f"{self.numbers} number{'s' * (self.numbers != 1)} outside the 64-bit or float range")
        if self.deep:
            lost.append(f"{self.deep} field{'s' * (self.deep != 1)} nested deeper than {DEEPEST_KEPT} levels")
        if lost:
            out.append(o.Warning(f"{vendor} printed {self.lines} line{'s' * (self.lines != 1)} that are not strict "
                                 f"JSON; read tolerantly, dropping {' and '.join(lost)} (figures may be short)."))
        return out


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


def json_answer(value: Any, said: Any = None) -> str:
    """A structured answer (a vendor's `structured_output`) as the JSON text the final
    agent_message carries (Codex's --output-schema): the vendor's own text `said` when it is
    that same JSON, else the value written compactly."""
    if isinstance(said, str) and said.strip():
        try:
            if orjson.loads(said) == value:
                return said.strip()
        except orjson.JSONDecodeError:
            pass
    return orjson.dumps(writable(value)).decode()
