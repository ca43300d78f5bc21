#!/usr/bin/env python3
"""A fake OpenAI Responses API on 127.0.0.1, for running the real Codex CLI offline (codex.md §9).

What it serves:

  POST /v1/responses     an SSE stream (`event: <type>\\ndata: <json>\\n\\n`), played from the script
  GET  /v1/models        {"object": "list", "data": [{"id": "fake-model", ...}]}
  anything else          404 {"error": {...}}

The model's part is a SCRIPT: a list of steps, one per /v1/responses call of a conversation. The
step played is chosen by how many `function_call_output` items the request's `input` holds (0 →
the first step, 1 → the second, ...); past the end, the model answers END_TEXT. A step is one of

  Call(tool, arguments)   call the tool; `tool` is the plain name (an MCP tool's own name, `spawn`,
                          or a built-in one, `exec_command`); the fake looks it up in the request's
                          `tools` and calls it by the name (and namespace) Codex offered it under
  Answer(text)            answer with a message; the turn ends
  Fail(message)           response.failed (server_error); codex exec reports turn.failed, exit 1
  Stall()                 response.created, then only SSE comments until the client goes away

Substitution (arguments and answer text), from the LATEST function_call_output of the request:

  "${output}"             the output's text exactly as the model received it
  "${a.b}"                field b of field a of the JSON object that text holds (a list index is a
                          number: "${items.0.id}"). Codex 0.169 hands the model an MCP result as
                          "Wall time: S seconds\nOutput:\n<structuredContent as JSON>"; the JSON is
                          read after that prefix. When the output is a list of content items, the
                          JSON is that of the first item whose text parses as a JSON object.
  An argument string that is exactly one "${...}" becomes the value itself (a number stays a
  number); inside a longer string (or in answer text) a value is spliced in as compact JSON, a
  string as itself. "$${" stands for a literal "${". A placeholder with nothing to fill it (no
  output yet, not JSON, no such field) makes that response a response.failed naming it, so a
  script mistake shows up as a failed turn, not as a silently wrong call.

Usage is deterministic: the n-th /v1/responses call of the server's life (n from 1, every call
counts, failed ones too) reports input=100+n (cached 10*n of them), output=17+n (reasoning n of
them), total=input+output; `usage_for_call(n)` computes it. Failed and stalled calls report none.

Library use:

    with FakeResponses([Call("spawn", {"prompt": "hi"}),
                        Call("wait", {"agent_id": "${agent_id}"}),
                        Answer("Worker said: ${output}")]) as api:     # 127.0.0.1, port 0
        config: base_url = api.base_url                          # http://127.0.0.1:PORT/v1
        api.requests                                             # every request, recorded
        api.response_requests()[-1].body["tools"]

Command line (standard library only, any python3):

    python tests/fakes/fake_responses.py [--script FILE.json] [--port N] [--port-file F] [--log]

FILE.json is a list of steps: {"call": T, "arguments": {...}} | {"answer": X} | {"fail": M} |
{"stall": true} (default: one answer). Prints `listening http://127.0.0.1:PORT/v1`; serves until
SIGTERM/SIGINT.
"""

from __future__ import annotations

import json
import re
import select
import socket
import sys
import time
from collections.abc import Callable
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

MODEL = "fake-model"
END_TEXT = "The script has no more steps."
DEFAULT_TEXT = "Hello from the fake Responses model."
KEEPALIVE_S = 0.5  # between SSE comments of a stalled stream
OUTPUT_MARK = "\nOutput:\n"  # Codex: "Wall time: 0.0055 seconds\nOutput:\n{...}"
PLACEHOLDER_RE = re.compile(r"\$\$\{|\$\{([^}]*)\}")


# ---------------------------------------------------------------- usage


def usage_for_call(n: int) -> dict[str, Any]:
    """The usage of the n-th /v1/responses call of a server's life (n from 1)."""
    inp, out = 100 + n, 17 + n
    return {"input_tokens": inp, "input_tokens_details": {"cached_tokens": 10 * n},
            "output_tokens": out, "output_tokens_details": {"reasoning_tokens": n},
            "total_tokens": inp + out}


