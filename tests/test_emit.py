"""Emitters (CONTRACT §3, §7): what reaches stdout/stderr for ndjson, codex-lab-v1 and pretty."""

from __future__ import annotations

import io
import os
import threading

import orjson
import pytest

from normalize import observe as o
from normalize.assembler import Assembler
from normalize.emit import CodexLabV1Emitter, NdjsonEmitter, PrettyEmitter, make_emitter, protocol1_answer
from normalize.models import Event, Protocol1Answer
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
    assert isinstance(make_emitter("pretty"), PrettyEmitter)
    with pytest.raises(ValueError):
        make_emitter("xml")


# ---------------------------------------------------------------- PrettyEmitter


def test_pretty_shows_messages_commands_and_the_usage_table():
    out = io.StringIO()
    emitter = PrettyEmitter(out=out, color=False)
    result, code = completed_run(emitter)
    assert emitter.close(result, code) == 0
    text = out.getvalue()
    assert "\x1b[" not in text  # color=False
    assert "thread sess-9" in text
    assert "Looking at the tests." in text and "All green now." in text
    assert "$ pytest -q  …" in text  # started
    assert "$ pytest -q  ✗ exit 1" in text  # completed, failed
    # the last five lines of the output, not its head
    assert "line 17" in text and "3 failed" in text and "line 16" not in text
    assert "completed · claude sonnet" in text
    for label, number in [("input", "12,345"), ("cached", "10,000"), ("cache write", "345"), ("output", "678"),
                          ("reasoning", "90"), ("total", "13,023")]:
        assert any(row.strip().startswith(label) and row.rstrip().endswith(number) for row in text.splitlines()), label
    assert "$0.0123" in text and "vendor" in text
    assert "session sess-9" in text


def test_pretty_shows_a_failed_turn_and_its_kind():
    out = io.StringIO()
    emitter = PrettyEmitter(out=out, color=False)
    result, code = quota_failure(emitter)
    assert emitter.close(result, code) == 5
    text = out.getvalue()
    assert "✗ Claude 5-hour limit reached" in text
    assert "failed (quota_or_rate_limited)" in text
    assert "unknown" in text  # no cost known


def test_pretty_colors_when_asked():
    out = io.StringIO()
    completed_run(PrettyEmitter(out=out, color=True))
    assert "\x1b[" in out.getvalue()
