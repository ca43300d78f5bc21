#!/usr/bin/env python3
"""A fake Gemini API (generativelanguage v1beta) on 127.0.0.1, for running the real Gemini CLI offline.

What it serves (gemini.md §14):

  POST /v1beta/models/{m}:streamGenerateContent[?alt=sse]   SSE, `data: {json}\\r\\n\\r\\n` chunks
  POST /v1beta/models/{m}:generateContent                    one JSON response (side calls: router
                                                             classifier, next-speaker check, ...)
  POST /v1beta/models/{m}:countTokens                        {"totalTokens": 42}
  GET  /v1beta/models, /v1beta/models/{m}                    a small model list / one model
  anything else                                              404 with a Google-style error body

The API key is taken from the header `x-goog-api-key` or the query `?key=`. A model call with no
key at all gets the real API's answer for that: 403 PERMISSION_DENIED.

What a model call answers is chosen by a token `[scenario:NAME]` in the text of the conversation's
first user turn (the first user content with text that holds a token; no token: `plain`). A key
of the form `scenario-NAME` selects NAME too, and wins over the prompt (e.g. `scenario-badkey400`).
When the last content holds a `functionResponse` part, the scenario moves on to its next step (the
answer after the tool). Scenarios (SCENARIOS / ERRORS below):

  plain          "Hello from the fake Gemini server." in 3 text chunks
  thoughts       a {"text": "thinking…", "thought": true} part, then text; usage has thoughtsTokenCount
  shell          "Let me run that." + functionCall run_shell_command {"command": "echo hello-from-shell",
                 "description": "print a greeting"}; then "The command printed hello-from-shell."
  read           functionCall read_file {"file_path": "README.md"}; then "The README says hello."
  readmissing    functionCall read_file {"file_path": "nope.txt"} (a tool error); then a text answer
  write          functionCall write_file {"file_path": "created-by-gemini.txt", "content": "hello\\n"}; "Wrote the file."
  edit           functionCall replace {"file_path": "README.md", "old_string": "Demo", "new_string":
                 "Demo edited", "instruction": "edit"}; then "Edited."
  todos          functionCall write_todos {"todos": [step one completed, step two pending]}; then "Planned."
  search         functionCall google_web_search {"query": "codex shims"}; then "Searched."
  slow           20 text chunks 0.3 s apart (signal tests)
  shims-spawn-wait  a host model driving `shims mcp`: functionCall mcp_shims_spawn {provider: fake, task:
                 "hello there", cwd: the CLI's workspace}; then mcp_shims_wait {agent_id: read from spawn's
                 functionResponse, timeout_seconds: 30}; then "The worker finished. wait returned: <wait's result>"
  usage-every    like plain, with growing usageMetadata on every chunk
  empty          `parts: []` with finishReason STOP, every call (the CLI re-requests, then reports an error)
  drop           1st call of a conversation turn: 2 text chunks, no finishReason, a complete HTTP body and
                 `connection: close` (the CLI's content retry re-sends and re-emits the text); later calls: plain
  drop-abort     1st call of a conversation turn: 2 text chunks, then the TCP connection closes mid-body
                 (the CLI does NOT retry: `[API Error: terminated]`, exit 1); later calls: plain
  stall          200 and the SSE headers, then nothing until the client goes away or the server stops
  quota-daily    429 RESOURCE_EXHAUSTED, QuotaFailure quotaId GenerateRequestsPerDayPerProjectPerModel-FreeTier
  quota-minute   429 RESOURCE_EXHAUSTED, QuotaFailure quotaId GenerateRequestsPerMinutePerProjectPerModel-FreeTier
                 and RetryInfo retryDelay "2s"
  rate429        429 RESOURCE_EXHAUSTED without details
  server500      500 INTERNAL
  unavailable503 503 UNAVAILABLE "The model is overloaded. Please try again later."
  badkey400      400 INVALID_ARGUMENT with ErrorInfo reason API_KEY_INVALID
  unauth401      401 UNAUTHENTICATED
  forbidden403   403 PERMISSION_DENIED

Error scenarios answer every main call (stream or not) with the Google error body
`{"error": {"code", "message", "status", "details"?}}`. An unknown scenario name answers like plain.

Side calls with a JSON response schema (`generationConfig.responseJsonSchema`/`responseSchema`)
are answered with JSON that fits the schema, whatever the scenario: the `-m auto` router classifier
gets `{"complexity_reasoning": ..., "complexity_score": 10}`, the next-speaker check gets
`next_speaker: "user"`, the older classifier `model_choice: "flash"`. The google_web_search tool's
side call (a generateContent with the `googleSearch` tool) gets a short text, whatever the scenario.

Usage is deterministic: the n-th model call (streamGenerateContent or generateContent) of the
server's life (n from 1; every model call counts, failed ones and side calls too) reports
`usage_for_call(n)`: promptTokenCount=1000+100n, cachedContentTokenCount=400+n,
candidatesTokenCount=5+n, totalTokenCount=prompt+candidates(+thoughts). thoughtsTokenCount=20+n is
present only in the `thoughts` scenario (`usage_for_call(n, thoughts=True)`); it is absent otherwise.
Usage is sent once, on the last SSE chunk (scenario `usage-every`: growing usage on every chunk).

Library use:

    with FakeGemini() as api:               # binds 127.0.0.1, port 0
        env["GOOGLE_GEMINI_BASE_URL"] = api.base_url
        ...
        api.message_requests()[0].body["contents"]   # model calls, recorded
        api.calls                                    # model calls so far

Command line (standard library only, any python3):

    python tests/fakes/fake_gemini.py [--port N] [--port-file F] [--log]

prints `listening http://127.0.0.1:PORT` and serves until SIGTERM/SIGINT (then exits 0).
"""

