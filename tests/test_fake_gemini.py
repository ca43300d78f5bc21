"""The fake Gemini API itself, over HTTP on 127.0.0.1 (no CLI involved)."""

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
from fakes.fake_gemini import (
    ALL_SCENARIOS,
    PLAIN_TEXT,
    SLOW_CHUNKS,
    THOUGHT_TEXT,
    WEB_SEARCH_TEXT,
    FakeGemini,
    json_for_schema,
    scenario_of,
    split_text,
    step_of,
    usage_for_call,
)

FAKE = Path(__file__).resolve().parent / "fakes" / "fake_gemini.py"
MODEL = "gemini-2.5-flash"
CONTEXT = {"text": "<session_context>\nThis is the Gemini CLI. We are setting up the context for our chat.\n"
                   "</session_context>"}


@pytest.fixture
def api():
    with FakeGemini() as a:
        yield a


def request(api, method, path, body=None, headers=None, key="fake-key", timeout=10):
    """(status, lower-case headers, raw body bytes), whatever the status."""
    data = json.dumps(body).encode() if body is not None else None
    hdrs = {"content-type": "application/json", **({"x-goog-api-key": key} if key else {}), **(headers or {})}
    req = urllib.request.Request(api.base_url + path, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def user(*texts: str) -> dict:
    return {"role": "user", "parts": [{"text": t} for t in texts]}


def body_for(prompt: str, history: list[dict] | None = None, **extra) -> dict:
    """A request body shaped like the CLI's: context and prompt as parts of the first user content."""
    return {"contents": [{"role": "user", "parts": [CONTEXT, {"text": prompt}]}] + (history or []),
            "systemInstruction": {"parts": [{"text": "You are a fake."}]},
            "generationConfig": {"temperature": 1}, **extra}


def stream(api, prompt, history=None, model=MODEL, **kw):
    return request(api, "POST", f"/v1beta/models/{model}:streamGenerateContent?alt=sse",
                   body_for(prompt, history), **kw)


def generate(api, prompt, history=None, model=MODEL, **kw):
    return request(api, "POST", f"/v1beta/models/{model}:generateContent", body_for(prompt, history), **kw)


def sse(raw: bytes) -> list[dict]:
    """Parse an SSE body strictly: frames of exactly `data: JSON` each ended by CRLF CRLF."""
    text = raw.decode()
    assert text.endswith("\r\n\r\n"), text[-50:]
    frames = text[:-4].split("\r\n\r\n")
    out = []
    for f in frames:
        assert f.startswith("data: ") and "\n" not in f, f
        out.append(json.loads(f[len("data: "):]))
    return out


def parts_of(chunks: list[dict]) -> list[dict]:
    return [p for c in chunks for p in c["candidates"][0]["content"]["parts"]]


def text_of(chunks: list[dict]) -> str:
    return "".join(p.get("text", "") for p in parts_of(chunks) if not p.get("thought"))


def function_history(chunks: list[dict], output: str = "ok") -> list[dict]:
    """The model turn of a streamed functionCall and the user functionResponse after it (as the CLI sends)."""
    call = next(p["functionCall"] for p in parts_of(chunks) if "functionCall" in p)
    return [{"role": "model", "parts": [{"functionCall": {**call, "id": "x_1"},
                                         "thoughtSignature": "skip_thought_signature_validator"}]},
            {"role": "user", "parts": [{"functionResponse": {"name": call["name"], "id": "x_1",
                                                             "response": {"output": output}}}]}]


# ---------------------------------------------------------------- SSE and usage


def test_plain_sse_framing_and_usage_on_the_last_chunk(api):
    status, headers, raw = stream(api, "[scenario:plain] hi")
    assert status == 200
    assert headers["content-type"] == "text/event-stream"
    assert headers["transfer-encoding"] == "chunked"
    chunks = sse(raw)
    assert 2 <= len(chunks) <= 3
    assert text_of(chunks) == PLAIN_TEXT
    for c in chunks:
        assert c["modelVersion"] == MODEL and c["responseId"] == "fake-response-0001"
        assert c["candidates"][0]["content"]["role"] == "model" and c["candidates"][0]["index"] == 0
    assert [("finishReason" in c["candidates"][0], "usageMetadata" in c) for c in chunks] == \
        [(False, False)] * (len(chunks) - 1) + [(True, True)]
    last = chunks[-1]
    assert last["candidates"][0]["finishReason"] == "STOP"
    assert last["usageMetadata"] == usage_for_call(1)
    assert "thoughtsTokenCount" not in last["usageMetadata"]


def test_usage_arithmetic_per_call_of_the_server_life(api):
    assert usage_for_call(1) == {
        "promptTokenCount": 1100, "candidatesTokenCount": 6, "totalTokenCount": 1106, "cachedContentTokenCount": 401,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 1100}],
        "cacheTokensDetails": [{"modality": "TEXT", "tokenCount": 401}]}
    u = usage_for_call(7, thoughts=True)
    assert (u["promptTokenCount"], u["cachedContentTokenCount"], u["candidatesTokenCount"],
            u["thoughtsTokenCount"], u["totalTokenCount"]) == (1700, 407, 12, 27, 1700 + 12 + 27)
    for n in (1, 2, 3):
        _, _, raw = stream(api, "[scenario:plain] again", model="gemini-2.5-pro")
        last = sse(raw)[-1]
        assert last["usageMetadata"] == usage_for_call(n) and last["modelVersion"] == "gemini-2.5-pro"
    # Failed model calls and non-streaming ones count too; countTokens and models do not.
    request(api, "POST", f"/v1beta/models/{MODEL}:countTokens", {"contents": []})
    request(api, "GET", "/v1beta/models")
    assert stream(api, "[scenario:server500] x")[0] == 500
    _, _, raw = generate(api, "hi")
    assert json.loads(raw)["usageMetadata"] == usage_for_call(5)
    assert api.calls == 5 and [r.call for r in api.message_requests()] == [1, 2, 3, 4, 5]
    api.reset()
    assert api.calls == 0 and api.requests == []
    _, _, raw = stream(api, "hi")
    assert sse(raw)[-1]["usageMetadata"] == usage_for_call(1)


