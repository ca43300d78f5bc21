"""shim-agy end to end against the agy SIMULATOR (tests/fakes/agy/agy): the real binary cannot
be installed here. Each behaviour the simulator plays is documented in ../shared/reference/agy.md."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import procs
import pytest
from conftest import ROOT, shim_path
from host.codex_lab_host import run_external
from state_rows import ledger_rows
from streamcheck import check_stream, parse_stream, run_stream

pytestmark = pytest.mark.slow

AGY = ROOT / "tests" / "fakes" / "agy" / "agy"


@pytest.fixture
def agy(mark, tmp_path):
    home, work = tmp_path / "home", tmp_path / "work"
    (home / ".gemini" / "antigravity-cli").mkdir(parents=True)
    (home / ".gemini" / "antigravity-cli" / "antigravity-oauth-token").write_text('{"token": "fake"}')
    work.mkdir()

    class Runner:
        workdir = work

        @staticmethod
        def env(version="1.2.16", **extra):
            return {"PATH": os.environ["PATH"], "HOME": str(home), "LANG": "C.UTF-8", "AGY_SIM_VERSION": version,
                    procs.MARK_ENV: mark, **extra}

        @staticmethod
        def argv(*args):
            return [shim_path("agy"), "--vendor-bin", str(AGY), *args]

        @staticmethod
        def stream(*args, version="1.2.16", stdin=b"", timeout=120, **extra):
            return run_stream(Runner.argv("--emit", "ndjson", *args), env=Runner.env(version, **extra), cwd=work,
                              stdin=stdin, timeout=timeout)

    return Runner


def items(events, kind):
    return [e["item"] for e in events if e["type"] == "item.completed" and e["item"]["type"] == kind]


def test_tool_run_through_the_host(agy):
    request = {"protocol_version": 1, "cwd": str(agy.workdir), "message": "[scenario:tool] run"}
    outcome = run_external(agy.argv("--mode", "full"), request, protocol=1, env=agy.env(), timeout_s=60)
    assert outcome.exit_code == 0 and outcome.state == "completed", outcome.message
    outcome = run_external(agy.argv("--mode", "full"), {**request, "protocol_version": 2}, protocol=2, env=agy.env())
    result = check_stream(outcome.events, outcome.exit_code)
    assert items(outcome.events, "command_execution")[0]["command"] == "echo hi"
    assert result["session_id"] and result["usage"]["input_tokens"] > result["usage"]["cached_input_tokens"] > 0


def test_soft_denied_run_is_not_a_completed_task(agy):
    rc, events, result = agy.stream("--mode", "read-only", "[scenario:tool] run")
    assert result["status"] == "failed" and "--mode" in result["error"]
    assert any("denied" in i["message"] for i in items(events, "error"))


def test_write_mode_writes_and_read_only_does_not(agy):
    target = agy.workdir / "created-by-agy.txt"
    agy.stream("--mode", "read-only", "[scenario:write] create")
    assert not target.exists()
    rc, _, result = agy.stream("--mode", "write", "[scenario:write] create")
    assert rc == 0 and target.exists()


def test_quota_gives_a_reset_time(agy):
    t0 = time.time()
    rc, _, result = agy.stream("[scenario:quota-5h] hi")
    assert rc == 5 and result["quota"]["state"] == "exhausted" and result["quota"]["window"] == "5h"
    assert result["quota"]["retry_after_s"] == 2053.0
    resets = time.mktime(time.strptime(result["quota"]["resets_at"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    assert t0 + 2053 - 5 <= resets <= time.time() + 2053 + 5


def test_resume_counts_this_run_only(agy):
    _, _, first = agy.stream("[scenario:plain] hi")
    rc, _, second = agy.stream("--resume", first["session_id"], "[scenario:plain] again")
    assert rc == 0 and second["session_id"] == first["session_id"]
    assert second["usage"]["scope"] == "invocation"
    cumulative = second["vendor"]["usage"]
    assert cumulative["input_tokens"] > second["usage"]["input_tokens"] - second["usage"]["cached_input_tokens"]


def test_print_timeout_before_the_shim_deadline_keeps_partial_text(agy):
    rc, _, result = agy.stream("--timeout", "6", "[scenario:slow] hi")
    assert rc == 124 and result["failure_kind"] == "timed_out"
    assert result["final_message"], "the partial answer is kept"


def test_old_agy_without_a_terminal_needs_the_pty(agy):
    rc, _, result = agy.stream("--pty", "never", "[scenario:plain] hi", version="1.0.9")
    assert result["failure_kind"] == "empty_output" and "--pty auto" in result["error"]
    rc, _, result = agy.stream("--pty", "auto", "[scenario:plain] hi", version="1.0.9")
    assert rc == 0 and result["final_message"] == "Hello from the agy simulator."
    assert result["vendor"].get("pty") is True


def test_needs_tty_says_what_to_do(agy):
    rc, _, result = agy.stream("[scenario:needs-tty] hi")
    assert result["failure_kind"] == "authentication_required" and "run `agy` once in a terminal" in result["error"]


def test_sigterm_mid_tool_leaves_nothing(agy):
    """agy's tools run in sessions of their own: agy kills them on SIGINT; the mark fixture
    checks that nothing is left."""
    proc = subprocess.Popen(agy.argv("--emit", "ndjson", "--mode", "full", "--cancel-grace", "1", "[scenario:slowtool] hi"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=agy.env(), cwd=agy.workdir, process_group=0)
    time.sleep(2)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    result = check_stream(parse_stream(out), proc.returncode)
    assert proc.returncode == 143 and result["status"] == "cancelled"


def test_host_group_kill_mid_tool_leaves_nothing(agy):
    request = {"protocol_version": 1, "cwd": str(agy.workdir), "message": "[scenario:slowtool] hi"}
    outcome = run_external(agy.argv("--mode", "full"), request, protocol=1, env=agy.env(), cancel_after_s=2)
    assert outcome.state == "shutdown"


def test_preflight_reports_the_quota_buckets(agy):
    out = subprocess.run(agy.argv("--preflight"), capture_output=True, env=agy.env(), timeout=60)
    answer = json.loads(out.stdout)
    assert out.returncode == 0 and answer["ready"] and answer["cli_version"] == "1.2.16"
    assert answer["quota"]["state"] in ("ok", "warning") and "5 hour" in answer["quota"]["message"]


def test_pty_always_on_a_current_agy_gives_clean_text(agy):
    rc, _, result = agy.stream("--pty", "always", "[scenario:plain] hi")
    assert rc == 0 and result["final_message"] == "Hello from the agy simulator."
    assert "\x1b" not in result["final_message"]


def test_write_mode_on_an_agy_without_modes_is_refused_before_launch(agy):
    rc, events, result = agy.stream("--mode", "write", "[scenario:plain] hi", version="1.0.9")
    assert rc == 7 and result["failure_kind"] == "unsupported_mode" and "1.1.0" in result["error"]
    assert "turn.started" not in [e["type"] for e in events]


def test_pty_auto_retries_a_piped_run_that_printed_nothing(agy, tmp_path):
    """A build that claims 1.1.5 (pipes should work) but still prints nothing through a pipe,
    like the Windows builds of #76: --pty auto re-runs it under a pseudo-terminal."""
    wrapper = tmp_path / "agy-liar"
    wrapper.write_text(f"""#!/bin/sh
case "$1" in --version|-v) echo "agy version 1.1.5"; exit 0;; esac
AGY_SIM_VERSION=1.0.9 exec {AGY} "$@"
""")
    wrapper.chmod(0o755)
    proc = subprocess.run([shim_path("agy"), "--vendor-bin", str(wrapper), "--emit", "ndjson", "--pty", "auto",
                           "[scenario:plain] hi"], capture_output=True, env=agy.env(), cwd=agy.workdir, timeout=60)
    result = check_stream(parse_stream(proc.stdout), proc.returncode)
    assert proc.returncode == 0 and result["final_message"] == "Hello from the agy simulator."
    assert result["vendor"].get("pty") is True