# ---------------------------------------------------------------- script


@dataclass(frozen=True)
class Call:
    tool: str  # the plain name: "spawn", "exec_command"
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Answer:
    text: str


@dataclass(frozen=True)
class Fail:
    message: str = "fake server error"


@dataclass(frozen=True)
class Stall:
    pass


Step = Call | Answer | Fail | Stall


def step_from_json(obj: dict[str, Any]) -> Step:
    """One step of a script file: {"call", "arguments"} | {"answer"} | {"fail"} | {"stall"}."""
    if "call" in obj:
        return Call(str(obj["call"]), dict(obj.get("arguments") or {}))
    if "answer" in obj:
        return Answer(str(obj["answer"]))
    if "fail" in obj:
        return Fail(str(obj["fail"] or Fail.message))
    if obj.get("stall"):
        return Stall()
    raise ValueError(f"not a script step: {obj!r}")


class ScriptError(Exception):
    """The script cannot be played against this request (a placeholder or a tool it lacks)."""


# ---------------------------------------------------------------- request inspection


def function_call_outputs(body: Any) -> list[dict[str, Any]]:
    """The function_call_output items of a request's input, in order."""
    items = body.get("input") if isinstance(body, dict) else None
    return [i for i in items or [] if isinstance(i, dict) and i.get("type") == "function_call_output"]


def output_text(item: dict[str, Any]) -> str:
    """The text of a function_call_output: a string, or the texts of its content items, joined."""
    out = item.get("output")
    if isinstance(out, str):
        return out
    if isinstance(out, list):
        return "\n".join(p["text"] for p in out if isinstance(p, dict) and isinstance(p.get("text"), str))
    return json.dumps(out)


def output_body(text: str) -> str:
    """The tool's own output inside the text Codex gives the model: Codex 0.169 wraps a tool's
    result as "Wall time: S seconds\\nOutput:\\n<result>"; anything else is taken whole."""
    head, sep, rest = text.partition(OUTPUT_MARK)
    return rest if sep and head.startswith("Wall time:") and "\n" not in head.rstrip("\n") else text


def output_json(item: dict[str, Any]) -> Any:
    """The JSON a function_call_output holds (see the module doc), or None."""
    candidates = [output_body(output_text(item))]
    if isinstance(item.get("output"), list):
        candidates += [p.get("text") for p in item["output"] if isinstance(p, dict)]
    for text in candidates:
        if not isinstance(text, str):
            continue
        try:
            value = json.loads(text)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def offered_tools(body: Any) -> list[tuple[str | None, dict[str, Any]]]:
    """(namespace, function tool) for every function the request offers, namespaces unfolded."""
    found: list[tuple[str | None, dict[str, Any]]] = []
    for t in (body.get("tools") if isinstance(body, dict) else None) or []:
        if not isinstance(t, dict):
            continue
        if t.get("type") == "namespace":
            found += [(t.get("name"), sub) for sub in t.get("tools") or [] if isinstance(sub, dict)]
        elif t.get("type") == "function":
            found.append((None, t))
    return found


def resolve_tool(body: Any, plain: str) -> tuple[str | None, str]:
    """(namespace, name) under which the request offers the tool `plain`: an exact name first,
    then a name that ends in `__<plain>` (Codex's `mcp__<server>__<tool>` spelling)."""
    tools = offered_tools(body)
    for ns, t in tools:
        if t.get("name") == plain:
            return ns, plain
    for ns, t in tools:
        name = t.get("name") or ""
        if name.endswith(f"__{plain}"):
            return ns, name
    names = [f"{ns}/{t.get('name')}" if ns else str(t.get("name")) for ns, t in tools]
    raise ScriptError(f"the request offers no tool {plain!r} (offered: {', '.join(names)})")


def _lookup(data: Any, path: str) -> Any:
    value = data
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise ScriptError(f"placeholder ${{{path}}}: the last tool output has no {part!r}")
    return value


