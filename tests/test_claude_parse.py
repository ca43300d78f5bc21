"""Claude stream-json translation, line by line (samples from ../shared/reference/claude.md).

The golden corpus (golden/claude/) covers whole runs recorded from the real CLI; these pin the
rules one native message at a time, including shapes the fake API cannot make the CLI emit.
"""

from __future__ import annotations

import orjson
import pytest

from normalize import observe as o
from shims.claude.errors import classify_result, epoch_to_rfc3339
from shims.claude.parse import ClaudeParser, result_usage, tool_item


def feed(p: ClaudeParser, msg: dict) -> list:
    return p.feed(orjson.dumps(msg))


def test_init_gives_session_model_and_version():
    obs = feed(ClaudeParser(), {"type": "system", "subtype": "init", "session_id": "s-1", "model": "claude-opus-5-5",
                                "claude_code_version": "2.1.331", "permissionMode": "default", "apiKeySource": "ANTHROPIC_API_KEY",
                                "mcp_servers": [{"name": "nope", "status": "failed"}]})
    assert obs[0] == o.Session("s-1", "claude-opus-5-5", "2.1.331")
    assert o.Warning("Claude could not start MCP servers: nope.") in obs


def test_one_block_per_assistant_line_and_fallback_repeats_are_dropped():
    p = ClaudeParser()
    text = {"type": "assistant", "message": {"id": "msg_1", "content": [{"type": "text", "text": "Hi"}]}}
    assert feed(p, text) == [o.Message("Hi")]
    assert feed(p, text) == []  # the non-streaming fallback repeats the block
    think = {"type": "assistant", "message": {"id": "msg_1", "content": [{"type": "thinking", "thinking": "hmm", "signature": "s"}]}}
    assert feed(p, think) == [o.Reasoning("hmm")]


@pytest.mark.parametrize(
    ("name", "args", "item"),
    [
        ("Bash", {"command": "ls"}, {"type": "command_execution", "command": "ls", "aggregated_output": "", "exit_code": None}),
        ("Edit", {"file_path": "/w/a.py"}, {"type": "file_change", "changes": [{"path": "/w/a.py", "kind": "update"}]}),
        ("Write", {"file_path": "/w/b.py"}, {"type": "file_change", "changes": [{"path": "/w/b.py", "kind": "add"}]}),
        ("WebFetch", {"url": "https://x"}, {"type": "web_search", "query": "https://x"}),
        ("TodoWrite", {"todos": [{"content": "a", "status": "completed"}, {"content": "b", "status": "pending"}]},
         {"type": "todo_list", "items": [{"text": "a", "completed": True}, {"text": "b", "completed": False}]}),
        ("mcp__github__create_issue", {"t": 1}, {"type": "mcp_tool_call", "server": "github", "tool": "create_issue", "arguments": {"t": 1}}),
        ("Grep", {"pattern": "x"}, {"type": "mcp_tool_call", "server": "claude", "tool": "Grep", "arguments": {"pattern": "x"}}),
    ],
)
def test_tool_mapping(name, args, item):
    assert tool_item(name, args) == item


def test_bash_result_exit_code_and_denial():
    p = ClaudeParser()
    feed(p, {"type": "assistant", "message": {"id": "m", "content": [{"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": "false"}}]}})
    obs = feed(p, {"type": "user", "message": {"content": [{"type": "tool_result", "tool_use_id": "t1", "content": "Exit code 2\nboom", "is_error": True}]}})
    assert obs == [o.ToolCompleted("t1", {"aggregated_output": "Exit code 2\nboom", "exit_code": 2, "status": "failed"})]
    feed(p, {"type": "assistant", "message": {"id": "m2", "content": [{"type": "tool_use", "id": "t2", "name": "Bash", "input": {"command": "touch x"}}]}})
    obs = feed(p, {"type": "user", "message": {"content": [{"type": "tool_result", "tool_use_id": "t2", "content": "denied", "is_error": True}]},
                   "tool_result_meta": [{"id": "t2", "permission_decision": {"decision": "reject"}, "non_execution_kind": "user-rejected"}]})
    assert obs[0].fields["status"] == "declined" and obs[0].fields["exit_code"] is None


def test_usage_is_this_invocations_not_the_sessions():
    """After --resume, modelUsage and total_cost_usd are session-cumulative; the delta wins."""
    line = {"type": "result", "is_error": False, "result": "ok", "num_turns": 1, "total_cost_usd": 0.0195,
            "modelUsage": {"m": {"inputTokens": 202, "outputTokens": 36, "cacheReadInputTokens": 40002,
                                 "cacheCreationInputTokens": 2000, "costUSD": 0.0195}},
            "model_usage_since_last_result": {"m": {"inputTokens": 101, "outputTokens": 18, "cacheReadInputTokens": 20001,
                                                    "cacheCreationInputTokens": 1000, "costUSD": 0.0097642}}}
    u = result_usage(line)
    assert (u["input_tokens"], u["cached_input_tokens"], u["cache_write_input_tokens"]) == (21102, 20001, 1000)
    assert (u["output_tokens"], u["total_tokens"], u["cost_usd"], u["scope"]) == (18, 21120, 0.0097642, "invocation")


