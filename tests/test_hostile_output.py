"""Hostile vendor output and vendor misreports (issue 13, "Bad input").

Every test here is an attack on the translation: a line orjson refuses (numbers outside 64-bit
or float range, lone UTF-16 surrogates, invalid UTF-8, nesting past 1024 levels), a line of
hundreds of MB, and the vendor behaviours the shim used to misreport. Whatever the vendor
prints, the run is classified from what it means and the `result` line is printed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import orjson
import procs
import pytest
from conftest import ROOT, shim_path
from hypothesis import given, settings
from hypothesis import strategies as st
from streamcheck import check_stream, parse_stream

from shims.run.recording import replay_events

GOLDEN = ROOT / "golden"
LONE = "\\ud83d"  # JavaScript's JSON.stringify of an emoji cut in half
BIG = {"2**70": str(2**70), "2**64": str(2**64), "1e400": "1e400", "-1e400": "-1e400", "NaN": "NaN",
       "Infinity": "Infinity", "huge": "9" * 5000}


def hostile(doc: object) -> bytes:
    """JSON text of `doc` where the strings "<num:NAME>" become the raw numbers of BIG and
    "<lone>" a lone surrogate escape: what JSON.stringify or a Go encoder may write, and no
    Python or orjson encoder will."""
    text = json.dumps(doc)
    for name, raw in BIG.items():
        text = text.replace(f'"<num:{name}>"', raw)
    return text.replace("<lone>", LONE).encode()


def replay(vendor: str, stdout: bytes, *, fmt: str = "stream-json", stderr: bytes = b"", exit_code: int | None = 0):
    lines: list[bytes] = []
    _, result, code = replay_events(vendor, stdout, stderr, exit_code=exit_code, fmt=fmt,
                                    sink=lambda _e, line: lines.append(bytes(line)))
    events = parse_stream(b"".join(line + b"\n" for line in lines))
    assert check_stream(events, code) == result
    return events, result, code


def golden_lines(vendor: str, case: str) -> list[bytes]:
    return (GOLDEN / vendor / case / "native.stdout").read_bytes().splitlines()


def errors(events) -> list[str]:
    return [e["item"]["message"] for e in events if e["type"] == "item.completed" and e["item"]["type"] == "error"]


# ---------------------------------------------------------------- numbers and surrogates


def _claude_result() -> bytes:
    lines = golden_lines("claude", "plain")
    doc = orjson.loads(lines[-1])
    doc["result"] = "Hello <lone> from the fake model."
    doc["total_cost_usd"] = "<num:1e400>"
    doc["usage"]["input_tokens"] = "<num:2**70>"
    doc["usage"]["output_tokens"] = -1
    model = next(iter(doc["modelUsage"].values()))
    model.update(inputTokens="<num:huge>", outputTokens="<num:2**64>", costUSD="<num:NaN>",
                 cacheReadInputTokens=2**64 - 1, cacheCreationInputTokens=2**63)
    return b"\n".join([*lines[:-1], hostile(doc)]) + b"\n"


def _gemini_result() -> bytes:
    lines = golden_lines("gemini", "plain")
    delta = orjson.loads(lines[2])
    delta["content"] = "Hello <lone>"
    doc = orjson.loads(lines[-1])
    doc["stats"].update(total_tokens="<num:2**70>", input_tokens=2**64 - 1, output_tokens="<num:1e400>",
                        cached="<num:-1e400>")
    doc["stats"]["models"]["gemini-2.5-flash"].update(total_tokens="<num:Infinity>", input_tokens=2**64 - 1)
    return b"\n".join([*lines[:2], hostile(delta), *lines[3:-1], hostile(doc)]) + b"\n"


def _agy_result() -> bytes:
    lines = golden_lines("agy", "plain")
    doc = orjson.loads(lines[-1])
    doc["result"]["response"] = "Hello <lone> from the agy simulator.\n"
    doc["result"]["usage"].update(input_tokens="<num:2**70>", output_tokens=2**64 - 1, total_tokens="<num:1e400>",
                                  thinking_tokens=-1)
    doc["result"]["duration_seconds"] = "<num:NaN>"
    # agy's json output is only this envelope: the answer must come from it.
    return hostile(doc["result"]) + b"\n"


def _fake_result() -> bytes:
    lines = golden_lines("fake", "basic")
    usage = {"type": "usage", "input_tokens": "<num:2**70>", "cache_read": 2**64 - 1, "cache_write": 2**63,
             "output_tokens": "<num:1e400>", "reasoning": -1, "cost_usd": "<num:NaN>", "model": "fake-model-1"}
    result = {"type": "result", "ok": True, "text": "Hello <lone>"}
    return b"\n".join([*lines[:-2], hostile(usage), hostile(result)]) + b"\n"


@pytest.mark.parametrize(("vendor", "fmt", "stdout", "final"), [
    ("claude", "stream-json", _claude_result, "Hello \ufffd from the fake model."),
    ("gemini", "stream-json", _gemini_result, "Hello \ufffdthe fake Gemini server."),
    ("agy", "json", _agy_result, "Hello \ufffd from the agy simulator.\n"),
    ("fake", "stream-json", _fake_result, "Hello \ufffd"),
], ids=["claude", "gemini", "agy", "fake"])
def test_a_result_line_with_absurd_numbers_and_a_cut_emoji_still_completes(vendor, fmt, stdout, final):
    """The result/usage line holds 2**70, 2**64, 1e400, NaN, Infinity, a 5000-digit integer and
    -1, and the answer a lone surrogate: orjson refuses the line. It must be read tolerantly, so
    the run is still `completed` with the answer (the surrogate as U+FFFD), usage holds only
    counts any 64-bit reader takes, and the dropped numbers are said in an `error` item."""
    events, result, code = replay(vendor, stdout(), fmt=fmt)
    assert (result["status"], result["failure_kind"], code) == ("completed", None, 0), result["error"]
    assert result["final_message"] == final
    for k in ("input_tokens", "output_tokens", "total_tokens", "cached_input_tokens"):
        assert isinstance(result["usage"][k], int) and 0 <= result["usage"][k] < 2**63
    assert any("not strict JSON" in m and "outside the 64-bit or float range" in m for m in errors(events))
    assert result["vendor"]["tolerant_lines"]["numbers_dropped"] >= 3


def test_a_claude_success_with_in_range_but_absurd_counts_is_still_completed():
    """orjson reads 2**64 - 1 (and turns 2**70 into a float): sums of such counts passed the
    64-bit range that orjson can write. The run is completed and its result line printed."""
    lines = golden_lines("claude", "plain")
    doc = orjson.loads(lines[-1])
    model = next(iter(doc["modelUsage"].values()))
    model.update(inputTokens=2**64 - 1, outputTokens=2**64 - 1, cacheReadInputTokens=2**64 - 1, thinkingTokens=2**63)
    doc["model_usage_since_last_result"] = doc["modelUsage"]
    doc["usage"].update(input_tokens=2**64 - 1, output_tokens=2**64 - 1)
    events, result, code = replay("claude", b"\n".join([*lines[:-1], orjson.dumps(doc)]) + b"\n")
    assert (result["status"], code) == ("completed", 0)
    assert result["final_message"] == "Hello from the fake model."


# ---------------------------------------------------------------- deep nesting


def _deep(n: int) -> str:
    return "[" * n + "]" * n


@pytest.mark.parametrize(("vendor", "case"), [("claude", "plain"), ("gemini", "plain"), ("agy", "plain"),
                                              ("fake", "basic")])
def test_a_deeply_nested_unused_field_does_not_hide_the_result(vendor, case):
    """A 100 000-deep array in a field nobody reads (orjson stops at 1024 levels, the stdlib
    scanner raises RecursionError): the result line still decides the run."""
    lines = golden_lines(vendor, case)
    last = lines[-1].rstrip()
    assert last.endswith(b"}")
    lines[-1] = last[:-1] + b',"unused":{"a":' + _deep(100_000).encode() + b"}}"
    plain = replay(vendor, b"\n".join(golden_lines(vendor, case)) + b"\n")[1]
    events, result, code = replay(vendor, b"\n".join(lines) + b"\n")
    assert (result["status"], code) == ("completed", 0)
    assert result["final_message"] == plain["final_message"]
    assert result["usage"]["total_tokens"] == plain["usage"]["total_tokens"]
    assert any("nested deeper than" in m for m in errors(events))


def test_a_deeply_nested_field_does_not_hide_a_claude_failure():
    """Classified from meaning: the usage-limit result of golden/claude/usage-limit-oauth keeps its
    kind when the line also carries 5000 levels of nesting."""
    case = "usage-limit-oauth"
    meta = json.loads((GOLDEN / "claude" / case / "meta.json").read_text())
    lines = golden_lines("claude", case)
    i = max(i for i, line in enumerate(lines) if b'"type":"result"' in line)
    lines[i] = lines[i].rstrip()[:-1] + b',"junk":' + _deep(5000).encode() + b"}"
    plain = replay("claude", b"\n".join(golden_lines("claude", case)) + b"\n", exit_code=meta["exit_code"])[1]
    result = replay("claude", b"\n".join(lines) + b"\n", exit_code=meta["exit_code"])[1]
    assert (result["status"], result["failure_kind"]) == (plain["status"], plain["failure_kind"])
    assert result["failure_kind"] == "quota_or_rate_limited"


# ---------------------------------------------------------------- invalid UTF-8


def test_agy_stream_json_with_invalid_utf8_keeps_every_fragment():
    """A text fragment with bytes that are not UTF-8 was dropped whole (the answer lost its
    start). It is read with U+FFFD for the bad bytes; nothing else is lost."""
    lines = golden_lines("agy", "plain")
    i = next(i for i, line in enumerate(lines) if b'"text_delta":"Hello' in line)
    lines[i] = lines[i].replace(b'"text_delta":"Hello', b'"text_delta":"Hel\xff\xfelo')
    events, result, code = replay("agy", b"\n".join(lines) + b"\n")
    assert (result["status"], code) == ("completed", 0)
    messages = [e["item"]["text"] for e in events if e["type"] == "item.completed"
                and e["item"]["type"] == "agent_message"]
    assert messages == ["Hel\ufffd\ufffdlo from the agy simulator.\n"]
    assert result["vendor"]["tolerant_lines"]["lines_with_text_replaced"] == 1
    assert not errors(events), "a replaced byte loses no figure: no error item"


# ---------------------------------------------------------------- what orjson reads but cannot write

_MAX = 2**64 - 1  # the largest integer orjson reads as one; two of them make a sum it cannot write


@pytest.mark.parametrize(("vendor", "fmt", "doc"), [
    ("agy", "json", {"status": "SUCCESS", "response": "hi", "num_turns": 1,
                     "usage": {"input_tokens": _MAX, "output_tokens": _MAX, "total_tokens": 1}}),
    ("gemini", "json", {"response": "hi", "stats": {"models": {"m": {"tokens": {
        "prompt": _MAX, "candidates": _MAX, "thoughts": _MAX, "total": 1}}}}}),
    ("gemini", "stream-json", {"type": "result", "status": "success", "stats": {
        "input_tokens": _MAX, "output_tokens": _MAX, "total_tokens": 1,
        "models": {f"m{i}": {"input_tokens": _MAX} for i in range(3)}}}),
], ids=["agy-json", "gemini-json", "gemini-stream-json"])
def test_sums_of_counts_past_64_bits_still_print_the_result(vendor, fmt, doc):
    """Found by this attack: the usage checks summed raw counts, a sum past 2**64 reached
    `result.vendor.usage_mismatch`, and orjson raised while writing the `result` line: the
    stream ended without it. The run is completed (the answer came), its line printed."""
    answer = orjson.dumps({"type": "message", "role": "assistant", "content": "hi", "delta": True}) + b"\n"
    stdout = (answer if fmt == "stream-json" else b"") + orjson.dumps(doc) + b"\n"
    events, result, code = replay(vendor, stdout, fmt=fmt)
    assert (result["status"], code) == ("completed", 0)
    assert result["final_message"] == "hi"


@pytest.mark.parametrize("depth", [600, 1000])
def test_tool_arguments_nested_deeper_than_orjson_writes_still_print(depth):
    """orjson reads 1024 levels but writes only 254: a Claude tool input nested 600 deep made
    the block's digest raise (the tool item was lost); at 1000 levels `encode_line`'s own walk
    hit Python's recursion limit and the stream ended without its result line."""
    deep = '{"a":' * depth + '"leaf"' + "}" * depth  # as text: no Python encoder nests that deep
    lines = golden_lines("claude", "plain")
    text = ('{"type":"assistant","message":{"id":"m-deep","content":[{"type":"tool_use","id":"t-deep",'
            '"name":"mcp__x__y","input":{"deep":' + deep + "}}]}}").encode()
    events, result, code = replay("claude", b"\n".join([*lines[:-1], text, lines[-1]]) + b"\n")
    assert (result["status"], code) == ("completed", 0)
    started = [e["item"] for e in events if e["type"] == "item.started" and e["item"]["type"] == "mcp_tool_call"]
    assert started and started[0]["tool"] == "y"


