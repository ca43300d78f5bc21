#!/usr/bin/env python3
"""A fake Anthropic Messages API on 127.0.0.1, for running the real Claude Code CLI offline.

What it serves (claude.md §2.3):

  POST /v1/messages[?beta=true]        SSE when the body has stream:true, a JSON message otherwise
  POST /v1/messages/count_tokens       {"input_tokens": 42}
  GET  /v1/models, /v1/models/{id}     a small model list / one model
  HEAD|GET /api/hello                  200
  anything else                        404 with the Anthropic error body

What it answers is chosen by a token `[scenario:NAME]` anywhere in the text of the FIRST user
message (no token: `plain`). When the LAST user message holds a `tool_result`, the scenario
moves on to its next step (the answer after the tool). See SCENARIOS below for the list;
`shims-spawn-wait` plays a host model driving `shims mcp`: it calls mcp__shims__spawn (a fake
worker in the CLI's working directory), then mcp__shims__wait with the agent_id read from spawn's
tool_result, then answers "The worker finished. wait returned: <wait's tool_result>".

Structured output (`claude -p --json-schema S`): the CLI declares a tool `StructuredOutput` whose
`input_schema` is S and ends the turn once the model has called it with valid input (no
system-prompt text, no tool_choice). The `structured*` scenarios play the model's part: they
call that tool with `example_of(S)`, a value made from the schema the request declared.

Usage is deterministic: the n-th /v1/messages call of the server's life (n from 1, every call
counts, failed ones too) reports input=100+n, cache_write=1000*n, cache_read=20000+n and
output=17+n; `usage_for_call(n)` computes it.

Library use:

    with FakeAnthropic() as api:            # binds 127.0.0.1, port 0
        env["ANTHROPIC_BASE_URL"] = api.base_url
        ...
        api.requests[-1].body["messages"]   # every request, recorded
        api.calls                           # /v1/messages calls so far

Command line (standard library only, any python3):

    python tests/fakes/fake_anthropic.py [--port N] [--port-file F] [--log]

prints `listening http://127.0.0.1:PORT` and serves until SIGTERM/SIGINT.
"""

from __future__ import annotations

import functools
import json
import re
import select
import socket
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote, urlsplit

try:  # imported from the tests' package `fakes`, or run as a script from tests/fakes/
    from fakes.loopback import (
        HOST,
        LoopbackFake,
        LoopbackHandler,
        command_line,
        serve_until_signalled,
        stderr_log,
    )
except ImportError:
    from loopback import HOST, LoopbackFake, LoopbackHandler, command_line, serve_until_signalled, stderr_log

DEFAULT_MODEL = "claude-opus-5-5"
MODELS = [
    ("claude-opus-5-5", "Claude Opus 5.5"),
    ("claude-sonnet-5-5", "Claude Sonnet 5.5"),
    ("claude-haiku-4-5", "Claude Haiku 4.5"),
]
SCENARIO_RE = re.compile(r"\[scenario:([A-Za-z0-9_.-]+)\]")
CWD_RE = re.compile(r"(?:Primary working directory|Working directory|Current working directory)\s*:\s*(\S[^\n]*)")

# Subscription quota (claude.md §2.4, §4.6): epoch seconds.
RESET_5H = 1795532831
RESET_7D = 1795792031

PLAIN_TEXT = "Hello from the fake model."
LONG_CHARS = 200_000
LONG_CHUNK = 4096


# ---------------------------------------------------------------- usage


def usage_for_call(n: int) -> dict[str, int]:
    """Final usage of the n-th /v1/messages call of a server's life (n from 1)."""
    return {
        "input_tokens": 100 + n,
        "cache_creation_input_tokens": 1000 * n,
        "cache_read_input_tokens": 20000 + n,
        "output_tokens": 17 + n,
    }