def test_thinking_tokens_are_part_of_output_not_added():
    u = result_usage({"model_usage_since_last_result": {"m": {"inputTokens": 1, "outputTokens": 50, "thinkingTokens": 30}}})
    assert (u["output_tokens"], u["reasoning_output_tokens"]) == (50, 30)


def test_json_output_without_the_delta_is_session_scope():
    u = result_usage({"modelUsage": {"m": {"inputTokens": 5, "outputTokens": 5, "costUSD": 0.01}}, "total_cost_usd": 0.01})
    assert u["scope"] == "session" and u["cost_usd"] == 0.01


def test_several_models_are_broken_down():
    u = result_usage({"model_usage_since_last_result": {"big": {"inputTokens": 100, "outputTokens": 10, "costUSD": 0.1},
                                                        "small": {"inputTokens": 10, "outputTokens": 1, "costUSD": 0.001}}})
    assert u["model"] == "big" and set(u["models"]) == {"big", "small"} and u["cost_usd"] == 0.101


def test_usage_limit_is_exhausted_quota_with_reset_time():
    synthetic = {"error": "rate_limit", "api_error_status": 429, "api_error": "usage_limit_reached",
                 "api_error_params": {"rate_limit_info": {"status": "rejected", "resetsAt": 1795532831, "rateLimitType": "five_hour"}},
                 "text": "You've hit your 5-hour limit · resets 3:07pm (UTC)"}
    f = classify_result({"is_error": True, "subtype": "success", "terminal_reason": "api_error", "api_error_status": 429,
                         "result": "You've hit your 5-hour limit · resets 3:07pm (UTC)"}, synthetic, None)
    assert f.kind == "quota_or_rate_limited"
    assert f.quota["state"] == "exhausted" and f.quota["window"] == "5h"
    assert f.quota["resets_at"] == epoch_to_rfc3339(1795532831) == "2026-11-24T15:07:11Z"


@pytest.mark.parametrize(
    ("enum", "status", "text", "kind"),
    [
        ("authentication_failed", 401, "Invalid API key · Fix external API key", "authentication_required"),
        ("authentication_failed", None, "Not logged in · Please run /login", "authentication_required"),
        ("server_error", 529, "API Error: Repeated 529 Overloaded errors.", "provider_unavailable"),
        ("server_error", None, "API Error: Connection refused", "provider_unavailable"),
        ("rate_limit", 429, "API Error: Request rejected (429)", "quota_or_rate_limited"),
        ("billing_error", 400, "Credit balance is too low", "quota_or_rate_limited"),
        ("model_not_found", 404, "There's an issue with the selected model", "bad_request"),
        ("invalid_request", 400, "Prompt is too long", "provider_failed"),
    ],
)
def test_api_errors_by_enum_not_subtype(enum, status, text, kind):
    f = classify_result({"is_error": True, "subtype": "success", "terminal_reason": "api_error", "result": text,
                         "api_error_status": status}, {"error": enum, "api_error_status": status, "text": text}, None)
    assert f.kind == kind


def test_spend_cap_reset_date_from_text():
    f = classify_result({"is_error": True, "result": "API Error: 400 You have reached your specified API usage limits. "
                         "You will regain access on 2026-12-01 at 00:00 UTC."}, {"error": "unknown"}, None)
    assert f.kind == "quota_or_rate_limited" and f.quota["resets_at"] == "2026-12-01T00:00:00Z"


def test_missing_result_line_is_not_success():
    p = ClaudeParser()
    feed(p, {"type": "assistant", "message": {"id": "m", "content": [{"type": "text", "text": "partial"}]}})
    (failure,) = p.finish(o.ExitInfo(exit_code=0))
    assert failure.kind == "provider_failed"
    assert p.finish(o.ExitInfo(exit_code=0, cancelled="SIGTERM")) == []


def test_rate_limit_warning_event():
    obs = feed(ClaudeParser(), {"type": "rate_limit_event", "rate_limit_info": {"status": "allowed_warning", "resetsAt": 1795532831,
                                                                                "rateLimitType": "five_hour", "utilization": 0.92}})
    assert obs[0].quota["state"] == "warning"
    assert obs[1] == o.Warning("Claude 5-hour limit at 92%; resets 2026-11-24T15:07:11Z.")


# ---------------------------------------------------------------------- reconciliation