# ---------------------------------------------------------------- misreports: Gemini


# Recorded from the real Gemini CLI 0.61.0 given a 12 MB prompt on stdin (the shim passes
# prompts over 64 KiB that way): it warns, echoes part of the prompt, and exits 0 with no result.
_TRUNCATED_STDERR = (
    b"Warning: Basic terminal detected (TERM=dumb). Visual rendering will be limited. For the best experience, use a "
    b"terminal emulator with truecolor support.\n"
    b"Ripgrep is not available. Falling back to GrepTool.\n"
    b"Warning: stdin input truncated to 8388608 bytes.\n"
)
_TRUNCATED_STDOUT = (
    b'{"type":"init","timestamp":"2026-12-02T06:26:18.740Z","session_id":"10ba41ce-0f0e-4bf9-a87b-201c21db4f53",'
    b'"model":"gemini-2.5-flash"}\n'
    b'{"type":"message","timestamp":"2026-12-02T06:26:18.752Z","role":"user","content":"word word word word'
)


@pytest.mark.parametrize("fmt", ["stream-json", "json", "text"])
def test_gemini_that_read_part_of_a_huge_prompt_is_no_user_cancel(fmt):
    """It was `cancelled` (130): an exit 0 without a result was taken for a signal, though
    nobody sent one. The prompt was too large for Gemini's stdin: a bad request, said so."""
    stdout = _TRUNCATED_STDOUT if fmt == "stream-json" else b""
    _, result, code = replay("gemini", stdout, fmt=fmt, stderr=_TRUNCATED_STDERR)
    assert (result["status"], result["failure_kind"], code) == ("failed", "bad_request", 2), result["error"]
    assert "8388608 bytes" in result["error"] and "prompt" in result["error"]