def start_usage(n: int) -> dict[str, Any]:
    """The usage in message_start: the input side of usage_for_call(n), output_tokens 1."""
    u = usage_for_call(n)
    return {
        "input_tokens": u["input_tokens"],
        "cache_creation_input_tokens": u["cache_creation_input_tokens"],
        "cache_read_input_tokens": u["cache_read_input_tokens"],
        "cache_creation": {
            "ephemeral_5m_input_tokens": u["cache_creation_input_tokens"],
            "ephemeral_1h_input_tokens": 0,
        },
        "output_tokens": 1,
        "service_tier": "standard",
    }


def final_usage(n: int) -> dict[str, Any]:
    """The usage of a complete non-streaming message."""
    return {**start_usage(n), "output_tokens": usage_for_call(n)["output_tokens"]}


# ---------------------------------------------------------------- scenarios


@dataclass
class Block:
    """One content block of an answer."""

    kind: str  # text | thinking | tool_use
    text: str = ""  # text / thinking
    chunks: int = 3  # how many deltas the text is split into
    signature: str = ""  # thinking
    name: str = ""  # tool_use
    input: dict[str, Any] = field(default_factory=dict)


@dataclass
class Answer:
    blocks: list[Block]
    stop_reason: str = "end_turn"
    pace: float = 0.0  # seconds between text deltas
    chunk_size: int = 0  # >0: split text into deltas of this many characters


@dataclass
class Ctx:
    """What a scenario may use to build its answer."""

    cwd: str | None
    model: str
    step: int  # 0 = first call of the turn, 1 = after the first tool_result, ...
    # The input_schema of the request's StructuredOutput tool (claude --json-schema), if declared.
    output_schema: dict[str, Any] | None = None
    # The text of the last user message's tool_results (what the previous tool call returned).
    tool_result: str = ""
    # The names of the tools the request declares.
    tools: tuple[str, ...] = ()

    def path(self, name: str) -> str:
        return f"{self.cwd.rstrip('/')}/{name}" if self.cwd else name


def _text(t: str, chunks: int = 3) -> Block:
    return Block("text", text=t, chunks=chunks)


def _tool(name: str, inp: dict[str, Any]) -> Block:
    return Block("tool_use", name=name, input=inp)


def tool_round_trip(intro: str, name: str, make_input: Callable[[Ctx], dict[str, Any]], final: str):
    """A scenario of one tool call: intro text + tool_use, then (after the tool_result) final text."""

    def build(ctx: Ctx) -> Answer:
        if ctx.step == 0:
            return Answer([_text(intro, 2), _tool(name, make_input(ctx))], stop_reason="tool_use")
        return Answer([_text(final, 2)])

    return build


def _plain(ctx: Ctx) -> Answer:
    return Answer([_text(PLAIN_TEXT, 3)])


def _thinking(ctx: Ctx) -> Answer:
    return Answer([
        Block("thinking", text="Let me think about this.", chunks=1, signature="sig-fake"),
        _text("After thinking: hello from the fake model.", 3),
    ])


@functools.cache
def long_text() -> str:
    """The 200 000-character answer of `long`: numbered lines of 100 characters."""
    line = "the quick brown fox jumps over the lazy dog, again and again, for a long streamed answer"
    lines = (f"{i:06d} {line}".ljust(99, ".") + "\n" for i in range(1, LONG_CHARS // 100 + 2))
    return "".join(lines)[:LONG_CHARS]


def _long(ctx: Ctx) -> Answer:
    return Answer([_text(long_text())], chunk_size=LONG_CHUNK)


def _slow(ctx: Ctx) -> Answer:
    text = "".join(f"Slow part {i + 1} of 10. " for i in range(10))
    return Answer([_text(text, 10)], pace=0.3)


def _live(ctx: Ctx) -> Answer:
    """For the live view: an intro streamed in paced deltas, a command that takes a while and
    prints, then an answer streamed the same way (so a screen can be read mid-answer)."""
    if ctx.step == 0:
        intro = "".join(f"Intro part {i + 1} of 6. " for i in range(6))
        return Answer([_text(intro, 6), _tool("Bash", {"command": "sleep 1.5; echo live-one; echo live-two",
                                                       "description": "Wait, then print"})],
                      stop_reason="tool_use", pace=0.4)
    return Answer([_text("".join(f"Answer part {i + 1} of 8. " for i in range(8)), 8)], pace=0.4)


STRUCTURED_TOOL = "StructuredOutput"  # the tool Claude Code 2.1.331 declares for --json-schema
STRUCTURED_INTRO = "Here is the structured answer."


def example_of(schema: Any, name: str = "value") -> Any:
    """A value that satisfies the common JSON Schema keywords (type, properties, required,
    items, enum, const, anyOf/oneOf, minimum, minItems): what the scripted model answers."""
    if not isinstance(schema, dict):
        return "fake"
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            return example_of(schema[key][0], name)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), kind[0] if kind else None)
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
    if kind == "object":
        props = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
        return {k: example_of(v, k) for k, v in props.items()}
    if kind == "array":
        return [example_of(schema.get("items"), name) for _ in range(max(1, int(schema.get("minItems") or 1)))]
    if kind in ("integer", "number"):
        low = schema.get("minimum")
        base = low if isinstance(low, int | float) and not isinstance(low, bool) else 1
        return int(base) if kind == "integer" else base + 0.5
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return f"fake {name}"