def test_thoughts_part_and_thoughts_token_count(api):
    _, _, raw = stream(api, "[scenario:thoughts] think")
    chunks = sse(raw)
    parts = parts_of(chunks)
    assert parts[0] == {"text": THOUGHT_TEXT, "thought": True}
    assert all(not p.get("thought") for p in parts[1:]) and text_of(chunks)
    usage = chunks[-1]["usageMetadata"]
    assert usage == usage_for_call(1, thoughts=True) and usage["thoughtsTokenCount"] == 21
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + usage["candidatesTokenCount"] + 21


def test_usage_on_every_chunk_grows_to_the_call_usage(api):
    _, _, raw = stream(api, "[scenario:usage-every] hi")
    chunks = sse(raw)
    cands = [c["usageMetadata"]["candidatesTokenCount"] for c in chunks]
    assert len(chunks) == 3 and cands == sorted(cands) and chunks[-1]["usageMetadata"] == usage_for_call(1)
    assert all(c["usageMetadata"]["promptTokenCount"] == 1100 for c in chunks)
    assert text_of(chunks) == PLAIN_TEXT


def test_requests_are_recorded(api):
    stream(api, "[scenario:read] go", headers={"user-agent": "GeminiCLI-tui/0.61.0/gemini-2.5-flash"})
    request(api, "POST", f"/v1beta/models/{MODEL}:countTokens", {"contents": []})
    rec, count = api.requests
    assert (rec.method, rec.path, rec.query, rec.call, rec.scenario, rec.step, rec.model, rec.action) == \
        ("POST", f"/v1beta/models/{MODEL}:streamGenerateContent", "alt=sse", 1, "read", 0, MODEL,
         "streamGenerateContent")
    assert rec.headers["x-goog-api-key"] == "fake-key" and rec.api_key == "fake-key"
    assert rec.headers["user-agent"].startswith("GeminiCLI-tui/0.61.0")
    assert rec.body["contents"][0]["parts"][1] == {"text": "[scenario:read] go"}
    assert (count.call, count.action) == (None, "countTokens")
    assert api.message_requests() == [rec]


