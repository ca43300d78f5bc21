"""The real Codex CLI 0.169.0 as an MCP host (tests/host/codex_cli.py), proved with a throwaway
stand-in MCP server written here: codex calls `spawn`, then `wait` with the agent_id spawn gave,
then answers quoting wait's output, all offline against the fake Responses API. The owner's tests
of `shims mcp` use the same driver with the real server."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import procs
import pytest
from fakes.fake_responses import Answer, Call, FakeResponses, usage_for_call
from host.codex_bin import codex_bin
from host.codex_cli import WAIT_FOR_MCP_SERVERS, make_codex_home, run_exec

pytestmark = [pytest.mark.slow, pytest.mark.realcli,
              pytest.mark.skipif(codex_bin() is None, reason="run `make codex-cli` first")]

pytest.importorskip("mcp", reason="the stand-in server needs the mcp SDK (mcp==2.3.0)")

WORKER_USAGE = {"input_tokens": 1234, "output_tokens": 56}

# A stand-in for `shims mcp`: the two tools the script calls, each result carrying
# structuredContent (what Codex hands the model) and a text content block (what it does not).
STANDIN = textwrap.dedent('''
    import json, os, sys
    import anyio
    import mcp_types as types
    from mcp.server.lowlevel.server import Server
    from mcp.server.stdio import stdio_server

    SCHEMA = {"type": "object", "properties": {"prompt": {"type": "string"}, "agent_id": {"type": "string"}}}
    TOOLS = [types.Tool(name="spawn", description="Start a worker.", input_schema=SCHEMA),
             types.Tool(name="wait", description="Wait for a worker.", input_schema=SCHEMA)]
    USAGE = json.loads(os.environ["STANDIN_USAGE"])

    async def list_tools(ctx, params):
        return types.ListToolsResult(tools=TOOLS)

    async def call_tool(ctx, params):
        args = params.arguments or {}
        with open(os.environ["STANDIN_CALLS"], "a") as f:
            f.write(json.dumps({"name": params.name, "arguments": args}) + "\\n")
        if params.name == "spawn":
            out = {"agent_id": "a1", "status": "running"}
        else:
            out = {"agent_id": args.get("agent_id"), "status": "completed",
                   "final_message": "The worker says hi.", "usage": USAGE}
        return types.CallToolResult(content=[types.TextContent(type="text", text="text side: " + params.name)],
                                    structured_content=out)

    server = Server("standin", on_list_tools=list_tools, on_call_tool=call_tool)

    async def main():
        async with stdio_server() as (r, w):
            await server.run(r, w, server.create_initialization_options())

    anyio.run(main)
''')


def mcp_block(script: Path) -> str:
    """The server block as a user would write it. Codex passes a stdio server only a few
    variables (HOME, PATH, LANG, SHELL, TERM, ...), so the ones it needs are named in env_vars;
    the test mark is among them so the no-leftover check sees the server too."""
    return textwrap.dedent(f'''
        [mcp_servers.shims]
        command = {json.dumps(sys.executable)}
        args = [{json.dumps(str(script))}]
        env_vars = ["STANDIN_CALLS", "STANDIN_USAGE", "{procs.MARK_ENV}"]
        required = true
        startup_timeout_sec = 60
        tool_timeout_sec = 60
        default_tools_approval_mode = "approve"
    ''')


def test_codex_calls_spawn_then_wait_and_quotes_the_worker(tmp_path, full_env):
    script = tmp_path / "standin_mcp.py"
    script.write_text(STANDIN)
    calls_log = tmp_path / "calls.jsonl"
    env = {**full_env, "STANDIN_CALLS": str(calls_log), "STANDIN_USAGE": json.dumps(WORKER_USAGE)}
    steps = [Call("spawn", {"prompt": "Say hi"}),
             Call("wait", {"agent_id": "${agent_id}"}),
             Answer("The worker finished: ${final_message} (usage ${usage})")]

    with FakeResponses(steps) as api:
        home = make_codex_home(tmp_path / "codex-home", api.base_url, mcp_toml=mcp_block(script),
                               extra_toml=WAIT_FOR_MCP_SERVERS)
        run = run_exec("Ask a worker to say hi.", home=home, cwd=tmp_path / "ws", env=env)
        requests = api.response_requests()

    assert run.returncode == 0, run.stderr
    assert not run.bad_lines
    # The server saw spawn, then wait with the agent_id spawn returned.
    calls = [json.loads(line) for line in calls_log.read_text().splitlines()]
    assert calls == [{"name": "spawn", "arguments": {"prompt": "Say hi"}},
                     {"name": "wait", "arguments": {"agent_id": "a1"}}]
    # The stream shows both calls as mcp_tool_call items, completed, with the structured result.
    tool_items = run.items("mcp_tool_call")
    assert [(i["server"], i["tool"], i["status"]) for i in tool_items] == [
        ("shims", "spawn", "completed"), ("shims", "wait", "completed")]
    assert tool_items[1]["arguments"] == {"agent_id": "a1"}
    assert tool_items[1]["result"]["structured_content"]["usage"] == WORKER_USAGE
    # Codex offered the tools in the namespace mcp__shims; the model got the structured content.
    assert [r.played.namespace for r in requests[:2]] == ["mcp__shims", "mcp__shims"]
    wait_output = requests[2].body["input"][-1]
    assert wait_output["type"] == "function_call_output"
    assert '"usage":{"input_tokens":1234,"output_tokens":56}' in wait_output["output"]
    assert "text side" not in wait_output["output"]
    # The answer quotes what wait gave the model, worker usage included.
    assert run.final_message() == ('The worker finished: The worker says hi. '
                                   '(usage {"input_tokens":1234,"output_tokens":56})')
    # The turn's usage is the sum of the three model calls of the fake.
    usage = [e for e in run.events if e["type"] == "turn.completed"][-1]["usage"]
    assert usage["input_tokens"] == sum(usage_for_call(n)["input_tokens"] for n in (1, 2, 3))
    assert usage["output_tokens"] == sum(usage_for_call(n)["output_tokens"] for n in (1, 2, 3))