from __future__ import annotations

import hashlib
import json
import re
import select
import socket
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

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

API_PREFIX = "/v1beta"
MODELS = [
    ("gemini-2.5-flash", "Gemini 2.5 Flash"),
    ("gemini-2.5-pro", "Gemini 2.5 Pro"),
    ("gemini-2.5-flash-lite", "Gemini 2.5 Flash-Lite"),
    ("gemini-3-flash-preview", "Gemini 3 Flash Preview"),  # google_web_search's side call
    ("gemini-3.1-pro-preview", "Gemini 3.1 Pro Preview"),
    ("gemini-3.5-flash-lite", "Gemini 3.5 Flash-Lite"),  # the `-m auto` classifier
    ("gemini-3.8-flash", "Gemini 3.8 Flash"),  # where `-m auto` routes a score-10 prompt
]
MODEL_ACTIONS = ("streamGenerateContent", "generateContent")
SCENARIO_RE = re.compile(r"\[scenario:([A-Za-z0-9_.-]+)\]")
KEY_SCENARIO_PREFIX = "scenario-"

PLAIN_TEXT = "Hello from the fake Gemini server."
THOUGHT_TEXT = "thinking…"
WEB_SEARCH_TEXT = "Fake web search results for:"
SLOW_CHUNKS = 20
SLOW_PACE = 0.3


# ---------------------------------------------------------------- usage


def usage_for_call(n: int, thoughts: bool = False) -> dict[str, Any]:
    """usageMetadata of the n-th model call of a server's life (n from 1).

    thoughtsTokenCount is only present with thoughts=True (the `thoughts` scenario)."""
    prompt, cached, cand = 1000 + 100 * n, 400 + n, 5 + n
    think = 20 + n if thoughts else 0
    u: dict[str, Any] = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": cand,
        "totalTokenCount": prompt + cand + think,
        "cachedContentTokenCount": cached,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
        "cacheTokensDetails": [{"modality": "TEXT", "tokenCount": cached}],
    }
    if thoughts:
        u["thoughtsTokenCount"] = think
    return u