def test_gemini_that_answered_a_truncated_prompt_says_so():
    """A run that did answer after the prompt was cut is still completed, with an error item."""
    lines = golden_lines("gemini", "plain")
    events, result, code = replay("gemini", b"\n".join(lines) + b"\n", stderr=_TRUNCATED_STDERR)
    assert (result["status"], code) == ("completed", 0)
    assert any("8388608 bytes" in m for m in errors(events))


@pytest.mark.realcli
@pytest.mark.slow
def test_real_gemini_given_a_prompt_past_its_stdin_limit(mark, tmp_path):
    """The real Gemini CLI against the fake API, a 12 MB prompt (through stdin, as the shim
    passes prompts over 64 KiB): a bad request naming the limit, not a user cancel."""
    from fakes.fake_gemini import FakeGemini
    from fakes.gemini_env import GEMINI_BIN, gemini_env

    work = tmp_path / "work"
    work.mkdir()
    request = orjson.dumps({"protocol_version": 2, "cwd": str(work), "message": "word " * 2_400_000})
    with FakeGemini() as api:
        env = {**gemini_env(api.base_url, tmp_path / "home", settings=False), procs.MARK_ENV: mark}
        proc = subprocess.run([shim_path("gemini"), "--vendor-bin", str(GEMINI_BIN), "--model", "gemini-2.5-flash",
                               "--emit", "ndjson"], input=request, env=env, cwd=work, capture_output=True, timeout=300)
    result = check_stream(parse_stream(proc.stdout), proc.returncode)
    assert (result["status"], result["failure_kind"], proc.returncode) == ("failed", "bad_request", 2), result["error"]
    assert "8388608 bytes" in result["error"]


