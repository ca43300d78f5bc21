"""What codex-lab makes of a shim's protocol-1 answer (CONTRACT §7), judged by the port of its own
reading in host/codex_lab_host.py: the failure class its phrase matching gives each failure kind
a shim produces, its 8 KiB cut of the answer, and the `shim-result` line in its 8 KiB stderr tail.

Runs are real shim runs through the host (shim-fake with tests/fakes/fake_vendor.py, the agy
simulator, the real Claude CLI against the fake Anthropic API) wherever a kind can be produced
that way; the vendor-reported kinds come from fake vendor scripts whose messages carry every
class's phrases at once, as a vendor's error text may."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time

import procs
import pytest
from conftest import FAKE_VENDOR, ROOT, shim_path
from host.codex_lab_host import (
    CLASSIFIER_REVISIONS,
    MODEL_VISIBLE_BYTES,
    RESULT_TRUNCATED_MARKER,
    STDERR_LIMIT,
    bound_external_agent_message,
    classify_provider_failure_text,
    judge_protocol1,
    run_external,
    shim_result,
)

from normalize.failures import FailureKind
from normalize.models import Protocol1Answer, Result

MARKER = re.compile(r"\[… (\d+) bytes cut\]\n")

# The kinds codex-lab's phrase matching has a class for; every other kind must read as its
# generic provider_failed, never as one of these.
KNOWN = {"quota_or_rate_limited", "authentication_required", "unsupported_mode"}

# A vendor's error text can hold any class's words: each of codex-lab's classes is here.
EVERY_CLASS = ("API Error: 429 Too Many Requests (rate_limit_error); 401 Unauthorized, please sign in to "
               "continue; tool auto-denied; unknown option --frobnicate")


def codex_lab_class(kind: str) -> str:
    return kind if kind in KNOWN else "provider_failed"


def assert_read_as(outcome, kind: str) -> None:
    """codex-lab errors the agent, and every revision of its classifier gives the kind's class;
    the message names the kind for the parent model; the envelope in the stderr tail keeps the
    kind and the vendor's words unbroken."""
    assert outcome.exit_code == 0 and outcome.state == "errored", outcome.message
    assert outcome.message.startswith(f"{kind}: "), outcome.message
    for revision in CLASSIFIER_REVISIONS:
        assert classify_provider_failure_text(outcome.message, revision) == codex_lab_class(kind), (
            revision, outcome.message)
    assert outcome.failure_kind == codex_lab_class(kind)
    assert len(outcome.message.encode()) <= MODEL_VISIBLE_BYTES
    envelope = shim_result(outcome.stderr)
    assert envelope is not None and envelope["failure_kind"] == kind
    assert "\u2060" not in envelope["error"]


def fake(*extra: str) -> list[str]:
    return [shim_path("fake"), "--vendor-bin", FAKE_VENDOR, *extra]


def request(tmp_path, **extra) -> dict:
    return {"protocol_version": 1, "thread_id": "t", "cwd": str(tmp_path), "message": "do it", **extra}


def script(tmp_path, *lines: dict) -> str:
    path = tmp_path / "script.ndjson"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return str(path)


# ---------------------------------------------------------------- the oracle itself


def test_the_port_reads_codex_labs_own_examples_as_codex_lab_does():
    """codex-lab's unit tests of its classifier (external_diagnostics_tests.rs), and its order:
    classes, not positions, decide (a quota phrase wins wherever it stands)."""
    for revision in CLASSIFIER_REVISIONS:
        assert classify_provider_failure_text("HTTP 429: quota exceeded", revision) == "quota_or_rate_limited"
        assert classify_provider_failure_text("Authentication required. Please sign in.", revision) == \
            "authentication_required"
        assert classify_provider_failure_text("unknown option --print", revision) == "unsupported_mode"
        assert classify_provider_failure_text("provider exited with status 1", revision) == "provider_failed"
        assert classify_provider_failure_text("Unknown option; then a RATE LIMIT", revision) == "quota_or_rate_limited"
    assert classify_provider_failure_text("a tool was auto-denied", "17fe631") == "provider_failed"
    assert classify_provider_failure_text("a tool was auto-denied", "b51b918") == "permission_denied"
    # a signed-out Claude's own words, which today's answer carried: a generic failure to codex-lab
    assert classify_provider_failure_text("authentication_required: Claude is not signed in (Not logged in · "
                                          "Please run /login)") == "provider_failed"


# ---------------------------------------------------------------- every kind a shim produces


@pytest.mark.parametrize("kind", sorted(FailureKind))
def test_a_vendor_reported_kind_with_every_class_in_its_words_reads_as_its_own_class(kind, fake_env, tmp_path):
    path = script(tmp_path, {"type": "init", "session_id": "s-1"},
                  {"type": "result", "ok": False, "error_kind": kind, "message": f"The vendor says: {EVERY_CLASS}"})
    outcome = run_external(fake(), request(tmp_path), env={**fake_env, "FAKE_VENDOR_SCRIPT": path}, timeout_s=30)
    assert_read_as(outcome, kind)
    assert "frobnicate" in outcome.message  # the vendor's words still reach the parent model


