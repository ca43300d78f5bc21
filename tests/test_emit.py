"""Emitters (CONTRACT §3, §7): what reaches stdout/stderr for ndjson, codex-lab-v1 and pretty."""

from __future__ import annotations

import os
import threading

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from normalize import observe as o
from normalize.assembler import Assembler
from normalize.emit import (
    CodexLabV1Emitter,
    NdjsonEmitter,
    make_emitter,
    protocol1_answer,
    result_stderr_line,
)
from normalize.models import Event, Protocol1Answer, Result
from normalize.usage import build_usage

QUOTA = {"state": "exhausted", "resets_at": "2026-11-24T15:07:00Z", "retry_after_s": None, "window": "5h",
         "message": None}


def assemble(sink, observations, exit=o.ExitInfo(exit_code=0)) -> tuple[dict, int]:
    asm = Assembler(sink, provider="claude", fallback_thread_id="thread-1", cli_version="2.0.1", model="sonnet")
    asm.launched()
    asm.feed(observations)
    return asm.finish(exit)


def completed_run(sink=lambda e, line: None):
    return assemble(sink, [
        o.Session("sess-9"),
        o.Message("Looking at the tests."),
        o.ToolStarted("c1", {"type": "command_execution", "command": "pytest -q", "aggregated_output": "",
                             "exit_code": None}),
        o.ToolCompleted("c1", {"aggregated_output": "".join(f"line {i}\n" for i in range(1, 21)) + "3 failed",
                               "exit_code": 1, "status": "failed"}),
        o.UsageReport(build_usage(input_tokens=12345, cached_input_tokens=10000, cache_write_input_tokens=345,
                                  output_tokens=678, reasoning_output_tokens=90, cost_usd=0.0123,
                                  cost_source="vendor")),
        o.Message("All green now."),
        o.Completed(),
    ])


def quota_failure(sink=lambda e, line: None):
    return assemble(sink, [o.Failed("quota_or_rate_limited", "Claude 5-hour limit reached", quota=QUOTA)],
                    o.ExitInfo(exit_code=1))


def read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


# ---------------------------------------------------------------- protocol1_answer


def test_protocol1_completed_is_status_and_final_message_only():
    result, _ = completed_run()
    answer = protocol1_answer(result)
    assert answer == {"status": "completed", "final_message": "All green now."}
    Protocol1Answer.model_validate(answer)


def test_protocol1_failure_names_kind_and_action_and_when_quota_resets():
    result, _ = quota_failure()
    answer = protocol1_answer(result)
    assert answer == {
        "status": "failed",
        "final_message": "quota_or_rate_limited: Claude 5-hour limit reached; resets 2026-11-24T15:07:00Z",
    }


def test_protocol1_reset_time_is_not_repeated():
    result, _ = quota_failure()
    result = {**result, "error": "Limit reached; resets 2026-11-24T15:07:00Z"}
    message = protocol1_answer(result)["final_message"]
    assert message.count("2026-11-24T15:07:00Z") == 1
    assert message.startswith("quota_or_rate_limited: ")


@pytest.mark.parametrize(
    "exit,kind",
    [(o.ExitInfo(cancelled="SIGTERM"), "cancelled"), (o.ExitInfo(timed_out="idle", timeout_s=600), "timed_out")],
)
def test_protocol1_cancel_and_timeout_are_failed(exit, kind):
    result, _ = assemble(lambda e, line: None, [o.Message("half")], exit)
    answer = protocol1_answer(result)
    assert answer["status"] == "failed"
    assert answer["final_message"].startswith(f"{kind}: ")
    Protocol1Answer.model_validate(answer)


def test_protocol1_answer_fits_codex_labs_8_kib_whatever_budget_the_run_had():
    """A protocol-2 request may raise max_final_message_bytes; codex-lab still cuts at 8 KiB."""
    answer = "é" * 30_000 + "THE END"
    asm = Assembler(lambda e, line: None, provider="fake", fallback_thread_id="t", max_final_message_bytes=50_000)
    asm.launched()
    asm.feed([o.Message(answer), o.Completed()])
    result, _ = asm.finish(o.ExitInfo(exit_code=0))
    assert len(result["final_message"].encode()) <= 50_000
    final = protocol1_answer(result)["final_message"]
    assert len(final.encode()) <= 8192 and final.endswith("THE END")
    cut = int(final[len("[… "):final.index(" bytes cut]")])
    assert cut + len(final.split("]\n", 1)[1].encode()) == len(answer.encode())