# ---------------------------------------------------------------- scenarios and tools


def test_shell_tool_round_trip(api):
    _, _, raw = stream(api, "[scenario:shell] run it")
    chunks = sse(raw)
    assert parts_of(chunks) == [
        {"text": "Let me run that."},
        {"functionCall": {"name": "run_shell_command",
                          "args": {"command": "echo hello-from-shell", "description": "print a greeting"}}}]
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP" and "usageMetadata" in chunks[-1]

    _, _, raw = stream(api, "[scenario:shell] run it", history=function_history(chunks, "hello-from-shell"))
    chunks = sse(raw)
    assert text_of(chunks) == "The command printed hello-from-shell."
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert [(r.scenario, r.step) for r in api.requests] == [("shell", 0), ("shell", 1)]


@pytest.mark.parametrize(("scenario", "name", "args", "final"), [
    ("read", "read_file", {"file_path": "README.md"}, "The README says hello."),
    ("readmissing", "read_file", {"file_path": "nope.txt"}, None),
    ("write", "write_file", {"file_path": "created-by-gemini.txt", "content": "hello\n"}, "Wrote the file."),
    ("edit", "replace", {"file_path": "README.md", "old_string": "Demo", "new_string": "Demo edited",
                         "instruction": "edit"}, "Edited."),
    ("todos", "write_todos", {"todos": [{"description": "step one", "status": "completed"},
                                        {"description": "step two", "status": "pending"}]}, "Planned."),
    ("search", "google_web_search", {"query": "codex shims"}, "Searched."),
])
def test_single_tool_scenarios(api, scenario, name, args, final):
    _, _, raw = stream(api, f"[scenario:{scenario}] do it")
    chunks = sse(raw)
    assert parts_of(chunks) == [{"functionCall": {"name": name, "args": args}}]
    _, _, raw = stream(api, f"[scenario:{scenario}] do it", history=function_history(chunks))
    text = text_of(sse(raw))
    assert text == final if final else text


def test_non_streaming_answer_is_one_chunk_with_merged_parts(api):
    status, headers, raw = generate(api, "[scenario:shell] x")
    resp = json.loads(raw)
    assert status == 200 and headers["content-type"].startswith("application/json")
    cand = resp["candidates"][0]
    assert cand["finishReason"] == "STOP" and cand["content"]["parts"][0] == {"text": "Let me run that."}
    assert cand["content"]["parts"][1]["functionCall"]["name"] == "run_shell_command"
    assert resp["usageMetadata"] == usage_for_call(1) and resp["modelVersion"] == MODEL
    _, _, raw = generate(api, "[scenario:plain] x")
    assert json.loads(raw)["candidates"][0]["content"]["parts"] == [{"text": PLAIN_TEXT}]


