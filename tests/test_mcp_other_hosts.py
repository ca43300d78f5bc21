"""`shims mcp` under the REAL pinned Claude Code and Gemini CLIs as MCP hosts, each configured by
the one-liner the README shows and run headless against its loopback fake API: the scripted
model (scenario `shims-spawn-wait`) calls spawn, then wait with the agent_id spawn returned, then
answers quoting wait's result, which must carry the fake worker's answer and exact usage."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path

import procs
import pytest
from conftest import BIN, FAKE_VENDOR
from fakes.claude_env import CLAUDE_BIN, claude_env
from fakes.fake_anthropic import FakeAnthropic
from fakes.fake_gemini import FakeGemini
from fakes.gemini_env import GEMINI_BIN, gemini_env

pytestmark = [pytest.mark.realcli, pytest.mark.slow]

# What the README shows, verbatim: the one-liner that registers `shims mcp` with each host, and
# what a headless run (-p) adds so that the model may call its tools.
CLAUDE_ONE_LINER = "claude mcp add --scope user shims -- shims mcp"
CLAUDE_HEADLESS = "--allowedTools mcp__shims"  # every tool of the server `shims`
GEMINI_ONE_LINER = "gemini mcp add --scope user --trust shims shims mcp"
GEMINI_HEADLESS = "--skip-trust"  # or GEMINI_CLI_TRUST_WORKSPACE=true, or a trusted folder
# What GEMINI_ONE_LINER writes to ~/.gemini/settings.json (the same by hand).
GEMINI_SETTINGS = {"mcpServers": {"shims": {"command": "shims", "args": ["mcp"], "trust": True}}}

# Test-only server options after the one-liner's own: workers on the fake vendor (shim-fake).
SERVER_ARGS = ["--providers", "fake"]
PROMPT = "[scenario:shims-spawn-wait] Ask a fake worker to say hello"
WORKER_ANSWER = "Hello! You said: hello there"  # fake_vendor.py's default script, task "hello there"
WORKER_INPUT_TOKENS = 125

for binary in (CLAUDE_BIN, GEMINI_BIN):
    if not binary.exists():  # pragma: no cover - make test installs them first
        pytest.fail(f"the pinned CLI {binary} is missing: run `make vendor-clis`", pytrace=False)


def test_the_readme_shows_these_one_liners():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for text in (CLAUDE_ONE_LINER, CLAUDE_HEADLESS, GEMINI_ONE_LINER, GEMINI_HEADLESS):
        assert text in readme, text
    assert json.dumps(GEMINI_SETTINGS) in readme


def one_liner_argv(one_liner: str, pinned: Path) -> list[str]:
    """The README's one-liner with the pinned CLI for its program name, plus the test's server options."""
    program, *rest = shlex.split(one_liner)
    assert program == pinned.name
    return [str(pinned), *rest, *SERVER_ARGS]


@pytest.fixture
def host_env(mark, private_state, tmp_path):
    """What every host run adds to its CLI's clean env: `shims` on PATH, the fake vendor's config,
    the test's private state and process mark (which the CLI passes on to `shims mcp`)."""
    config = tmp_path / "shims.toml"
    config.write_text(f'[fake]\nvendor_bin = "{FAKE_VENDOR}"\n')
    env = {"PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
           "CODEX_SHIMS_CONFIG": str(config), procs.MARK_ENV: mark, **private_state}
    if "PYTHONPATH" in os.environ:  # a worktree run: its code, not the venv's editable install
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return env


@pytest.fixture
def folders(tmp_path):
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    return home, work


