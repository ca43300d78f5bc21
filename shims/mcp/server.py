"""`shims mcp`: the tools on the official `mcp` SDK's stdio server, and the server's lifecycle.

Tools (names and statuses as codex-lab's agent bridge, so its users can switch):
  spawn  -> the new worker's view (status running), at once
  wait   -> the view once the worker ended or the wait timed out; progress notifications carry
            each item the worker finished, one line each
  cancel -> the view once the worker has ended (the shim's own cancel ladder)
  list   -> {"agents": [view, ...]}, every worker of this server
Every result is structuredContent plus a short text copy; a refused call is a tool error
(isError) whose text says what to change, and the server goes on.

The host closing stdin, SIGTERM, SIGINT or SIGHUP cancels every running worker at once; the
server exits when each has ended (within the shims' cancel ladder).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from typing import Any

import mcp_types as types
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

from shims import __version__
from shims.mcp.arguments import (
    CancelArgs,
    Limits,
    ListArgs,
    ToolArgumentError,
    WaitArgs,
    input_schema,
    parse,
    spawn_model,
)
from shims.mcp.views import agent_view, summary
from shims.mcp.workers import Worker, Workers

LEAVE_GRACE_S = 2.0  # for the SDK to write its last answers once the host closed stdin

DESCRIPTIONS = {
    "spawn": "Start a worker: another vendor's coding agent (Claude Code, Gemini CLI or Antigravity) on a task, "
             "in a folder, under a sandbox mode. Returns at once with its agent_id and status running; call wait "
             "for its answer. Results carry a typed status, the exact token usage and cost, quota and reset time, "
             "the diff, and the run's journal.",
    "wait": "Wait for a worker to end, up to timeout_seconds (at most the server's wait limit), and return its "
            "status, final_message, failure_kind, error, session_id, usage, quota, diff, attempts, elapsed_seconds "
            "and journal. status running means the wait ended first: call wait again.",
    "cancel": "Stop a worker and every process it started; returns its final view (status cancelled unless it "
              "had already ended).",
    "list": "Every worker of this server, running or ended, with its current view.",
}


def build_server(workers: Workers, limits: Limits) -> Server:
    spawn_args = spawn_model(limits)
    models = {"spawn": spawn_args, "wait": WaitArgs, "cancel": CancelArgs, "list": ListArgs}
    tools = [types.Tool(name=name, description=DESCRIPTIONS[name], input_schema=input_schema(model))
             for name, model in models.items()]
    default_cwd = os.getcwd()

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tools)

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        model = models.get(params.name)
        if model is None:
            return _refusal(f"There is no tool {params.name[:60]!r}; the tools are {', '.join(models)}.")
        try:
            args = parse(model, params.name, params.arguments)
            if params.name == "spawn":
                worker = await workers.spawn(args, default_cwd)
                return _answer(agent_view(worker.facts()))
            if params.name == "list":
                return _answer({"agents": [agent_view(w.facts()) for w in workers.all()]},
                               text=f"{len(workers.running())} running, {len(workers.all())} in all")
            worker = workers.get(args.agent_id)
            if params.name == "cancel":
                await workers.cancel(worker)
            else:
                wait_s = limits.wait_limit if args.timeout_seconds is None else min(args.timeout_seconds,
                                                                                   limits.wait_limit)
                await _wait(worker, wait_s, ctx)
            return _answer(agent_view(worker.facts()))
        except (ToolArgumentError, LookupError, OverflowError, FileNotFoundError) as exc:
            return _refusal(str(exc))
        except OSError as exc:  # the shim could not be started (a cwd gone since the check, ...)
            return _refusal(f"{params.name}: the worker could not be started: {exc}")

    return Server("codex-shims", version=__version__, on_list_tools=list_tools, on_call_tool=call_tool)


async def _wait(worker: Worker, wait_s: float, ctx: Any) -> None:
    """Until the worker ends or wait_s passed, sending each newly finished item as progress."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    while True:
        worker.changed.clear()
        for ordinal, line in worker.take_progress():
            await ctx.session.report_progress(ordinal, None, line)
        left = deadline - loop.time()
        if worker.done.is_set() or left <= 0:
            return
        try:
            await asyncio.wait_for(worker.changed.wait(), left)
        except TimeoutError:
            pass


def _answer(view: dict[str, Any], text: str | None = None) -> types.CallToolResult:
    """structuredContent, and as text a one-line summary and the same object serialized, as the
    MCP spec asks of a tool with structured results: some hosts give their model only the text
    (Gemini CLI 0.61 does; Codex and Claude Code give it the structuredContent)."""
    serialized = json.dumps(view, ensure_ascii=False, separators=(",", ":"))
    return types.CallToolResult(content=[types.TextContent(type="text", text=text or summary(view)),
                                         types.TextContent(type="text", text=serialized)],
                                structured_content=view)


def _refusal(message: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=message)], is_error=True)


async def serve(limits: Limits) -> int:
    """Serve until the host closes stdin (0) or signals the server (128 + the signal); either
    way every worker is cancelled, and has ended, before this returns."""
    workers = Workers(limits)
    server = build_server(workers, limits)
    loop = asyncio.get_running_loop()
    stopped: asyncio.Future[int] = loop.create_future()
    for signo in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(signo, lambda s=signo: stopped.done() or stopped.set_result(s))
    async with stdio_server() as (read_stream, write_stream):
        serving = asyncio.ensure_future(server.run(read_stream, write_stream, server.create_initialization_options()))
        try:
            await asyncio.wait({serving, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await workers.shut_down()
        if stopped.done():
            # The SDK reads stdin in a thread that stays blocked in read() until the host closes
            # it, and leaving stdio_server waits for that thread: every worker has ended and
            # nothing is owed on the wire, so the server leaves here.
            _leave(128 + stopped.result())
        # Leaving stdio_server also waits for the SDK's stdout writer, a thread that stays blocked
        # in write() while a host that closed stdin still holds stdout without reading it (the
        # progress it never read fills the pipe). Every worker has ended: past a grace for the
        # last answers, the server leaves without it.
        loop.call_later(LEAVE_GRACE_S, _leave, 0)
        await asyncio.gather(serving, return_exceptions=True)
    return 0


def _leave(code: int) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main(limits: Limits) -> None:
    sys.exit(asyncio.run(serve(limits)))