def _structured(ctx: Ctx) -> Answer:
    """A model that answers through the StructuredOutput tool at once (the CLI ends the turn on
    a valid call, so there is no step 1 unless the input was refused)."""
    if ctx.output_schema is None:
        return _plain(ctx)
    return Answer([_text(STRUCTURED_INTRO, 2), _tool(STRUCTURED_TOOL, example_of(ctx.output_schema))],
                  stop_reason="tool_use")


def _structured_retry(ctx: Ctx) -> Answer:
    """First a StructuredOutput call the schema refuses (an empty object), then a valid one."""
    if ctx.output_schema is None:
        return _plain(ctx)
    if ctx.step == 0:
        return Answer([_tool(STRUCTURED_TOOL, {})], stop_reason="tool_use")
    return _structured(ctx)


def _structured_never(ctx: Ctx) -> Answer:
    """A model that only ever calls StructuredOutput with an empty object (refused each time)."""
    if ctx.output_schema is None:
        return _plain(ctx)
    return Answer([_tool(STRUCTURED_TOOL, {})], stop_reason="tool_use")


SHIMS_TASK = "hello there"  # the fake worker answers "Hello! You said: hello there"
AGENT_ID_RE = re.compile(r"\bworker ([0-9a-f]{12})\b|\"agent_id\":\s*\"([0-9a-f]{12})\"")


def shims_tool(ctx: Ctx, tool: str) -> str:
    """The name the host gave `shims mcp`'s tool: Claude Code calls it mcp__<server>__<tool>."""
    return next((t for t in ctx.tools if t.startswith("mcp__") and t.endswith(f"__{tool}")), f"mcp__shims__{tool}")


def agent_id_in(text: str) -> str:
    m = AGENT_ID_RE.search(text)
    return (m.group(1) or m.group(2)) if m else "no-agent-id-in-the-spawn-result"


def _shims_spawn_wait(ctx: Ctx) -> Answer:
    """A host model driving `shims mcp`: spawn a fake worker in the CLI's working directory, wait
    for it with the agent_id spawn returned, then answer quoting what wait returned."""
    if ctx.step == 0:
        return Answer([_text("Let me start a worker.", 2), _tool(shims_tool(ctx, "spawn"), {
            "provider": "fake", "task": SHIMS_TASK, "cwd": ctx.cwd or "."})], stop_reason="tool_use")
    if ctx.step == 1:
        return Answer([_text("Now I wait for it.", 2), _tool(shims_tool(ctx, "wait"), {
            "agent_id": agent_id_in(ctx.tool_result), "timeout_seconds": 30})], stop_reason="tool_use")
    return Answer([_text(f"The worker finished. wait returned: {ctx.tool_result}", 2)])


