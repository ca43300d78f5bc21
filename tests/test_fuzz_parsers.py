"""Fuzzing every vendor parser, in every format it reads, through the assembler (CONTRACT §3).

Whatever a vendor CLI prints (garbage, cut lines, records out of order or twice, giant fields,
fields of the wrong type) and however it ends (any exit code, a signal, a cancel, a timeout),
the shim must not raise and must print a stream a host can rely on:

  - nothing raises: not the parser's `feed` (the pipeline would swallow it into
    `result.vendor.parser_errors`, which counts as a failure here), not its `finish`, not the
    assembler;
  - the stream keeps CONTRACT §3 (`streamcheck.check_stream`): `thread.started` first, `result`
    last, exactly one terminal event, `item_N` ids in order, every line at most 16 KiB and valid
    under the schema, and the exit code is the one the result's status and failure kind give;
  - a cancel or a timeout of the shim decides the outcome whatever the vendor said;
  - the same input gives byte-identical output (CONTRACT §3, §13).

Inputs start from the golden recordings (golden/<vendor>/<case>/native.stdout): real lines,
then cut, shuffled, duplicated, blown up or retyped. Everything runs in-process through
`shims.run.recording.replay_events`, the path `shims normalize` and the golden files use.

Defects these properties found are regression `@example`s on `test_raw_input`, which runs
every example through every parser.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import hostile
import orjson
import pytest
from hypothesis import HealthCheck, example, given, note, settings
from hypothesis import strategies as st
from streamcheck import check_stream, parse_stream

from normalize.failures import CANCEL_EXIT, EXIT_CODES, FailureKind
from shims.run import vendors
from shims.run.pipeline import Pipeline
from shims.run.recording import replay_events
from shims.runtime.lines import LineFramer

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "golden"
PAIRS = [(v, f) for v, vi in vendors.VENDORS.items() for f in vi.formats]
PAIR_IDS = [f"{v}-{f}" for v, f in PAIRS]

# pyte (agy's text format) costs ~4 µs a byte and ~0.3 ms a screen line: agy text inputs are
# capped so one example stays well under a second. Every other parser sees the full size.
AGY_TEXT_MAX_BYTES = 32 * 1024
AGY_TEXT_MAX_LINES = 500


def fuzz(max_examples: int) -> settings:
    """Bounded for CI; no deadline (a 2 MB input takes its time), random as usual."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    )


# ---------------------------------------------------------------- how a run ended


@dataclass(frozen=True)
class Exit:
    exit_code: int | None = 0
    signal_number: int | None = None
    cancelled: str | None = None
    timed_out: str | None = None
    ended_at: float | None = None
    resumed: bool = False


exits = st.builds(
    Exit,
    exit_code=st.one_of(
        st.none(),
        st.sampled_from([0, 1, 2, 3, 41, 42, 44, 52, 53, 54, 55, 130, 143, 144, 145, 147, 173, 244, 247, 255]),
        st.integers(-(2**31), 2**31 - 1),
    ),
    signal_number=st.one_of(st.none(), st.integers(1, 64)),
    cancelled=st.sampled_from([None, None, None, "SIGINT", "SIGTERM"]),
    timed_out=st.sampled_from([None, None, None, "timeout", "idle"]),
    # the runtime's clock: any time from 1970 to 2100
    ended_at=st.one_of(st.none(), st.floats(0, 4.1e9)),
    resumed=st.booleans(),
)


# ---------------------------------------------------------------- the golden recordings


@dataclass(frozen=True)
class Seed:
    name: str
    stdout: bytes
    stderr: bytes
    exit: Exit

    def __repr__(self) -> str:  # failure reports name the recording; `check` notes the bytes
        return f"<golden {self.name}>"

    def lines(self) -> list[bytes]:
        return self.stdout.split(b"\n")


def _load_seeds() -> dict[tuple[str, str], list[Seed]]:
    seeds: dict[tuple[str, str], list[Seed]] = {pair: [] for pair in PAIRS}
    for meta_path in sorted(GOLDEN.glob("*/*/meta.json")):
        case = meta_path.parent
        meta = json.loads(meta_path.read_text())
        stderr_path = case / "native.stderr"
        sig = meta.get("signal")
        seed = Seed(
            f"{case.parent.name}/{case.name}",
            (case / "native.stdout").read_bytes(),
            stderr_path.read_bytes() if stderr_path.exists() else b"",
            Exit(meta.get("exit_code"), None, f"SIG{sig}" if sig else None, None, meta.get("ended_at"),
                 bool(meta.get("resumed"))),
        )
        key = (case.parent.name, meta.get("format") or "stream-json")
        if key in seeds:
            seeds[key].append(seed)
    # agy's `json` format is the stream's `result` payload alone, on one line: derived from the
    # stream-json recordings that have one.
    for seed in seeds[("agy", "stream-json")]:
        for line in reversed(seed.lines()):
            doc = _json_or_none(line)
            if isinstance(doc, dict) and doc.get("event") == "result" and isinstance(doc.get("result"), dict):
                stdout = orjson.dumps(doc["result"]) + b"\n"
                seeds[("agy", "json")].append(Seed(seed.name + " (as json)", stdout, seed.stderr, seed.exit))
                break
    # claude's `json` format with --verbose: one array of every message of the stream.
    for seed in seeds[("claude", "stream-json")]:
        docs = [d for d in map(_json_or_none, seed.lines()) if isinstance(d, dict)]
        if docs:
            seeds[("claude", "json")].append(Seed(seed.name + " (as verbose json)", orjson.dumps(docs) + b"\n",
                                                  seed.stderr, seed.exit))
    return seeds