def _partial_usage(n: int, thoughts: bool, i: int, count: int) -> dict[str, Any]:
    """Growing usage for chunk i of count (scenario usage-every): the prompt side is complete, the
    candidates grow and reach usage_for_call(n) on the last chunk."""
    u = usage_for_call(n, thoughts)
    if i < count - 1:
        cand = max(1, u["candidatesTokenCount"] * (i + 1) // count)
        u["totalTokenCount"] -= u["candidatesTokenCount"] - cand
        u["candidatesTokenCount"] = cand
    return u


# ---------------------------------------------------------------- scenarios


@dataclass
class Answer:
    """One model answer: parts streamed in order, one chunk per entry of `chunks`."""

    chunks: list[list[dict[str, Any]]]  # parts of each SSE chunk
    finish: str | None = "STOP"  # finishReason of the last chunk; None: no finishReason
    pace: float = 0.0  # seconds between chunks
    thoughts: bool = False  # usage has thoughtsTokenCount

    def parts(self) -> list[dict[str, Any]]:
        """All parts merged as one (non-streaming) content: adjacent plain texts joined."""
        out: list[dict[str, Any]] = []
        for chunk in self.chunks:
            for p in chunk:
                if out and set(p) == {"text"} and set(out[-1]) == {"text"}:
                    out[-1] = {"text": out[-1]["text"] + p["text"]}
                else:
                    out.append(dict(p))
        return out


def split_text(text: str, n: int) -> list[str]:
    """`text` cut into at most n pieces at spaces (words spread evenly), concatenating back to `text`."""
    words = re.findall(r"\S+\s*|\s+", text)
    n = max(1, min(n, len(words)))
    out, start = [], 0
    for i in range(n):
        end = round(len(words) * (i + 1) / n)
        out.append("".join(words[start:end]))
        start = end
    return out or [text]


def _text_chunks(text: str, n: int) -> list[list[dict[str, Any]]]:
    return [[{"text": t}] for t in split_text(text, n)]


def _plain(step: int) -> Answer:
    return Answer(_text_chunks(PLAIN_TEXT, 3))


def _thoughts(step: int) -> Answer:
    return Answer([[{"text": THOUGHT_TEXT, "thought": True}]]
                  + _text_chunks("After thinking: hello from the fake Gemini server.", 2), thoughts=True)


def _slow(step: int) -> Answer:
    return Answer([[{"text": f"Slow part {i + 1} of {SLOW_CHUNKS}. "}] for i in range(SLOW_CHUNKS)], pace=SLOW_PACE)


def tool_round_trip(name: str, args: dict[str, Any], final: str, intro: str | None = None) -> Callable[[int], Answer]:
    """Step 0: (intro text +) one functionCall; after the functionResponse: the final text."""

    def build(step: int) -> Answer:
        if step == 0:
            chunks = _text_chunks(intro, 1) if intro else []
            return Answer(chunks + [[{"functionCall": {"name": name, "args": args}}]])
        return Answer(_text_chunks(final, 2))

    return build


SHIMS_TASK = "hello there"  # the fake worker answers "Hello! You said: hello there"
AGENT_ID_RE = re.compile(r"\bworker ([0-9a-f]{12})\b|\"agent_id\":\s*\"([0-9a-f]{12})\"")
WORKSPACE_RE = re.compile(r"Workspace Directories:\**\s*\n\s*-\s*(\S[^\n]*)")


@dataclass
class Turn:
    """What a scenario that reads the request sees: the step, and what the request says."""

    step: int
    cwd: str | None  # the first workspace directory the CLI names in its session context
    tools: tuple[str, ...]  # the declared function names
    function_response: Any  # the `response` of the last content's functionResponse, or None


def shims_tool(turn: Turn, tool: str) -> str:
    """The name the host gave `shims mcp`'s tool: Gemini CLI 0.61.0 declares mcp_<server>_<tool>."""
    return next((t for t in turn.tools if t.startswith("mcp_") and t.endswith(f"_{tool}")), f"mcp_shims_{tool}")


def tool_result_text(response: Any) -> str:
    """What an MCP tool call returned, as the model reads it: the CLI's `output` text, else the
    structuredContent (JSON), else the text parts of the result."""
    if not isinstance(response, dict):
        return json.dumps(response)
    if isinstance(response.get("output"), str):  # 0.61.0 passes the text parts on as {"output": ...}
        return response["output"]
    if isinstance(response.get("structuredContent"), dict):
        return json.dumps(response["structuredContent"], separators=(",", ":"))
    texts = [c.get("text") for c in response.get("content") or [] if isinstance(c, dict)]
    return "\n".join(t for t in texts if isinstance(t, str)) or json.dumps(response)


def _shims_spawn_wait(turn: Turn) -> Answer:
    """A host model driving `shims mcp`: spawn a fake worker in the CLI's workspace, wait for it
    with the agent_id spawn returned, then answer quoting what wait returned."""
    if turn.step == 0:
        return Answer(_text_chunks("Let me start a worker.", 1) + [[{"functionCall": {
            "name": shims_tool(turn, "spawn"), "args": {"provider": "fake", "task": SHIMS_TASK,
                                                        "cwd": turn.cwd or "."}}}]])
    quoted = tool_result_text(turn.function_response)
    if turn.step == 1:
        m = AGENT_ID_RE.search(quoted)
        agent_id = (m.group(1) or m.group(2)) if m else "no-agent-id-in-the-spawn-result"
        return Answer(_text_chunks("Now I wait for it.", 1) + [[{"functionCall": {
            "name": shims_tool(turn, "wait"), "args": {"agent_id": agent_id, "timeout_seconds": 30}}}]])
    return Answer([[{"text": f"The worker finished. wait returned: {quoted}"}]])


# Scenarios that read more of the request than the step.
TURN_SCENARIOS: dict[str, Callable[[Turn], Answer]] = {
    "shims-spawn-wait": _shims_spawn_wait,
}

SCENARIOS: dict[str, Callable[[int], Answer]] = {
    "plain": _plain,
    "thoughts": _thoughts,
    "shell": tool_round_trip("run_shell_command", {"command": "echo hello-from-shell", "description": "print a greeting"},
                             "The command printed hello-from-shell.", intro="Let me run that."),
    # A shell command that leaves a marker file: declared to the model only in yolo mode, so it
    # must not run unless a hostile value smuggled yolo in (the argument-injection tests).
    "marker": tool_round_trip("run_shell_command", {"command": "echo injected > injected-marker.txt",
                                                     "description": "write a marker"}, "Done."),
    "read": tool_round_trip("read_file", {"file_path": "README.md"}, "The README says hello."),
    "readmissing": tool_round_trip("read_file", {"file_path": "nope.txt"}, "The file nope.txt does not exist."),
    "write": tool_round_trip("write_file", {"file_path": "created-by-gemini.txt", "content": "hello\n"},
                             "Wrote the file."),
    "edit": tool_round_trip("replace", {"file_path": "README.md", "old_string": "Demo", "new_string": "Demo edited",
                                        "instruction": "edit"}, "Edited."),
    "todos": tool_round_trip("write_todos", {"todos": [{"description": "step one", "status": "completed"},
                                                       {"description": "step two", "status": "pending"}]},
                             "Planned."),
    "search": tool_round_trip("google_web_search", {"query": "codex shims"}, "Searched."),
    "slow": _slow,
    # Handled in _Handler._model_call, answering like plain where they succeed:
    "empty": _plain,  # parts [] + STOP, every call
    "drop": _plain,  # 1st call of a conversation: 2 chunks, no finishReason, end of stream, connection closed
    "drop-abort": _plain,  # 1st call of a conversation: 2 chunks, then the TCP connection closes mid-body
    "stall": _plain,  # 200 + headers, then nothing until the server stops
    "usage-every": _plain,  # growing usageMetadata on every chunk
}


@dataclass(frozen=True)
class ApiError:
    status: int
    code_name: str  # google.rpc.Code name: RESOURCE_EXHAUSTED, ...
    message: str
    details: tuple[dict[str, Any], ...] = ()

    def body(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.status, "message": self.message, "status": self.code_name}
        if self.details:
            err["details"] = [dict(d) for d in self.details]
        return {"error": err}


QUOTA_MSG = ("You exceeded your current quota, please check your plan and billing details. For more information "
             "on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.")
_HELP = {"@type": "type.googleapis.com/google.rpc.Help",
         "links": [{"description": "Learn more about Gemini API quotas",
                    "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]}


def _quota_failure(quota_id: str, metric: str, value: str) -> dict[str, Any]:
    return {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{
        "quotaMetric": f"generativelanguage.googleapis.com/{metric}", "quotaId": quota_id,
        "quotaDimensions": {"location": "global", "model": "gemini-2.5-flash"}, "quotaValue": value}]}


# scenario -> the error every main model call gets
ERRORS: dict[str, ApiError] = {
    "quota-daily": ApiError(429, "RESOURCE_EXHAUSTED", QUOTA_MSG, (
        _quota_failure("GenerateRequestsPerDayPerProjectPerModel-FreeTier",
                       "generate_content_free_tier_requests", "250"), _HELP)),
    "quota-minute": ApiError(429, "RESOURCE_EXHAUSTED", QUOTA_MSG + " Please retry in 2s.", (
        _quota_failure("GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                       "generate_content_free_tier_requests", "10"), _HELP,
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2s"})),
    "rate429": ApiError(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
    "server500": ApiError(500, "INTERNAL", "An internal error has occurred. Please retry or report in "
                                           "https://developers.generativeai.google/guide/troubleshooting"),
    "unavailable503": ApiError(503, "UNAVAILABLE", "The model is overloaded. Please try again later."),
    "badkey400": ApiError(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", (
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
         "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}},
        {"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US",
         "message": "API key not valid. Please pass a valid API key."})),
    "unauth401": ApiError(401, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 "
                                                  "access token, login cookie or other valid authentication "
                                                  "credential."),
    "forbidden403": ApiError(403, "PERMISSION_DENIED", "The caller does not have permission"),
}
NO_KEY = ApiError(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers (callers without established "
                                            "identity). Please use API Key or other form of API consumer identity "
                                            "to call this API.")

ALL_SCENARIOS = sorted(set(SCENARIOS) | set(TURN_SCENARIOS) | set(ERRORS))


def google_error(status: int, code_name: str, message: str) -> dict[str, Any]:
    return ApiError(status, code_name, message).body()


# ---------------------------------------------------------------- request inspection


def _parts(content: Any) -> list[dict[str, Any]]:
    parts = content.get("parts") if isinstance(content, dict) else None
    return [p for p in parts if isinstance(p, dict)] if isinstance(parts, list) else []


def _texts(content: Any) -> Iterator[str]:
    for p in _parts(content):
        if isinstance(p.get("text"), str):
            yield p["text"]


def _has_function_response(content: Any) -> bool:
    return any("functionResponse" in p for p in _parts(content))


def _contents(body: Any) -> list[dict[str, Any]]:
    c = body.get("contents") if isinstance(body, dict) else None
    return [x for x in c if isinstance(x, dict)] if isinstance(c, list) else []


def scenario_of(body: Any) -> str:
    """The first `[scenario:NAME]` token of the user turns (the earliest user content with one), else `plain`.

    The CLI may send context as the first user content; the prompt follows it in the same or
    the next user content, so the earliest token wins (the first user prompt's)."""
    for c in _contents(body):
        if c.get("role", "user") != "user":
            continue
        for t in _texts(c):
            m = SCENARIO_RE.search(t)
            if m:
                return m.group(1)
    return "plain"


def step_of(body: Any) -> int:
    """0 for a new turn; k when the last content holds the k-th functionResponse of this turn."""
    contents = _contents(body)
    if not contents or not _has_function_response(contents[-1]):
        return 0
    step = 0
    for c in reversed(contents):
        if c.get("role", "user") == "user":
            if not _has_function_response(c):
                break
            step += 1
    return step


def turn_of(body: Any, step: int) -> Turn:
    contents = _contents(body)
    texts = [t for c in contents for t in _texts(c)]
    cwd = next((m.group(1).strip() for t in texts for m in [WORKSPACE_RE.search(t)] if m), None)
    tools = body.get("tools") if isinstance(body, dict) else None
    names = tuple(d["name"] for t in tools or [] if isinstance(t, dict)
                  for d in t.get("functionDeclarations") or [] if isinstance(d, dict) and isinstance(d.get("name"), str))
    responses = [p["functionResponse"] for p in (_parts(contents[-1]) if contents else [])
                 if isinstance(p.get("functionResponse"), dict)]
    return Turn(step, cwd, names, responses[-1].get("response") if responses else None)


def is_web_search(body: Any) -> bool:
    """The google_web_search tool's side call: a generateContent with the `googleSearch` tool."""
    tools = body.get("tools") if isinstance(body, dict) else None
    return isinstance(tools, list) and any(isinstance(t, dict) and "googleSearch" in t for t in tools)


def response_schema(body: Any) -> dict[str, Any] | None:
    gc = body.get("generationConfig") if isinstance(body, dict) else None
    if not isinstance(gc, dict):
        return None
    for k in ("responseJsonSchema", "responseSchema", "response_json_schema", "response_schema"):
        if isinstance(gc.get(k), dict):
            return gc[k]
    return None


def json_for_schema(schema: dict[str, Any]) -> Any:
    """A JSON value that fits `schema` (the side calls' schemas, and a generic fallback)."""
    props = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
    if "complexity_score" in props:
        return {"complexity_reasoning": "Simple task (fake classifier).", "complexity_score": 10}
    if "model_choice" in props:
        return {"reasoning": "Simple task (fake classifier).", "model_choice": "flash"}
    if "next_speaker" in props:
        return {"reasoning": "The fake model finished its answer.", "next_speaker": "user"}
    return _generic(schema)


def _generic(schema: Any) -> Any:
    if not isinstance(schema, dict):
        return None
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    t = schema.get("type")
    t = (t[0] if isinstance(t, list) and t else t) or ("object" if "properties" in schema else "string")
    t = str(t).lower()
    if t == "object":
        props = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
        return {k: _generic(v) for k, v in props.items()}
    if t == "array":
        return []
    if t in ("integer", "number"):
        return max(1, int(schema.get("minimum", 1) or 1))
    if t == "boolean":
        return False
    return "fake"


# ---------------------------------------------------------------- server


@dataclass
class RecordedRequest:
    method: str
    path: str  # without the query string
    query: str
    headers: dict[str, str]  # lower-case names
    body: Any  # parsed JSON, or None
    call: int | None = None  # n of a model call (streamGenerateContent / generateContent)
    scenario: str | None = None
    time: float = 0.0
    model: str | None = None  # the {m} of /v1beta/models/{m}:action
    action: str | None = None  # streamGenerateContent | generateContent | countTokens | None
    step: int = 0
    side: str | None = None  # "classifier" | "schema" (JSON-schema side calls) | "web_search" | None

    @property
    def api_key(self) -> str | None:
        if self.headers.get("x-goog-api-key"):
            return self.headers["x-goog-api-key"]
        vals = parse_qs(self.query).get("key")
        return vals[0] if vals else None


class _Drop(Exception):
    """Close the connection without (finishing) a response."""


class FakeGemini(LoopbackFake):
    """The fake API. `start()` binds 127.0.0.1 (port 0 = any free port) and serves in a daemon thread."""

    def __init__(self, port: int = 0, log: Callable[[str], None] | None = None):
        super().__init__(port, log)
        self.requests: list[RecordedRequest] = []
        self.calls = 0  # model calls of this server's life (since the last reset)
        self._per_conv: dict[tuple, int] = {}

    # -- lifecycle

    thread_name = "fake-gemini"

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
            self._per_conv.clear()

    def message_requests(self) -> list[RecordedRequest]:
        """The model calls (streamGenerateContent / generateContent), side calls included."""
        return [r for r in self.requests if r.call is not None]

    # -- bookkeeping

    def _record(self, rec: RecordedRequest, count_call: bool) -> RecordedRequest:
        with self._lock:
            if count_call:
                self.calls += 1
                rec.call = self.calls
            self.requests.append(rec)
        if self._log:
            extra = f" call={rec.call} scenario={rec.scenario} step={rec.step}" if rec.call else ""
            if rec.side:
                extra += f" side={rec.side}"
            self._log(f"{rec.method} {rec.path}{'?' + rec.query if rec.query else ''}{extra}")
        return rec

    def _attempt(self, rec: RecordedRequest) -> int:
        """1 for the first call of this conversation turn (scenario, first user text, step), 2 for the next..."""
        first = next((c for c in _contents(rec.body) if c.get("role", "user") == "user"), None)
        digest = hashlib.sha256(json.dumps(first, sort_keys=True).encode()).hexdigest()
        key = (rec.scenario, digest, rec.step)
        with self._lock:
            self._per_conv[key] = self._per_conv.get(key, 0) + 1
            return self._per_conv[key]


class _Handler(LoopbackHandler):
    server_version = "fake-gemini/1.0"

    # -- plumbing

    @property
    def fake(self) -> FakeGemini:
        return self.server.fake

    def _send_json(self, status: int, obj: Any) -> None:
        data = json.dumps(obj, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json; charset=UTF-8")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _send_api_error(self, err: ApiError) -> None:
        self._send_json(err.status, err.body())

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _sse(self, obj: dict[str, Any]) -> None:
        self._chunk(b"data: " + json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode() + b"\r\n\r\n")

    def _sse_headers(self, close: bool = False) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        if close:
            self.send_header("connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.flush()

    def _abort(self) -> None:
        """Close the TCP connection mid-response (FIN, no final chunk)."""
        self.close_connection = True
        try:
            self.wfile.flush()
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
        model = action = None
        m = re.fullmatch(re.escape(API_PREFIX) + r"/models/([^/:]+):([A-Za-z]+)", path)
        if m:
            model, action = m.group(1), m.group(2)
        is_model_call = self.command == "POST" and action in MODEL_ACTIONS
        rec = RecordedRequest(self.command, path, url.query, headers, body, time=time.time(), model=model,
                              action=action)
        if is_model_call:
            key = rec.api_key or ""
            rec.scenario = key[len(KEY_SCENARIO_PREFIX):] if key.startswith(KEY_SCENARIO_PREFIX) \
                else scenario_of(body)
            rec.step = step_of(body)
            schema = response_schema(body)
            if schema is not None:
                props = schema.get("properties") or {}
                rec.side = "classifier" if ("complexity_score" in props or "model_choice" in props) else "schema"
            elif is_web_search(body):
                rec.side = "web_search"
        rec = self.fake._record(rec, count_call=is_model_call)
        try:
            if is_model_call:
                return self._model_call(rec)
            if self.command == "POST" and action == "countTokens":
                return self._send_json(200, {"totalTokens": 42})
            if self.command == "GET" and path == API_PREFIX + "/models":
                return self._send_json(200, {"models": [self._model(mid, name) for mid, name in MODELS]})
            if self.command == "GET" and path.startswith(API_PREFIX + "/models/") and action is None:
                mid = path[len(API_PREFIX + "/models/"):]
                if mid.startswith("gemini-") and "/" not in mid:
                    return self._send_json(200, self._model(mid, dict(MODELS).get(mid, mid)))
                return self._send_json(404, google_error(404, "NOT_FOUND", f"models/{mid} is not found for API "
                                                                           f"version v1beta."))
            if self.fake._log:
                self.fake._log(f"  -> 404 (not served): {self.command} {path}")
            return self._send_json(404, google_error(404, "NOT_FOUND",
                                                     f"The requested URL {path} was not found on this server "
                                                     f"(fake Gemini: {self.command})."))
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, _Drop):
            self.close_connection = True
        except OSError:
            self.close_connection = True

    @staticmethod
    def _model(mid: str, name: str) -> dict[str, Any]:
        return {"name": f"models/{mid}", "version": "001", "displayName": name,
                "description": f"{name} (fake)", "inputTokenLimit": 1048576, "outputTokenLimit": 65536,
                "supportedGenerationMethods": ["generateContent", "countTokens", "streamGenerateContent"],
                "temperature": 1, "topP": 0.95, "topK": 64, "maxTemperature": 2, "thinking": True}

    do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = do_PATCH = _dispatch

    # -- model calls

    def _chunk_obj(self, rec: RecordedRequest, parts: list[dict[str, Any]], finish: str | None,
                   usage: dict[str, Any] | None) -> dict[str, Any]:
        cand: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
        if finish:
            cand["finishReason"] = finish
        obj: dict[str, Any] = {"candidates": [cand]}
        if usage is not None:
            obj["usageMetadata"] = usage
        obj["modelVersion"] = rec.model
        obj["responseId"] = f"fake-response-{rec.call:04d}"
        return obj

    def _model_call(self, rec: RecordedRequest) -> None:
        body = rec.body
        if not isinstance(body, dict):
            return self._send_api_error(ApiError(400, "INVALID_ARGUMENT", "Invalid JSON payload received."))
        if not rec.api_key:
            return self._send_api_error(NO_KEY)
        stream = rec.action == "streamGenerateContent"
        scen = rec.scenario or "plain"

        if rec.side == "web_search":  # google_web_search's grounded side call, whatever the scenario
            query = " ".join(t for c in _contents(body) for t in _texts(c))
            return self._answer(rec, Answer([[{"text": f"{WEB_SEARCH_TEXT} {query}"}]]), stream)
        if rec.side is not None:  # JSON side calls: classifier, next speaker, ... whatever the scenario
            answer = Answer([[{"text": json.dumps(json_for_schema(response_schema(body) or {}))}]])
            return self._answer(rec, answer, stream)
        if scen in ERRORS:
            return self._send_api_error(ERRORS[scen])

        if scen in TURN_SCENARIOS:
            answer = TURN_SCENARIOS[scen](turn_of(body, rec.step))
        else:
            answer = SCENARIOS.get(scen, _plain)(rec.step)
        if scen == "empty":
            answer = Answer([[]])
        if scen in ("drop", "drop-abort") and self.fake._attempt(rec) == 1:
            if stream:
                self._sse_headers(close=scen == "drop")
                for parts in _text_chunks(PLAIN_TEXT, 3)[:2]:
                    self._sse(self._chunk_obj(rec, parts, None, None))
                if scen == "drop":  # a complete HTTP body that just lacks the finishReason
                    self._chunk(b"")
                    self.close_connection = True
                    return
            self._abort()
            raise _Drop
        if scen == "stall":
            if stream:
                self._sse_headers()
            return self._stall()
        return self._answer(rec, answer, stream, every=scen == "usage-every")

    def _answer(self, rec: RecordedRequest, answer: Answer, stream: bool, every: bool = False) -> None:
        n = rec.call
        if not stream:
            return self._send_json(200, self._chunk_obj(rec, answer.parts(), answer.finish,
                                                        usage_for_call(n, answer.thoughts)))
        self._sse_headers()
        count = len(answer.chunks)
        for i, parts in enumerate(answer.chunks):
            if i and answer.pace and self.fake._stopping.wait(answer.pace):
                self._abort()
                raise _Drop
            last = i == count - 1
            usage = (usage_for_call(n, answer.thoughts) if last
                     else _partial_usage(n, answer.thoughts, i, count) if every else None)
            self._sse(self._chunk_obj(rec, parts, answer.finish if last else None, usage))
        self._chunk(b"")

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
    args = command_line("Fake Gemini API (generativelanguage v1beta) on 127.0.0.1").parse_args(argv)
    return serve_until_signalled(FakeGemini(port=args.port, log=stderr_log(args.log)), args.port_file)


if __name__ == "__main__":
    sys.exit(main())