SCENARIOS: dict[str, Callable[[Ctx], Answer]] = {
    "plain": _plain,
    "tool": tool_round_trip(
        "Let me run a command.", "Bash",
        lambda c: {"command": "echo hello-from-tool", "description": "Say hello"},
        "The command printed hello-from-tool."),
    "write": tool_round_trip(
        "Let me write the file.", "Write",
        lambda c: {"file_path": c.path("created-by-claude.txt"), "content": "hello\n"},
        "Wrote the file."),
    "edit": tool_round_trip(
        "Let me edit the file.", "Edit",
        lambda c: {"file_path": c.path("hello.txt"), "old_string": "hello", "new_string": "hello, edited"},
        "Edited the file."),
    "read": tool_round_trip(
        "Let me read the file.", "Read",
        lambda c: {"file_path": c.path("hello.txt")},
        "Read the file."),
    "todo": tool_round_trip(
        "Let me plan this.", "TodoWrite",
        lambda c: {"todos": [
            {"content": "step one", "status": "completed", "activeForm": "Doing step one"},
            {"content": "step two", "status": "pending", "activeForm": "Doing step two"},
        ]},
        "Updated the todo list."),
    "websearch": tool_round_trip(
        "Let me search the web.", "WebSearch",
        lambda c: {"query": "codex shims"},
        "Searched the web."),
    "mcp": tool_round_trip(
        "Let me find the files.", "Glob",
        lambda c: {"pattern": "*.py"},
        "Found the files."),
    # A tool that prints the API key the CLI runs with: it must never reach the shim's journal.
    "echokey": tool_round_trip(
        "Let me check the environment.", "Bash",
        lambda c: {"command": 'echo "key=$ANTHROPIC_API_KEY"', "description": "Print the key"},
        "The command printed the key."),
    # A shell command that leaves a marker file: it must not run unless the mode allows shell
    # commands (the argument-injection tests: a hostile value must not grant it).
    "marker": tool_round_trip(
        "Let me leave a marker.", "Bash",
        lambda c: {"command": "echo injected > injected-marker.txt", "description": "Write a marker"},
        "Done."),
    "thinking": _thinking,
    "shims-spawn-wait": _shims_spawn_wait,
    "structured": _structured,
    "structured-retry": _structured_retry,
    "structured-never": _structured_never,
    "long": _long,
    "slow": _slow,
    "live": _live,
    "slowtool": tool_round_trip(
        "Let me run a slow command.", "Bash",
        lambda c: {"command": 'python3 -c "import time; time.sleep(30)"', "description": "Wait 30 seconds"},
        "done"),
    # The rest are handled by FakeAnthropic._messages (failures), answering like plain when they succeed.
    "quotawarn": _plain,
    "drop": _plain,
    "flaky529": _plain,
    "midstream-error": _plain,
    "stall": _plain,
}

# scenario -> (HTTP status, error type, message); every call
ERRORS: dict[str, tuple[int, str, str]] = {
    "rate429": (429, "rate_limit_error",
                "This request would exceed the rate limit for your organization of 50 requests per minute (fake)."),
    "rate429-noheaders": (429, "rate_limit_error", "Rate limited (fake)."),
    "overloaded529": (529, "overloaded_error", "Overloaded"),
    "server500": (500, "api_error", "Internal server error"),
    "auth401": (401, "authentication_error", "invalid x-api-key"),
    "forbidden403": (403, "permission_error", "Your API key does not have permission to use the specified resource."),
    "badrequest400": (400, "invalid_request_error", "Invalid request: the fake API rejects this request."),
    "toolong400": (400, "invalid_request_error", "prompt is too long: 250000 tokens > 200000 maximum"),
    "credit400": (400, "invalid_request_error",
                  "Your credit balance is too low to access the Anthropic API. "
                  "Please go to Plans & Billing to upgrade or purchase credits."),
    "spendcap400": (400, "invalid_request_error",
                    "You have reached your specified API usage limits. "
                    "You will regain access on 2026-12-01 at 00:00 UTC."),
    "nomodel404": (404, "not_found_error", "model: no-such-model"),
    "usagelimit": (429, "rate_limit_error", "This request would exceed your account's rate limit. Please try again later."),
}

ALL_SCENARIOS = sorted(set(SCENARIOS) | set(ERRORS))