# ---------------------------------------------------------------- misreports: agy

_AGY_WRAPPER = """#!{python}
import os, subprocess, sys
AGY = {agy!r}
if sys.argv[1:] == ["--version"]:
    sys.stdout.buffer.write(b"agy version {version} \\xff\\xfe(build \\xc3)\\n")
    sys.exit(0)
p = subprocess.Popen([AGY, *sys.argv[1:]], stdout=subprocess.PIPE)
for line in p.stdout:
    sys.stdout.buffer.write(line.replace(b"simulator", b"simul\\xff\\xfetor"))
    sys.stdout.buffer.flush()
sys.exit(p.wait())
"""


@pytest.mark.slow
@pytest.mark.parametrize(("version", "final"), [
    ("1.2.16", "Hello from the agy simul\ufffd\ufffdtor.\n"),  # stream-json
    ("1.1.5", "Hello from the agy simul\ufffd\ufffdtor."),  # text: no --output-format yet
])
def test_agy_printing_invalid_utf8_is_classified_by_meaning(mark, tmp_path, version, final):
    """The agy simulator behind a wrapper that puts bytes that are not UTF-8 into its
    `--version` answer and its output. The version probe decoded strictly, the
    UnicodeDecodeError (a ValueError) passed for a mode agy cannot honour: unsupported_mode,
    nothing launched. Decoded with replacement, the run completes with its answer."""
    wrapper = tmp_path / "agy"
    wrapper.write_text(_AGY_WRAPPER.format(python=sys.executable,
                                           agy=str(ROOT / "tests" / "fakes" / "agy" / "agy"), version=version))
    wrapper.chmod(0o755)
    home, work = tmp_path / "home", tmp_path / "work"
    (home / ".gemini" / "antigravity-cli").mkdir(parents=True)
    (home / ".gemini" / "antigravity-cli" / "antigravity-oauth-token").write_text('{"token": "fake"}')
    work.mkdir()
    env = {**os.environ, "HOME": str(home), "LANG": "C.UTF-8", "AGY_SIM_VERSION": version, procs.MARK_ENV: mark}
    proc = subprocess.run([shim_path("agy"), "--vendor-bin", str(wrapper), "--emit", "ndjson", "say hello"],
                          env=env, cwd=work, capture_output=True, timeout=120)
    result = check_stream(parse_stream(proc.stdout), proc.returncode)
    assert (result["status"], result["failure_kind"], proc.returncode) == ("completed", None, 0), result["error"]
    assert result["final_message"] == final


