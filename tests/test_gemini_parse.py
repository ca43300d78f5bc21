"""Gemini CLI translation, line by line (samples from ../shared/reference/gemini.md)."""

from __future__ import annotations

import orjson
import pytest

from normalize import observe as o
from normalize.assembler import Assembler
from shims.gemini.errors import classify_exit, classify_message
from shims.gemini.parse import GeminiJsonParser, GeminiParser, json_stats_usage, stats_usage, tool_item
from shims.gemini.prices import PRICES


def feed_all(p, lines):
    out = []
    for line in lines:
        out += p.feed(orjson.dumps(line))
    return out


def test_usage_from_stream_json_stats():
    """1237 total − 1200 input − 7 output = 30 hidden thinking tokens, counted as output."""
    stats = {"total_tokens": 1237, "input_tokens": 1200, "output_tokens": 7, "cached": 800, "input": 400,
             "models": {"gemini-2.5-flash": {"total_tokens": 1237, "input_tokens": 1200, "output_tokens": 7, "cached": 800,
                                             "input": 400}}}
    u = stats_usage(stats, PRICES)
    assert (u["input_tokens"], u["cached_input_tokens"], u["output_tokens"], u["reasoning_output_tokens"]) == (1200, 800, 37, 30)
    assert u["total_tokens"] == 1237
    # list prices: 400 uncached × 0.30 + 800 cached × 0.075 + 37 output × 2.50, per million
    assert u["cost_usd"] == pytest.approx((400 * 0.30 + 800 * 0.075 + 37 * 2.50) / 1e6)
    assert u["cost_source"] == "price_table" and u["model"] == "gemini-2.5-flash"


def test_unknown_model_price_is_unknown_not_zero():
    u = stats_usage({"total_tokens": 10, "input_tokens": 8, "output_tokens": 2,
                     "models": {"gemini-9-ultra": {"total_tokens": 10, "input_tokens": 8, "output_tokens": 2}}}, PRICES)
    assert u["cost_usd"] is None and u["cost_source"] is None


def test_router_model_of_auto_is_in_the_breakdown():
    stats = {"total_tokens": 1340, "input_tokens": 1300, "output_tokens": 40,
             "models": {"gemini-2.5-flash-lite": {"total_tokens": 105, "input_tokens": 100, "output_tokens": 5},
                        "gemini-2.5-pro": {"total_tokens": 1235, "input_tokens": 1200, "output_tokens": 35}}}
    u = stats_usage(stats, PRICES)
    assert set(u["models"]) == {"gemini-2.5-flash-lite", "gemini-2.5-pro"} and u["model"] == "gemini-2.5-pro"


def test_json_output_roles_are_not_added_twice():
    stats = {"models": {"m": {"tokens": {"prompt": 1200, "candidates": 3, "thoughts": 45, "total": 1248, "cached": 0},
                              "roles": {"main": {"tokens": {"prompt": 1200, "candidates": 3, "thoughts": 45, "total": 1248}}}}}}
    u = json_stats_usage(stats, PRICES)
    assert (u["input_tokens"], u["output_tokens"], u["reasoning_output_tokens"]) == (1200, 48, 45)


def run(lines, exit=o.ExitInfo(exit_code=0)):
    events = []
    p = GeminiParser()
    asm = Assembler(lambda e, line: events.append(orjson.loads(line)), provider="gemini", fallback_thread_id="t")
    asm.launched()
    for line in lines:
        asm.feed(p.feed(orjson.dumps(line)))
    asm.feed(p.finish(exit))
    result, code = asm.finish(exit)
    return events, result, code


def test_text_runs_split_at_tool_calls():
    events, result, code = run([
        {"type": "init", "session_id": "s", "model": "auto"},
        {"type": "message", "role": "user", "content": "hi"},
        {"type": "message", "role": "assistant", "content": "Let me ", "delta": True},
        {"type": "message", "role": "assistant", "content": "check.", "delta": True},
        {"type": "tool_use", "tool_name": "run_shell_command", "tool_id": "x1", "parameters": {"command": "ls"}},
        {"type": "tool_result", "tool_id": "x1", "status": "success", "output": "a\nb"},
        {"type": "message", "role": "assistant", "content": "Found a and b.", "delta": True},
        {"type": "result", "status": "success", "stats": {"total_tokens": 3, "input_tokens": 2, "output_tokens": 1}},
    ])
    texts = [e["item"]["text"] for e in events if e["type"] == "item.completed" and e["item"]["type"] == "agent_message"]
    assert texts == ["Let me check.", "Found a and b."]
    assert result["final_message"] == "Found a and b." and code == 0