def run(argv, env, cwd, timeout=180):
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    return proc.returncode, [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")], proc


def the_worker_ran_here(private_state, cwd: Path) -> dict:
    """The result.json the worker's shim journaled in the test's own state folder (so the host
    passed the test's env, mark included, on to `shims mcp`)."""
    results = [json.loads(p.read_text()) for p in Path(private_state["XDG_STATE_HOME"]).rglob("result.json")]
    assert len(results) == 1, results
    assert results[0]["final_message"] == WORKER_ANSWER
    return results[0]


def test_claude_code_calls_spawn_then_wait(folders, host_env, private_state):
    home, work = folders
    with FakeAnthropic() as api:
        env = {**claude_env(api.base_url, home), **host_env}
        added = subprocess.run(one_liner_argv(CLAUDE_ONE_LINER, CLAUDE_BIN), env=env, cwd=work,
                               capture_output=True, text=True, timeout=60)
        assert added.returncode == 0, added.stderr
        rc, events, proc = run([str(CLAUDE_BIN), "-p", PROMPT, "--output-format", "stream-json", "--verbose",
                                *shlex.split(CLAUDE_HEADLESS)], env, work)
    assert rc == 0, proc.stderr
    init = events[0]
    # The server may still be connecting when the first request goes out (status pending or connected).
    assert init["subtype"] == "init" and [(s["name"], s["source"]) for s in init["mcp_servers"]] == [("shims", "user")]
    calls = [b for e in events if e["type"] == "assistant" for b in e["message"]["content"] if b["type"] == "tool_use"]
    assert [c["name"] for c in calls] == ["mcp__shims__spawn", "mcp__shims__wait"]
    assert calls[0]["input"] == {"provider": "fake", "task": "hello there", "cwd": str(work)}
    results = {b["tool_use_id"]: e["tool_use_result"] for e in events if e["type"] == "user"
               for b in e["message"]["content"] if b["type"] == "tool_result"}
    spawned, waited = (results[c["id"]]["structuredContent"] for c in calls)
    assert spawned["status"] == "running" and calls[1]["input"]["agent_id"] == spawned["agent_id"]
    assert waited["status"] == "completed" and waited["agent_id"] == spawned["agent_id"]
    final = events[-1]
    assert final["type"] == "result" and final["subtype"] == "success" and not final["permission_denials"]
    # The model reads structuredContent (as JSON) and quotes it: the worker's answer and exact usage.
    quoted = json.loads(final["result"].split("wait returned: ", 1)[1])
    assert quoted["final_message"] == WORKER_ANSWER
    assert quoted["usage"]["input_tokens"] == WORKER_INPUT_TOKENS
    assert quoted["usage"] == the_worker_ran_here(private_state, work)["usage"]


def test_claude_code_without_the_headless_permission_denies_the_tools(folders, host_env, private_state):
    home, work = folders
    with FakeAnthropic() as api:
        env = {**claude_env(api.base_url, home), **host_env}
        subprocess.run(one_liner_argv(CLAUDE_ONE_LINER, CLAUDE_BIN), env=env, cwd=work, check=True,
                       capture_output=True, timeout=60)
        rc, events, _ = run([str(CLAUDE_BIN), "-p", PROMPT, "--output-format", "stream-json", "--verbose"], env, work)
    denied = [e["tool_name"] for e in events if e.get("subtype") == "permission_denied"]
    assert denied == ["mcp__shims__spawn", "mcp__shims__wait"]
    assert WORKER_ANSWER not in events[-1]["result"]
    assert not list(Path(private_state["XDG_STATE_HOME"]).rglob("result.json")), "no worker may have run"


def test_gemini_cli_calls_spawn_then_wait(folders, host_env, private_state):
    home, work = folders
    with FakeGemini() as api:
        env = {**gemini_env(api.base_url, home), **host_env}
        added = subprocess.run(one_liner_argv(GEMINI_ONE_LINER, GEMINI_BIN), env=env, cwd=work,
                               capture_output=True, text=True, timeout=60)
        assert added.returncode == 0, added.stderr
        written = json.loads((home / ".gemini" / "settings.json").read_text())["mcpServers"]
        expected = GEMINI_SETTINGS["mcpServers"]["shims"]
        assert written == {"shims": {**expected, "args": [*expected["args"], *SERVER_ARGS]}}
        rc, events, proc = run([str(GEMINI_BIN), "-p", PROMPT, "-o", "stream-json", "-m", "gemini-2.5-flash",
                                *shlex.split(GEMINI_HEADLESS)], env, work)
    assert rc == 0, proc.stderr
    calls = [e for e in events if e["type"] == "tool_use"]
    assert [c["tool_name"] for c in calls] == ["mcp_shims_spawn", "mcp_shims_wait"]
    assert calls[0]["parameters"] == {"provider": "fake", "task": "hello there", "cwd": str(work)}
    results = {e["tool_id"]: e for e in events if e["type"] == "tool_result"}
    spawned, waited = (results[c["tool_id"]] for c in calls)
    assert spawned["status"] == waited["status"] == "success"
    agent_id = calls[1]["parameters"]["agent_id"]
    assert f"worker {agent_id} running" in spawned["output"] and f"worker {agent_id} completed" in waited["output"]
    assert events[-1]["type"] == "result" and events[-1]["status"] == "success"
    assert events[-1]["stats"]["tool_calls"] == 2
    # The model reads the text copy and quotes it: the worker's answer and exact input tokens.
    answer = "".join(e["content"] for e in events if e["type"] == "message" and e["role"] == "assistant")
    quoted = answer.split("wait returned: ", 1)[1]
    assert f"answer: {WORKER_ANSWER}" in quoted and f" {WORKER_INPUT_TOKENS} input tokens " in quoted
    # Gemini gives its model only the text: the second block is the whole view, serialized, so
    # nothing of it is lost to a text-only host (the answer uncut, the exact usage, the journal).
    view = json.loads(quoted[quoted.index('{"agent_id"'):quoted.rindex("}") + 1])
    journaled = the_worker_ran_here(private_state, work)
    assert view["final_message"] == WORKER_ANSWER and view["usage"] == journaled["usage"]
    assert view["session_id"] == journaled["session_id"] and view["journal"]


def test_gemini_cli_without_trust_does_not_declare_the_tools(folders, host_env, private_state):
    home, work = folders
    untrusted = GEMINI_ONE_LINER.replace(" --trust", "")
    with FakeGemini() as api:
        env = {**gemini_env(api.base_url, home), **host_env}
        subprocess.run(one_liner_argv(untrusted, GEMINI_BIN), env=env, cwd=work, check=True, capture_output=True,
                       timeout=60)
        rc, events, _ = run([str(GEMINI_BIN), "-p", PROMPT, "-o", "stream-json", "-m", "gemini-2.5-flash",
                             *shlex.split(GEMINI_HEADLESS)], env, work)
        declared = {d["name"] for r in api.message_requests() for t in (r.body or {}).get("tools") or []
                    for d in t.get("functionDeclarations") or []}
    assert not {n for n in declared if n.startswith("mcp_")}, declared
    kinds = [e["error"]["type"] for e in events if e["type"] == "tool_result"]
    assert kinds == ["tool_not_registered", "tool_not_registered"]
    assert not list(Path(private_state["XDG_STATE_HOME"]).rglob("result.json")), "no worker may have run"
