"""agy translation, line by line (samples from ../shared/reference/agy.md §4, §6, §11)."""

from __future__ import annotations

import orjson
import pytest

from normalize import observe as o
from normalize.assembler import Assembler
from shims.agy.errors import go_duration_s, quota_from_text
from shims.agy.parse import AgyParser
from shims.agy.screen import ScreenText

CONV = "b27d0000-0000-4000-8000-000000000001"


def run(lines, stderr="", exit_code=0, **exit_kw):
    events = []
    p = AgyParser()
    asm = Assembler(lambda e, line: events.append(orjson.loads(line)), provider="agy", fallback_thread_id="t")
    asm.launched()
    for line in lines:
        asm.feed(p.feed(orjson.dumps(line)))
    exit = o.ExitInfo(exit_code=exit_code, stderr_tail=stderr, **exit_kw)
    asm.feed(p.finish(exit))
    result, code = asm.finish(exit)
    return events, result, code


def step(i, state, kind, **kw):
    return {"event": "step_update", "step_update": {"conversation_id": CONV, "step_index": i, "state": state, "step_type": kind, **kw}}


INIT = {"event": "init", "conversation_id": CONV, "init": {"cwd": "/w", "tools": ["run_command"], "permission_mode": "request-review"}}
U1 = {"input_tokens": 2175, "output_tokens": 301, "thinking_tokens": 268, "cache_read_tokens": 8113, "total_tokens": 2476}


def test_text_per_step_tools_and_usage_of_this_run():
    events, result, code = run([
        INIT,
        step(0, "DONE", "user_input"),
        step(1, "ACTIVE", "agent_response", text_delta="A merge conflict happens "),
        step(1, "DONE", "agent_response", text_delta="when…\n", usage=U1),
        step(2, "ACTIVE", "tool", tool_name="run_command", tool_info={"name": "run_command", "parameters": {"CommandLine": "echo hi"}}),
        step(2, "DONE", "tool", tool_name="run_command", tool_info={"name": "run_command", "parameters": {"CommandLine": "echo hi"}, "output": "hi\r\n"}),
        {"event": "result", "result": {"conversation_id": CONV, "status": "SUCCESS", "response": "A merge conflict happens when…\n",
                                       "num_turns": 3, "usage": {"input_tokens": 90000, "output_tokens": 900, "thinking_tokens": 500,
                                                                 "cache_read_tokens": 0, "total_tokens": 90900}}},
    ])
    assert result["status"] == "completed" and code == 0
    assert result["session_id"] == CONV and events[0]["thread_id"] == CONV
    msgs = [e["item"]["text"] for e in events if e["type"] == "item.completed" and e["item"]["type"] == "agent_message"]
    assert msgs == ["A merge conflict happens when…\n"]
    cmd = [e["item"] for e in events if e["type"] == "item.completed" and e["item"]["type"] == "command_execution"][0]
    assert (cmd["command"], cmd["aggregated_output"], cmd["exit_code"]) == ("echo hi", "hi\r\n", 0)
    u = result["usage"]
    # this run's step usage, not the conversation's running total; input + cache reads; thinking inside output
    assert (u["input_tokens"], u["cached_input_tokens"], u["output_tokens"], u["reasoning_output_tokens"]) == (10288, 8113, 301, 268)
    assert u["scope"] == "invocation" and result["vendor"]["usage"]["input_tokens"] == 90000


def test_running_total_only_on_a_resumed_conversation_is_session_scope():
    _, result, _ = run([INIT, {"event": "result", "result": {"conversation_id": CONV, "status": "SUCCESS", "response": "ok",
                                                               "num_turns": 2, "usage": U1}}])
    assert result["usage"]["scope"] == "session"


def test_quota_exhausted_with_reset_from_the_run_end():
    stderr = ("error: Individual quota reached. Please upgrade your subscription to increase your limits. Resets in 34m13s.\n"
              'AGY_ERROR: {"short_error":"RESOURCE_EXHAUSTED (code 429): Individual quota reached. Resets in 34m13s.",'
              '"status":"RESOURCE_EXHAUSTED","error_code":429,"code_kind":"http","retryable":true,"error_id":"x-3"}\n')
    _, result, code = run([INIT, step(3, "DONE", "error_message"),
                           {"event": "result", "result": {"conversation_id": CONV, "status": "ERROR", "response": "",
                                                          "error": "Individual quota reached. Please upgrade your subscription "
                                                                   "to increase your limits. Resets in 34m13s.", "usage": {}}}],
                          stderr, exit_code=3, ended_at=1795536000.0)
    assert code == 5 and result["failure_kind"] == "quota_or_rate_limited"
    q = result["quota"]
    assert (q["state"], q["window"], q["retry_after_s"]) == ("exhausted", "5h", 2053.0)
    assert q["resets_at"] == "2026-11-24T16:34:13Z"


def test_week_long_reset_is_weekly_even_if_retryable():
    q = quota_from_text("Individual quota reached. Resets in 167h51m3s.", None)
    assert q["window"] == "weekly" and q["retry_after_s"] == go_duration_s("167h51m3s") == 604263.0 and q["resets_at"] is None