def test_content_retry_does_not_repeat_the_answer():
    events, result, _ = run([
        {"type": "init", "session_id": "s", "model": "m"},
        {"type": "message", "role": "assistant", "content": "Hello from ", "delta": True},
        {"type": "message", "role": "assistant", "content": "the ", "delta": True},
        {"type": "message", "role": "assistant", "content": "Hello from ", "delta": True},
        {"type": "message", "role": "assistant", "content": "the fake server.", "delta": True},
        {"type": "result", "status": "success", "stats": {}},
    ])
    assert result["final_message"] == "Hello from the fake server."
    assert [e["item"]["id"] for e in events if e["type"] == "item.completed"] == ["item_0"]


def test_empty_answer_is_a_failure_despite_exit_0():
    events, result, code = run([
        {"type": "init", "session_id": "s", "model": "m"},
        {"type": "error", "severity": "error", "message": "The model returned an empty response with no text or thoughts."},
        {"type": "result", "status": "error", "stats": {}},
    ])
    assert result["status"] == "failed" and result["failure_kind"] == "provider_failed" and code == 1


def test_signal_exit_0_without_result_is_cancelled():
    _, result, code = run([{"type": "init", "session_id": "s", "model": "m"}], o.ExitInfo(exit_code=0))
    assert result["status"] == "cancelled" and code == 130


@pytest.mark.parametrize(
    ("message", "code", "kind", "window", "retry"),
    [
        ("[API Error: You have exhausted your daily quota on this model.]\nPlease wait", None, "quota_or_rate_limited", "daily", None),
        ("[API Error: Quota exceeded for metric. Suggested retry after 2s.]", None, "quota_or_rate_limited", "minute", 2.0),
        ('[API Error: {"error":{"code":400,"message":"API key not valid","status":"INVALID_ARGUMENT","details":[{"reason":"API_KEY_INVALID"}]}}]',
         144, "authentication_required", None, None),
        ('[API Error: {"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}]', 247,
         "provider_unavailable", None, None),
        ("[API Error: exception TypeError: fetch failed sending request]", 1, "provider_unavailable", None, None),
    ],
)
def test_error_messages(message, code, kind, window, retry):
    f = classify_message(message, code)
    assert f.kind == kind
    if window or retry:
        assert f.quota["window"] == window and f.quota["retry_after_s"] == retry


@pytest.mark.parametrize(("code", "kind"), [(41, "authentication_required"), (42, "bad_request"), (55, "provider_failed"),
                                            (173, "quota_or_rate_limited"), (247, "provider_unavailable")])
def test_exit_codes_without_a_result(code, kind):
    assert classify_exit(code, "Warning: Basic terminal detected (TERM=dumb)\nsomething went wrong\n").kind == kind


def test_tool_mapping():
    assert tool_item("replace", {"file_path": "a.py"}) == {"type": "file_change", "changes": [{"path": "a.py", "kind": "update"}]}
    assert tool_item("write_todos", {"todos": [{"description": "x", "status": "completed"}]}) == {
        "type": "todo_list", "items": [{"text": "x", "completed": True}]}
    assert tool_item("glob", {"pattern": "*"})["server"] == "gemini"


def test_json_mode_error_object_on_stderr():
    p = GeminiJsonParser()
    stderr = 'log line\n{\n  "session_id": "s-9",\n  "error": {"type": "Error", "message": "You have exhausted your daily quota on this model.", "code": 429}\n}\n'
    obs = p.finish(o.ExitInfo(exit_code=173, stderr_tail=stderr))
    assert obs[0] == o.Session("s-9")
    assert obs[1].kind == "quota_or_rate_limited" and obs[1].quota["window"] == "daily"