def _mu(inp, out, cr, cw, cost, thinking=0):
    return {"inputTokens": inp, "outputTokens": out, "cacheReadInputTokens": cr, "cacheCreationInputTokens": cw,
            "costUSD": cost, "thinkingTokens": thinking}


def _result_line(usage, delta, model_usage=None, total_cost=0.0147884, **kw):
    line = {"type": "result", "subtype": "success", "is_error": False, "result": "ok", "num_turns": 1,
            "total_cost_usd": total_cost, "usage": usage, "modelUsage": model_usage if model_usage is not None else delta,
            "model_usage_since_last_result": delta, **kw}
    return {k: v for k, v in line.items() if v is not None}


# The fake API's 2nd call (claude.md §6): the figures of a run that went through.
DELTA = {"claude-opus-5-5": _mu(102, 19, 20002, 2000, 0.0147884)}
SAME = {"input_tokens": 102, "cache_creation_input_tokens": 2000, "cache_read_input_tokens": 20002, "output_tokens": 19}
# golden/claude/midstream-error: result.usage also counts the failed stream's message_start.
WITH_FAILED_ATTEMPT = {"input_tokens": 203, "cache_creation_input_tokens": 3000, "cache_read_input_tokens": 40003,
                       "output_tokens": 20}


def run(lines, exit=o.ExitInfo(exit_code=0)):
    from normalize.assembler import Assembler

    events = []
    p = ClaudeParser()
    asm = Assembler(lambda e, line: events.append(orjson.loads(line)), provider="claude", fallback_thread_id="t")
    asm.launched()
    for line in lines:
        asm.feed(feed(p, line))
    asm.feed(p.finish(exit))
    result, code = asm.finish(exit)
    return events, result, asm


def _errors(events):
    return [e["item"]["message"] for e in events if e["type"] == "item.completed" and e["item"]["type"] == "error"]


def test_matching_usage_shows_no_mismatch():
    events, result, _ = run([_result_line(SAME, DELTA)])
    assert _errors(events) == [] and "usage_mismatch" not in result["vendor"]


def test_result_usage_against_the_per_invocation_delta():
    events, result, _ = run([_result_line(WITH_FAILED_ATTEMPT, DELTA)])
    assert result["vendor"]["usage_mismatch"] == [{
        "check": "model_usage_since_last_result vs result.usage",
        "fields": {"input_tokens": [22104, 43206], "cached_input_tokens": [20002, 40003],
                   "cache_write_input_tokens": [2000, 3000], "output_tokens": [19, 20]}}]
    assert _errors(events) == [
        "Usage mismatch (claude: model_usage_since_last_result vs result.usage): cache_write_input_tokens 2000 vs 3000, "
        "cached_input_tokens 20002 vs 40003, input_tokens 22104 vs 43206, output_tokens 19 vs 20. "
        "The reported usage is the shim's computation."]
    # The shim's own figure stays the usage; the vendor's is kept raw.
    assert result["usage"]["input_tokens"] == 22104 and result["status"] == "completed"


def test_thinking_inside_output_is_not_a_mismatch():
    delta = {"m": _mu(10, 50, 0, 0, 0.001, thinking=30)}
    obs = feed(ClaudeParser(), _result_line({"input_tokens": 10, "output_tokens": 50}, delta, total_cost=0.001))
    assert not any(isinstance(x, o.Warning) for x in obs)


@pytest.mark.parametrize("usage", [
    {"input_tokens": 0, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 0},  # SIGINT, API error
    None,
    "zero",
])
def test_zeroed_or_missing_result_usage_checks_nothing(usage):
    obs = feed(ClaudeParser(), _result_line(usage, DELTA))
    assert not any(isinstance(x, o.Warning) for x in obs)
    assert not any(isinstance(x, o.VendorInfo) and "usage_mismatch" in x.details for x in obs)


def test_a_session_total_taken_for_the_invocation_is_not_compared():
    """json output has no delta: the usage comes from modelUsage, cumulative after --resume."""
    session = {"claude-opus-5-5": _mu(203, 37, 40003, 3000, 0.0245526)}
    obs = feed(ClaudeParser(), _result_line(SAME, None, session, total_cost=0.0245526))
    assert next(x for x in obs if isinstance(x, o.UsageReport)).usage["scope"] == "session"
    assert not any(isinstance(x, o.Warning) for x in obs)