# Each `-o text` failure recorded from the real Gemini CLI (golden/gemini/text-*) next to the
# stream-json recording of the same fake-API scenario.
_TEXT_TWINS = {"text-quota-daily": "quota-daily", "text-rate-limit-429": "rate-limit-429",
               "text-unavailable-503": "unavailable-503", "text-server-500": "server-500",
               "text-bad-key-400": "bad-key-400", "text-unauthenticated-401": "unauthenticated-401",
               "text-forbidden-403": "forbidden-403", "text-connection-refused": "connection-refused",
               "text-drop-abort": "drop-abort"}


@pytest.mark.parametrize("case", sorted(_TEXT_TWINS))
def test_gemini_text_failures_are_classified_as_stream_json_ones(case):
    """`-o text` ends every API error with `An unexpected critical error occurred:[object
    Object]` and exit 1: a daily quota, a refused connection and a cut stream were
    provider_failed, and every message showed `[object Object]`. The error class and HTTP
    status earlier on stderr decide, as `result.error` does in stream-json."""
    def outcome(name):
        meta = json.loads((GOLDEN / "gemini" / name / "meta.json").read_text())
        folder = GOLDEN / "gemini" / name
        stderr = (folder / "native.stderr").read_bytes() if (folder / "native.stderr").exists() else b""
        return replay("gemini", (folder / "native.stdout").read_bytes(), fmt=meta["format"], stderr=stderr,
                      exit_code=meta["exit_code"])[1]

    text, stream = outcome(case), outcome(_TEXT_TWINS[case])
    assert (text["status"], text["failure_kind"]) == (stream["status"], stream["failure_kind"]), text["error"]
    assert (text["quota"] or {}).get("window") == (stream["quota"] or {}).get("window")
    assert "[object Object]" not in text["error"]


