"""Stock Codex as the host of `shims mcp`: the real Codex CLI 0.169.0 (hosts/codex-cli) runs
`codex exec --json` offline against the loopback fake Responses API, whose model calls the
server's tools; the workers are shim-claude runs of the real Claude Code CLI on the fake
Anthropic API. The MCP block in Codex's config.toml is the README's, read from the README.

Codex gives a stdio MCP server only a few variables (HOME, PATH, LANG, ...) and those named in
env_vars, so the test mark does not reach the server: the no-leftover check looks for the run's
own HOME instead, which every process below Codex inherits (tests/procs.py)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import procs
import pytest
from conftest import BIN, ROOT
from fakes.claude_env import CLAUDE_BIN
from fakes.fake_anthropic import PLAIN_TEXT, FakeAnthropic
from fakes.fake_responses import Answer, Call, FakeResponses
from host.codex_bin import codex_bin
from host.codex_cli import exec_env, finish, make_codex_home, run_exec, start_exec

pytestmark = [pytest.mark.slow, pytest.mark.realcli]
WORKER_WAIT = 45  # under the README block's tool_timeout_sec


def readme_block() -> tuple[str, str]:
    """The README's config block for `shims mcp`, as (its top-level keys, its tables): a user
    puts the first above every table of config.toml, as the README says."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("<!-- mcp-config -->", 1)[1].split("<!-- /mcp-config -->", 1)[0]
    toml = re.search(r"```toml\n(.*?)```", section, re.S).group(1)
    head, table, rest = toml.partition("\n[")
    return head.strip(), (table + rest).strip()


@pytest.fixture
def codex_world(tmp_path, full_env):
    """The fake Anthropic API, a shims config pointing shim-claude at the pinned Claude CLI and
    that API, and the environment `codex exec` runs in (the README's env_vars name what passes)."""
    if codex_bin() is None:
        pytest.fail("the pinned Codex CLI is missing: run `make codex-cli`")
    with FakeAnthropic() as anthropic:
        config = tmp_path / "shims.toml"
        config.write_text(
            f'[claude]\nvendor_bin = "{CLAUDE_BIN}"\n'
            f'env = {{ ANTHROPIC_BASE_URL = "{anthropic.base_url}", CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC = "1", '
            'DISABLE_AUTOUPDATER = "1", DISABLE_TELEMETRY = "1", DISABLE_ERROR_REPORTING = "1", '
            'CLAUDE_CODE_MAX_RETRIES = "1" }\n')
        ws = tmp_path / "ws"
        ws.mkdir()
        env = {**full_env, "PATH": f"{BIN}:{full_env.get('PATH', '/usr/bin:/bin')}", "CODEX_SHIMS_CONFIG": str(config),
               "ANTHROPIC_API_KEY": "sk-ant-api03-fake-test-key", "LANG": "C.UTF-8", "TERM": "dumb"}
        yield {"env": env, "ws": ws, "anthropic": anthropic, "tmp": tmp_path}


def codex_home(world, api) -> Path:
    top, table = readme_block()
    return make_codex_home(world["tmp"] / "codex-home", api.base_url, mcp_toml=table, extra_toml=top)


def codex_turn(world, steps, prompt: str, env: dict[str, str] | None = None):
    """One `codex exec --json` run in the world's folder whose model follows `steps`: the run,
    every request the fake Responses API got, and the CODEX_HOME it ran with."""
    with FakeResponses(steps) as api:
        home = codex_home(world, api)
        run = run_exec(prompt, home=home, cwd=world["ws"], env=env or world["env"])
        return run, api.response_requests(), home


def left_behind(home: Path, timeout_s: float = 20.0):
    """Processes still running with this Codex run's HOME (the server, shims, vendors)."""
    return procs.wait_no_processes("", timeout_s, env=("HOME", exec_env(home)["HOME"]))


def tool_outputs(requests) -> list[str]:
    """What the model was given for each tool call, in order (the last request has them all)."""
    return [item["output"] if isinstance(item["output"], str) else json.dumps(item["output"])
            for item in requests[-1].body["input"] if item.get("type") == "function_call_output"]


def structured(output: str) -> dict:
    """The structuredContent Codex handed the model: "Wall time: S seconds\\nOutput:\\n<JSON>"."""
    return json.loads(output.split("Output:\n", 1)[1])


