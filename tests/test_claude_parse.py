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