# ---------------------------------------------------------------- a line of hundreds of MB


def test_a_line_past_the_cap_is_one_error_item_and_the_run_goes_on():
    """A 3 MB tool result under a 1 MiB cap: not read, one non-fatal `error` item naming its
    size, the rest of the run as without it; the framing of the line does not change that."""
    from normalize import observe as o
    from shims.run.pipeline import Facts
    from shims.run.recording import run_recorded

    lines = golden_lines("fake", "basic")
    huge = orjson.dumps({"type": "tool_result", "id": "t1", "output": "x" * 3_000_000, "exit_code": 0})
    stdout = b"\n".join([*lines[:3], huge, *lines[4:]]) + b"\n"
    facts = Facts(provider="fake", thread_id="t", max_line_bytes=1 << 20)
    events, result, code = run_recorded(facts, stdout, b"", o.ExitInfo(exit_code=0))
    assert check_stream(events, code) == result
    assert (result["status"], result["final_message"], code) == ("completed", "Hello! You said: Say hello", 0)
    assert [m for m in errors(events) if "cap" in m] == [
        f"fake printed a line of {len(huge)} bytes, more than the 1048576-byte cap ([journal] max_line_bytes): it "
        "was not read (a journaled run keeps its bytes)."]
    assert result["vendor"]["oversized_lines"] == 1


def test_the_line_cap_is_checked_in_the_config_file(tmp_path):
    from shims.run.config import ConfigError, load_journal_settings

    cfg = tmp_path / "config.toml"
    cfg.write_text('[journal]\nmax_line_bytes = "8MiB"\n')
    assert load_journal_settings(cfg).max_line_bytes == 8 * 1024 * 1024
    cfg.write_text("[journal]\nmax_line_bytes = 100\n")
    with pytest.raises(ConfigError, match="max_line_bytes"):
        load_journal_settings(cfg)


@pytest.mark.slow
def test_a_300_mb_line_costs_bounded_memory_and_replays(fake_env, tmp_path):
    """The fake vendor prints a tool result of 300 MB on one line; with `[journal]
    max_line_bytes = "8MiB"` the shim's peak RSS stays bounded (it was about three times the
    line), the run completes with an error item naming the size, the journal keeps every byte
    and `shims replay --check` reproduces the printed events byte for byte."""
    cfg = tmp_path / "config.toml"
    cfg.write_text('[journal]\nmax_line_bytes = "8MiB"\n')
    env = {**fake_env, "CODEX_SHIMS_CONFIG": str(cfg), "FAKE_VENDOR_MISBEHAVE": "huge-line",
           "FAKE_VENDOR_HUGE_BYTES": str(300_000_000)}
    probe = [sys.executable, str(ROOT / "tests" / "rss_probe.py")]
    proc = subprocess.run([*probe, shim_path("fake"), "--vendor-bin", str(ROOT / "tests" / "fakes" / "fake_vendor.py"),
                           "--emit", "ndjson", "hi"], stdin=subprocess.DEVNULL, capture_output=True,
                          env={**os.environ, **env}, timeout=600)
    peak_mb = int(proc.stderr.decode().strip().splitlines()[-1].split()[1]) / 1024
    events = parse_stream(proc.stdout)
    result = check_stream(events, proc.returncode)
    assert result["status"] == "completed", result["error"]
    assert peak_mb < 100, f"peak RSS {peak_mb:.0f} MB"
    oversized = [m for m in errors(events) if "8388608-byte cap" in m]
    assert len(oversized) == 1 and " of 3000000" in oversized[0]
    run = Path(result["journal"])
    assert (run / "vendor.stdout").stat().st_size > 300_000_000
    assert json.loads((run / "meta.json").read_text())["attempts"][0]["facts"]["max_line_bytes"] == 8 * 1024 * 1024
    replay_proc = subprocess.run([str(Path(sys.executable).parent / "shims"), "replay", run.name, "--check"],
                                 capture_output=True, env={**os.environ, **env}, timeout=600)
    assert replay_proc.returncode == 0, replay_proc.stdout.decode()[-2000:]