def rate_limit_headers() -> dict[str, str]:
    """Per-key API rate-limit headers of the `rate429` scenario."""
    reset = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 1))
    return {
        "retry-after": "1",
        "anthropic-ratelimit-requests-limit": "50",
        "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-requests-reset": reset,
        "anthropic-ratelimit-tokens-limit": "100000",
        "anthropic-ratelimit-tokens-remaining": "0",
        "anthropic-ratelimit-tokens-reset": reset,
    }


def unified_headers(status: str, utilization_5h: float, threshold: float | None = None,
                    reset_5h: int = RESET_5H) -> dict[str, str]:
    """Subscription (OAuth) quota headers: status allowed | allowed_warning | rejected."""
    p = "anthropic-ratelimit-unified-"
    h = {
        p + "status": status,
        p + "reset": str(reset_5h),
        p + "5h-status": status,
        p + "5h-reset": str(reset_5h),
        p + "5h-utilization": str(utilization_5h),
        p + "7d-status": "allowed",
        p + "7d-reset": str(RESET_7D),
        p + "7d-utilization": "0.4",
        p + "representative-claim": "five_hour",
        p + "fallback-percentage": "0.5",
        p + "overage-status": "rejected",
        p + "overage-disabled-reason": "org_level_disabled",
    }
    if threshold is not None:
        h[p + "5h-surpassed-threshold"] = str(threshold)
    return h


# ---------------------------------------------------------------- request inspection


def _texts(content: Any) -> Iterator[str]:
    if isinstance(content, str):
        yield content
    elif isinstance(content, list):
        for b in content:
            if isinstance(b, dict):
                if isinstance(b.get("text"), str):
                    yield b["text"]
                elif b.get("type") == "tool_result":
                    yield from _texts(b.get("content"))


def _has_tool_result(msg: Any) -> bool:
    c = msg.get("content") if isinstance(msg, dict) else None
    return isinstance(c, list) and any(isinstance(b, dict) and b.get("type") == "tool_result" for b in c)


def scenario_of(body: dict[str, Any]) -> str:
    """The `[scenario:NAME]` token of the first user message, else `plain`."""
    msgs = body.get("messages") or []
    first = next((m for m in msgs if isinstance(m, dict) and m.get("role") == "user"), None)
    if first is not None:
        for t in _texts(first.get("content")):
            m = SCENARIO_RE.search(t)
            if m:
                return m.group(1)
    return "plain"


def step_of(body: dict[str, Any]) -> int:
    """0 for a new turn; k when the last user message holds the k-th tool_result of this turn.

    Messages of role system (Claude Code 2.1.331 may append one after a tool_result, e.g. when an
    MCP server's tools arrive) are not turns: they are skipped."""
    msgs = [m for m in body.get("messages") or [] if isinstance(m, dict) and m.get("role") != "system"]
    if not msgs or not _has_tool_result(msgs[-1]):
        return 0
    step = 0
    for m in reversed(msgs):
        if m.get("role") == "user":
            if not _has_tool_result(m):
                break
            step += 1
    return step


def last_tool_result(body: dict[str, Any]) -> str:
    """The text of the tool_results in the last user message ("" when it holds none)."""
    msgs = [m for m in body.get("messages") or [] if isinstance(m, dict) and m.get("role") != "system"]
    if not msgs or not _has_tool_result(msgs[-1]):
        return ""
    blocks = [b for b in msgs[-1]["content"] if isinstance(b, dict) and b.get("type") == "tool_result"]
    return "\n".join(t for b in blocks for t in _texts(b.get("content")))


def tool_names(body: dict[str, Any]) -> tuple[str, ...]:
    return tuple(t["name"] for t in body.get("tools") or [] if isinstance(t, dict) and isinstance(t.get("name"), str))


def cwd_of(body: dict[str, Any]) -> str | None:
    """The working directory named in the system prompt (or in a system-reminder), if any."""
    texts = list(_texts(body.get("system")))
    for m in body.get("messages") or []:
        if isinstance(m, dict):
            texts.extend(_texts(m.get("content")))
    for t in texts:
        m = CWD_RE.search(t)
        if m:
            return m.group(1).strip()
    return None