def test_classifier_and_schema_side_calls_answer_json_whatever_the_scenario(api):
    schema = {"type": "OBJECT", "properties": {"complexity_reasoning": {"type": "STRING"},
                                               "complexity_score": {"type": "INTEGER"}},
              "required": ["complexity_reasoning", "complexity_score"]}
    body = body_for("[scenario:server500] hi", generationConfig={"responseJsonSchema": schema,
                                                                  "responseMimeType": "application/json"})
    status, _, raw = request(api, "POST", "/v1beta/models/gemini-3.5-flash-lite:generateContent", body)
    resp = json.loads(raw)
    assert status == 200 and resp["modelVersion"] == "gemini-3.5-flash-lite"
    answer = json.loads(resp["candidates"][0]["content"]["parts"][0]["text"])
    assert set(answer) == {"complexity_reasoning", "complexity_score"} and 1 <= answer["complexity_score"] <= 100
    assert api.requests[-1].side == "classifier" and api.requests[-1].call == 1
    assert json_for_schema({"properties": {"reasoning": {}, "next_speaker": {"enum": ["user", "model"]}}})[
        "next_speaker"] == "user"
    assert json_for_schema({"properties": {"reasoning": {}, "model_choice": {}}})["model_choice"] == "flash"
    assert json_for_schema({"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "array"}}}) \
        == {"a": 1, "b": []}


def test_web_search_side_call(api):
    body = {"contents": [user("codex shims")], "tools": [{"googleSearch": {}}], "generationConfig": {}}
    status, _, raw = request(api, "POST", "/v1beta/models/gemini-3-flash-preview:generateContent", body)
    assert status == 200 and api.requests[-1].side == "web_search"
    assert json.loads(raw)["candidates"][0]["content"]["parts"] == [{"text": f"{WEB_SEARCH_TEXT} codex shims"}]


def test_shims_spawn_wait_reads_the_agent_id_and_quotes_the_wait_result(api):
    tools = [{"functionDeclarations": [{"name": n} for n in ("read_file", "mcp_host_spawn", "mcp_host_wait")]}]
    context = {"text": "<session_context>\n- **Workspace Directories:**\n  - /tmp/somewhere/work\n</session_context>"}

    def turn(history):
        body = {"contents": [{"role": "user", "parts": [context, {"text": "[scenario:shims-spawn-wait] go"}]},
                             *history], "tools": tools}
        return sse(request(api, "POST", f"/v1beta/models/{MODEL}:streamGenerateContent?alt=sse", body)[2])

    chunks = turn([])
    call = parts_of(chunks)[-1]["functionCall"]
    assert call == {"name": "mcp_host_spawn", "args": {"provider": "fake", "task": "hello there",
                                                       "cwd": "/tmp/somewhere/work"}}
    history = function_history(chunks, "<untrusted_context>\nfake worker 0123456789ab running\n</untrusted_context>")
    chunks = turn(history)
    assert parts_of(chunks)[-1]["functionCall"] == {"name": "mcp_host_wait",
                                                    "args": {"agent_id": "0123456789ab", "timeout_seconds": 30}}
    history += function_history(chunks, "fake worker 0123456789ab completed. answer: hi")
    assert text_of(turn(history)) == "The worker finished. wait returned: fake worker 0123456789ab completed. answer: hi"
    assert [r.step for r in api.requests] == [0, 1, 2]


def test_scenario_and_step_detection():
    call = {"role": "model", "parts": [{"functionCall": {"name": "read_file", "args": {}}}]}
    resp = {"role": "user", "parts": [{"functionResponse": {"name": "read_file", "response": {}}}]}
    first = {"role": "user", "parts": [CONTEXT, {"text": "b [scenario:write]"}]}
    assert scenario_of({"contents": [first]}) == "write"
    assert scenario_of({"contents": [user("no token")]}) == "plain"
    assert scenario_of({}) == "plain" and scenario_of(None) == "plain"
    # Context alone in the first content, the prompt in the next one: still found.
    assert scenario_of({"contents": [user("context"), user("[scenario:read] x")]}) == "read"
    # The first prompt's token wins over a later one (a resumed conversation).
    assert scenario_of({"contents": [first, call, resp, user("[scenario:read] again")]}) == "write"
    assert step_of({"contents": [first]}) == 0
    assert step_of({"contents": [first, call, resp]}) == 1
    assert step_of({"contents": [first, call, resp, call, resp]}) == 2
    assert step_of({"contents": [first, call, resp, {"role": "model", "parts": [{"text": "done"}]},
                                 user("again")]}) == 0
    assert split_text(PLAIN_TEXT, 3) == ["Hello from ", "the fake ", "Gemini server."]
    assert {"plain", "shell", "quota-daily", "empty", "drop", "stall", "slow"} <= set(ALL_SCENARIOS)


def test_empty_answer_every_call(api):
    for _ in range(2):
        _, _, raw = stream(api, "[scenario:empty] hi")
        (chunk,) = sse(raw)
        assert chunk["candidates"][0]["content"]["parts"] == [] and chunk["candidates"][0]["finishReason"] == "STOP"
        assert chunk["usageMetadata"]["candidatesTokenCount"] > 0


# ---------------------------------------------------------------- errors


def test_error_status_with_the_google_body_and_details(api):
    status, headers, raw = stream(api, "[scenario:quota-daily] hi")
    err = json.loads(raw)["error"]
    assert status == 429 and headers["content-type"].startswith("application/json")
    assert (err["code"], err["status"]) == (429, "RESOURCE_EXHAUSTED") and err["message"]
    (failure,) = [d for d in err["details"] if d["@type"] == "type.googleapis.com/google.rpc.QuotaFailure"]
    assert failure["violations"][0]["quotaId"] == "GenerateRequestsPerDayPerProjectPerModel-FreeTier"
    assert not [d for d in err["details"] if d["@type"].endswith("RetryInfo")]

    status, _, raw = generate(api, "[scenario:quota-minute] hi")
    err = json.loads(raw)["error"]
    types = {d["@type"].rsplit(".", 1)[-1]: d for d in err["details"]}
    assert status == 429 and types["RetryInfo"]["retryDelay"] == "2s"
    assert "PerMinute" in types["QuotaFailure"]["violations"][0]["quotaId"]

    status, _, raw = stream(api, "[scenario:badkey400] hi")
    err = json.loads(raw)["error"]
    assert (status, err["code"], err["status"]) == (400, 400, "INVALID_ARGUMENT")
    info = next(d for d in err["details"] if d["@type"] == "type.googleapis.com/google.rpc.ErrorInfo")
    assert info["reason"] == "API_KEY_INVALID" and info["domain"] == "googleapis.com"


@pytest.mark.parametrize(("scenario", "status", "code_name", "message"), [
    ("rate429", 429, "RESOURCE_EXHAUSTED", None),
    ("server500", 500, "INTERNAL", None),
    ("unavailable503", 503, "UNAVAILABLE", "The model is overloaded. Please try again later."),
    ("unauth401", 401, "UNAUTHENTICATED", None),
    ("forbidden403", 403, "PERMISSION_DENIED", None),
])
def test_error_scenarios_every_call(api, scenario, status, code_name, message):
    for call in (stream, generate, stream):
        got, _, raw = call(api, f"[scenario:{scenario}] hi")
        err = json.loads(raw)
        assert got == status and set(err) == {"error"} and "details" not in err["error"]
        assert (err["error"]["code"], err["error"]["status"]) == (status, code_name)
        assert err["error"]["message"] == (message or err["error"]["message"]) and err["error"]["message"]
    assert api.calls == 3


def test_key_in_the_query_a_missing_key_and_a_scenario_key(api):
    status, _, raw = request(api, "POST", f"/v1beta/models/{MODEL}:streamGenerateContent?alt=sse&key=qkey",
                             body_for("hi"), key=None)
    assert status == 200 and text_of(sse(raw)) == PLAIN_TEXT and api.requests[-1].api_key == "qkey"
    status, _, raw = stream(api, "hi", key=None)
    assert status == 403 and json.loads(raw)["error"]["status"] == "PERMISSION_DENIED"
    status, _, raw = stream(api, "[scenario:plain] hi", key="scenario-badkey400")
    assert status == 400 and "API_KEY_INVALID" in raw.decode()


# ---------------------------------------------------------------- other endpoints


def test_count_tokens_and_models(api):
    status, _, raw = request(api, "POST", f"/v1beta/models/{MODEL}:countTokens", {"contents": [user("hi")]})
    assert status == 200 and json.loads(raw) == {"totalTokens": 42}
    status, _, raw = request(api, "GET", "/v1beta/models")
    names = [m["name"] for m in json.loads(raw)["models"]]
    assert status == 200 and "models/gemini-2.5-flash" in names
    status, _, raw = request(api, "GET", "/v1beta/models/gemini-2.5-pro")
    model = json.loads(raw)
    assert status == 200 and model["name"] == "models/gemini-2.5-pro" and model["inputTokenLimit"] == 1048576
    assert api.calls == 0


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/v1/models"),
    ("POST", "/v1beta/models/gemini-2.5-flash:embedContent"),
    ("GET", "/v1beta/models/not-a-gemini"),
    ("DELETE", "/v1beta/cachedContents/x"),
])
def test_anything_else_is_404_with_a_google_body(api, method, path):
    status, headers, raw = request(api, method, path, {} if method == "POST" else None)
    err = json.loads(raw)["error"]
    assert status == 404 and headers["content-type"].startswith("application/json")
    assert (err["code"], err["status"]) == (404, "NOT_FOUND") and err["message"]
    assert api.requests[-1].path == path and api.calls == 0