def test_a_missing_vendor_binary(fake_env, tmp_path):
    outcome = run_external(fake("--vendor-bin", str(tmp_path / "no-such-cli")), request(tmp_path), env=fake_env)
    assert_read_as(outcome, "command_missing")


def test_a_bad_request(fake_env, tmp_path):
    outcome = run_external(fake(), {"protocol_version": 1, "cwd": str(tmp_path)}, env=fake_env)
    assert_read_as(outcome, "bad_request")


def test_a_timeout(fake_env, tmp_path):
    outcome = run_external(fake("--timeout", "1"), request(tmp_path),
                           env={**fake_env, "FAKE_VENDOR_MISBEHAVE": "hang"}, timeout_s=30)
    assert_read_as(outcome, "timed_out")


def test_an_empty_answer_stays_failed_and_says_so(fake_env, tmp_path):
    """Failed with its kind named, not completed with an empty message (emit.protocol1_answer)."""
    outcome = run_external(fake(), request(tmp_path), env={**fake_env, "FAKE_VENDOR_MISBEHAVE": "exit0-empty"})
    assert_read_as(outcome, "empty_output")


def test_a_signed_out_vendor(fake_env, tmp_path):
    outcome = run_external(fake(), request(tmp_path),
                           env={**fake_env, "FAKE_VENDOR_EXIT": "41", "FAKE_VENDOR_STDERR": "Error: not logged in"})
    assert_read_as(outcome, "authentication_required")


def test_an_exhausted_quota_with_its_reset_time(fake_env, tmp_path):
    outcome = run_external(fake(), request(tmp_path),
                           env={**fake_env, "FAKE_VENDOR_SCRIPT": str(ROOT / "golden/fake/scripts/quota.ndjson")})
    assert_read_as(outcome, "quota_or_rate_limited")
    assert "2026-11-24T20:00:00Z" in outcome.message


def test_output_nobody_can_read(fake_env, tmp_path):
    path = tmp_path / "garbage.ndjson"
    path.write_bytes(b"npm WARN this is not json\n\xff\xfe not utf-8\n[1, 2]\n")
    outcome = run_external(fake(), request(tmp_path),
                           env={**fake_env, "FAKE_VENDOR_SCRIPT": str(path), "FAKE_VENDOR_EXIT": "1"})
    assert_read_as(outcome, "malformed_output")


def test_a_crashed_vendor(fake_env, tmp_path):
    outcome = run_external(fake(), request(tmp_path), env={
        **fake_env, "FAKE_VENDOR_MISBEHAVE": "crash-mid-line", "FAKE_VENDOR_EXIT": "1",
        "FAKE_VENDOR_STDERR": "panic: HTTP 429 from upstream, token unauthorized"})
    assert_read_as(outcome, "provider_failed")


def test_a_cancelled_run(fake_env, tmp_path):
    """codex-lab itself SIGKILLs; a SIGTERM from elsewhere still ends in one answer it can read."""
    (tmp_path / "request.json").write_text(json.dumps(request(tmp_path)) + "\n")
    with open(tmp_path / "request.json", "rb") as stdin:
        proc = subprocess.Popen(fake(), stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env={**os.environ, **fake_env, "FAKE_VENDOR_MISBEHAVE": "hang"}, process_group=0)
    try:
        time.sleep(1.5)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    state, _, kind, message = judge_protocol1(proc.returncode, stdout, stderr[-STDERR_LIMIT:])
    assert state == "errored" and message.startswith("cancelled: ")
    assert kind == "provider_failed" and all(classify_provider_failure_text(message, r) == "provider_failed"
                                             for r in CLASSIFIER_REVISIONS)


@pytest.mark.slow
def test_an_unsupported_mode_on_an_old_agy(mark, tmp_path):
    home = tmp_path / "home"
    (home / ".gemini" / "antigravity-cli").mkdir(parents=True)
    (home / ".gemini" / "antigravity-cli" / "antigravity-oauth-token").write_text('{"token": "fake"}')
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "LANG": "C.UTF-8", "AGY_SIM_VERSION": "1.0.9",
           procs.MARK_ENV: mark}
    argv = [shim_path("agy"), "--vendor-bin", str(ROOT / "tests/fakes/agy/agy"), "--mode", "write"]
    outcome = run_external(argv, request(tmp_path), env=env, timeout_s=60)
    assert_read_as(outcome, "unsupported_mode")