class Filler:
    """Fills ${...} placeholders from the latest function_call_output of one request."""

    def __init__(self, body: Any):
        outputs = function_call_outputs(body)
        self.latest = outputs[-1] if outputs else None

    def value(self, path: str) -> Any:
        if self.latest is None:
            raise ScriptError(f"placeholder ${{{path}}}: the request holds no tool output yet")
        if path == "output":
            return output_text(self.latest)
        data = output_json(self.latest)
        if data is None:
            raise ScriptError(f"placeholder ${{{path}}}: the last tool output is not a JSON object: "
                              f"{output_text(self.latest)[:200]!r}")
        return _lookup(data, path)

    def text(self, s: str) -> str:
        def one(m: re.Match[str]) -> str:
            if m.group(0) == "$${":
                return "${"
            v = self.value(m.group(1))
            return v if isinstance(v, str) else json.dumps(v, separators=(",", ":"))
        return PLACEHOLDER_RE.sub(one, s)

    def fill(self, value: Any) -> Any:
        if isinstance(value, str):
            m = PLACEHOLDER_RE.fullmatch(value)
            if m and m.group(1) is not None:
                return self.value(m.group(1))
            return self.text(value)
        if isinstance(value, list):
            return [self.fill(v) for v in value]
        if isinstance(value, dict):
            return {k: self.fill(v) for k, v in value.items()}
        return value


# ---------------------------------------------------------------- server


@dataclass
class RecordedRequest:
    method: str
    path: str  # without the query string
    query: str
    headers: dict[str, str]  # lower-case names
    body: Any  # parsed JSON, or None
    call: int | None = None  # n of a /v1/responses call
    step: int | None = None  # index of the script step played
    played: Any = None  # what was played: the step with its placeholders filled, or the ScriptError
    time: float = 0.0


class FakeResponses(LoopbackFake):
    """The fake API. `start()` binds 127.0.0.1 (port 0 = any free port) and serves in a daemon thread."""

    def __init__(self, script: list[Step] | None = None, port: int = 0,
                 log: Callable[[str], None] | None = None):
        self.script: list[Step] = list(script) if script is not None else [Answer(DEFAULT_TEXT)]
        super().__init__(port, log)
        self.requests: list[RecordedRequest] = []
        self.calls = 0  # /v1/responses calls of this server's life

    # -- lifecycle

    thread_name = "fake-responses"

    def handler(self) -> type[BaseHTTPRequestHandler]:
        return _Handler

    @property
    def base_url(self) -> str:
        """What a Codex model provider's base_url must be (the /v1 is part of it)."""
        return f"http://{HOST}:{self.port}/v1"

    def response_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.call is not None]

    def _record(self, rec: RecordedRequest, count_call: bool) -> RecordedRequest:
        with self._lock:
            if count_call:
                self.calls += 1
                rec.call = self.calls
            self.requests.append(rec)
        return rec

    def log(self, line: str) -> None:
        if self._log:
            self._log(line)

    def step_for(self, body: Any) -> tuple[int, Step]:
        i = len(function_call_outputs(body))
        return i, (self.script[i] if i < len(self.script) else Answer(END_TEXT))