def test_session_total_from_model_usage_with_the_total_cost():
    """claude.md §6: after --resume modelUsage and total_cost_usd carry the whole session."""
    session = {"claude-opus-5-5": _mu(203, 37, 40003, 3000, 0.0245526)}
    _, result, asm = run([_result_line(SAME, DELTA, session, total_cost=0.0245526)])
    t = asm.session_total
    assert (t["input_tokens"], t["cached_input_tokens"], t["cache_write_input_tokens"]) == (43206, 40003, 3000)
    assert (t["output_tokens"], t["reasoning_output_tokens"], t["total_tokens"]) == (37, 0, 43243)
    assert (t["cost_usd"], t["cost_source"], t["scope"], t["model"]) == (0.0245526, "vendor", "session", "claude-opus-5-5")
    # this run's usage is still the delta
    assert (result["usage"]["input_tokens"], result["usage"]["cost_usd"]) == (22104, 0.0147884)
    assert "usage_mismatch" not in result["vendor"]


def test_session_total_cost_falls_back_to_the_model_costs():
    session = {"big": _mu(100, 10, 0, 0, 0.1, thinking=4), "small": _mu(10, 1, 5, 0, 0.001)}
    obs = feed(ClaudeParser(), _result_line(None, {}, session, total_cost=None))
    t = next(x for x in obs if isinstance(x, o.SessionTotal)).usage
    assert (t["input_tokens"], t["cached_input_tokens"], t["output_tokens"], t["reasoning_output_tokens"]) == (115, 5, 11, 4)
    assert t["cost_usd"] == 0.101 and t["model"] == "big" and set(t["models"]) == {"big", "small"}


@pytest.mark.parametrize("model_usage", [{}, None, [1], {"m": "x"}])
def test_no_session_total_without_model_usage(model_usage):
    """An API error reports modelUsage {} whatever the session used before: it is no total."""
    line = {"type": "result", "is_error": True, "subtype": "success", "result": "API Error", "total_cost_usd": 0,
            "modelUsage": model_usage, "model_usage_since_last_result": {}}
    obs = feed(ClaudeParser(), line)
    assert not any(isinstance(x, o.SessionTotal) for x in obs)


def test_total_cost_against_the_model_costs():
    session = {"a": _mu(1, 1, 0, 0, 0.01), "b": _mu(1, 1, 0, 0, 0.0045)}
    line = _result_line({"input_tokens": 2, "output_tokens": 2}, session, total_cost=0.02)
    events, result, asm = run([line])
    assert result["vendor"]["usage_mismatch"] == [
        {"check": "sum of modelUsage costUSD vs total_cost_usd", "fields": {"cost_usd": [0.0145, 0.02]}}]
    assert _errors(events) == ["Usage mismatch (claude: sum of modelUsage costUSD vs total_cost_usd): cost_usd 0.0145 vs "
                               "0.02. The reported usage is the shim's computation."]
    assert asm.session_total["cost_usd"] == 0.02  # the vendor's total is the session's cost


def test_cost_summation_noise_is_no_mismatch():
    session = {"a": _mu(1, 1, 0, 0, 0.1), "b": _mu(1, 1, 0, 0, 0.2)}  # 0.1 + 0.2 != 0.3 in floats
    obs = feed(ClaudeParser(), _result_line({"input_tokens": 2, "output_tokens": 2}, session, total_cost=0.3))
    assert not any(isinstance(x, o.Warning) for x in obs)


def test_both_checks_failing_give_one_list_before_the_outcome():
    session = {"claude-opus-5-5": _mu(102, 19, 20002, 2000, 0.0147884)}
    obs = feed(ClaudeParser(), _result_line(WITH_FAILED_ATTEMPT, DELTA, session, total_cost=0.03))
    infos = [x for x in obs if isinstance(x, o.VendorInfo) and "usage_mismatch" in x.details]
    assert len(infos) == 1
    assert [e["check"] for e in infos[0].details["usage_mismatch"]] == [
        "model_usage_since_last_result vs result.usage", "sum of modelUsage costUSD vs total_cost_usd"]
    assert sum(isinstance(x, o.Warning) for x in obs) == 2
    assert isinstance(obs[-1], o.Completed)


@pytest.mark.parametrize("line", [
    {"type": "result", "is_error": False, "usage": {"input_tokens": "many", "output_tokens": -3}, "total_cost_usd": "1",
     "modelUsage": {"m": {"inputTokens": None, "costUSD": "x"}}, "model_usage_since_last_result": {"m": []}},
    {"type": "result", "is_error": False, "usage": [], "total_cost_usd": True, "modelUsage": "x",
     "model_usage_since_last_result": None},
    {"type": "result", "is_error": False, "usage": {"input_tokens": 2**63 - 1}, "modelUsage": {"m": {"costUSD": -1}},
     "total_cost_usd": 0.5, "model_usage_since_last_result": {"m": {"outputTokens": 5, "thinkingTokens": 9}}},
])
def test_odd_result_lines_do_not_raise(line):
    obs = feed(ClaudeParser(), line)
    assert isinstance(obs[-1], o.Completed)