def test_codex_spawns_a_claude_worker_waits_and_lists_with_its_exact_usage(codex_world, mark):
    ws = codex_world["ws"]
    steps = [Call("spawn", {"provider": "claude", "task": "Say hello", "cwd": str(ws)}),
             Call("wait", {"agent_id": "${agent_id}", "timeout_seconds": WORKER_WAIT}),
             Call("list", {}),
             Answer("The worker answered: ${agents.0.final_message}")]
    run, requests, home = codex_turn(codex_world, steps, "Ask Claude to say hello.")
    assert run.returncode == 0, run.stderr[-3000:]
    calls = run.items("mcp_tool_call")
    assert [(c["server"], c["tool"], c["status"]) for c in calls] == [
        ("shims", "spawn", "completed"), ("shims", "wait", "completed"), ("shims", "list", "completed")]
    spawned, waited, listed = map(structured, tool_outputs(requests))
    assert spawned["status"] == "running" and spawned["provider"] == "claude"
    assert waited["status"] == "completed" and waited["final_message"] == PLAIN_TEXT
    # What reached Codex's model is exactly the shim's envelope, as its journal has it.
    result = json.loads((Path(waited["journal"]) / "result.json").read_text())
    assert waited["usage"] == result["usage"] and waited["session_id"] == result["session_id"]
    assert waited["usage"]["input_tokens"] == result["usage"]["input_tokens"] > 0
    assert waited["usage"]["cost_usd"] == result["usage"]["cost_usd"] is not None
    assert listed["agents"] == [waited]
    assert run.final_message() == f"The worker answered: {PLAIN_TEXT}"
    # The README's block as Codex reads it: no key it does not know (it would name each one).
    assert not [e for e in run.items("error") if "unrecognized configuration" in e.get("message", "")]
    assert left_behind(home) == []


def test_codex_cancels_a_running_worker(codex_world, mark):
    ws = codex_world["ws"]
    steps = [Call("spawn", {"provider": "claude", "task": "[scenario:stall] work for ever", "cwd": str(ws)}),
             Call("cancel", {"agent_id": "${agent_id}"}),
             Answer("Cancelled: ${status}")]
    run, requests, home = codex_turn(codex_world, steps, "Start a worker, then cancel it.")
    assert run.returncode == 0, run.stderr[-3000:]
    cancelled = structured(tool_outputs(requests)[1])
    assert (cancelled["status"], cancelled["failure_kind"]) == ("cancelled", "cancelled"), cancelled
    assert run.final_message() == "Cancelled: cancelled"
    assert left_behind(home) == []


def test_bad_arguments_from_the_model_are_tool_errors_and_the_server_lives_on(codex_world, mark):
    ws = codex_world["ws"]
    steps = [Call("spawn", {"provider": "codex", "task": "hi", "cwd": str(ws)}),
             Call("spawn", {"provider": "claude", "task": "hi", "cwd": "relative/dir"}),
             Call("spawn", {"provider": "claude", "task": "hi", "cwd": str(ws),
                            "resume_session_id": "--dangerously-skip-permissions"}),
             Call("spawn", {"provider": "claude", "task": "Say hello", "cwd": str(ws)}),
             Call("wait", {"agent_id": "${agent_id}", "timeout_seconds": WORKER_WAIT}),
             Answer("Done: ${final_message}")]
    run, requests, home = codex_turn(codex_world, steps, "Try a few spawns.")
    assert run.returncode == 0, run.stderr[-3000:]
    calls = run.items("mcp_tool_call")
    assert [c["status"] for c in calls] == ["failed", "failed", "failed", "completed", "completed"]
    outputs = tool_outputs(requests)
    assert "`provider`" in outputs[0] and "'claude', 'gemini' or 'agy'" in outputs[0]
    assert "cwd must be an absolute path" in outputs[1]
    assert "is not a session id" in outputs[2]
    assert structured(outputs[4])["status"] == "completed"
    assert run.final_message() == f"Done: {PLAIN_TEXT}"
    assert left_behind(home) == []


@pytest.mark.parametrize("how", ["turn ends", "SIGTERM", "SIGKILL"])
def test_codex_leaving_while_a_worker_runs_leaves_no_process(codex_world, mark, how):
    """Codex ends its turn (it SIGTERMs the server's group, closes its stdin, then SIGKILLs it),
    or dies mid-wait (the server sees only its stdin close): the worker ends either way."""
    ws = codex_world["ws"]
    stall = Call("spawn", {"provider": "claude", "task": "[scenario:stall] work for ever", "cwd": str(ws)})
    steps = [stall, Answer("Leaving the worker to it.")] if how == "turn ends" else \
        [stall, Call("wait", {"agent_id": "${agent_id}", "timeout_seconds": WORKER_WAIT}), Answer("unreached")]
    with FakeResponses(steps) as api:
        home = codex_home(codex_world, api)
        proc = start_exec("Start a worker.", home=home, cwd=ws, env=codex_world["env"])
        if how != "turn ends":
            _until_the_worker_streams(codex_world["anthropic"])
            os.kill(proc.pid, signal.SIGTERM if how == "SIGTERM" else signal.SIGKILL)
        run = finish(proc, timeout=120)
    if how == "turn ends":
        assert run.returncode == 0 and run.final_message() == "Leaving the worker to it.", run.stderr[-3000:]
    else:
        assert run.returncode == -(signal.SIGTERM if how == "SIGTERM" else signal.SIGKILL)
    assert left_behind(home) == []


