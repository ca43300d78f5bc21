"""shim-claude end to end: the REAL Claude Code CLI (vendor-clis/, pinned) against the fake
Anthropic API on 127.0.0.1, driven through the codex-lab test host or as a host would."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import procs
import pytest
from conftest import shim_path
from fakes.claude_env import CLAUDE_BIN, claude_env
from fakes.fake_anthropic import FakeAnthropic, usage_for_call
from host.codex_lab_host import run_external
from state_rows import ledger_rows
from streamcheck import check_stream, parse_stream, run_stream

pytestmark = [pytest.mark.realcli, pytest.mark.slow]

if not CLAUDE_BIN.exists():  # pragma: no cover - make test installs it first
    pytest.fail("the pinned Claude CLI is missing: run `make vendor-clis`", pytrace=False)


@pytest.fixture(scope="module")
def api():
    with FakeAnthropic() as server:
        yield server


@pytest.fixture
def claude(api, mark, tmp_path):
    """Run shim-claude against the fake; returns a function (args, request/prompt) -> outcome."""
    api.reset()
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()

    def env(**kw):
        return {**claude_env(api.base_url, home, **kw), procs.MARK_ENV: mark}

    class Runner:
        workdir = work

        @staticmethod
        def argv(*args):
            return [shim_path("claude"), "--vendor-bin", str(CLAUDE_BIN), *args]

        @staticmethod
        def env(**kw):
            return env(**kw)

        @staticmethod
        def stream(*args, stdin=b"", timeout=120, **kw):
            return run_stream(Runner.argv("--emit", "ndjson", *args), env=env(**kw), cwd=work, stdin=stdin,
                              timeout=timeout)

    return Runner


def test_success_with_a_tool_through_the_host(claude):
    request = {"protocol_version": 1, "thread_id": "t-1", "cwd": str(claude.workdir), "message": "[scenario:tool] Run a command"}
    outcome = run_external(claude.argv("--mode", "write"), request, protocol=1, env=claude.env(), timeout_s=120)
    assert outcome.exit_code == 0 and outcome.state == "completed", outcome.message
    assert outcome.final_message == "The command printed hello-from-tool."
    outcome = run_external(claude.argv("--mode", "write"), {**request, "protocol_version": 2}, protocol=2,
                           env=claude.env(), timeout_s=120)
    result = check_stream(outcome.events, outcome.exit_code)
    commands = [e["item"] for e in outcome.events if e["type"] == "item.completed" and e["item"]["type"] == "command_execution"]
    assert commands[0]["command"] == "echo hello-from-tool"
    assert commands[0]["aggregated_output"].strip() == "hello-from-tool" and commands[0]["exit_code"] == 0
    assert result["provider"]["cli_version"] == "2.1.331"
    # two API calls, numbered 3 and 4 in this server's life (the protocol-1 run made 1 and 2)
    u3, u4 = usage_for_call(3), usage_for_call(4)
    expected_input = sum(u[k] for u in (u3, u4) for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"))
    assert result["usage"]["input_tokens"] == expected_input
    assert result["usage"]["cached_input_tokens"] == u3["cache_read_input_tokens"] + u4["cache_read_input_tokens"]
    assert result["usage"]["output_tokens"] == u3["output_tokens"] + u4["output_tokens"]
    assert result["usage"]["cost_source"] == "vendor" and result["usage"]["cost_usd"] > 0


@pytest.mark.parametrize(
    ("scenario", "kw", "args", "code", "kind"),
    [
        ("auth401", {}, [], 4, "authentication_required"),
        ("plain", {"key": False}, [], 4, "authentication_required"),
        ("rate429", {}, [], 5, "quota_or_rate_limited"),
        ("credit400", {}, [], 5, "quota_or_rate_limited"),
        ("overloaded529", {}, [], 6, "provider_unavailable"),
        ("server500", {}, [], 6, "provider_unavailable"),
        ("nomodel404", {}, ["--model", "no-such-model"], 2, "bad_request"),
        ("badrequest400", {}, [], 1, "provider_failed"),
    ],
)
def test_failure_kinds(claude, scenario, kw, args, code, kind):
    rc, events, result = claude.stream(*args, f"[scenario:{scenario}] hi", **kw)
    assert (rc, result["failure_kind"]) == (code, kind), result["error"]
    assert result["error"] and "." in result["error"]


def test_usage_limit_reports_reset_time(claude):
    rc, _, result = claude.stream("[scenario:usagelimit] hi", oauth=True)
    assert rc == 5 and result["quota"]["state"] == "exhausted"
    assert result["quota"]["resets_at"] == "2026-11-24T15:07:11Z" and result["quota"]["window"] == "5h"


def test_connection_refused_is_provider_unavailable(claude, mark, tmp_path):
    env = {**claude.env(), "ANTHROPIC_BASE_URL": "http://127.0.0.1:9"}
    proc = subprocess.run(claude.argv("--emit", "ndjson", "hi"), capture_output=True, env=env, cwd=claude.workdir, timeout=120)
    result = check_stream(parse_stream(proc.stdout), proc.returncode)
    assert result["failure_kind"] == "provider_unavailable" and proc.returncode == 6


def test_resume_counts_only_this_invocation(claude):
    _, _, first = claude.stream("[scenario:plain] Say hello")
    rc, events, second = claude.stream("--resume", first["session_id"], "[scenario:plain] Again")
    assert rc == 0 and second["session_id"] == first["session_id"]
    u2 = usage_for_call(2)
    assert second["usage"]["input_tokens"] == u2["input_tokens"] + u2["cache_creation_input_tokens"] + u2["cache_read_input_tokens"]
    assert second["usage"]["output_tokens"] == u2["output_tokens"]
    assert second["usage"]["scope"] == "invocation"
    # the vendor's own running total is larger: it is session-cumulative
    assert second["vendor"]["total_cost_usd"] > second["usage"]["cost_usd"]


def test_resume_of_an_unknown_session_is_a_bad_request(claude):
    rc, _, result = claude.stream("--resume", "00000000-0000-4000-8000-000000000000", "hi")
    assert rc == 2 and result["failure_kind"] == "bad_request"


def test_read_only_prevents_a_write_and_write_allows_it(claude):
    target = claude.workdir / "created-by-claude.txt"
    rc, events, result = claude.stream("--mode", "read-only", "[scenario:write] Create a file")
    assert not target.exists()
    changes = [e["item"] for e in events if e["type"] == "item.completed" and e["item"]["type"] == "file_change"]
    assert changes and changes[0]["status"] == "failed"  # denied: Codex's PatchApplyStatus has no `declined`
    assert any(e["item"]["type"] == "error" and "Permission denied" in e["item"]["message"]
               for e in events if e["type"] == "item.completed")
    rc, events, result = claude.stream("--mode", "write", "[scenario:write] Create a file")
    assert rc == 0 and target.read_text() == "hello\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="the refusal concerns root only")
def test_full_mode_as_root_fails_clearly_before_launch(claude):
    rc, events, result = claude.stream("--mode", "full", "[scenario:plain] hi")
    assert rc == 7 and result["failure_kind"] == "unsupported_mode"
    assert "root" in result["error"] and "turn.started" not in [e["type"] for e in events]


def test_long_prompt_goes_through_stdin(claude, api):
    prompt = "[scenario:plain] " + "x" * 200_000  # over Linux's 128 KiB limit for one argv string
    request = json.dumps({"protocol_version": 2, "message": prompt}).encode()
    rc, _, result = claude.stream(stdin=request)
    assert rc == 0 and result["final_message"] == "Hello from the fake model."
    body = json.dumps(api.message_requests()[0].body["messages"])
    assert "x" * 200_000 in body, "the whole prompt reached the model"


def test_idle_timeout_on_a_stalled_stream(claude):
    t0 = time.monotonic()
    rc, _, result = claude.stream("--idle-timeout", "3", "--cancel-grace", "1", "[scenario:stall] hi")
    assert rc == 124 and result["failure_kind"] == "timed_out"
    assert time.monotonic() - t0 < 30


def test_sigterm_to_the_shim_mid_tool_leaves_nothing(claude):
    """The Bash tool's python child must die with the run (the mark fixture checks)."""
    proc = subprocess.Popen(claude.argv("--emit", "ndjson", "--mode", "write", "--cancel-grace", "1",
                                        "[scenario:slowtool] hi"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=claude.env(), cwd=claude.workdir,
                            process_group=0)
    time.sleep(4)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    events = parse_stream(out)
    result = check_stream(events, proc.returncode)
    assert proc.returncode == 143 and result["status"] == "cancelled"
    assert any(e["type"] == "item.started" and e["item"]["type"] == "command_execution" for e in events)


def test_host_cancel_mid_tool_leaves_nothing(claude):
    request = {"protocol_version": 1, "cwd": str(claude.workdir), "message": "[scenario:slowtool] hi"}
    outcome = run_external(claude.argv("--mode", "write"), request, protocol=1, env=claude.env(), cancel_after_s=4)
    assert outcome.state == "shutdown"


def test_sigint_keeps_partial_text_and_usage(claude):
    proc = subprocess.Popen(claude.argv("--emit", "ndjson", "[scenario:slow] hi"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=claude.env(), cwd=claude.workdir, process_group=0)
    time.sleep(2.0)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    result = check_stream(parse_stream(out), proc.returncode)
    assert proc.returncode == 130 and result["status"] == "cancelled"
    assert result["vendor"].get("terminal_reason") == "aborted_streaming"
    assert result["usage"]["cost_usd"], "the CLI keeps the cost of the interrupted call"


def test_preflight_and_version(claude):
    out = subprocess.run(claude.argv("--preflight"), capture_output=True, env=claude.env(), timeout=60)
    answer = json.loads(out.stdout)
    assert out.returncode == 0 and answer["ready"] and answer["cli_version"] == "2.1.331"
    out = subprocess.run(claude.argv("--version"), capture_output=True, env=claude.env(), timeout=60)
    assert b"2.1.331" in out.stdout


def test_transcript_stays_in_the_given_home(claude, tmp_path):
    claude.stream("[scenario:plain] hi")
    assert list(Path(tmp_path, "home", ".claude", "projects").rglob("*.jsonl"))


def test_preflight_without_credentials_is_authentication_required(claude):
    out = subprocess.run(claude.argv("--preflight"), capture_output=True, env=claude.env(key=False), timeout=60)
    answer = json.loads(out.stdout)
    assert out.returncode == 4 and answer["failure_kind"] == "authentication_required"
    assert "ANTHROPIC_API_KEY" in answer["error"]
    out = subprocess.run(claude.argv("--preflight"), capture_output=True, env=claude.env(oauth=True), timeout=60)
    assert json.loads(out.stdout)["auth"] == "oauth_token"


def _ledger_of(result):
    return ledger_rows(Path(result["journal"]).parent.parent)


def test_usage_over_a_resumed_session_adds_up_exactly(claude):
    """Claude's modelUsage and total_cost_usd are session-cumulative after --resume: the runs'
    own usages (and the ledger) add up to the CLI's final running total, tokens and cost."""
    _, _, first = claude.stream("[scenario:tool] run it")
    _, _, second = claude.stream("--resume", first["session_id"], "[scenario:plain] again")
    _, _, third = claude.stream("--resume", "last", "[scenario:plain] and again")
    runs = [first, second, third]
    assert {r["session_id"] for r in runs} == {first["session_id"]}
    cumulative = next(iter(third["vendor"]["modelUsage"].values()))
    assert sum(r["usage"]["input_tokens"] for r in runs) == (
        cumulative["inputTokens"] + cumulative["cacheReadInputTokens"] + cumulative["cacheCreationInputTokens"])
    assert sum(r["usage"]["output_tokens"] for r in runs) == cumulative["outputTokens"]
    assert abs(sum(r["usage"]["cost_usd"] for r in runs) - third["vendor"]["total_cost_usd"]) < 1e-9
    assert all("usage_mismatch" not in r["vendor"] for r in runs), [r["vendor"].get("usage_mismatch") for r in runs]
    assert third["vendor"]["session_usage"]["total_scope"] == "session"
    ledger = _ledger_of(third)
    assert [e["session_id"] for e in ledger] == [first["session_id"]] * 3
    assert sum(e["usage"]["total_tokens"] for e in ledger) == sum(r["usage"]["total_tokens"] for r in runs)


def test_a_key_echoed_by_a_tool_never_reaches_the_journal(claude):
    rc, events, result = claude.stream("--mode", "write", "[scenario:echokey] show me the key")
    assert rc == 0, result
    key = claude.env()["ANTHROPIC_API_KEY"].encode()
    outputs = [e["item"]["aggregated_output"] for e in events
               if e["type"] == "item.completed" and e["item"]["type"] == "command_execution"]
    # the tool really printed it, and the stream a host reads is masked too (issue 13)
    assert outputs and outputs[0].startswith("key=[REDACTED"), outputs
    state = Path(result["journal"]).parent.parent
    leaked = [p for p in state.rglob("*") if p.is_file() and key in p.read_bytes()]
    assert leaked == []
    assert b"key=[REDACTED" in (Path(result["journal"]) / "vendor.stdout").read_bytes()


def test_a_remembered_usage_limit_fails_the_next_launch_fast(claude, api):
    api.reset_5h = int(time.time()) + 3600
    rc, _, first = claude.stream("[scenario:usagelimit] hi", oauth=True)
    assert rc == 5 and first["quota"]["state"] == "exhausted"
    calls = api.calls
    rc, events, second = claude.stream("[scenario:plain] hi", oauth=True)
    assert rc == 5 and second["failure_kind"] == "quota_or_rate_limited"
    assert second["quota"]["resets_at"] == first["quota"]["resets_at"]
    assert api.calls == calls, "the CLI was not started, so the API saw nothing"
    assert "turn.started" not in [e["type"] for e in events]
    pre = subprocess.run(claude.argv("--preflight"), capture_output=True, env=claude.env(oauth=True), timeout=60)
    assert pre.returncode == 5 and json.loads(pre.stdout)["quota"]["resets_at"] == first["quota"]["resets_at"]
    # another account (an API key instead of this subscription) is not held back
    rc, _, other = claude.stream("[scenario:plain] hi")
    assert rc == 0, other