def test_soft_denied_success_with_empty_answer_is_not_completed():
    events, result, code = run([INIT, {"event": "result", "result": {
        "conversation_id": CONV, "status": "SUCCESS", "response": "", "num_turns": 1,
        "denied_actions": [{"action": "run_command", "display_name": "Run command"}], "usage": {}}}],
        'jetski: no output produced — a tool required the "run_command" permission that headless mode cannot prompt for, so it was auto-denied.\n')
    assert result["status"] == "failed" and "--mode" in result["error"]
    assert any(e["type"] == "item.completed" and e["item"]["type"] == "error" and "Run command" in e["item"]["message"] for e in events)


def test_print_timeout_is_timed_out_with_the_partial_text():
    _, result, code = run([INIT, step(1, "ACTIVE", "agent_response", text_delta="partial answer"),
                           {"event": "result", "result": {"conversation_id": CONV, "status": "SUCCESS", "response": "partial answer",
                                                          "usage": {}}}],
                          "[agy] print timeout after 8s with turn in progress; returning partial output\n")
    assert code == 124 and result["failure_kind"] == "timed_out" and result["final_message"] == "partial answer"


def test_interrupted_is_cancelled_and_the_open_tool_is_closed():
    events, result, code = run([INIT, step(2, "ACTIVE", "tool", tool_name="run_command",
                                           tool_info={"name": "run_command", "parameters": {"CommandLine": "sleep 60"}}),
                                {"event": "result", "result": {"conversation_id": CONV, "status": "ERROR", "error": "interrupted",
                                                               "response": "so far", "usage": {}}}], exit_code=1)
    assert result["status"] == "cancelled" and result["final_message"] == "so far"
    cmd = [e["item"] for e in events if e["type"] == "item.completed" and e["item"]["type"] == "command_execution"][0]
    assert cmd["status"] == "failed"


@pytest.mark.parametrize(
    ("stderr", "exit_code", "kind"),
    [
        ("Error: authentication required. Run 'agy' to log in, then retry.\nerror: authentication failed or timed out\n", 1,
         "authentication_required"),
        ("CLI error: bubbletea: error opening TTY: bubbletea: could not open TTY: open /dev/tty: no such device or address\n", 0,
         "authentication_required"),
        ('invalid model selection (--model "x" --effort ""): model x is not recognized as a known model or custom model in settings\n',
         1, "bad_request"),
        ("flag provided but not defined: -output-format\n", 2, "unsupported_mode"),
    ],
)
def test_failures_without_a_result(stderr, exit_code, kind):
    _, result, _ = run([], stderr, exit_code=exit_code)
    assert result["failure_kind"] == kind


def test_screen_drops_spinner_box_and_escapes():
    s = ScreenText()
    s.feed("\x1b]0;agy\x07\x1b[?25l\x1b[36m╭────╮\x1b[0m\r\n│ Antigravity │\r\n╰────╯\r\n".encode())
    for frame in "⠋⠙⠹":
        s.feed(f"\r\x1b[2K{frame} Thinking...".encode())
    s.feed(b"\r\x1b[2K\x1b[1mHello\x1b[0m from the agy simulator.\r\nSecond line\r\n\x1b[?25h")
    assert s.text() == "Hello from the agy simulator.\nSecond line"


# ---------------------------------------------------------------------- reconciliation


def run_parser(lines, exit=o.ExitInfo(exit_code=0)):
    p = AgyParser()
    obs = []
    for line in lines:
        obs += p.feed(orjson.dumps(line))
    return obs + p.finish(exit)


def result_line(usage, num_turns=1, status="SUCCESS"):
    return {"event": "result", "result": {"conversation_id": CONV, "status": status, "response": "ok\n",
                                          "num_turns": num_turns, "usage": usage}}


def _errors(events):
    return [e["item"]["message"] for e in events if e["type"] == "item.completed" and e["item"]["type"] == "error"]


def test_totals_that_add_up_show_no_mismatch():
    events, result, _ = run([INIT, step(1, "DONE", "agent_response", text_delta="ok\n", usage=U1), result_line(U1)])
    assert _errors(events) == [] and "usage_mismatch" not in result["vendor"]


def test_result_total_that_does_not_add_up():
    bad = {**U1, "total_tokens": 2744}  # as if thinking were added to output a second time
    events, result, _ = run([INIT, step(1, "DONE", "agent_response", text_delta="ok\n", usage=U1), result_line(bad)])
    assert result["vendor"]["usage_mismatch"] == [
        {"check": "result.usage total_tokens = input_tokens + output_tokens", "fields": {"total_tokens": [2476, 2744]}}]
    assert _errors(events) == ["Usage mismatch (agy: result.usage total_tokens = input_tokens + output_tokens): "
                               "total_tokens 2476 vs 2744. The reported usage is the shim's computation."]
    assert result["status"] == "completed"