@pytest.mark.slow
@pytest.mark.realcli
def test_a_signed_out_claude(mark, tmp_path):
    """The real Claude CLI with no credentials ("Not logged in · Please run /login"), offline."""
    from fakes.claude_env import CLAUDE_BIN, claude_env
    from fakes.fake_anthropic import FakeAnthropic

    (tmp_path / "home").mkdir()
    with FakeAnthropic() as api:
        env = {**claude_env(api.base_url, tmp_path / "home", key=False), procs.MARK_ENV: mark}
        argv = [shim_path("claude"), "--vendor-bin", str(CLAUDE_BIN)]
        outcome = run_external(argv, request(tmp_path, message="[scenario:plain] hi"), env=env, timeout_s=120)
    assert_read_as(outcome, "authentication_required")
    assert "Not logged in" in outcome.message


# ---------------------------------------------------------------- sizes codex-lab cuts at


def long_answer(tmp_path, size: int) -> tuple[str, str]:
    """A script whose answer is `size` characters of mixed widths, ending in a known line."""
    answer = ("ligne é€ 😀 \x01 ctrl " * (size // 20))[:size] + "\nTHE END"
    return answer, script(tmp_path, {"type": "init", "session_id": "s-big"},
                          {"type": "text", "text": answer}, {"type": "result", "ok": True, "text": answer})


@pytest.mark.parametrize("extra", [(), ("--emit", "codex-lab-v1")], ids=["protocol-1", "protocol-2-budget"])
def test_a_cut_answer_fits_codex_labs_cut_with_our_marker_intact(extra, fake_env, tmp_path):
    answer, path = long_answer(tmp_path, 40_000)
    req = request(tmp_path) if not extra else {**request(tmp_path), "protocol_version": 2,
                                               "max_final_message_bytes": 100_000}
    outcome = run_external(fake(*extra), req, env={**fake_env, "FAKE_VENDOR_SCRIPT": path}, timeout_s=30)
    assert outcome.state == "completed", outcome.message
    answer_sent = json.loads(outcome.stdout)["final_message"]
    assert len(answer_sent.encode()) <= MODEL_VISIBLE_BYTES
    seen = outcome.final_message  # after codex-lab's own bound
    assert seen == answer_sent.strip() and not seen.startswith(RESULT_TRUNCATED_MARKER)
    m = MARKER.match(seen)
    assert m, seen[:60]
    kept = seen[m.end():]
    assert answer.endswith(kept) and kept.endswith("THE END")
    assert int(m.group(1)) == len(answer.encode()) - len(kept.encode())


def test_without_the_budget_fix_codex_lab_would_lose_the_marker():
    """Why the budget counts the marker: a 8192-byte tail behind it is cut again by codex-lab."""
    old_style = "[… 30000 bytes cut]\n" + "x" * 8192
    assert bound_external_agent_message(old_style).startswith(RESULT_TRUNCATED_MARKER)


def test_the_result_line_of_a_huge_envelope_is_parsed_from_an_8_kib_stderr_tail(fake_env, tmp_path):
    answer, path = long_answer(tmp_path, 60_000)
    with open(path, "a") as f:
        f.write("not json at all\n" * 50)  # vendor details: unparsed lines
    outcome = run_external(fake(), request(tmp_path), env={**fake_env, "FAKE_VENDOR_SCRIPT": path}, timeout_s=30)
    assert outcome.state == "completed", outcome.message
    last = outcome.stderr.rstrip(b"\n").split(b"\n")[-1]
    assert last.startswith(b"shim-result: ") and len(last) + 1 <= STDERR_LIMIT
    envelope = shim_result(outcome.stderr)
    assert envelope is not None
    Result.model_validate(envelope)
    assert envelope["status"] == "completed" and envelope["usage"]["total_tokens"] >= 0
    assert envelope["dropped"]["in_journal"] is True and "final_message" in envelope["dropped"]["fields"]
    journal = json.loads(open(os.path.join(envelope["journal"], "result.json")).read())
    assert journal["final_message"].endswith("THE END") and "dropped" not in journal
    assert Protocol1Answer.model_validate_json(outcome.stdout).status == "completed"


GOLDEN_V1 = sorted((ROOT / "golden").glob("*/*/expected.v1.json"))


@pytest.mark.parametrize("path", GOLDEN_V1, ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}")
def test_every_recorded_answer_is_read_by_codex_lab_as_its_kind(path):
    """Every golden protocol-1 answer, recorded from real vendor output: a failed one reads as
    its kind's class (or the generic one), a cut one is never cut again by codex-lab."""
    answer = Protocol1Answer.model_validate_json(path.read_bytes())
    assert len((answer.final_message or "").encode()) <= MODEL_VISIBLE_BYTES
    if answer.status == "failed":
        kind = answer.final_message.split(":", 1)[0]
        assert kind in set(FailureKind)
        for revision in CLASSIFIER_REVISIONS:
            assert classify_provider_failure_text(answer.final_message, revision) == codex_lab_class(kind)