def test_protocol1_failure_stays_within_8_kib_with_its_kind_at_the_head():
    """codex-lab cuts a longer message to its tail, which would drop the kind before it classifies."""
    result = {"status": "failed", "failure_kind": "authentication_required", "error": "x" * 20_000 + " the end",
              "quota": None}
    final = protocol1_answer(result)["final_message"]
    assert len(final.encode()) <= 8192
    assert final.startswith("authentication_required: authentication required — [… ") and final.endswith("the end")


def test_protocol1_keeps_the_vendor_words_readable():
    result = {"status": "failed", "failure_kind": "provider_unavailable",
              "error": "Gemini's API is unavailable (HTTP 429 rate limit at the proxy)", "quota": None}
    final = protocol1_answer(result)["final_message"]
    assert final.replace("\u2060", "") == "provider_unavailable: Gemini's API is unavailable (HTTP 429 rate limit at the proxy)"
    assert "rate limit" not in final.lower() and "http 429" not in final.lower()


# ---------------------------------------------------------------- result_stderr_line


def test_an_envelope_that_fits_is_the_whole_envelope():
    result, _ = completed_run()
    assert result_stderr_line(result) == b"shim-result: " + orjson.dumps(result) + b"\n"


HOSTILE_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=3000) | st.builds(
    lambda n, c: c * n, st.integers(0, 40_000), st.sampled_from(["\x01", "é", '"', "😀", "x"]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(final=st.none() | HOSTILE_TEXT, error=st.none() | HOSTILE_TEXT, text=HOSTILE_TEXT,
       n_models=st.integers(0, 300), n_attempts=st.integers(0, 30), journal=st.booleans())
def test_the_result_line_always_fits_8_kib_and_says_what_it_left_out(final, error, text, n_models, n_attempts,
                                                                      journal):
    """One valid envelope (the schema holds) of at most 8 KiB with its newline, whatever its
    size; what is not named in `dropped.fields` is exactly as it was."""
    usage = {"input_tokens": 2**63, "cached_input_tokens": 1, "cache_write_input_tokens": 0, "output_tokens": 9,
             "reasoning_output_tokens": 0, "total_tokens": 2**63 + 9, "cost_usd": 0.5, "cost_source": "vendor",
             "model": text[:300], "models": {f"{text[:50]}-{i}": {"total_tokens": i} for i in range(n_models)},
             "num_turns": 3, "scope": "invocation"}
    result = {"type": "result", "protocol_version": 2, "status": "failed", "final_message": final,
              "failure_kind": "provider_failed", "error": error, "thread_id": text[:200], "session_id": text[-200:],
              "provider": {"name": "claude", "cli_version": text[:100], "model": text[:400]}, "usage": usage,
              "quota": {"state": "exhausted", "resets_at": None, "retry_after_s": None, "window": None,
                        "message": text},
              "attempts": [{"provider": "gemini", "failure_kind": "quota_or_rate_limited", "error": text}] * n_attempts,
              "diff": {"files_changed": 1, "insertions": 2, "deletions": 3, "patch_path": "/j/run/changes.patch"},
              "duration_ms": 5, "journal": "/state/runs/2026-11-24/run-1" if journal else None,
              "vendor": {"raw": text, "lines": [text] * 20}}
    line = result_stderr_line(result)
    assert line.startswith(b"shim-result: ") and line.endswith(b"\n") and line.count(b"\n") == 1
    assert len(line) <= 8192
    envelope = orjson.loads(line[len(b"shim-result: "):])
    Result.model_validate(envelope)
    if "dropped" not in envelope:
        assert envelope == result
        return
    fields = envelope.pop("dropped")["fields"]
    assert fields and len(fields) == len(set(fields))
    named = {f.split(".")[0] for f in fields}
    if "strings" not in fields:
        for key in result:
            if key not in named:
                assert envelope[key] == result[key], key
        if "usage" not in named:
            assert envelope["usage"] == usage


def test_the_result_line_drops_in_its_documented_order():
    """Vendor details go first; the answer is cut only when that is not enough."""
    result, _ = completed_run()
    result = {**result, "vendor": {"raw": "v" * 20_000}}
    envelope = orjson.loads(result_stderr_line(result)[len(b"shim-result: "):])
    assert envelope["dropped"] == {"fields": ["vendor"], "in_journal": False}
    assert envelope["vendor"] == {} and envelope["final_message"] == result["final_message"]
    result = {**result, "final_message": "a" * 20_000 + "END", "journal": "/runs/r1"}
    envelope = orjson.loads(result_stderr_line(result)[len(b"shim-result: "):])
    assert envelope["dropped"] == {"fields": ["vendor", "final_message"], "in_journal": True}
    assert envelope["final_message"].startswith("[… ") and envelope["final_message"].endswith("END")
    assert envelope["usage"] == result["usage"] and envelope["error"] == result["error"]


# ---------------------------------------------------------------- CodexLabV1Emitter


@pytest.fixture
def pipes():
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    yield out_r, out_w, err_r, err_w
    for fd in (out_r, out_w, err_r, err_w):
        try:
            os.close(fd)
        except OSError:
            pass


@pytest.mark.parametrize("scenario", [completed_run, quota_failure], ids=["completed", "failed"])
def test_codex_lab_v1_writes_one_object_and_the_envelope_on_stderr(pipes, scenario):
    out_r, out_w, err_r, err_w = pipes
    emitter = CodexLabV1Emitter(fd=out_w, err_fd=err_w)
    result, code = scenario(emitter)  # events go through the emitter too: none may reach stdout
    assert emitter.close(result, code) == 0  # codex-lab reads stdout only on exit 0
    os.close(out_w)
    os.close(err_w)
    stdout, stderr = read_all(out_r), read_all(err_r)

    assert stdout.endswith(b"\n") and stdout.count(b"\n") == 1
    answer = orjson.loads(stdout)
    assert list(answer) == ["status", "final_message"]
    assert answer == protocol1_answer(result)
    Protocol1Answer.model_validate(answer)

    last = stderr.rstrip(b"\n").split(b"\n")[-1]
    assert last.startswith(b"shim-result: ")
    envelope = orjson.loads(last[len(b"shim-result: "):])
    assert envelope == result
    Event.model_validate(envelope)
    assert (code == 0) == (result["status"] == "completed")


# ---------------------------------------------------------------- NdjsonEmitter


def test_ndjson_writes_one_line_per_event(pipes):
    out_r, out_w, _, _ = pipes
    emitter = NdjsonEmitter(fd=out_w)
    lines: list[bytes] = []

    def sink(event, line):
        lines.append(line)
        emitter(event, line)

    result, code = completed_run(sink)
    assert emitter.close(result, code) == code == 0
    os.close(out_w)
    stdout = read_all(out_r)
    assert stdout == b"".join(line + b"\n" for line in lines)
    events = [orjson.loads(line) for line in stdout.splitlines()]
    assert events[0]["type"] == "thread.started" and events[-1]["type"] == "result"
    for e in events:
        Event.model_validate(e)


def test_ndjson_survives_a_closed_reader(pipes):
    out_r, out_w, _, _ = pipes
    emitter = NdjsonEmitter(fd=out_w)
    os.close(out_r)
    result, code = quota_failure(emitter)  # every write hits EPIPE: none may raise
    emitter({"type": "turn.started"}, b'{"type":"turn.started"}')
    assert emitter.close(result, code) == 5


def test_ndjson_writes_big_lines_whole(pipes):
    """A pipe takes at most its buffer per write: a 16 KiB line must still arrive complete."""
    out_r, out_w, _, _ = pipes
    emitter = NdjsonEmitter(fd=out_w)
    line = b'{"type":"error","message":"' + b"x" * 16_000 + b'"}'

    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(read_all(out_r)))
    reader.start()
    for _ in range(10):
        emitter({"type": "error"}, line)
    os.close(out_w)
    reader.join(10)
    assert got == [(line + b"\n") * 10]


def test_make_emitter_names():
    assert isinstance(make_emitter("ndjson"), NdjsonEmitter)
    assert isinstance(make_emitter("codex-lab-v1"), CodexLabV1Emitter)
    view = object()
    assert make_emitter("pretty", pretty=lambda: view) is view  # the maker from shims.views
    with pytest.raises(ValueError):
        make_emitter("xml")