def _ledger_of(result):
    """The usage ledger next to the run's journal root (state dir = …/codex-shims)."""
    return ledger_rows(Path(result["journal"]).parent.parent)


def test_usage_over_a_resumed_conversation_adds_up_exactly(agy):
    """Three turns of one conversation (the last by `--resume last`): each run's usage is its
    own, the ledger sums to agy's final running total, and nothing is reported as mismatched."""
    _, _, first = agy.stream("[scenario:tool] list files")
    _, _, second = agy.stream("--resume", first["session_id"], "[scenario:plain] again")
    _, _, third = agy.stream("--resume", "last", "[scenario:plain] and again")
    runs = [first, second, third]
    assert {r["session_id"] for r in runs} == {first["session_id"]}
    final = third["vendor"]["usage"]  # agy's running total for the conversation
    in_total = final["input_tokens"] + final["cache_read_tokens"]
    assert sum(r["usage"]["input_tokens"] for r in runs) == in_total
    assert sum(r["usage"]["cached_input_tokens"] for r in runs) == final["cache_read_tokens"]
    assert sum(r["usage"]["output_tokens"] for r in runs) == final["output_tokens"]
    assert sum(r["usage"]["reasoning_output_tokens"] for r in runs) == final["thinking_tokens"]
    assert all(r["usage"]["scope"] == "invocation" and "usage_mismatch" not in r["vendor"] for r in runs)
    assert third["vendor"]["session_usage"]["previous_total"]["input_tokens"] == (
        first["usage"]["input_tokens"] + second["usage"]["input_tokens"])
    ledger = _ledger_of(third)
    assert sum(e["usage"]["total_tokens"] for e in ledger) == in_total + final["output_tokens"]


def test_a_version_cached_by_preflight_still_decides_the_launch(agy):
    """`--preflight` (and `shims doctor`) remember the whole `--version` text of the binary; the
    launch reads the same cache and must still find the version in it: a 1.0.9 is refused
    write mode before launch, exactly as when it asks agy itself."""
    out = subprocess.run(agy.argv("--preflight"), capture_output=True, env=agy.env("1.0.9"), timeout=60)
    assert json.loads(out.stdout)["cli_version"] == "1.0.9"
    rc, events, result = agy.stream("--mode", "write", "[scenario:plain] hi", version="1.0.9")
    assert rc == 7 and result["failure_kind"] == "unsupported_mode" and "1.1.0" in result["error"]