def output_schema_of(body: dict[str, Any]) -> dict[str, Any] | None:
    """The input_schema of the request's StructuredOutput tool (claude --json-schema), or None."""
    for tool in body.get("tools") or []:
        if isinstance(tool, dict) and tool.get("name") == STRUCTURED_TOOL and isinstance(tool.get("input_schema"), dict):
            return tool["input_schema"]
    return None


def error_body(etype: str, message: str, request_id: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": etype, "message": message}, "request_id": request_id}


# ---------------------------------------------------------------- server


@dataclass
class RecordedRequest:
    method: str
    path: str  # without the query string
    query: str
    headers: dict[str, str]  # lower-case names
    body: Any  # parsed JSON, or None
    call: int | None = None  # n of a /v1/messages call
    scenario: str | None = None
    time: float = 0.0

    @property
    def oauth(self) -> bool:
        return self.headers.get("authorization", "").lower().startswith("bearer ")


class _Drop(Exception):
    """Close the connection without a response."""


class FakeAnthropic(LoopbackFake):
    """The fake API. `start()` binds 127.0.0.1 (port 0 = any free port) and serves in a daemon thread."""

    def __init__(self, port: int = 0, log: Callable[[str], None] | None = None):
        super().__init__(port, log)
        self.requests: list[RecordedRequest] = []
        self.calls = 0  # /v1/messages calls of this server's life
        self.reset_5h = RESET_5H  # when the `usagelimit` 5-hour window resets (fixed: golden files)
        self._per_conv: dict[tuple, int] = {}

    # -- lifecycle

    thread_name = "fake-anthropic"

    def handler(self) -> type[BaseHTTPRequestHandler]:
        return _Handler

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def reset(self) -> None:
        """Forget recorded requests and restart the call counter at 1 (as a new server life)."""
        with self._lock:
            self.requests.clear()
            self.calls = 0
            self.reset_5h = RESET_5H
            self._per_conv.clear()

    def message_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.call is not None]

    # -- bookkeeping

    def _record(self, rec: RecordedRequest, count_call: bool) -> RecordedRequest:
        with self._lock:
            if count_call:
                self.calls += 1
                rec.call = self.calls
            self.requests.append(rec)
        if self._log:
            extra = f" call={rec.call} scenario={rec.scenario}" if rec.call else ""
            self._log(f"{rec.method} {rec.path}{'?' + rec.query if rec.query else ''}{extra}")
        return rec

    def _attempt(self, rec: RecordedRequest) -> int:
        """1 for the first call of this conversation's scenario, 2 for the next, ... (drop, flaky529)."""
        body = rec.body or {}
        first = json.dumps((body.get("messages") or [None])[0], sort_keys=True)[:2000]
        key = (rec.scenario, rec.headers.get("x-claude-code-session-id", ""), first)
        with self._lock:
            self._per_conv[key] = self._per_conv.get(key, 0) + 1
            return self._per_conv[key]


