"""shim-gemini end to end: the REAL Gemini CLI (vendor-clis/, pinned) against the fake Gemini
API on 127.0.0.1, driven through the codex-lab test host or as a host would."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import procs
import pytest
from conftest import shim_path
from fakes.fake_gemini import FakeGemini
from fakes.gemini_env import GEMINI_BIN, gemini_env
from host.codex_lab_host import run_external
from streamcheck import check_stream, parse_stream, run_stream

pytestmark = [pytest.mark.realcli, pytest.mark.slow]

if not GEMINI_BIN.exists():  # pragma: no cover - make test installs it first
    pytest.fail("the pinned Gemini CLI is missing: run `make vendor-clis`", pytrace=False)

MODEL = "gemini-2.5-flash"


@pytest.fixture(scope="module")
def api():
    with FakeGemini() as server:
        yield server


@pytest.fixture
def gemini(api, mark, tmp_path):
    api.reset()
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    (work / "README.md").write_text("# Demo\n")

    class Runner:
        workdir = work
        homedir = home

        @staticmethod
        def env(**kw):
            # The user's ~/.gemini has no settings: the shim's per-run settings must suffice.
            return {**gemini_env(api.base_url, home, settings=False, **kw), procs.MARK_ENV: mark}

        @staticmethod
        def argv(*args):
            return [shim_path("gemini"), "--vendor-bin", str(GEMINI_BIN), "--model", MODEL, *args]

        @staticmethod
        def stream(*args, stdin=b"", timeout=120, **kw):
            return run_stream(Runner.argv("--emit", "ndjson", *args), env=Runner.env(**kw), cwd=work, stdin=stdin,
                              timeout=timeout)

    return Runner


def items(events, kind):
    return [e["item"] for e in events if e["type"] == "item.completed" and e["item"]["type"] == kind]


def test_success_with_a_shell_tool_through_the_host(gemini):
    request = {"protocol_version": 1, "cwd": str(gemini.workdir), "message": "[scenario:shell] Run a command"}
    outcome = run_external(gemini.argv("--mode", "full"), request, protocol=1, env=gemini.env(), timeout_s=120)
    assert outcome.exit_code == 0 and outcome.state == "completed", outcome.message
    outcome = run_external(gemini.argv("--mode", "full"), {**request, "protocol_version": 2}, protocol=2,
                           env=gemini.env(), timeout_s=120)
    result = check_stream(outcome.events, outcome.exit_code)
    cmd = items(outcome.events, "command_execution")[0]
    assert cmd["command"] == "echo hello-from-shell" and cmd["status"] == "completed" and cmd["exit_code"] == 0
    assert "hello-from-shell" in cmd["aggregated_output"]
    texts = [i["text"] for i in items(outcome.events, "agent_message")]
    assert texts[-1] == result["final_message"] and len(texts) >= 2, "text before the tool call is its own message"
    u = result["usage"]
    assert u["input_tokens"] > u["cached_input_tokens"] > 0 and u["cost_source"] == "price_table" and u["cost_usd"] > 0
    assert result["provider"]["cli_version"] == "0.61.0"  # from its package.json: Gemini never prints it


def test_read_only_prevents_a_write_and_write_allows_it(gemini):
    target = gemini.workdir / "created-by-gemini.txt"
    rc, events, result = gemini.stream("--mode", "read-only", "[scenario:write] Create a file")
    assert not target.exists()
    rc, events, result = gemini.stream("--mode", "write", "[scenario:write] Create a file")
    assert rc == 0 and target.read_text() == "hello\n"
    assert items(events, "file_change")[0]["status"] == "completed"


@pytest.mark.parametrize(
    ("scenario", "code", "kind"),
    [
        ("quota-daily", 5, "quota_or_rate_limited"),
        ("quota-minute", 5, "quota_or_rate_limited"),
        ("badkey400", 4, "authentication_required"),
        ("unauth401", 4, "authentication_required"),
        ("forbidden403", 4, "authentication_required"),
        ("server500", 6, "provider_unavailable"),
        ("unavailable503", 6, "provider_unavailable"),
        ("empty", 1, "provider_failed"),
    ],
)
def test_failure_kinds(gemini, scenario, code, kind):
    rc, _, result = gemini.stream(f"[scenario:{scenario}] hi")
    assert (rc, result["failure_kind"]) == (code, kind), result["error"]
    if scenario == "quota-daily":
        assert result["quota"]["window"] == "daily" and result["quota"]["state"] == "exhausted"
    if scenario == "quota-minute":
        assert result["quota"]["retry_after_s"] == 2.0


def test_no_key_is_authentication_required(gemini):
    rc, events, result = gemini.stream("[scenario:plain] hi", key=None)
    assert rc == 4 and result["failure_kind"] == "authentication_required"


def test_connection_refused_is_provider_unavailable(gemini):
    env = {**gemini.env(), "GOOGLE_GEMINI_BASE_URL": "http://127.0.0.1:9"}
    proc = subprocess.run(gemini.argv("--emit", "ndjson", "hi"), capture_output=True, env=env, cwd=gemini.workdir,
                          timeout=120)
    result = check_stream(parse_stream(proc.stdout), proc.returncode)
    assert result["failure_kind"] == "provider_unavailable"


def test_resume_keeps_the_session(gemini):
    _, _, first = gemini.stream("[scenario:plain] Say hello")
    rc, _, second = gemini.stream("--resume", first["session_id"], "[scenario:plain] Again")
    assert rc == 0 and second["session_id"] == first["session_id"]
    assert second["usage"]["scope"] == "invocation"
    rc, _, result = gemini.stream("--resume", "00000000-0000-4000-8000-000000000000", "hi")
    assert rc == 2 and result["failure_kind"] == "bad_request"


def test_sigterm_to_the_shim_while_streaming(gemini):
    proc = subprocess.Popen(gemini.argv("--emit", "ndjson", "--cancel-grace", "1", "[scenario:slow] hi"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=gemini.env(), cwd=gemini.workdir,
                            process_group=0)
    time.sleep(4)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    result = check_stream(parse_stream(out), proc.returncode)
    assert proc.returncode == 143 and result["status"] == "cancelled"


def test_host_cancel_leaves_nothing(gemini):
    request = {"protocol_version": 1, "cwd": str(gemini.workdir), "message": "[scenario:slow] hi"}
    outcome = run_external(gemini.argv(), request, protocol=1, env=gemini.env(), cancel_after_s=4)
    assert outcome.state == "shutdown"


def test_idle_timeout_on_a_stalled_stream(gemini):
    rc, _, result = gemini.stream("--idle-timeout", "5", "--cancel-grace", "1", "[scenario:stall] hi")
    assert rc == 124 and result["failure_kind"] == "timed_out"


def test_no_conversation_dump_is_left_in_temp(gemini, tmp_path):
    gemini.stream("[scenario:server500] hi")
    assert not list((tmp_path / "home" / "tmp").glob("gemini-client-error-*")), "dumps go to the run's own TMPDIR"
    assert not list(tmp_path.glob("**/gemini-client-error-*"))


def test_preflight(gemini):
    out = subprocess.run(gemini.argv("--preflight"), capture_output=True, env=gemini.env(), timeout=60)
    answer = json.loads(out.stdout)
    assert out.returncode == 0 and answer["ready"] and answer["cli_version"] == "0.61.0" and answer["auth"] == "api_key"
    out = subprocess.run(gemini.argv("--preflight"), capture_output=True, env=gemini.env(key=None), timeout=60)
    assert out.returncode == 4


def test_auto_is_costed_by_the_models_that_answered(gemini, tmp_path):
    """`-m auto` (gemini.md §7): the result names the model that answered, not the alias; its
    usage the router's and the main call's models, each costed from the price table, so the
    run's cost is known; `shims usage` groups by them.
    The fake's model names are in no packaged table: the config file prices them, as a user would."""
    config = tmp_path / "config.toml"
    config.write_text('[prices.gemini."gemini-3.5-flash-lite"]\ninput = 0.1\noutput = 0.4\n\n'
                      '[prices.gemini."gemini-3.8-flash"]\ninput = 0.5\ncached_input = 0.05\noutput = 3.0\n')
    env = gemini.env(extra={"CODEX_SHIMS_CONFIG": str(config)})
    argv = [shim_path("gemini"), "--vendor-bin", str(GEMINI_BIN), "--model", "auto", "--emit", "ndjson",
            "[scenario:plain] Say hello"]
    proc = subprocess.run(argv, capture_output=True, env=env, cwd=gemini.workdir, timeout=120)
    result = check_stream(parse_stream(proc.stdout), proc.returncode)
    u = result["usage"]
    assert result["provider"] == {"name": "gemini", "cli_version": "0.61.0", "model": "gemini-3.8-flash"}
    assert set(u["models"]) == {"gemini-3.5-flash-lite", "gemini-3.8-flash"} and u["model"] == "gemini-3.8-flash"
    assert u["cost_source"] == "price_table" and u["cost_usd"] > 0
    assert u["cost_usd"] == pytest.approx(sum(m["cost_usd"] for m in u["models"].values()))
    usage = subprocess.run([str(Path(shim_path()).parent / "shims"), "usage", "--by", "model", "--json"], capture_output=True, env=env,
                           timeout=60)
    rows = {r["model"]: r for r in json.loads(usage.stdout)}
    assert set(rows) == {"gemini-3.5-flash-lite", "gemini-3.8-flash"}, usage.stderr
    assert rows["gemini-3.8-flash"]["runs"] == 1 and rows["gemini-3.8-flash"]["runs_estimated_cost"] == 1
    assert all(r["runs_unknown_cost"] == 0 and r["cost_usd"] > 0 for r in rows.values())