# ---------------------------------------------------------------- stream failures


def test_drop_ends_the_first_stream_without_finish_reason_then_answers(api):
    status, headers, raw = stream(api, "[scenario:drop] x")
    chunks = sse(raw)  # a complete body: the terminating chunk was sent
    assert status == 200 and headers["connection"] == "close"
    assert len(chunks) == 2 and all("finishReason" not in c["candidates"][0] for c in chunks)
    assert text_of(chunks) == "Hello from the fake "
    _, _, raw = stream(api, "[scenario:drop] x")
    chunks = sse(raw)
    assert text_of(chunks) == PLAIN_TEXT and chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    # Another conversation drops once again.
    assert "finishReason" not in sse(stream(api, "[scenario:drop] another")[2])[-1]["candidates"][0]


def test_drop_abort_closes_the_connection_mid_body(api):
    with pytest.raises((http.client.IncompleteRead, http.client.RemoteDisconnected, ConnectionError,
                        urllib.error.URLError)):
        stream(api, "[scenario:drop-abort] x")
    status, _, raw = stream(api, "[scenario:drop-abort] x")
    assert status == 200 and text_of(sse(raw)) == PLAIN_TEXT


def _raw_post(api, prompt: str) -> socket.socket:
    data = json.dumps(body_for(prompt)).encode()
    s = socket.create_connection(("127.0.0.1", api.port), timeout=5)
    s.sendall(b"POST /v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse HTTP/1.1\r\nHost: x\r\n"
              b"x-goog-api-key: k\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
              % (len(data), data))
    return s