class _Handler(LoopbackHandler):
    server_version = "fake-anthropic/1.0"

    # -- plumbing

    @property
    def fake(self) -> FakeAnthropic:
        return self.server.fake

    def _send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None, rid: str = "") -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        if rid:
            self.send_header("request-id", rid)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _send_error(self, status: int, etype: str, message: str, rid: str,
                    headers: dict[str, str] | None = None) -> None:
        self._send_json(status, error_body(etype, message, rid), headers, rid)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _event(self, name: str, obj: dict[str, Any]) -> None:
        self._chunk(f"event: {name}\ndata: {json.dumps(obj, separators=(',', ':'))}\n\n".encode())

    def _abort(self) -> None:
        """Close the TCP connection mid-response (FIN, no final chunk). Not RST: an RST can make the
        client's kernel discard the message_start it has not read yet, which makes runs differ."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # -- dispatch

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        path = unquote(url.path).rstrip("/") or "/"
        raw = self._read_body() if self.command in ("POST", "PUT", "PATCH") else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = {k.lower(): v for k, v in self.headers.items()}
        is_messages = self.command == "POST" and path == "/v1/messages"
        rec = RecordedRequest(self.command, path, url.query, headers, body, time=time.time(),
                              scenario=scenario_of(body) if is_messages and isinstance(body, dict) else None)
        rec = self.fake._record(rec, count_call=is_messages)
        try:
            if is_messages:
                if not isinstance(body, dict):
                    return self._send_error(400, "invalid_request_error", "request body must be a JSON object",
                                            f"req_{rec.call}")
                return self._messages(rec)
            rid = f"req_x{len(self.fake.requests)}"
            if self.command == "POST" and path == "/v1/messages/count_tokens":
                return self._send_json(200, {"input_tokens": 42}, rid=rid)
            if self.command == "GET" and path == "/v1/models":
                data = [self._model(m, d) for m, d in MODELS]
                return self._send_json(200, {"data": data, "has_more": False, "first_id": data[0]["id"],
                                             "last_id": data[-1]["id"]}, rid=rid)
            if self.command == "GET" and path.startswith("/v1/models/"):
                mid = path[len("/v1/models/"):]
                if mid.startswith("claude-") and "/" not in mid:
                    return self._send_json(200, self._model(mid, dict(MODELS).get(mid, mid)), rid=rid)
                return self._send_error(404, "not_found_error", f"model: {mid}", rid)
            if self.command in ("HEAD", "GET") and path == "/api/hello":
                return self._send_json(200, {"message": "hello"}, rid=rid)
            return self._send_error(404, "not_found_error", f"Not found: {self.command} {path}", rid)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, _Drop):
            self.close_connection = True
        except OSError:
            self.close_connection = True

    @staticmethod
    def _model(mid: str, name: str) -> dict[str, Any]:
        return {"type": "model", "id": mid, "display_name": name, "created_at": "2026-01-01T00:00:00Z"}

    do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = do_PATCH = _dispatch

    # -- /v1/messages

    def _messages(self, rec: RecordedRequest) -> None:
        body: dict[str, Any] = rec.body
        n = rec.call
        rid = f"req_{n}"
        scen = rec.scenario or "plain"
        stream = bool(body.get("stream"))
        model = body.get("model") or DEFAULT_MODEL

        if scen in ERRORS:
            status, etype, msg = ERRORS[scen]
            extra: dict[str, str] = {}
            if scen == "rate429":
                extra = rate_limit_headers()
            elif scen == "usagelimit":
                extra = unified_headers("rejected", 1.0, reset_5h=self.fake.reset_5h)
            return self._send_error(status, etype, msg, rid, extra)
        if scen == "flaky529" and self.fake._attempt(rec) == 1:
            return self._send_error(529, "overloaded_error", "Overloaded", rid)

        headers = unified_headers("allowed_warning", 0.92, 0.9) if scen == "quotawarn" else {}
        ctx = Ctx(cwd=cwd_of(body), model=model, step=step_of(body), output_schema=output_schema_of(body),
                  tool_result=last_tool_result(body), tools=tool_names(body))
        answer = SCENARIOS.get(scen, _plain)(ctx)

        if scen == "drop" and self.fake._attempt(rec) <= 2:
            if stream:
                self._sse_headers(rid, headers)
                self._event("message_start", self._start(n, model))
            self._abort()
            raise _Drop
        if not stream:
            if scen == "midstream-error":
                answer = Answer([_text("Recovered after stream errors.")])
            return self._send_json(200, self._full(n, model, answer), headers, rid)

        self._sse_headers(rid, headers)
        self._event("message_start", self._start(n, model))
        if scen == "stall":
            return self._stall()
        self._event("ping", {"type": "ping"})
        if scen == "midstream-error":
            self._event("content_block_start", {"type": "content_block_start", "index": 0,
                                                "content_block": {"type": "text", "text": ""}})
            self._event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                "delta": {"type": "text_delta", "text": "Hello "}})
            self._event("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
            self._chunk(b"")
            self.close_connection = True
            return
        for i, block in enumerate(answer.blocks):
            self._stream_block(n, i, block, answer)
        self._event("message_delta", {"type": "message_delta",
                                      "delta": {"stop_reason": answer.stop_reason, "stop_sequence": None},
                                      "usage": {"output_tokens": usage_for_call(n)["output_tokens"]}})
        self._event("message_stop", {"type": "message_stop"})
        self._chunk(b"")

    def _sse_headers(self, rid: str, extra: dict[str, str]) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.send_header("request-id", rid)
        for k, v in extra.items():
            self.send_header(k, v)
        self.end_headers()

    @staticmethod
    def _start(n: int, model: str) -> dict[str, Any]:
        return {"type": "message_start", "message": {
            "id": f"msg_fake_{n:04d}", "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": start_usage(n)}}

    @staticmethod
    def _split(text: str, answer: Answer, block: Block) -> list[str]:
        if answer.chunk_size:
            size = answer.chunk_size
        else:
            size = max(1, -(-len(text) // max(1, block.chunks)))
        return [text[i:i + size] for i in range(0, len(text), size)] or [""]

    def _pace(self, answer: Answer, first: bool) -> None:
        if answer.pace and not first:
            if self.fake._stopping.wait(answer.pace):
                raise _Drop

    def _stream_block(self, n: int, i: int, block: Block, answer: Answer) -> None:
        def delta(d: dict[str, Any]) -> None:
            self._event("content_block_delta", {"type": "content_block_delta", "index": i, "delta": d})

        if block.kind == "text":
            self._event("content_block_start", {"type": "content_block_start", "index": i,
                                                "content_block": {"type": "text", "text": ""}})
            for j, part in enumerate(self._split(block.text, answer, block)):
                self._pace(answer, j == 0)
                delta({"type": "text_delta", "text": part})
        elif block.kind == "thinking":
            self._event("content_block_start", {"type": "content_block_start", "index": i,
                                                "content_block": {"type": "thinking", "thinking": "",
                                                                  "signature": ""}})
            for part in self._split(block.text, answer, block):
                delta({"type": "thinking_delta", "thinking": part})
            delta({"type": "signature_delta", "signature": block.signature})
        elif block.kind == "tool_use":
            self._event("content_block_start", {"type": "content_block_start", "index": i, "content_block": {
                "type": "tool_use", "id": self._tool_id(n, i), "name": block.name, "input": {}}})
            js = json.dumps(block.input)
            size = max(1, -(-len(js) // 3))
            for k in range(0, len(js), size):
                delta({"type": "input_json_delta", "partial_json": js[k:k + size]})
        self._event("content_block_stop", {"type": "content_block_stop", "index": i})

    @staticmethod
    def _tool_id(n: int, i: int) -> str:
        return f"toolu_fake_{n:04d}_{i}"

    def _full(self, n: int, model: str, answer: Answer) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        for i, b in enumerate(answer.blocks):
            if b.kind == "text":
                content.append({"type": "text", "text": b.text})
            elif b.kind == "thinking":
                content.append({"type": "thinking", "thinking": b.text, "signature": b.signature})
            else:
                content.append({"type": "tool_use", "id": self._tool_id(n, i), "name": b.name, "input": b.input})
        return {"id": f"msg_fake_{n:04d}", "type": "message", "role": "assistant", "model": model,
                "content": content, "stop_reason": answer.stop_reason, "stop_sequence": None,
                "usage": final_usage(n)}

    def _stall(self) -> None:
        """Say nothing more until the client goes away or the server stops."""
        self.close_connection = True
        sock = self.connection
        while not self.fake._stopping.is_set():
            r, _, _ = select.select([sock], [], [], 0.2)
            if r:
                try:
                    if not sock.recv(65536, socket.MSG_PEEK):
                        return  # client closed
                    sock.recv(65536)  # a stray byte: discard, keep stalling
                except OSError:
                    return


# ---------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    args = command_line("Fake Anthropic Messages API on 127.0.0.1").parse_args(argv)
    return serve_until_signalled(FakeAnthropic(port=args.port, log=stderr_log(args.log)), args.port_file)


if __name__ == "__main__":
    sys.exit(main())
