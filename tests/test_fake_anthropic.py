"""The fake Anthropic Messages API itself, over HTTP on 127.0.0.1 (no CLI involved)."""

from __future__ import annotations

import http.client
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from fakes.fake_anthropic import (
    ALL_SCENARIOS,
    LONG_CHARS,
    PLAIN_TEXT,
    RESET_5H,
    FakeAnthropic,
    scenario_of,
    start_usage,
    step_of,
    usage_for_call,
)

FAKE = Path(__file__).resolve().parent / "fakes" / "fake_anthropic.py"
CWD_SYSTEM = [{"type": "text", "text": "You are a fake.\n - Primary working directory: /tmp/somewhere/work\n"}]


@pytest.fixture
def api():
    with FakeAnthropic() as a:
        yield a


def request(api, method, path, body=None, headers=None, timeout=10):
    """(status, lower-case headers, raw body bytes), whatever the status."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(api.base_url + path, data=data, method=method,
                                 headers={"content-type": "application/json", "x-api-key": "dummy",
                                          **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def messages(api, prompt, *, stream=True, history=None, system=None, model="claude-opus-5-5", headers=None):
    body = {"model": model, "max_tokens": 128000, "stream": stream,
            "messages": [{"role": "user", "content": prompt}] + (history or [])}
    if system is not None:
        body["system"] = system
    return request(api, "POST", "/v1/messages?beta=true", body, headers)


def sse(raw: bytes) -> list[tuple[str, dict]]:
    """Parse an SSE body strictly: frames of exactly `event: X\\ndata: JSON`, separated by a blank line."""
    text = raw.decode()
    assert text.endswith("\n\n"), text[-50:]
    frames = []
    for frame in text[:-2].split("\n\n"):
        lines = frame.split("\n")
        assert len(lines) == 2, frame
        assert lines[0].startswith("event: ") and lines[1].startswith("data: "), frame
        data = json.loads(lines[1][len("data: "):])
        assert data["type"] == lines[0][len("event: "):]
        frames.append((data["type"], data))
    return frames


def blocks(frames) -> list[dict]:
    """Rebuild the content blocks of a streamed message."""
    out: list[dict] = []
    for name, d in frames:
        if name == "content_block_start":
            assert d["index"] == len(out)
            out.append({**d["content_block"], "_json": ""})
        elif name == "content_block_delta":
            b, delta = out[d["index"]], d["delta"]
            kind = delta["type"]
            if kind == "text_delta":
                b["text"] += delta["text"]
            elif kind == "thinking_delta":
                b["thinking"] += delta["thinking"]
            elif kind == "signature_delta":
                b["signature"] += delta["signature"]
            elif kind == "input_json_delta":
                b["_json"] += delta["partial_json"]
    for b in out:
        if b["type"] == "tool_use":
            b["input"] = json.loads(b["_json"])
        del b["_json"]
    return out


def tool_history(first_frames, result="ok") -> list[dict]:
    """The assistant turn of a streamed tool call and the user tool_result after it."""
    content = blocks(first_frames)
    tool = next(b for b in content if b["type"] == "tool_use")
    return [{"role": "assistant", "content": content},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool["id"], "content": result}]}]


# ---------------------------------------------------------------- SSE and usage


def test_plain_sse_framing_headers_and_usage(api):
    status, headers, raw = messages(api, "hi")
    assert status == 200
    assert headers["content-type"] == "text/event-stream; charset=utf-8"
    assert headers["cache-control"] == "no-cache"
    assert headers["request-id"] == "req_1"
    frames = sse(raw)
    names = [n for n, _ in frames]
    assert names[:2] == ["message_start", "ping"]
    assert names[-2:] == ["message_delta", "message_stop"]
    start = frames[0][1]["message"]
    assert start["model"] == "claude-opus-5-5" and start["role"] == "assistant" and start["content"] == []
    assert start["usage"] == {"input_tokens": 101, "cache_creation_input_tokens": 1000,
                              "cache_read_input_tokens": 20001,
                              "cache_creation": {"ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 0},
                              "output_tokens": 1, "service_tier": "standard"}
    text_deltas = [d for n, d in frames if n == "content_block_delta"]
    assert 2 <= len(text_deltas) <= 3
    assert blocks(frames) == [{"type": "text", "text": PLAIN_TEXT}]
    delta = frames[-2][1]
    assert delta["delta"]["stop_reason"] == "end_turn"
    assert delta["usage"] == {"output_tokens": 18}


def test_usage_arithmetic_per_call_of_the_server_life(api):
    assert usage_for_call(1) == {"input_tokens": 101, "cache_creation_input_tokens": 1000,
                                 "cache_read_input_tokens": 20001, "output_tokens": 18}
    assert usage_for_call(7) == {"input_tokens": 107, "cache_creation_input_tokens": 7000,
                                 "cache_read_input_tokens": 20007, "output_tokens": 24}
    for n in (1, 2, 3):
        _, headers, raw = messages(api, "[scenario:plain] again", model="claude-sonnet-5-5")
        frames = sse(raw)
        assert headers["request-id"] == f"req_{n}"
        assert frames[0][1]["message"]["usage"] == start_usage(n)
        assert frames[0][1]["message"]["model"] == "claude-sonnet-5-5"
        assert frames[-2][1]["usage"]["output_tokens"] == usage_for_call(n)["output_tokens"]
    # Failed calls count too, other endpoints do not.
    request(api, "POST", "/v1/messages/count_tokens", {"messages": []})
    assert messages(api, "[scenario:server500] x")[0] == 500
    _, _, raw = messages(api, "hi")
    assert sse(raw)[0][1]["message"]["usage"] == start_usage(5)
    assert api.calls == 5
    api.reset()
    assert api.calls == 0 and api.requests == []
    _, _, raw = messages(api, "hi")
    assert sse(raw)[0][1]["message"]["usage"] == start_usage(1)


def test_requests_are_recorded(api):
    messages(api, [{"type": "text", "text": "<system-reminder>x</system-reminder>"},
                   {"type": "text", "text": "[scenario:thinking] go"}],
             headers={"x-claude-code-session-id": "sess-1"})
    (rec,) = api.requests
    assert (rec.method, rec.path, rec.query, rec.call, rec.scenario) == ("POST", "/v1/messages", "beta=true", 1,
                                                                         "thinking")
    assert rec.headers["x-claude-code-session-id"] == "sess-1"
    assert rec.headers["x-api-key"] == "dummy" and not rec.oauth
    assert rec.body["stream"] is True and rec.body["model"] == "claude-opus-5-5"
    assert api.message_requests() == [rec]


# ---------------------------------------------------------------- scenarios


def test_tool_round_trip(api):
    _, _, raw = messages(api, "[scenario:tool] run it", system=CWD_SYSTEM)
    frames = sse(raw)
    content = blocks(frames)
    assert content[0] == {"type": "text", "text": "Let me run a command."}
    assert content[1]["type"] == "tool_use" and content[1]["name"] == "Bash"
    assert content[1]["input"] == {"command": "echo hello-from-tool", "description": "Say hello"}
    assert sum(1 for n, d in frames if n == "content_block_delta" and d["index"] == 1) >= 2  # chunked JSON
    assert frames[-2][1]["delta"]["stop_reason"] == "tool_use"

    history = tool_history(frames, "hello-from-tool")
    _, _, raw = messages(api, "[scenario:tool] run it", history=history, system=CWD_SYSTEM)
    frames = sse(raw)
    assert blocks(frames) == [{"type": "text", "text": "The command printed hello-from-tool."}]
    assert frames[-2][1]["delta"]["stop_reason"] == "end_turn"
    assert [r.scenario for r in api.requests] == ["tool", "tool"]


@pytest.mark.parametrize(("scenario", "tool", "expected_input", "final"), [
    ("write", "Write", {"file_path": "/tmp/somewhere/work/created-by-claude.txt", "content": "hello\n"},
     "Wrote the file."),
    ("edit", "Edit", {"file_path": "/tmp/somewhere/work/hello.txt", "old_string": "hello",
                      "new_string": "hello, edited"}, "Edited the file."),
    ("read", "Read", {"file_path": "/tmp/somewhere/work/hello.txt"}, "Read the file."),
    ("websearch", "WebSearch", {"query": "codex shims"}, "Searched the web."),
    ("mcp", "Glob", {"pattern": "*.py"}, "Found the files."),
    ("slowtool", "Bash", {"command": 'python3 -c "import time; time.sleep(30)"', "description": "Wait 30 seconds"},
     "done"),
])
def test_single_tool_scenarios(api, scenario, tool, expected_input, final):
    # The working directory may also come in a role:"system" message, as the CLI sends it.
    history_system = [{"role": "system", "content": CWD_SYSTEM[0]["text"]}]
    _, _, raw = messages(api, f"[scenario:{scenario}] do it", history=history_system)
    content = blocks(sse(raw))
    assert content[1]["name"] == tool and content[1]["input"] == expected_input
    _, _, raw = messages(api, f"[scenario:{scenario}] do it", history=history_system + tool_history(sse(raw)))
    assert blocks(sse(raw)) == [{"type": "text", "text": final}]


def test_write_without_a_working_directory_uses_a_relative_name(api):
    _, _, raw = messages(api, "[scenario:write] do it")
    assert blocks(sse(raw))[1]["input"]["file_path"] == "created-by-claude.txt"


def test_todo_input(api):
    _, _, raw = messages(api, "[scenario:todo] plan")
    todos = blocks(sse(raw))[1]["input"]["todos"]
    assert [t["status"] for t in todos] == ["completed", "pending"]
    assert todos[0] == {"content": "step one", "status": "completed", "activeForm": "Doing step one"}


def test_thinking_block(api):
    _, _, raw = messages(api, "[scenario:thinking] think")
    content = blocks(sse(raw))
    assert content[0] == {"type": "thinking", "thinking": "Let me think about this.", "signature": "sig-fake"}
    assert content[1]["type"] == "text" and content[1]["text"]


def test_long_answer_in_4k_deltas(api):
    _, _, raw = messages(api, "[scenario:long] a lot")
    frames = sse(raw)
    deltas = [d["delta"]["text"] for n, d in frames if n == "content_block_delta"]
    assert len(deltas) >= 40 and max(map(len, deltas)) <= 4096
    assert len("".join(deltas)) == LONG_CHARS


def test_scenario_and_step_detection():
    tr = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "x"}]}
    asst = {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "Bash", "input": {}}]}
    first = {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b [scenario:write]"}]}
    assert scenario_of({"messages": [first]}) == "write"
    assert scenario_of({"messages": [{"role": "user", "content": "no token"}]}) == "plain"
    assert scenario_of({"messages": [{"role": "user", "content": "x"}, {"role": "user", "content": "[scenario:tool]"}]}) \
        == "plain"  # only the first user message counts
    assert step_of({"messages": [first]}) == 0
    assert step_of({"messages": [first, asst, tr]}) == 1
    assert step_of({"messages": [first, asst, tr, asst, tr]}) == 2
    # A new prompt after a finished tool turn (resume) starts over.
    assert step_of({"messages": [first, asst, tr, {"role": "assistant", "content": "done"},
                                 {"role": "user", "content": "again"}]}) == 0
    # A system-role message after the tool_result (Claude Code 2.1.331 appends one when an MCP
    # server's tools arrive) is no new turn.
    system = {"role": "system", "content": [{"type": "text", "text": "deferred tools are now available"}]}
    assert step_of({"messages": [first, system, asst, tr, system]}) == 1
    assert step_of({"messages": [first, asst, tr, system, asst, tr]}) == 2
    assert {"plain", "tool", "rate429", "usagelimit", "stall", "drop"} <= set(ALL_SCENARIOS)


def test_shims_spawn_wait_reads_the_agent_id_and_quotes_the_wait_result(api):
    tools = [{"name": n, "input_schema": {"type": "object"}} for n in ("Bash", "mcp__host__spawn", "mcp__host__wait")]

    def turn(history):
        body = {"model": "claude-opus-5-5", "max_tokens": 1000, "stream": True, "system": CWD_SYSTEM, "tools": tools,
                "messages": [{"role": "user", "content": "[scenario:shims-spawn-wait] go"}] + history}
        frames = sse(request(api, "POST", "/v1/messages", body)[2])
        return frames, blocks(frames)

    frames, content = turn([])
    assert content[1]["name"] == "mcp__host__spawn"  # the name the request declares
    assert content[1]["input"] == {"provider": "fake", "task": "hello there", "cwd": "/tmp/somewhere/work"}
    history = tool_history(frames, '{"agent_id":"0123456789ab","status":"running"}')
    frames, content = turn(history)
    assert content[1]["name"] == "mcp__host__wait"
    assert content[1]["input"] == {"agent_id": "0123456789ab", "timeout_seconds": 30}
    history += tool_history(frames, "fake worker 0123456789ab completed. answer: hi")
    _, content = turn(history)
    assert content == [{"type": "text", "text": "The worker finished. wait returned: fake worker 0123456789ab "
                                                "completed. answer: hi"}]


# ---------------------------------------------------------------- errors


def test_error_status_with_body_and_headers(api):
    status, headers, raw = messages(api, "[scenario:rate429] hi")
    assert status == 429
    assert json.loads(raw) == {"type": "error", "error": {"type": "rate_limit_error", "message": json.loads(raw)[
        "error"]["message"]}, "request_id": "req_1"}
    assert headers["retry-after"] == "1"
    assert headers["anthropic-ratelimit-requests-remaining"] == "0"
    assert headers["request-id"] == "req_1"

    status, headers, raw = messages(api, "[scenario:rate429-noheaders] hi", stream=False)
    assert status == 429 and "retry-after" not in headers
    assert not any(k.startswith("anthropic-ratelimit") for k in headers)


@pytest.mark.parametrize(("scenario", "status", "etype", "message"), [
    ("overloaded529", 529, "overloaded_error", "Overloaded"),
    ("server500", 500, "api_error", None),
    ("auth401", 401, "authentication_error", "invalid x-api-key"),
    ("forbidden403", 403, "permission_error", None),
    ("badrequest400", 400, "invalid_request_error", None),
    ("toolong400", 400, "invalid_request_error", "prompt is too long: 250000 tokens > 200000 maximum"),
    ("credit400", 400, "invalid_request_error", "Your credit balance is too low to access the Anthropic API. "
                                                "Please go to Plans & Billing to upgrade or purchase credits."),
    ("spendcap400", 400, "invalid_request_error", "You have reached your specified API usage limits. "
                                                  "You will regain access on 2026-12-01 at 00:00 UTC."),
    ("nomodel404", 404, "not_found_error", "model: no-such-model"),
])
def test_error_scenarios_every_call(api, scenario, status, etype, message):
    for stream in (True, False, True):
        got, _, raw = messages(api, f"[scenario:{scenario}] hi", stream=stream)
        err = json.loads(raw)
        assert got == status and err["type"] == "error" and err["error"]["type"] == etype
        assert err["error"]["message"] == (message or err["error"]["message"]) and err["error"]["message"]


def test_usage_limit_and_quota_warning_headers(api):
    oauth = {"authorization": "Bearer sk-ant-oat01-fake"}
    status, headers, raw = messages(api, "[scenario:usagelimit] hi", headers=oauth)
    assert status == 429 and json.loads(raw)["error"]["type"] == "rate_limit_error"
    u = "anthropic-ratelimit-unified-"
    assert headers[u + "status"] == "rejected" and headers[u + "reset"] == str(RESET_5H)
    assert headers[u + "5h-status"] == "rejected" and headers[u + "5h-utilization"] == "1.0"
    assert headers[u + "representative-claim"] == "five_hour"
    assert headers[u + "overage-status"] == "rejected"
    assert headers[u + "overage-disabled-reason"] == "org_level_disabled"
    assert headers[u + "7d-status"] == "allowed"
    assert api.requests[-1].oauth

    status, headers, raw = messages(api, "[scenario:quotawarn] hi", headers=oauth)
    assert status == 200 and blocks(sse(raw)) == [{"type": "text", "text": PLAIN_TEXT}]
    assert headers[u + "status"] == "allowed_warning"
    assert headers[u + "5h-utilization"] == "0.92" and headers[u + "5h-surpassed-threshold"] == "0.9"


def test_flaky529_fails_once_per_conversation(api):
    assert messages(api, "[scenario:flaky529] hi")[0] == 529
    status, _, raw = messages(api, "[scenario:flaky529] hi")
    assert status == 200 and blocks(sse(raw))[0]["text"] == PLAIN_TEXT
    assert messages(api, "[scenario:flaky529] another conversation")[0] == 529


# ---------------------------------------------------------------- stream failures and the fallback


def test_non_streaming_fallback_returns_a_full_message(api):
    status, headers, raw = messages(api, "[scenario:tool] x", stream=False)
    msg = json.loads(raw)
    assert status == 200 and headers["content-type"] == "application/json"
    assert msg["type"] == "message" and msg["stop_reason"] == "tool_use" and msg["model"] == "claude-opus-5-5"
    assert msg["content"][1]["input"] == {"command": "echo hello-from-tool", "description": "Say hello"}
    assert msg["usage"] == {**start_usage(1), "output_tokens": 18}

    status, _, raw = messages(api, "[scenario:midstream-error] x", stream=False)
    msg = json.loads(raw)
    assert status == 200 and msg["stop_reason"] == "end_turn"
    assert msg["content"] == [{"type": "text", "text": "Recovered after stream errors."}]
    assert msg["usage"]["output_tokens"] == usage_for_call(2)["output_tokens"]


def test_midstream_error_event(api):
    for _ in range(2):  # every streaming call
        status, _, raw = messages(api, "[scenario:midstream-error] x")
        frames = sse(raw)
        assert status == 200
        assert [n for n, _ in frames] == ["message_start", "ping", "content_block_start", "content_block_delta",
                                          "error"]
        assert frames[-1][1] == {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}


def test_drop_closes_the_connection_twice_then_answers(api):
    for stream in (True, False):
        with pytest.raises((http.client.IncompleteRead, http.client.RemoteDisconnected, ConnectionError,
                            urllib.error.URLError)):
            messages(api, "[scenario:drop] x", stream=stream)
    status, _, raw = messages(api, "[scenario:drop] x", stream=False)
    assert status == 200 and json.loads(raw)["content"] == [{"type": "text", "text": PLAIN_TEXT}]
    status, _, raw = messages(api, "[scenario:drop] x")
    assert status == 200 and blocks(sse(raw)) == [{"type": "text", "text": PLAIN_TEXT}]


def _raw_post(api, body: dict) -> socket.socket:
    data = json.dumps(body).encode()
    s = socket.create_connection(("127.0.0.1", api.port), timeout=5)
    s.sendall(b"POST /v1/messages?beta=true HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n%s" % (len(data), data))
    return s


def _read_until(s: socket.socket, marker: bytes) -> bytes:
    got = b""
    while marker not in got:
        chunk = s.recv(65536)
        assert chunk, got
        got += chunk
    return got


def test_stall_sends_message_start_then_nothing_until_stop():
    api = FakeAnthropic().start()
    try:
        s = _raw_post(api, {"model": "m", "stream": True, "messages": [{"role": "user", "content": "[scenario:stall]"}]})
        got = _read_until(s, b"message_start")
        assert got.startswith(b"HTTP/1.1 200") and b"transfer-encoding: chunked" in got.lower()
        s.settimeout(0.6)
        with pytest.raises(TimeoutError):
            s.recv(65536)
    finally:
        t0 = time.monotonic()
        api.stop()
    assert time.monotonic() - t0 < 3
    s.settimeout(3)
    try:
        assert s.recv(65536) == b""  # the server closed the stalled stream when it stopped
    except ConnectionResetError:
        pass
    s.close()


def test_stop_ends_a_slow_stream_quickly():
    api = FakeAnthropic().start()
    s = _raw_post(api, {"model": "m", "stream": True, "messages": [{"role": "user", "content": "[scenario:slow]"}]})
    _read_until(s, b"Slow part 1 of 10.")
    t0 = time.monotonic()
    api.stop()
    assert time.monotonic() - t0 < 2
    s.close()


# ---------------------------------------------------------------- other routes and the command line


def test_other_endpoints_and_404(api):
    status, _, raw = request(api, "POST", "/v1/messages/count_tokens?beta=true", {"messages": []})
    assert status == 200 and json.loads(raw) == {"input_tokens": 42}
    status, _, raw = request(api, "GET", "/v1/models")
    assert status == 200 and any(m["id"] == "claude-opus-5-5" for m in json.loads(raw)["data"])
    status, _, raw = request(api, "GET", "/v1/models/claude-sonnet-5-5")
    assert status == 200 and json.loads(raw)["id"] == "claude-sonnet-5-5"
    status, _, raw = request(api, "HEAD", "/api/hello")
    assert status == 200 and raw == b""
    status, headers, raw = request(api, "GET", "/v1/nothing/here")
    err = json.loads(raw)
    assert status == 404 and headers["content-type"] == "application/json"
    assert err["type"] == "error" and err["error"]["type"] == "not_found_error" and err["request_id"]
    assert api.calls == 0  # none of these is a /v1/messages call


def test_command_line_serves_until_sigterm(tmp_path):
    port_file = tmp_path / "port"
    proc = subprocess.Popen([sys.executable, str(FAKE), "--port-file", str(port_file)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("listening http://127.0.0.1:")
        port = int(line.rsplit(":", 1)[1])
        assert int(port_file.read_text()) == port
        with urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/api/hello", method="HEAD"),
                                    timeout=5) as r:
            assert r.status == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


# ---------------------------------------------------------------- structured output (claude --json-schema)

ANSWER = {"type": "object", "properties": {"title": {"type": "string"}, "count": {"type": "integer", "minimum": 4},
                                           "tags": {"type": "array", "items": {"enum": ["a", "b"]}},
                                           "done": {"type": "boolean"}}, "required": ["title"]}


def structured_tool(schema):
    return {"name": "StructuredOutput", "description": "Return structured output", "input_schema": schema}


def test_structured_scenarios_call_the_declared_tool(api):
    body = {"model": "claude-opus-5-5", "max_tokens": 1000, "stream": True, "tools": [structured_tool(ANSWER)],
            "messages": [{"role": "user", "content": "[scenario:structured] go"}]}
    _, _, raw = request(api, "POST", "/v1/messages?beta=true", body)
    frames = sse(raw)
    content = blocks(frames)
    assert content[1]["name"] == "StructuredOutput"
    assert content[1]["input"] == {"title": "fake title", "count": 4, "tags": ["a"], "done": True}
    assert frames[-2][1]["delta"]["stop_reason"] == "tool_use"
    # structured-retry: first an input the schema refuses, then (after the tool_result) a valid one
    retry = {**body, "messages": [{"role": "user", "content": "[scenario:structured-retry] go"}]}
    first = sse(request(api, "POST", "/v1/messages?beta=true", retry)[2])
    assert blocks(first)[0]["input"] == {}
    retry["messages"] += tool_history(first, "Output does not match required schema")
    assert blocks(sse(request(api, "POST", "/v1/messages?beta=true", retry)[2]))[1]["input"]["title"] == "fake title"


def test_structured_scenario_without_the_tool_answers_in_prose(api):
    _, _, raw = messages(api, "[scenario:structured] go")
    assert blocks(sse(raw)) == [{"type": "text", "text": PLAIN_TEXT}]