def _read_until(s: socket.socket, marker: bytes, got: bytes = b"") -> bytes:
    while marker not in got:
        chunk = s.recv(65536)
        assert chunk, got
        got += chunk
    return got


def test_stall_sends_headers_then_nothing_until_stop():
    api = FakeGemini().start()
    try:
        s = _raw_post(api, "[scenario:stall] x")
        got = _read_until(s, b"\r\n\r\n")
        assert got.startswith(b"HTTP/1.1 200") and b"text/event-stream" in got
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


def test_slow_stream_is_paced_and_stop_ends_it_quickly():
    api = FakeGemini().start()
    try:
        s = _raw_post(api, "[scenario:slow] x")
        t0 = time.monotonic()
        got = _read_until(s, b"Slow part 1 of")
        got = _read_until(s, b"Slow part 2 of", got)
        t1 = time.monotonic()
        assert f"of {SLOW_CHUNKS}. ".encode() in got
        assert 0.2 <= t1 - t0 < 2
    finally:
        t0 = time.monotonic()
        api.stop()
    assert time.monotonic() - t0 < 3
    s.settimeout(3)
    rest = b""
    try:
        while chunk := s.recv(65536):
            rest += chunk
    except ConnectionResetError:
        pass
    assert b"Slow part 20 of" not in rest
    s.close()


# ---------------------------------------------------------------- command line


def test_command_line_serves_and_exits_0_on_sigterm(tmp_path):
    port_file = tmp_path / "port"
    proc = subprocess.Popen([sys.executable, str(FAKE), "--port-file", str(port_file)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()
        port = int(port_file.read_text())
        assert line == f"listening http://127.0.0.1:{port}"
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/v1beta/models")
        assert conn.getresponse().status == 200
        conn.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