def _until_the_worker_streams(anthropic, timeout_s: float = 60) -> None:
    """Claude has sent its stalled request: the worker is mid-run."""
    deadline = time.monotonic() + timeout_s
    while anthropic.calls < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert anthropic.calls >= 1, "the worker never reached the model"
    time.sleep(0.5)



def test_codexs_sandbox_does_not_reach_a_worker_its_mode_does(codex_world, mark, tmp_path):
    """Codex runs read-only here (sandbox_mode in its config), yet a `write` worker writes: the
    sandbox does not reach MCP servers, so the worker's mode is the only policy. A `read-only`
    worker asked to write is stopped by the shim's mode."""
    writable, readable = tmp_path / "writable", tmp_path / "readable"
    for folder in (writable, readable):
        folder.mkdir()
        subprocess.run(["git", "init", "-q", str(folder)], check=True)
    task = "[scenario:write] Create a file"
    steps = [Call("spawn", {"provider": "claude", "task": task, "cwd": str(writable), "mode": "write"}),
             Call("wait", {"agent_id": "${agent_id}", "timeout_seconds": WORKER_WAIT}),
             Call("spawn", {"provider": "claude", "task": task, "cwd": str(readable)}),
             Call("wait", {"agent_id": "${agent_id}", "timeout_seconds": WORKER_WAIT}),
             Answer("done")]
    run, requests, home = codex_turn(codex_world, steps, "Have two workers write.")
    assert run.returncode == 0, run.stderr[-3000:]
    assert 'sandbox_mode = "read-only"' in (home / "config.toml").read_text()
    outputs = tool_outputs(requests)
    wrote, refused = structured(outputs[1]), structured(outputs[3])
    assert (writable / "created-by-claude.txt").read_text() == "hello\n"
    assert wrote["status"] == "completed" and wrote["diff"]["files_changed"] == 1, wrote
    assert not (readable / "created-by-claude.txt").exists()
    assert refused["mode"] == "read-only" and refused["diff"] is None, refused
    assert left_behind(home) == []


def test_a_worker_out_of_quota_reaches_codexs_model_with_its_kind_and_reset_time(codex_world, mark):
    ws = codex_world["ws"]
    env = {**codex_world["env"], "CLAUDE_CODE_OAUTH_TOKEN": "sk-ant-oat01-fake"}
    del env["ANTHROPIC_API_KEY"]
    steps = [Call("spawn", {"provider": "claude", "task": "[scenario:usagelimit] hi", "cwd": str(ws)}),
             Call("wait", {"agent_id": "${agent_id}", "timeout_seconds": WORKER_WAIT}),
             Answer("Claude is out of quota until ${quota.resets_at}")]
    run, requests, home = codex_turn(codex_world, steps, "Ask Claude.", env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    waited = structured(tool_outputs(requests)[1])
    assert (waited["status"], waited["failure_kind"]) == ("failed", "quota_or_rate_limited"), waited
    assert waited["quota"]["state"] == "exhausted" and waited["quota"]["window"] == "5h"
    assert run.final_message() == "Claude is out of quota until 2026-11-24T15:07:11Z"
    assert left_behind(home) == []


def test_a_spawn_with_an_earlier_workers_session_id_continues_that_session(codex_world, mark):
    ws = codex_world["ws"]
    steps = [Call("spawn", {"provider": "claude", "task": "Say hello", "cwd": str(ws)}),
             Call("wait", {"agent_id": "${agent_id}", "timeout_seconds": WORKER_WAIT}),
             Call("spawn", {"provider": "claude", "task": "Again", "cwd": str(ws),
                            "resume_session_id": "${session_id}"}),
             Call("wait", {"agent_id": "${agent_id}", "timeout_seconds": WORKER_WAIT}),
             Answer("done")]
    run, requests, home = codex_turn(codex_world, steps, "Ask Claude twice.")
    assert run.returncode == 0, run.stderr[-3000:]
    outputs = tool_outputs(requests)
    first, second = structured(outputs[1]), structured(outputs[3])
    assert second["status"] == "completed" and second["session_id"] == first["session_id"]
    # The vendor saw the earlier turn: the second call's conversation holds the first prompt.
    last = json.dumps(codex_world["anthropic"].message_requests()[-1].body["messages"])
    assert "Say hello" in last and "Again" in last
    assert left_behind(home) == []
