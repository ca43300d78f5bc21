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


# ---------------------------------------------------------------------- reconciliation

# golden/gemini/auto-model: the router call and the main call, and their sum.
ROUTER = {"total_tokens": 1106, "input_tokens": 1100, "output_tokens": 6, "cached": 401, "input": 699}
MAIN = {"total_tokens": 1207, "input_tokens": 1200, "output_tokens": 7, "cached": 402, "input": 798}
AUTO = {"total_tokens": 2313, "input_tokens": 2300, "output_tokens": 13, "cached": 803, "input": 1497,
        "models": {"gemini-3.5-flash-lite": ROUTER, "gemini-3.8-flash": MAIN}}


def _errors(events):
    return [e["item"]["message"] for e in events if e["type"] == "item.completed" and e["item"]["type"] == "error"]


def _result(stats):
    return [{"type": "init", "session_id": "s", "model": "auto"},
            {"type": "message", "role": "assistant", "content": "ok", "delta": True},
            {"type": "result", "status": "success", "stats": stats}]


def test_stats_that_add_up_show_no_mismatch():
    events, result, _ = run(_result(AUTO))
    assert _errors(events) == [] and "usage_mismatch" not in result["vendor"]


def test_stats_totals_against_the_sum_of_the_models():
    stats = {**AUTO, "output_tokens": 12, "cached": 800}
    events, result, _ = run(_result(stats))
    assert result["vendor"]["usage_mismatch"] == [
        {"check": "sum of stats.models vs stats", "fields": {"output_tokens": [13, 12], "cached": [803, 800]}}]
    assert _errors(events) == ["Usage mismatch (gemini: sum of stats.models vs stats): cached 803 vs 800, output_tokens 13 "
                               "vs 12. The reported usage is the shim's computation."]
    assert result["status"] == "completed"


def test_stats_without_models_are_not_summed():
    stats = {k: v for k, v in AUTO.items() if k != "models"}
    assert not any(isinstance(x, o.Warning) for x in GeminiParser().feed(orjson.dumps(_result(stats)[-1])))


def test_a_total_below_input_plus_output_is_flagged():
    """The hidden thinking (total − input − output, gemini.md §7) would be negative."""
    stats = {"total_tokens": 1100, "input_tokens": 1100, "output_tokens": 6, "cached": 401,
             "models": {"m": {"total_tokens": 1100, "input_tokens": 1100, "output_tokens": 6, "cached": 401}}}
    events, result, _ = run(_result(stats))
    assert result["vendor"]["usage_mismatch"] == [
        {"check": "stats total_tokens >= input_tokens + output_tokens", "fields": {"total_tokens": [1106, 1100]}}]
    assert len(_errors(events)) == 1
    assert result["usage"]["reasoning_output_tokens"] == 0  # clamped, not negative


def test_hidden_thoughts_are_no_mismatch():
    stats = {"total_tokens": 1248, "input_tokens": 1200, "output_tokens": 3,
             "models": {"m": {"total_tokens": 1248, "input_tokens": 1200, "output_tokens": 3}}}
    obs = GeminiParser().feed(orjson.dumps({"type": "result", "status": "success", "stats": stats}))
    assert not any(isinstance(x, o.Warning) for x in obs)
    assert not any(isinstance(x, o.SessionTotal) for x in obs)  # Gemini reports no running total


def test_both_stats_checks_failing_give_one_list_before_the_outcome():
    stats = {**AUTO, "total_tokens": 2000}
    obs = GeminiParser().feed(orjson.dumps({"type": "result", "status": "success", "stats": stats}))
    infos = [x for x in obs if isinstance(x, o.VendorInfo) and "usage_mismatch" in x.details]
    assert len(infos) == 1 and infos[0].details["usage_mismatch"] == [
        {"check": "sum of stats.models vs stats", "fields": {"total_tokens": [2313, 2000]}},
        {"check": "stats total_tokens >= input_tokens + output_tokens", "fields": {"total_tokens": [2313, 2000]}}]
    assert isinstance(obs[-1], o.Completed)


@pytest.mark.parametrize("stats", [
    {"total_tokens": "x", "input_tokens": None, "models": {"m": "y", "n": {"cached": []}}},
    {"models": [], "total_tokens": -5, "input_tokens": 3},
    {"models": {"m": None}},
])
def test_odd_stats_do_not_raise(stats):
    obs = GeminiParser().feed(orjson.dumps({"type": "result", "status": "success", "stats": stats}))
    assert isinstance(obs[-1], o.Completed)


def _json_doc(tokens_by_model):
    models = {name: {"api": {"totalRequests": 1}, "tokens": t, "roles": {"main": {"tokens": t}}}
              for name, t in tokens_by_model.items()}
    return orjson.dumps({"session_id": "s", "response": "ok", "stats": {"models": models}})


def test_json_totals_that_hold_the_counted_tokens_show_no_mismatch():
    # golden/gemini/json-plain; and a tool-use prompt on top of the total is allowed
    plain = {"input": 699, "prompt": 1100, "candidates": 6, "total": 1106, "cached": 401, "thoughts": 0, "tool": 0}
    tool = {"prompt": 1200, "candidates": 3, "thoughts": 45, "total": 1268, "tool": 20}
    p = GeminiJsonParser()
    p.feed(_json_doc({"a": plain, "b": tool}))
    obs = p.finish(o.ExitInfo(exit_code=0))
    assert not any(isinstance(x, o.Warning) for x in obs) and isinstance(obs[-1], o.Completed)


def test_json_total_below_what_the_shim_counts_is_flagged():
    p = GeminiJsonParser()
    p.feed(_json_doc({"ok": {"prompt": 10, "candidates": 1, "thoughts": 0, "total": 11},
                      "short": {"prompt": 1200, "candidates": 3, "thoughts": 45, "total": 1203}}))
    obs = p.finish(o.ExitInfo(exit_code=0))
    check = "stats.models tokens.total >= prompt + candidates + thoughts (short)"
    assert o.VendorInfo({"usage_mismatch": [{"check": check, "fields": {"total_tokens": [1248, 1203]}}]}) in obs
    assert sum(isinstance(x, o.Warning) for x in obs) == 1 and isinstance(obs[-1], o.Completed)