class _Handler(LoopbackHandler):
    server_version = "fake-responses/1.0"

    @property
    def fake(self) -> FakeResponses:
        return self.server.fake

    def _send_json(self, status: int, obj: Any) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _event(self, obj: dict[str, Any]) -> None:
        self._chunk(f"event: {obj['type']}\ndata: {json.dumps(obj, separators=(',', ':'))}\n\n".encode())

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        path = unquote(url.path).rstrip("/") or "/"
        raw = self._read_body() if self.command in ("POST", "PUT", "PATCH") else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = {k.lower(): v for k, v in self.headers.items()}
        is_responses = self.command == "POST" and path == "/v1/responses"
        rec = self.fake._record(RecordedRequest(self.command, path, url.query, headers, body, time=time.time()),
                                count_call=is_responses)
        try:
            if is_responses:
                return self._responses(rec)
            self.fake.log(f"{self.command} {path}")
            if self.command == "GET" and path == "/v1/models":
                return self._send_json(200, {"object": "list", "data": [
                    {"id": MODEL, "object": "model", "created": 1767225600, "owned_by": "fake"}]})
            return self._send_json(404, {"error": {"message": f"Not found: {self.command} {path}",
                                                   "type": "invalid_request_error", "code": "not_found"}})
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, OSError):
            self.close_connection = True

    do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = do_PATCH = _dispatch

    # -- /v1/responses

    def _responses(self, rec: RecordedRequest) -> None:
        n = rec.call
        rid = f"resp_fake_{n:04d}"
        body = rec.body if isinstance(rec.body, dict) else {}
        rec.step, step = self.fake.step_for(body)
        try:
            played = self._fill(body, step)
        except ScriptError as e:
            played = e
        rec.played = played
        self.fake.log(f"POST /v1/responses call={n} step={rec.step} {played!r}")

        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.send_header("x-request-id", f"req_{n}")
        self.end_headers()
        self._event({"type": "response.created", "response": {"id": rid}})
        if isinstance(played, ScriptError | Fail):
            message = str(played) if isinstance(played, ScriptError) else played.message
            self._event({"type": "response.failed", "response": {
                "id": rid, "error": {"code": "server_error", "message": message}}})
        elif isinstance(played, Stall):
            return self._stall()
        elif isinstance(played, Answer):
            self._message(n, played.text)
            self._completed(rid, n)
        else:
            self._function_call(n, played)
            self._completed(rid, n)
        self._chunk(b"")

    @staticmethod
    def _fill(body: dict[str, Any], step: Step) -> Any:
        """The step with its placeholders filled and (for a call) the tool's offered name found."""
        filler = Filler(body)
        if isinstance(step, Answer):
            return Answer(filler.text(step.text))
        if isinstance(step, Call):
            namespace, name = resolve_tool(body, step.tool)
            return _Offered(namespace, name, filler.fill(step.arguments))
        return step

    def _message(self, n: int, text: str) -> None:
        mid = f"msg_fake_{n:04d}"
        self._event({"type": "response.output_item.added", "output_index": 0, "item": {
            "type": "message", "id": mid, "role": "assistant", "status": "in_progress", "content": []}})
        size = max(1, -(-len(text) // 3))
        for k in range(0, len(text), size):
            self._event({"type": "response.output_text.delta", "item_id": mid, "output_index": 0,
                         "content_index": 0, "delta": text[k:k + size]})
        self._event({"type": "response.output_item.done", "output_index": 0, "item": {
            "type": "message", "id": mid, "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": []}]}})

    def _function_call(self, n: int, call: _Offered) -> None:
        item: dict[str, Any] = {"type": "function_call", "id": f"fc_fake_{n:04d}", "call_id": f"call_fake_{n:04d}",
                                "name": call.name, "arguments": json.dumps(call.arguments), "status": "completed"}
        if call.namespace:
            item["namespace"] = call.namespace
        self._event({"type": "response.output_item.added", "output_index": 0, "item": item})
        self._event({"type": "response.output_item.done", "output_index": 0, "item": item})

    def _completed(self, rid: str, n: int) -> None:
        self._event({"type": "response.completed", "response": {"id": rid, "usage": usage_for_call(n)}})

    def _stall(self) -> None:
        """SSE comments only, until the client goes away or the server stops."""
        self.close_connection = True
        sock = self.connection
        while not self.fake._stopping.wait(KEEPALIVE_S):
            try:
                self._chunk(b": keepalive\n\n")
                r, _, _ = select.select([sock], [], [], 0)
                if r and not sock.recv(65536, socket.MSG_PEEK):
                    return  # client closed
            except OSError:
                return


@dataclass(frozen=True)
class _Offered:
    """A Call resolved against one request: the name and namespace Codex offered, filled arguments."""

    namespace: str | None
    name: str
    arguments: Any


# ---------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    ap = command_line("Fake OpenAI Responses API on 127.0.0.1")
    ap.add_argument("--script", help="JSON file: a list of steps (see the module doc)")
    args = ap.parse_args(argv)
    script = None
    if args.script:
        with open(args.script) as f:
            script = [step_from_json(s) for s in json.load(f)]
    return serve_until_signalled(FakeResponses(script, port=args.port, log=stderr_log(args.log)), args.port_file)


if __name__ == "__main__":
    sys.exit(main())