# ---------------------------------------------------------------- encode_line always works

_odd_leaves = st.one_of(
    st.integers(min_value=-(2**200), max_value=2**200), st.floats(allow_nan=True, allow_infinity=True),
    st.text(st.characters(codec="utf-8", exclude_categories=()), max_size=30),  # lone surrogates included
    st.sampled_from(["\ud83d", "x\udc00y", "\ud83d\ude00"]), st.none(), st.booleans(),
)


def _deep_value(depth: int) -> object:
    value: object = "\ud83d"
    for i in range(depth):
        value = [value] if i % 2 else {"k\udc00": value}
    return value


@settings(max_examples=200, deadline=None)
@given(st.recursive(_odd_leaves, lambda kids: st.one_of(st.lists(kids, max_size=4),
                                                         st.dictionaries(st.text(max_size=5), kids, max_size=4)),
                    max_leaves=20),
       st.sampled_from([0, 10, 300, 1000]))
def test_encode_line_writes_any_value_a_translation_can_hold(value, depth):
    """Whatever reaches an event (ints of any size, NaN, lone surrogates in strings and keys,
    nesting as deep as orjson reads), its line is written: valid JSON, at most 16 KiB."""
    from normalize.limits import MAX_LINE_BYTES, encode_line

    event = {"type": "item.completed", "item": {"id": "item_0", "type": "mcp_tool_call", "server": "s", "tool": "t",
                                                 "arguments": [value, _deep_value(depth)], "status": "completed"}}
    line = encode_line(event)
    assert len(line) <= MAX_LINE_BYTES
    assert orjson.loads(line)["item"]["id"] == "item_0"
    result = {"type": "result", "usage": {"input_tokens": 2**70, "total_tokens": -(2**70)}, "vendor": {"v": value}}
    assert orjson.loads(encode_line(result))["usage"]["input_tokens"] == 2**63 - 1


def test_an_agy_error_line_with_a_cut_emoji_keeps_its_kind():
    """`AGY_ERROR: {json}` decides the kind from its status and code; a lone surrogate in its
    message made orjson refuse it, and the run fell back to the text (a 429 became provider_failed)."""
    stderr = (b'AGY_ERROR: {"short_error":"quota \\ud83d","status":"RESOURCE_EXHAUSTED","error_code":429,'
              b'"retryable":true}\n')
    _, result, code = replay("agy", b"", stderr=stderr, exit_code=3)
    assert (result["failure_kind"], code) == ("quota_or_rate_limited", 5), result["error"]


@pytest.mark.parametrize("door", ["scan", "typer"])
def test_shims_normalize_takes_the_runs_line_cap(tmp_path, door, capfd, mark):
    """`shims normalize --max-line-bytes N` frames a recording as a run with that cap did,
    through both doors: the fast command-line scan (shims.cli.entry) and typer's (shims.cli.commands)."""
    lines = golden_lines("fake", "basic")
    huge = orjson.dumps({"type": "tool_result", "id": "t1", "output": "y" * 200_000, "exit_code": 0})
    recording = tmp_path / "stdout"
    recording.write_bytes(b"\n".join([*lines[:3], huge, *lines[4:]]) + b"\n")
    argv = ["normalize", "fake", "--stdout", str(recording)]

    def run(*extra: str) -> list[dict]:
        if door == "scan":
            out = subprocess.run([str(Path(sys.executable).parent / "shims"), *argv, *extra], capture_output=True,
                                 env={**os.environ, procs.MARK_ENV: mark}, timeout=60).stdout
        else:
            from typer.testing import CliRunner

            from shims.cli.commands import toolkit

            CliRunner().invoke(toolkit, [*argv, *extra])
            out = capfd.readouterr().out.encode()  # the emitter writes to fd 1
        return parse_stream(out)

    capped, plain = run("--max-line-bytes", "65536"), run()
    assert [m for m in errors(capped) if "65536-byte cap" in m] and not errors(plain)
    assert check_stream(capped)["status"] == check_stream(plain)["status"] == "completed"