def test_step_totals_that_do_not_add_up_are_one_entry():
    s3 = {"input_tokens": 100, "output_tokens": 10, "thinking_tokens": 0, "cache_read_tokens": 0, "total_tokens": 120}
    s5 = {"input_tokens": 200, "output_tokens": 20, "thinking_tokens": 5, "cache_read_tokens": 50, "total_tokens": 200}
    total = {"input_tokens": 2475, "output_tokens": 331, "thinking_tokens": 273, "cache_read_tokens": 8163, "total_tokens": 2806}
    events, result, _ = run([
        INIT,
        step(1, "DONE", "agent_response", text_delta="a", usage=U1),
        step(3, "DONE", "checkpoint", usage=s3),
        step(5, "DONE", "agent_response", text_delta="b", usage=s5),
        result_line(total),
    ])
    assert result["vendor"]["usage_mismatch"] == [
        {"check": "step usage total_tokens = input_tokens + output_tokens (steps 3, 5)",
         "fields": {"total_tokens": [330, 320]}}]
    assert len(_errors(events)) == 1


def test_the_step_sum_is_not_compared_with_the_running_total():
    """On a resumed conversation result.usage also holds the earlier runs (agy.md §5)."""
    cumulative = {"input_tokens": 90000, "output_tokens": 900, "thinking_tokens": 500, "cache_read_tokens": 0,
                  "total_tokens": 90900}
    obs = run_parser([INIT, step(1, "DONE", "agent_response", text_delta="ok\n", usage=U1), result_line(cumulative, 3)])
    assert not any(isinstance(x, o.Warning) for x in obs)


def test_session_total_is_the_running_total():
    cumulative = {"input_tokens": 90000, "output_tokens": 900, "thinking_tokens": 500, "cache_read_tokens": 3000,
                  "total_tokens": 90900}
    init = {**INIT, "init": {**INIT["init"], "model": "gemini-3-pro"}}
    obs = run_parser([init, step(1, "DONE", "agent_response", text_delta="ok\n", usage=U1), result_line(cumulative, 3)])
    totals = [x.usage for x in obs if isinstance(x, o.SessionTotal)]
    assert len(totals) == 1
    t = totals[0]
    # input + cache reads; thinking inside output, not added
    assert (t["input_tokens"], t["cached_input_tokens"], t["cache_write_input_tokens"]) == (93000, 3000, 0)
    assert (t["output_tokens"], t["reasoning_output_tokens"], t["total_tokens"]) == (900, 500, 93900)
    assert (t["cost_usd"], t["scope"], t["model"]) == (None, "session", "gemini-3-pro")
    # this run's usage is still the steps'
    usage = next(x.usage for x in obs if isinstance(x, o.UsageReport))
    assert (usage["input_tokens"], usage["scope"]) == (10288, "invocation")
    assert obs.index(next(x for x in obs if isinstance(x, o.SessionTotal))) < obs.index(obs[-1])
    assert isinstance(obs[-1], o.Completed)


@pytest.mark.parametrize("usage", [
    {"input_tokens": 0, "output_tokens": 0, "thinking_tokens": 0, "cache_read_tokens": 0, "total_tokens": 0},
    {},
    "x",
])
def test_zero_or_missing_running_total_is_no_session_total(usage):
    """All zeros means unknown (print timeouts, early failures, slash commands), not free."""
    obs = run_parser([INIT, result_line(usage, 0)])
    assert not any(isinstance(x, o.SessionTotal) for x in obs)
    assert not any(isinstance(x, o.Warning) for x in obs)


def test_step_mismatch_is_reported_without_a_result():
    bad = {**U1, "total_tokens": 1}
    obs = run_parser([INIT, step(1, "DONE", "agent_response", text_delta="a", usage=bad)],
                     o.ExitInfo(exit_code=1, stderr_tail="error: authentication failed or timed out\n"))
    infos = [x for x in obs if isinstance(x, o.VendorInfo) and "usage_mismatch" in x.details]
    assert infos == [o.VendorInfo({"usage_mismatch": [
        {"check": "step usage total_tokens = input_tokens + output_tokens (steps 1)", "fields": {"total_tokens": [2476, 1]}}]})]
    assert isinstance(obs[-1], o.Failed)


def test_both_checks_failing_give_one_list_before_the_outcome():
    bad = {**U1, "total_tokens": 1}
    obs = run_parser([INIT, step(1, "DONE", "agent_response", text_delta="a", usage=bad), result_line(bad)])
    infos = [x for x in obs if isinstance(x, o.VendorInfo) and "usage_mismatch" in x.details]
    assert len(infos) == 1 and len(infos[0].details["usage_mismatch"]) == 2
    assert sum(isinstance(x, o.Warning) for x in obs) == 2 and isinstance(obs[-1], o.Completed)


@pytest.mark.parametrize("usage", [
    {"input_tokens": "9", "output_tokens": None, "total_tokens": []},
    {"input_tokens": -5, "total_tokens": True},
    [1, 2],
])
def test_odd_usage_does_not_raise(usage):
    obs = run_parser([INIT, step(1, "DONE", "agent_response", text_delta="a", usage=usage), result_line(usage)])
    assert isinstance(obs[-1], o.Completed)