def _json_or_none(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


SEEDS = _load_seeds()


def _all_keys(value: Any, out: set[str]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            out.add(k)
            _all_keys(v, out)
    elif isinstance(value, list):
        for v in value:
            _all_keys(v, out)


def _known_keys() -> list[str]:
    keys: set[str] = set()
    for seeds in SEEDS.values():
        for seed in seeds:
            for line in seed.lines():
                _all_keys(_json_or_none(line), keys)
            _all_keys(_json_or_none(seed.stdout), keys)
    return sorted(keys)


KNOWN_KEYS = _known_keys()


def _parser_keys() -> frozenset[str]:
    """The keys the parsers read (`m.get("…")`, `x["…"]`): where a wrong type hurts."""
    keys: set[str] = set()
    for path in sorted([*(ROOT / "shims").glob("*/parse.py"), *(ROOT / "shims").glob("*/errors.py")]):
        keys.update(re.findall(r'(?:get\(|\[)"([A-Za-z_][A-Za-z0-9_]*)"', path.read_text()))
    return frozenset(keys)


PARSER_KEYS = _parser_keys()


def test_every_parser_has_recordings():
    for pair in PAIRS:
        assert SEEDS[pair], f"no golden recording for {pair}"


# ---------------------------------------------------------------- values


def _repeat(seed: bytes | str, n: int):
    return (seed * (n // len(seed) + 1))[:n]


# Strings the parsers' regexes and enums react to, with absurd numbers in them.
NASTY_STRINGS = [
    "", " ", "\n", "NaN", "nan", "-NaN", "Infinity", "-Infinity", "inf", "1e999", "-0", "-1", "0", "null", "true",
    "false", "[]", "{}", "\x00", "\x00\x00\x00", "\r", "\r\n", "\u2028", "\ufeff", "\x1b[2J", "é", "日本", "\U0001f600",
    "Exit code 99999999999999999999999", "Exit code " + "9" * 5000, "Exit code -1",
    "Resets in 99999999999999h.", "Individual quota reached. Resets in 9999999h9m9s.", "Resets in 1e9s",
    "Individual quota reached. Resets in " + "9" * 400 + "s.",
    "usage limit reached|99999999999999", "Claude AI usage limit reached|9999999999999",
    "Suggested retry after " + "9" * 400 + "s", "Suggested retry after 99999999999999999999.5s",
    "regain access on 9999-99-99 at 99:99", '{"code": 999}', '"code": 429', "[object Object]", "interrupted",
    "RESOURCE_EXHAUSTED", "UNAUTHENTICATED", "rejected", "allowed", "allowed_warning", "five_hour", "seven_day",
    "<synthetic>", "mcp__", "mcp____", "mcp__a__b__c", "Bash", "Edit", "Write", "MultiEdit", "NotebookEdit",
    "WebSearch", "WebFetch", "TodoWrite", "run_shell_command", "write_file", "replace", "google_web_search",
    "web_fetch", "write_todos", "run_command", "write_to_file", "replace_file_content", "SUCCESS", "DONE", "ERROR",
    "agent_response", "tool", "error_message", "subagent", "assistant", "user", "result", "system", "init",
    "api_retry", "permission_denied", "compact_boundary", "rate_limit_event", "success", "error", "message",
    "FatalCancellationError", "tool_result", "tool_use", "text", "thinking", "delta", "warning", "usage", "total",
    "step_update", "command_result", "update", "completed", "reject", "usage_limit_reached", "connection_failed",
    "billing_error", "rate_limit", "authentication_failed", "model_not_found", "server_error", "aborted_streaming",
    "max_turns", "budget_exhausted", "prompt_too_long", "quota_or_rate_limited", "cancelled", "TIMED_OUT",
]
NUMBERS = [
    0, 1, -1, 2, 255, 256, 429, 500, 2**31, 2**53, 2**53 + 1, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64 - 1,
    2**64, 2**70, -(2**70), 10**30, 10**308, 1e308, -1e308, 5e-324, 0.5, -0.0, 1e12 + 1, 1e13, 4102444800, 1.5e300,
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from(NUMBERS),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(NASTY_STRINGS),
)
json_values = st.recursive(
    scalars,
    lambda kids: st.one_of(
        st.lists(kids, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KNOWN_KEYS), st.text(max_size=6)), kids, max_size=4),
    ),
    max_leaves=10,
)


def dump(doc: Any, *, pretty: bool = False, ascii_only: bool = False) -> bytes:
    """JSON the way a vendor may write it: ints beyond 64 bits kept (orjson would refuse them),
    lone surrogates written raw (invalid UTF-8) unless escaped."""
    text = json.dumps(doc, ensure_ascii=ascii_only, indent=2 if pretty else None,
                      separators=None if pretty else (",", ":"))
    return text.encode("utf-8", "surrogatepass")


# ---------------------------------------------------------------- raw bytes

huge_sizes = st.one_of(st.integers(16 * 1024, 300 * 1024), st.integers(300 * 1024, 2 * 1024 * 1024))
# One huge line (its pattern has no newline: 2 MB of "\n" would be a million lines, a cost of
# its own, drawn separately below with a bound).
huge_lines = st.builds(_repeat, st.binary(min_size=1, max_size=8).map(lambda b: b.replace(b"\n", b"\r")), huge_sizes)
many_lines = st.builds(_repeat, st.sampled_from([b"\n", b"\r\n", b"{}\n", b"x\n", b'{"type":"result"}\n']),
                       st.integers(1_000, 60_000))
junk_line = st.one_of(
    st.binary(max_size=120),
    st.sampled_from([
        b"", b"\r", b"\r\r\r", b"\x00", b"\x00" * 100, b"\xff\xfe\xfd", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
        b"\xe2\x82", b"{", b"}", b"[", b"[]", b"null", b"1", b'"str"', b"{}", b'{"type":', b'{"type":"result"',
        b'{"event":"result","result":', b"\x1b[2J\x1b[H", b"\x1b]0;title\x07", b"\x1b[999999;999999H",
        b"\x1b[99999999@", b"\x1b[99999999L", b"\x1b[99999999M", b"\x1b[99999999P", b"\x1b[?1049h", b"\x1b(0lqk\x1b(B",
        b"\xe2\xa0\x8b Thinking...", b"\xe2\x95\xad\xe2\x94\x80\xe2\x95\xae",
    ]),
    st.text(max_size=60).map(lambda s: s.encode("utf-8", "surrogatepass")),
    json_values.map(dump),
)


@st.composite
def raw_stdout(draw) -> bytes:
    lines = draw(st.lists(st.one_of(junk_line, junk_line, junk_line, huge_lines, many_lines), max_size=12))
    sep = draw(st.sampled_from([b"\n", b"\n", b"\r\n", b"\r", b"\n\n"]))
    tail = draw(st.sampled_from([b"", b"\n"]))
    return sep.join(lines) + tail


# Prefixes the stderr classifiers look for (agy.md §6, claude.md §5, gemini.md §8).
STDERR_PREFIXES = [b"", b"error: ", b"AGY_ERROR: ", b"jetski: ", b"[agy] print timeout ", b"Error: ",
                   b"Error: authentication required ", b"Error when talking to Gemini API ", b"    at "]
RECORDED_STDERR = sorted({s.stderr for seeds in SEEDS.values() for s in seeds if s.stderr})
stderr_line = st.tuples(
    st.sampled_from(STDERR_PREFIXES),
    st.one_of(
        st.sampled_from(NASTY_STRINGS).map(lambda v: v.encode("utf-8", "surrogatepass")),
        json_values.map(dump),
        st.sampled_from(sorted({ln for err in RECORDED_STDERR for ln in err.split(b"\n") if ln.strip()})),
        st.binary(max_size=40),
    ),
).map(b"".join)


@st.composite
def any_stderr(draw) -> bytes:
    """Vendor stderr: nothing, random bytes, or recorded stderr (its JSON maybe retyped) with
    hostile lines after it (the classifiers read the last lines first)."""
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return b""
    if kind == 1:
        return draw(st.binary(max_size=300))
    recorded = draw(st.sampled_from([b"", *RECORDED_STDERR]))
    if kind == 3:
        recorded = _mutate_stderr_json(draw, recorded)
    extra = draw(st.lists(stderr_line, min_size=1, max_size=4))
    return b"\n".join([recorded.rstrip(b"\n"), *extra]) + draw(st.sampled_from([b"", b"\n"]))


def _mutate_stderr_json(draw, stderr: bytes) -> bytes:
    """The JSON in stderr (agy's `AGY_ERROR: {…}` lines, gemini's pretty-printed error object)
    with retyped values."""
    lines = stderr.split(b"\n")
    out: list[bytes] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line == b"{" and b"}" in lines[i:]:  # a pretty-printed block, up to its closing line
            end = lines.index(b"}", i)
            doc = _json_or_none(b"\n".join(lines[i : end + 1]))
            if isinstance(doc, dict) and draw(st.booleans()):
                out.append(dump(_retype(draw, doc), pretty=True))
                i = end + 1
                continue
        brace = line.find(b"{")
        doc = _json_or_none(line[brace:]) if brace >= 0 else None
        if isinstance(doc, dict) and draw(st.booleans()):
            line = line[:brace] + dump(_retype(draw, doc))
        out.append(line)
        i += 1
    return b"\n".join(out)


# ---------------------------------------------------------------- mutations of recordings


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    out: list[tuple] = []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for k, v in items:
        out.append((*prefix, k))
        out.extend(_paths(v, (*prefix, k)))
    return out


def _replace(value: Any, path: tuple, new: Any, delete: bool = False) -> Any:
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        value = dict(value)
    else:
        value = list(value)
    if rest:
        value[head] = _replace(value[head], rest, new, delete)
    elif delete and isinstance(value, dict):
        del value[head]
    else:
        value[head] = new
    return value


def _retype(draw, doc: Any, n: int | None = None) -> Any:
    """`doc` with 1-3 values (of known keys) replaced by JSON values of any other type, or gone."""
    for _ in range(n or draw(st.integers(1, 3))):
        paths = _paths(doc)
        if not paths:
            return doc
        read = [p for p in paths if p[-1] in PARSER_KEYS]
        path = draw(st.sampled_from(read if read and draw(st.integers(0, 4)) else paths))
        doc = _replace(doc, path, draw(json_values), delete=draw(st.integers(0, 7)) == 0)
    return doc


def _string_paths(value: Any) -> list[tuple]:
    return [p for p in _paths(value) if isinstance(_get(value, p), str)]


def _get(value: Any, path: tuple) -> Any:
    for k in path:
        value = value[k]
    return value


def _draw_seed(data, pair) -> Seed:
    return data.draw(st.sampled_from(SEEDS[pair]), label="seed")


def _draw_exit(data, seed: Seed) -> Exit:
    if data.draw(st.booleans(), label="exit as recorded"):
        return seed.exit
    return data.draw(exits, label="exit")


def _json_records(stdout: bytes, fmt: str) -> tuple[list[bytes], list[int]]:
    """The lines of a recording and which of them hold one JSON document. In the `json` formats
    (pretty-printed documents over many lines) the whole output is one record."""
    if fmt == "json" and b"\n" in stdout.strip() and _json_or_none(stdout) is not None:
        return [stdout.strip()], [0]
    lines = stdout.split(b"\n")
    return lines, [i for i, line in enumerate(lines) if isinstance(_json_or_none(line), dict | list)]


def _json_seed(data, pair) -> tuple[Seed, list[bytes], list[int]]:
    """A recording with JSON records: the pair's own, or (text formats have none) another
    recording of the same vendor, which the text parser must take as text."""
    vendor, fmt = pair
    candidates = [(s, fmt) for s in SEEDS[pair]]
    if fmt == "text":
        candidates += [(s, "stream-json") for s in SEEDS[(vendor, "stream-json")]]
    seed, seed_fmt = data.draw(st.sampled_from(candidates), label="seed")
    lines, records = _json_records(seed.stdout, seed_fmt)
    return seed, lines, records


# ---------------------------------------------------------------- the check


@dataclass
class Output:
    stream: bytes
    result: dict[str, Any]
    code: int


def _cap(pair: tuple[str, str], stdout: bytes) -> bytes:
    if pair == ("agy", "text"):
        stdout = stdout[:AGY_TEXT_MAX_BYTES]
        if stdout.count(b"\n") > AGY_TEXT_MAX_LINES:
            stdout = b"\n".join(stdout.split(b"\n")[:AGY_TEXT_MAX_LINES])
    return stdout


def _replay(vendor: str, fmt: str, stdout: bytes, stderr: bytes, ex: Exit, max_final: int = 8192) -> Output:
    lines: list[bytes] = []
    _, result, code = replay_events(
        vendor, stdout, stderr, exit_code=ex.exit_code, signal_number=ex.signal_number, cancelled=ex.cancelled,
        timed_out=ex.timed_out, fmt=fmt, ended_at=ex.ended_at, resumed=ex.resumed, max_final_message_bytes=max_final,
        sink=lambda _event, line: lines.append(bytes(line)),
    )
    if result["vendor"].get("parser_errors"):
        # The pipeline survived a parser exception; show it with its traceback.
        _feed_directly(vendor, fmt, stdout)
        raise AssertionError(f"parser raised: {result['vendor']['parser_errors']}")
    return Output(b"".join(line + b"\n" for line in lines), result, code)


def _replay_line_by_line(vendor: str, fmt: str, stdout: bytes, stderr: bytes, ex: Exit, max_final: int = 8192) -> Output:
    """As _replay, with every line through Pipeline.line, as a live run feeds them: no
    parser fast path for runs of lines (Pipeline.lines / feed_deltas)."""

    def one_by_one(pipe, lines):
        for line in lines:
            pipe.line(line)

    with mock.patch.object(Pipeline, "lines", one_by_one):
        return _replay(vendor, fmt, stdout, stderr, ex, max_final)


def _feed_directly(vendor: str, fmt: str, stdout: bytes) -> None:
    parser = vendors.new_parser(vendor, fmt)
    framer = LineFramer()
    for line in framer.feed(stdout) + framer.finish():
        parser.feed(line)


def check(pair: tuple[str, str], stdout: bytes, stderr: bytes, ex: Exit) -> dict[str, Any]:
    vendor, fmt = pair
    stdout = _cap(pair, stdout)
    note(f"{vendor} {fmt} {ex}\nstdout={stdout[:2000]!r}{'…' if len(stdout) > 2000 else ''} ({len(stdout)} bytes)"
         f"\nstderr={stderr[:1000]!r}")
    first = _replay(vendor, fmt, stdout, stderr, ex)
    events = parse_stream(first.stream)  # newline-terminated lines of at most 16 KiB, each one JSON
    result = check_stream(events, first.code)  # CONTRACT §3 and the schema; the exit code fits the result
    assert result["status"] == first.result["status"] and result["failure_kind"] == first.result["failure_kind"]
    assert result["failure_kind"] is None or result["failure_kind"] in FailureKind._value2member_map_
    if ex.cancelled:
        assert (result["status"], first.code) == ("cancelled", CANCEL_EXIT[ex.cancelled]), result["error"]
    elif ex.timed_out:
        assert (result["failure_kind"], first.code) == ("timed_out", EXIT_CODES[FailureKind.TIMED_OUT])
    if result["status"] == "completed":
        assert first.code == 0 and result["final_message"]
    again = _replay(vendor, fmt, stdout, stderr, ex)
    assert again.stream == first.stream, "the same input must give the same bytes"
    assert again.code == first.code
    if hasattr(vendors.new_parser(vendor, fmt), "feed_deltas"):
        live = _replay_line_by_line(vendor, fmt, stdout, stderr, ex)
        assert (live.stream, live.result) == (first.stream, first.result), "a recording as a live run"
    return result


def budget(pair: tuple[str, str], max_examples: int) -> int:
    """agy's text parser runs a terminal emulator (~40 ms a replay, 20x the others): it gets a
    sixth of the examples, so the file stays fast while every parser is fuzzed."""
    return max(max_examples // 6, 4) if pair == ("agy", "text") else max_examples


def run_property(pair: tuple[str, str], mutation, max_examples: int) -> None:
    """`mutation(data, pair) -> (stdout, stderr, exit)` through `check`, `max_examples` times."""

    @fuzz(budget(pair, max_examples))
    @given(data=st.data())
    def run(data):
        check(pair, *mutation(data, pair))

    # One example database entry per property and parser (the inner function is shared).
    run.hypothesis.inner_test._hypothesis_internal_add_digest = f"{mutation.__name__}/{pair}".encode()
    run()


pairs = pytest.mark.parametrize("pair", PAIRS, ids=PAIR_IDS)


# ---------------------------------------------------------------- mutations: (data, pair) -> input


def truncated(data, pair):
    """Golden lines cut at random points (a vendor killed mid-write, a pipe buffer boundary),
    and the whole output cut off at a random byte."""
    seed = _draw_seed(data, pair)
    lines = seed.lines()
    cuts = data.draw(st.lists(st.tuples(st.integers(0, len(lines) - 1), st.floats(0, 1)), max_size=4), label="cuts")
    for i, at in cuts:
        lines[i] = lines[i][: int(len(lines[i]) * at)]
    stdout = b"\n".join(lines)
    end = data.draw(st.floats(0, 1), label="kept fraction")
    if end < 0.7:
        stdout = stdout[: int(len(stdout) * end / 0.7)]
    return stdout, seed.stderr, _draw_exit(data, seed)


def reordered(data, pair):
    """Golden records shuffled, repeated and dropped (results twice, tool results before their
    calls, text after the result, a stream starting mid-way), and a record repeated with one
    value changed (the same call id for another tool)."""
    seed = _draw_seed(data, pair)
    lines = [line for line in seed.lines() if line.strip()] or [b""]
    if data.draw(st.booleans(), label="permutation"):
        order = data.draw(st.permutations(range(len(lines))), label="order")
    else:
        order = data.draw(st.lists(st.integers(0, len(lines) - 1), max_size=2 * len(lines) + 2), label="order")
    picked = [lines[i] for i in order]
    if picked and data.draw(st.integers(0, 3), label="change a copy") == 0:
        i = data.draw(st.integers(0, len(picked) - 1), label="copy")
        doc = _json_or_none(picked[i])
        if isinstance(doc, dict | list):
            picked.insert(i + 1, dump(_retype(data.draw, doc, n=1)))
    return b"\n".join(picked) + b"\n", seed.stderr, _draw_exit(data, seed)


def huge_field(data, pair):
    """One string of a golden record (text, tool output, ids, model names, error messages,
    values anywhere) replaced by 100 KB to 2 MB of text."""
    seed, lines, records = _json_seed(data, pair)
    size = data.draw(st.integers(100_000, 2_000_000), label="size")
    text = _repeat(data.draw(st.text(min_size=1, max_size=8), label="pattern"), size)
    paths = [(i, p) for i in records for p in _string_paths(orjson.loads(lines[i]))]
    if paths:
        i, path = data.draw(st.sampled_from(paths), label="field")
        doc = _replace(orjson.loads(lines[i]), path, text)
        lines = [*lines[:i], dump(doc, pretty=b"\n" in lines[i]), *lines[i + 1 :]]
    else:  # no JSON strings (text output): one line becomes huge
        i = data.draw(st.integers(0, len(lines) - 1), label="line")
        lines = [*lines[:i], text.encode("utf-8", "surrogatepass"), *lines[i + 1 :]]
    return b"\n".join(lines), seed.stderr, _draw_exit(data, seed)


def _blow_up(value: Any, n: int) -> Any:
    """A list repeated n times; an object with n copies of each entry under new keys."""
    if isinstance(value, list):
        return value * n
    return {f"{k}#{i}" if i else k: v for i in range(n) for k, v in value.items()}


def _rename(value: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    return {new if k == old else k: v for k, v in value.items()}


def huge_structure(data, pair):
    """One list or object of a golden record grown to thousands of entries (tools, todos,
    models, content blocks), or one key renamed to 100 KB of text (a model name, a tool
    argument)."""
    seed, lines, records = _json_seed(data, pair)
    if not records:
        return huge_field(data, pair)
    i = data.draw(st.sampled_from(records), label="record")
    doc = orjson.loads(lines[i])
    # Mostly where the parsers look: containers under the keys they read, keys inside them.
    read = data.draw(st.integers(0, 4), label="where the parsers read") > 0
    containers = [p for p in _paths(doc) if isinstance(_get(doc, p), dict | list) and _get(doc, p)
                  and (not read or p[-1] in PARSER_KEYS)]
    keyed = [p for p in _paths(doc) if isinstance(p[-1], str) and (not read or PARSER_KEYS.intersection(p[-2:]))]
    if keyed and (not containers or data.draw(st.booleans(), label="rename a key")):
        path = data.draw(st.sampled_from(keyed), label="key")
        name = _repeat(data.draw(st.text(min_size=1, max_size=8), label="pattern"), 100_000)
        parent = _get(doc, path[:-1])
        doc = _replace(doc, path[:-1], _rename(parent, path[-1], name)) if path[:-1] else _rename(doc, path[-1], name)
    elif containers:
        path = data.draw(st.sampled_from(containers), label="container")
        doc = _replace(doc, path, _blow_up(_get(doc, path), data.draw(st.integers(100, 3000), label="copies")))
    lines = [*lines[:i], dump(doc, pretty=b"\n" in lines[i]), *lines[i + 1 :]]
    return b"\n".join(lines), seed.stderr, _draw_exit(data, seed)


def retyped(data, pair):
    """Golden records with values of known keys replaced by JSON of other types: null, bools,
    numbers (2**70, negatives, 1e308), NaN-like and regex-bait strings, lists, objects; keys
    removed. The JSON on stderr (agy's AGY_ERROR, gemini's error object) too."""
    seed, lines, records = _json_seed(data, pair)
    if records:
        chosen = data.draw(st.lists(st.sampled_from(records), min_size=1, max_size=4, unique=True), label="records")
        ascii_only = data.draw(st.booleans(), label="ascii")
        for i in chosen:
            doc = _retype(data.draw, orjson.loads(lines[i]))
            lines[i] = dump(doc, pretty=b"\n" in lines[i], ascii_only=ascii_only)
    stderr = seed.stderr
    if data.draw(st.booleans(), label="retype stderr"):
        stderr = _mutate_stderr_json(data.draw, stderr)
    return b"\n".join(lines), stderr, _draw_exit(data, seed)


def hostile_values(data, pair):
    """Golden records with values (of known keys first) replaced by raw JSON that orjson refuses
    or cannot write again: numbers out of 64-bit or float range, NaN, 2**64 - 1, lone surrogate
    escapes, nesting past 1024 levels; and bytes that are not UTF-8 spliced into strings. The
    tolerant reader must keep the rest of the record, and the result line must be printed."""
    seed, lines, records = _json_seed(data, pair)
    for i in data.draw(st.lists(st.sampled_from(records), max_size=3, unique=True), label="records") if records else []:
        doc = orjson.loads(lines[i])
        paths = _paths(doc)
        if not paths:
            continue
        tokens: list[str] = []
        for _ in range(data.draw(st.integers(1, 3), label="values")):
            read = [p for p in paths if p[-1] in PARSER_KEYS]
            path = data.draw(st.sampled_from(read if read and data.draw(st.integers(0, 3)) else paths), label="path")
            tokens.append(data.draw(hostile.hostile_json_tokens, label="token"))
            try:
                doc = _replace(doc, path, f"<hostile:{len(tokens) - 1}>")
            except (KeyError, IndexError, TypeError):
                continue
            paths = _paths(doc)
        raw = dump(doc, pretty=b"\n" in lines[i])
        for n, token in enumerate(tokens):
            raw = raw.replace(f'"<hostile:{n}>"'.encode(), token.encode())
        if data.draw(st.booleans(), label="bad bytes"):
            at = raw.find(b'":"')
            if at >= 0:
                raw = raw[: at + 3] + data.draw(hostile.hostile_string_bytes, label="bytes") + raw[at + 3 :]
        lines[i] = raw
    return b"\n".join(lines), seed.stderr, _draw_exit(data, seed)


def ended_any_way(data, pair):
    """Golden output as recorded, ended any way: exit codes, vendor signals, the shim's cancel
    and timeouts, a resumed session; stderr recorded, hostile or random."""
    seed = _draw_seed(data, pair)
    stderr = data.draw(st.one_of(st.just(seed.stderr), any_stderr()), label="stderr")
    return seed.stdout, stderr, data.draw(exits, label="exit")


def mixed(data, pair):
    """Several mutations at once: retyped, shuffled, repeated and cut records among junk lines."""
    seed, lines, records = _json_seed(data, pair)
    for i in records:
        if data.draw(st.integers(0, 3), label=f"retype {i}") == 0:
            lines[i] = dump(_retype(data.draw, orjson.loads(lines[i])))
    lines = lines + data.draw(st.lists(junk_line, max_size=3), label="junk")
    order = data.draw(st.lists(st.integers(0, len(lines) - 1), max_size=len(lines) + 3), label="order")
    picked = [lines[i] for i in order]
    if picked and data.draw(st.booleans(), label="cut last"):
        picked[-1] = picked[-1][: data.draw(st.integers(0, len(picked[-1])), label="cut at")]
    return b"\n".join(picked), data.draw(any_stderr(), label="stderr"), data.draw(exits, label="exit")


# ---------------------------------------------------------------- regressions


def _ndjson(*records: dict[str, Any]) -> bytes:
    return b"".join(dump(r) + b"\n" for r in records)


_HUGE_ID = "0\x1f" * 50_000  # control characters: 6 bytes each once escaped
_BASH = {"type": "assistant", "message": {"id": "m1", "content": [
    {"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": "false"}}]}}


_MANY_MODELS = {f"model-{i}": {"inputTokens": i, "outputTokens": 1, "costUSD": 0.001} for i in range(3000)}
_LONG_NAMED_MODELS = {"a\x1f" * 50_000: {"inputTokens": 1}, "b\x1f" * 50_000: {"inputTokens": 2}}
_GEMINI_MODELS = {f"model-{i}": {"input_tokens": i, "output_tokens": 1, "total_tokens": i + 1} for i in range(3000)}


def _claude_result(models: dict[str, Any]) -> dict[str, Any]:
    return {"type": "result", "is_error": False, "result": "hi", "modelUsage": models,
            "model_usage_since_last_result": models}


def _claude_failed_bash(output: str) -> bytes:
    return _ndjson(_BASH, {"type": "user", "message": {"content": [
        {"type": "tool_result", "tool_use_id": "t1", "is_error": True, "content": output}]}})


# Inputs that broke a parser or the assembler, minimized. Each one runs through every parser
# (records of one vendor are garbage to the others, which must survive that too).
REGRESSIONS: list[tuple[bytes, bytes, Exit]] = [
    # A 100 KB session id became the thread id and was cut differently in `thread.started`
    # and `result` (normalize/assembler.py: Assembler._one).
    (_ndjson({"type": "system", "subtype": "init", "session_id": _HUGE_ID},  # claude
             {"type": "init", "session_id": _HUGE_ID},  # gemini, fake
             {"event": "init", "conversation_id": _HUGE_ID}), b"", Exit()),  # agy
    (dump({"status": "SUCCESS", "usage": {}, "conversation_id": _HUGE_ID, "response": "hi"}), b"", Exit()),  # agy json
    (dump({"type": "result", "is_error": False, "session_id": _HUGE_ID, "result": "hi"}), b"", Exit()),  # claude json
    (dump({"session_id": _HUGE_ID, "response": "hi"}, pretty=True), b"", Exit()),  # gemini json
    # claude: fields of the wrong type raised (shims/claude/parse.py: _system, _user).
    (_ndjson({"type": "system", "subtype": "init", "mcp_servers": True}), b"", Exit()),
    (_ndjson(_BASH, {"type": "user", "tool_result_meta": [{"id": [], "permission_decision": True}],
                                   "message": {"content": [{"type": "tool_result", "tool_use_id": "t1"}]}}),
     b"", Exit()),
    (_ndjson({"type": "user", "tool_result_meta": True, "message": {"content": []}}), b"", Exit()),
    # claude: (shims/claude/errors.py: quota_from_rate_limit_info, classify_result).
    (_ndjson({"type": "rate_limit_event", "rate_limit_info": {"status": [], "rateLimitType": {}}}), b"", Exit()),
    (_ndjson({"type": "assistant", "error": "rate_limit", "api_error_params": True,
              "message": {"model": "<synthetic>", "content": []}},
             {"type": "result", "is_error": True}), b"", Exit(exit_code=1)),
    (_ndjson({"type": "assistant", "error": "rate_limit", "api_error_params": {"rate_limit_info": True},
              "message": {"model": "<synthetic>", "content": []}},
             {"type": "result", "is_error": True}), b"", Exit(exit_code=1)),
    # claude: an exit code past 64 bits could not be written as JSON, one past 4300 digits not
    # be parsed (shims/claude/parse.py: tool_completion).
    (_claude_failed_bash("Exit code 99999999999999999999999"), b"", Exit(exit_code=1)),
    (_claude_failed_bash("Exit code " + "9" * 5000), b"", Exit(exit_code=1)),
    # agy: (shims/agy/parse.py: AgyParser.finish, tool_item, AgyParser._step).
    (_ndjson({"event": "result", "result": {"status": "SUCCESS", "response": "", "denied_actions": True}}), b"", Exit()),
    (_ndjson({"event": "step_update", "step_update": {"step_type": "tool", "step_index": 1, "tool_name": "run_command",
                                                      "state": "RUNNING", "tool_info": {"parameters": True}}}),
     b"", Exit()),
    (_ndjson({"event": "step_update", "step_update": {"step_type": "tool", "step_index": 1, "tool_name": "run_command",
                                                      "state": "RUNNING", "tool_info": {}}},
             {"event": "step_update", "step_update": {"step_type": "tool", "step_index": 1, "tool_name": "other",
                                                      "state": "DONE", "tool_info": {"output": "x"}}}), b"", Exit()),
    # agy: a reset past any calendar (shims/agy/errors.py: quota_from_text).
    (b"", b"error: Individual quota reached. Resets in 99999999999999h.\n", Exit(exit_code=1, ended_at=1.7e9)),
    # One call id for two different tools merged two item shapes (normalize/assembler.py:
    # Assembler._tool_started).
    (_ndjson(_BASH, {"type": "assistant", "message": {"id": "m2", "content": [
        {"type": "tool_use", "id": "t1", "name": "Read", "input": {"file_path": "a"}}]}},
        {"type": "tool_use", "tool_id": "x", "tool_name": "run_shell_command", "parameters": {}},  # gemini
        {"type": "tool_use", "tool_id": "x", "tool_name": "read_file", "parameters": {}},
        {"type": "tool_use", "id": "x", "name": "shell", "input": {}},  # fake
        {"type": "tool_use", "id": "x", "name": "other", "input": {}}), b"", Exit()),
    # A result with thousands of models, or two with 100 KB names, made a 400 KB line: the
    # models map is neither free-form nor a list (normalize/limits.py: encode_line).
    (_ndjson(_claude_result(_MANY_MODELS)), b"", Exit()),
    (_ndjson({"type": "result", "status": "success", "stats": {"models": _GEMINI_MODELS}}), b"", Exit()),
    (dump(_claude_result(_LONG_NAMED_MODELS)), b"", Exit()),
    (dump({"response": "hi", "stats": {"models": {k: {"tokens": {"prompt": v["input_tokens"], "total": v["total_tokens"]}}
                                                  for k, v in _GEMINI_MODELS.items()}}}, pretty=True), b"", Exit()),
    # Worst cases of raw input: nothing, bytes of every kind, 2 MB of cut UTF-8 without a newline.
    (b"", b"", Exit()),
    (b"\x00\r\xff\n\xed\xa0\x80\n{\n[]\nnull\n", b"\xff", Exit(exit_code=None)),
    (_repeat(b"\xe2\x82", 2 * 1024 * 1024 + 1), b"", Exit(exit_code=0)),
    (b'{"type":"result"' + b"\n" * 3, b"", Exit(exit_code=1, signal_number=9)),
]


# ---------------------------------------------------------------- properties


@pairs
def test_raw_input(pair):
    """Arbitrary bytes on stdout and stderr (invalid UTF-8, NULs, lone \\r, huge lines, JSON of
    any shape), ending any way; and every regression, through every parser."""

    @fuzz(budget(pair, 40))
    @given(stdout=raw_stdout(), stderr=any_stderr(), ex=exits)
    def run(stdout, stderr, ex):
        check(pair, stdout, stderr, ex)

    for stdout, stderr, ex in REGRESSIONS:
        run = example(stdout=stdout, stderr=stderr, ex=ex)(run)
    run.hypothesis.inner_test._hypothesis_internal_add_digest = f"raw/{pair}".encode()
    run()


@pairs
def test_truncated_lines(pair):
    run_property(pair, truncated, 30)


@pairs
def test_reordered_and_duplicated(pair):
    run_property(pair, reordered, 30)


@pairs
def test_huge_fields(pair):
    run_property(pair, huge_field, 8)


@pairs
def test_huge_structures(pair):
    run_property(pair, huge_structure, 10)


@pairs
def test_wrong_types(pair):
    run_property(pair, retyped, 60)


@pairs
def test_hostile_json_values(pair):
    run_property(pair, hostile_values, 40)


@pairs
def test_exit_states(pair):
    run_property(pair, ended_any_way, 30)


@pairs
def test_mixed_mutations(pair):
    run_property(pair, mixed, 30)


# ---------------------------------------------------------------- a recording as a live run


@pytest.mark.parametrize("chunk_size", [1, 7, 4096, 100_003])
def test_gemini_runs_of_deltas_give_the_live_stream(chunk_size):
    """`shims normalize` hands a run of Gemini answer chunks to the assembler as one delta;
    the stream must be the live one (a delta per line) byte for byte, also where the answer
    outgrows the assembler's memory trim (512 K characters) at different points, around a
    retry, an empty chunk, a tool call and a chunk that is not a string."""
    golden = (GOLDEN / "gemini" / "shell" / "native.stdout").read_bytes().splitlines()
    init, result = golden[0], golden[-1]

    def delta(text):
        return orjson.dumps({"type": "message", "role": "assistant", "content": text, "delta": True})

    words = "".join(f"word{i} " for i in range(2000))
    lines = [init, orjson.dumps({"type": "message", "role": "user", "content": "go"})]
    first = words[:chunk_size]
    lines += [delta(first)]
    lines += [delta(words[(i * chunk_size) % 9000:][:chunk_size] + "é") for i in range(1, 700_000 // chunk_size + 3)]
    lines += [delta(""), delta(first), delta("after the retry "), delta(["not", "a", "string"])]
    lines += [orjson.dumps({"type": "tool_use", "tool_name": "run_shell_command", "tool_id": "t1",
                            "parameters": {"command": "ls"}}),
              orjson.dumps({"type": "tool_result", "tool_id": "t1", "status": "success", "output": "a\nb"}),
              delta("the second answer"), b"{not json", delta("and its end"), result]
    stdout = b"\n".join(lines) + b"\n"
    ex = Exit(exit_code=0)
    for max_final in (8192, 10**7):  # the whole answer as the final message: every trim shows
        batched = _replay("gemini", "stream-json", stdout, b"", ex, max_final)
        assert batched.result["status"] == "completed"
        live = _replay_line_by_line("gemini", "stream-json", stdout, b"", ex, max_final)
        assert (live.stream, live.result) == (batched.stream, batched.result)


def test_gemini_runs_of_deltas_give_the_live_answer_at_any_size():
    """Long answers in chunks of every size, the final message uncut: the recording's fast
    path must trim the answer where a live run does."""
    for seed, size in enumerate((3, 50, 999, 4096, 70_000)):
        words = "".join(f"{seed}w{i} " for i in range(4000))
        chunks = [words[(i * 7) % 20000:][: size + i % 5] for i in range(1_400_000 // size + 1)]
        stdout = b"".join(orjson.dumps({"type": "message", "role": "assistant", "content": c, "delta": True}) + b"\n"
                          for c in chunks)
        batched = _replay("gemini", "stream-json", stdout, b"", Exit(exit_code=0), 10**8)
        live = _replay_line_by_line("gemini", "stream-json", stdout, b"", Exit(exit_code=0), 10**8)
        assert live.result["final_message"] == batched.result["final_message"], size
        assert live.stream == batched.stream
