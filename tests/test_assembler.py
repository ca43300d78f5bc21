"""The assembler through its public API: observations in, the contract stream out (CONTRACT §3-§6).

Every run here goes through `run()`, which also checks that each line the sink got is at most
16 KiB and validates as an `Event`, so every test doubles as a stream-shape test.
"""

from __future__ import annotations

import re
import tracemalloc

import orjson
import pytest

from normalize import observe as o
from normalize.assembler import Assembler, fail_before_launch
from normalize.failures import EXIT_CODES
from normalize.limits import MAX_LINE_BYTES
from normalize.models import Event
from normalize.usage import build_usage

FALLBACK = "00000000-0000-4000-8000-000000000000"
MARKER = re.compile(r"\[… (\d+) bytes cut\]\n")
OK = o.ExitInfo(exit_code=0)


class Run:
    """One assembled stream: parsed lines, raw lines, the returned result and exit code."""

    def __init__(self, lines: list[bytes], result: dict, code: int) -> None:
        self.lines = lines
        self.events = [orjson.loads(line) for line in lines]
        self.result = result
        self.code = code

    @property
    def types(self) -> list[str]:
        return [e["type"] for e in self.events]

    def items(self, event_type: str | None = None) -> list[dict]:
        return [e["item"] for e in self.events if e["type"].startswith("item.") and event_type in (None, e["type"])]

    @property
    def final(self) -> dict:
        return self.events[-1]


def collecting_sink(lines: list[bytes]):
    def sink(event: dict, line: bytes) -> None:
        assert len(line) <= MAX_LINE_BYTES, f"line of {len(line)} bytes"
        Event.model_validate_json(line)
        lines.append(line)

    return sink


def run(observations, exit: o.ExitInfo = OK, *, launched: bool = True, **kw) -> Run:
    lines: list[bytes] = []
    kw.setdefault("provider", "fake")
    kw.setdefault("fallback_thread_id", FALLBACK)
    asm = Assembler(collecting_sink(lines), **kw)
    if launched:
        asm.launched()
    asm.feed(observations)
    result, code = asm.finish(exit)
    out = Run(lines, result, code)
    assert out.final["type"] == "result"
    return out


def cmd(command: str = "ls", **extra) -> dict:
    return {"type": "command_execution", "command": command, "aggregated_output": "", "exit_code": None, **extra}


def marker_count(text: str) -> int:
    m = MARKER.match(text)
    assert m, f"no cut marker at the start of {text[:60]!r}"
    return int(m.group(1))


# ---------------------------------------------------------------- thread and turn


def test_thread_id_is_the_vendor_session_when_it_comes_before_any_item():
    r = run([o.Session("sess-1", model="m1"), o.Message("hi")], request_thread_id="req-1")
    assert r.events[0] == {"type": "thread.started", "thread_id": "sess-1"}
    assert r.result["thread_id"] == "sess-1"
    assert r.result["session_id"] == "sess-1"
    assert r.result["provider"]["model"] == "m1"


def test_thread_id_is_the_request_thread_when_the_session_comes_after_an_item():
    r = run([o.Message("hi"), o.Session("sess-1")], request_thread_id="req-1")
    assert r.events[0]["thread_id"] == "req-1"
    assert r.result["thread_id"] == "req-1"
    assert r.result["session_id"] == "sess-1"  # still reported, for resume


def test_thread_id_falls_back_without_session_or_request():
    r = run([o.Message("hi")])
    assert r.events[0]["thread_id"] == FALLBACK
    assert r.result["thread_id"] == FALLBACK
    assert r.result["session_id"] is None


def test_session_without_id_does_not_replace_the_thread_id():
    r = run([o.Session(None, model="m"), o.Message("hi")], request_thread_id="req-1")
    assert r.events[0]["thread_id"] == "req-1"


def test_turn_started_follows_thread_started_once_launched():
    r = run([o.Message("hi")])
    assert r.types[:2] == ["thread.started", "turn.started"]
    assert r.types.count("turn.started") == 1


def test_no_turn_started_without_launch():
    r = run([o.Message("hi")], launched=False)
    assert "turn.started" not in r.types
    assert r.types[0] == "thread.started"


# ---------------------------------------------------------------- items and ids


def test_ids_in_order_of_first_appearance_and_shared_by_one_tool():
    r = run(
        [
            o.Message("looking"),
            o.ToolStarted("c1", cmd("ls")),
            o.Reasoning("hmm"),
            o.ToolUpdated("c1", {"aggregated_output": "a\n"}),
            o.ToolCompleted("c1", {"aggregated_output": "a\nb\n", "exit_code": 0}),
            o.Warning("retrying"),
        ]
    )
    seen = [(e["type"], e["item"]["id"], e["item"]["type"]) for e in r.events if e["type"].startswith("item.")]
    assert seen == [
        ("item.completed", "item_0", "agent_message"),
        ("item.started", "item_1", "command_execution"),
        ("item.completed", "item_2", "reasoning"),
        ("item.updated", "item_1", "command_execution"),
        ("item.completed", "item_1", "command_execution"),
        ("item.completed", "item_3", "error"),
    ]
    started, updated, completed = (i for i in r.items() if i["id"] == "item_1")
    assert started["status"] == "in_progress"
    assert updated["aggregated_output"] == "a\n"
    assert completed == {
        "id": "item_1",
        "type": "command_execution",
        "command": "ls",
        "aggregated_output": "a\nb\n",
        "exit_code": 0,
        "status": "completed",
    }


def test_tool_completed_without_start_but_with_type_makes_one_completed_item():
    r = run([o.ToolCompleted("c9", {"type": "mcp_tool_call", "server": "fake", "tool": "grep", "arguments": {}})])
    assert [e["type"] for e in r.events if e["type"].startswith("item.")] == ["item.completed"]
    assert r.items()[0] == {
        "id": "item_0",
        "type": "mcp_tool_call",
        "server": "fake",
        "tool": "grep",
        "arguments": {},
        "result": None,  # Codex writes both keys, null when empty
        "error": None,
        "status": "completed",
    }


def test_tool_completed_without_start_or_type_shows_nothing():
    r = run([o.ToolCompleted("c9", {"exit_code": 0}), o.Message("done")])
    assert [i["id"] for i in r.items()] == ["item_0"]
    assert r.items()[0]["type"] == "agent_message"


def test_update_of_a_call_never_started_is_dropped():
    r = run([o.ToolUpdated("nope", {"aggregated_output": "x"}), o.Message("done")])
    assert [e["type"] for e in r.events if e["type"].startswith("item.")] == ["item.completed"]


def test_open_tools_are_completed_as_failed_at_finish():
    r = run([o.ToolStarted("c1", cmd("sleep 100")), o.ToolStarted("c2", cmd("ls"))], o.ExitInfo(cancelled="SIGINT"))
    completed = r.items("item.completed")
    assert [(i["id"], i["status"]) for i in completed] == [("item_0", "failed"), ("item_1", "failed")]
    # closed before the terminal events
    assert r.types[-4:] == ["item.completed", "error", "turn.failed", "result"]


def test_command_or_file_change_counts_as_side_effect():
    lines: list[bytes] = []
    asm = Assembler(collecting_sink(lines), provider="fake", fallback_thread_id=FALLBACK)
    asm.feed([o.Message("hi"), o.ToolStarted("c", {"type": "web_search", "query": "q"}),
              o.ToolCompleted("c", {})])
    assert not asm.had_side_effects
    asm.feed([o.ToolStarted("c2", cmd("rm x"))])
    assert asm.had_side_effects


# ---------------------------------------------------------------- messages


def test_deltas_with_one_key_join_into_one_message():
    r = run([o.MessageDelta("k", "Hel"), o.MessageDelta("k", "lo, "), o.MessageDelta("k", "world")])
    assert r.items() == [{"id": "item_0", "type": "agent_message", "text": "Hello, world"}]
    assert r.result["final_message"] == "Hello, world"


def test_a_different_key_splits_the_message():
    r = run([o.MessageDelta("a", "one"), o.MessageDelta("b", "two"), o.MessageDelta("b", "!")])
    assert [(i["id"], i["text"]) for i in r.items()] == [("item_0", "one"), ("item_1", "two!")]
    assert r.result["final_message"] == "two!"


@pytest.mark.parametrize(
    "between",
    [
        o.Reasoning("think"),
        o.Message("block"),
        o.Warning("warn"),
        o.Item({"type": "web_search", "query": "q"}),
        o.ToolStarted("c", cmd()),
        o.ToolCompleted("c", {"type": "web_search", "query": "q"}),
        o.MessageEnd("k"),
        o.MessageEnd(),
    ],
    ids=lambda ob: type(ob).__name__,
)
def test_any_other_item_or_message_end_splits_the_deltas(between):
    r = run([o.MessageDelta("k", "first"), between, o.MessageDelta("k", "second")])
    texts = [i["text"] for i in r.items("item.completed") if i["type"] == "agent_message"]
    assert texts[0] == "first"
    assert texts[-1] == "second"
    assert r.items()[0] == {"id": "item_0", "type": "agent_message", "text": "first"}


def test_message_end_of_another_key_does_not_split():
    r = run([o.MessageDelta("k", "one "), o.MessageEnd("other"), o.MessageDelta("k", "message")])
    assert [i["text"] for i in r.items()] == ["one message"]


def test_partial_text_shows_the_growing_message_under_its_id():
    r = run([o.MessageDelta("k", "a"), o.MessageDelta("k", "b")], partial_text=True)
    assert [(e["type"], e["item"]["id"], e["item"]["text"]) for e in r.events if e["type"].startswith("item.")] == [
        ("item.updated", "item_0", "a"),
        ("item.updated", "item_0", "ab"),
        ("item.completed", "item_0", "ab"),
    ]


def test_final_message_is_the_last_agent_message():
    r = run([o.Message("first"), o.Reasoning("r"), o.Message("second"), o.Completed()])
    assert r.result["final_message"] == "second"
    assert r.final["final_message"] == "second"


def test_completed_final_message_overrides_the_last_message():
    r = run([o.Message("chatter"), o.Completed(final_message="the answer")])
    assert r.result["status"] == "completed"
    assert r.result["final_message"] == "the answer"


def test_empty_message_makes_no_item():
    r = run([o.Message(""), o.Reasoning(""), o.Message("x")])
    assert [i["id"] for i in r.items()] == ["item_0"]


# ---------------------------------------------------------------- outcomes and exit codes


@pytest.mark.parametrize("kind", sorted(EXIT_CODES))
def test_failed_gives_error_then_turn_failed_then_result(kind):
    r = run([o.Message("partial"), o.Failed(kind, "it broke")])
    assert r.types[-3:] == ["error", "turn.failed", "result"]
    assert r.events[-3] == {"type": "error", "message": "it broke"}
    assert r.events[-2] == {"type": "turn.failed", "error": {"message": "it broke"}}
    assert r.result["status"] == "failed"
    assert r.result["failure_kind"] == kind
    assert r.result["error"] == "it broke"
    assert r.code == EXIT_CODES[kind]
    assert "turn.completed" not in r.types


@pytest.mark.parametrize("sig,code", [("SIGINT", 130), ("SIGTERM", 143)])
def test_cancelled(sig, code):
    r = run([o.Message("half an answer"), o.Completed()], o.ExitInfo(exit_code=0, cancelled=sig))
    assert r.result["status"] == "cancelled"
    assert r.result["failure_kind"] == "cancelled"
    assert sig in r.result["error"]
    assert r.code == code
    assert r.types[-3:] == ["error", "turn.failed", "result"]


@pytest.mark.parametrize("which,flag", [("idle", "--idle-timeout"), ("timeout", "--timeout")])
def test_timed_out_names_the_flag(which, flag):
    r = run([o.Message("slow")], o.ExitInfo(exit_code=None, signal=15, timed_out=which, timeout_s=30))
    assert r.result["status"] == "failed"
    assert r.result["failure_kind"] == "timed_out"
    assert r.code == 124
    assert flag in r.result["error"]
    assert "30s" in r.result["error"]
    assert set(re.findall(r"--[a-z-]+", r.result["error"])) == {flag}


def test_no_verdict_exit_zero_with_text_is_completed():
    r = run([o.Message("answer")], o.ExitInfo(exit_code=0))
    assert r.result["status"] == "completed"
    assert r.result["failure_kind"] is None and r.result["error"] is None
    assert r.code == 0
    assert r.types[-2:] == ["turn.completed", "result"]


def test_no_verdict_nonzero_exit_is_provider_failed_with_last_stderr_line():
    stderr = "starting\nError: model overloaded, try later\n\n  \n"
    r = run([o.Message("partial")], o.ExitInfo(exit_code=3, stderr_tail=stderr))
    assert r.result["failure_kind"] == "provider_failed"
    assert r.code == 1
    assert "3" in r.result["error"]
    assert r.result["error"].endswith("Error: model overloaded, try later")
    assert r.events[-3]["message"] == r.result["error"]


def test_killed_by_signal_is_provider_failed():
    r = run([o.Message("partial")], o.ExitInfo(exit_code=None, signal=9))
    assert r.result["failure_kind"] == "provider_failed"
    assert "signal 9" in r.result["error"]


def test_only_unparsed_lines_and_exit_zero_is_malformed_output():
    r = run([o.Unparsed("not JSON"), o.Unparsed("not JSON")], o.ExitInfo(exit_code=0))
    assert r.result["failure_kind"] == "malformed_output"
    assert r.code == EXIT_CODES["malformed_output"] == 8
    assert "not JSON" in r.result["error"]
    assert r.result["vendor"]["unparsed_lines"] == 2


def test_completed_without_text_is_empty_output():
    r = run([o.Completed()], o.ExitInfo(exit_code=0))
    assert r.result["failure_kind"] == "empty_output"
    assert r.code == 9
    assert r.result["final_message"] is None


def test_completed_with_empty_final_message_is_empty_output():
    r = run([o.Message("chatter"), o.Completed(final_message="")])
    assert r.result["failure_kind"] == "empty_output"


def test_nothing_at_all_is_empty_output():
    r = run([], o.ExitInfo(exit_code=0))
    assert r.types == ["thread.started", "turn.started", "error", "turn.failed", "result"]
    assert r.result["failure_kind"] == "empty_output"


def test_quota_of_a_failure_lands_in_result_with_all_five_keys():
    quota = {"state": "exhausted", "resets_at": "2026-11-24T15:07:00Z", "window": "5h"}
    r = run([o.Failed("quota_or_rate_limited", "5-hour limit reached", quota=quota)])
    assert r.code == 5
    assert r.result["quota"] == {
        "state": "exhausted",
        "resets_at": "2026-11-24T15:07:00Z",
        "retry_after_s": None,
        "window": "5h",
        "message": None,
    }
    assert r.final["quota"] == r.result["quota"]


def test_quota_report_while_running_is_kept_on_success():
    r = run([o.QuotaReport({"state": "warning", "message": "80% used"}), o.Message("ok")])
    assert r.result["quota"] == {
        "state": "warning", "resets_at": None, "retry_after_s": None, "window": None, "message": "80% used"
    }


def test_usage_turn_completed_has_exactly_the_five_codex_fields():
    usage = build_usage(
        input_tokens=1000,
        cached_input_tokens=600,
        cache_write_input_tokens=100,
        output_tokens=300,
        reasoning_output_tokens=120,
        cost_usd=0.0123,
        cost_source="vendor",
        model="m1",
    )
    r = run([o.UsageReport(build_usage(input_tokens=1)), o.UsageReport(usage), o.Message("ok")])
    (turn,) = [e for e in r.events if e["type"] == "turn.completed"]
    assert turn["usage"] == {
        "input_tokens": 1000,
        "cached_input_tokens": 600,
        "cache_write_input_tokens": 100,
        "output_tokens": 300,
        "reasoning_output_tokens": 120,
    }
    assert r.result["usage"]["total_tokens"] == 1300
    assert r.result["usage"]["cost_usd"] == 0.0123
    assert r.result["usage"]["model"] == "m1"


def test_usage_without_report_is_zero_and_names_the_model():
    r = run([o.Session("s", model="m2"), o.Message("ok")])
    (turn,) = [e for e in r.events if e["type"] == "turn.completed"]
    assert set(turn["usage"].values()) == {0}
    assert r.result["usage"]["model"] == "m2"


def test_fail_before_launch_stream():
    lines: list[bytes] = []
    result, code = fail_before_launch(
        collecting_sink(lines), provider="claude", thread_id="t-1", kind="bad_request", message="No prompt."
    )
    events = [orjson.loads(line) for line in lines]
    assert [e["type"] for e in events] == ["thread.started", "error", "turn.failed", "result"]
    assert events[0]["thread_id"] == "t-1"
    assert result["failure_kind"] == "bad_request"
    assert result["error"] == "No prompt."
    assert result["provider"]["name"] == "claude"
    assert code == 2


def test_finish_twice_is_refused():
    asm = Assembler(lambda e, line: None, provider="fake", fallback_thread_id=FALLBACK)
    asm.finish(OK)
    with pytest.raises(RuntimeError):
        asm.finish(OK)


# ---------------------------------------------------------------- size limits


def test_huge_command_output_is_cut_to_its_tail_with_an_exact_marker():
    output = "".join(f"line {i:06d} é\n" for i in range(7500))  # ~ 105 KB, some 2-byte chars
    total = len(output.encode())
    assert total > 100_000
    r = run([o.ToolStarted("c", cmd("cat big")), o.ToolCompleted("c", {"aggregated_output": output, "exit_code": 0})])
    line = r.lines[[e["type"] for e in r.events].index("item.completed")]
    assert len(line) <= MAX_LINE_BYTES
    shown = orjson.loads(line)["item"]["aggregated_output"]
    n = marker_count(shown)
    kept = MARKER.sub("", shown, count=1)
    assert output.endswith(kept)
    assert n == total - len(kept.encode())
    assert 3000 < len(kept.encode()) <= 4096


def test_final_message_over_the_limit_keeps_its_tail_with_an_exact_marker():
    answer = "ü" * 300 + "THE END"  # 607 bytes
    r = run([o.Message(answer)], max_final_message_bytes=100)
    final = r.result["final_message"]
    n = marker_count(final)
    kept = MARKER.sub("", final, count=1)
    assert answer.endswith(kept) and kept.endswith("THE END")
    assert len(kept.encode()) <= 100
    assert n == len(answer.encode()) - len(kept.encode())
    assert r.final["final_message"] == final
    # the agent_message item itself is not cut by max_final_message_bytes (it fits a line)
    assert r.items()[0]["text"] == answer


def test_ten_megabytes_of_deltas_keep_memory_bounded_and_count_every_cut_byte():
    chunk = "abcdefghij" * 6553 + "\n"  # 65_531 bytes
    n_chunks = 160
    ending = "...and that is the whole story."
    total = len(chunk) * n_chunks + len(ending)
    lines: list[bytes] = []
    asm = Assembler(lambda e, line: lines.append(line), provider="fake", fallback_thread_id=FALLBACK)
    asm.launched()
    tracemalloc.start()
    try:
        for _ in range(n_chunks):
            asm.feed([o.MessageDelta("k", chunk)])
        asm.feed([o.MessageDelta("k", ending)])
        result, code = asm.finish(OK)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total > 10_000_000
    assert peak < 6_000_000, f"peak {peak} bytes while streaming {total}"
    assert code == 0
    events = [orjson.loads(line) for line in lines]
    (msg,) = [e["item"] for e in events if e["type"] == "item.completed"]
    for text in (msg["text"], result["final_message"]):
        kept = MARKER.sub("", text, count=1)
        assert text.count("bytes cut]") == 1
        assert kept.endswith(ending)
        assert marker_count(text) == total - len(kept.encode())


# ---------------------------------------------------------------- determinism


def _busy_observations() -> list:
    return [
        o.Session("s-1", model="m", cli_version="1.2.3"),
        o.MessageDelta("a", "Hel"),
        o.MessageDelta("a", "lo"),
        o.ToolStarted("c1", cmd("ls")),
        o.ToolUpdated("c1", {"aggregated_output": "x" * 50_000}),
        o.ToolCompleted("c1", {"exit_code": 0}),
        o.Item({"type": "todo_list", "items": [{"text": "a", "completed": True}]}),
        o.UsageReport(build_usage(input_tokens=5, output_tokens=7, cost_usd=0.5, cost_source="vendor")),
        o.VendorInfo({"stop_reason": "end_turn"}),
        o.Message("bye"),
        o.Completed(),
    ]


def test_same_observations_give_byte_identical_lines():
    a = run(_busy_observations())
    b = run(_busy_observations())
    assert a.lines == b.lines
    assert a.result == b.result


# ---------------------------------------------------------------- known bugs


def test_empty_delta_does_not_leave_a_gap_in_ids():
    r = run([o.MessageDelta("a", ""), o.Message("hi")])
    assert [i["id"] for i in r.items()] == ["item_0"]


@pytest.mark.parametrize(
    "item",
    [{"type": "web_search", "query": "q"}, {"type": "todo_list", "items": [{"text": "a", "completed": False}]}],
    ids=["web_search", "todo_list"],
)
def test_open_status_less_tool_at_finish_stays_a_valid_item(item):
    run([o.ToolStarted("c1", item)], o.ExitInfo(cancelled="SIGINT"))


def test_vendor_reported_cancel_exits_with_a_cancel_code():
    r = run([o.Message("partial"), o.Failed("cancelled", "The user interrupted the turn.")])
    assert r.result["failure_kind"] == "cancelled"
    assert r.code in (130, 143)


def test_absurd_usage_counts_still_end_the_stream():
    from normalize.usage import from_parts

    r = run([o.UsageReport(from_parts(uncached_input=1e23, visible_output=5)), o.Message("hi")])
    assert r.result["status"] == "completed"


def test_vendor_reported_interrupt_is_a_cancel_not_a_provider_failure():
    """Someone interrupted the vendor itself (the shim got no signal): the run is cancelled
    and exits like a SIGINT, never with 1 (which would mean provider_failed)."""
    r = run([o.Message("partial"), o.Failed("cancelled", "interrupted")], o.ExitInfo(exit_code=0))
    assert (r.result["status"], r.result["failure_kind"], r.code) == ("cancelled", "cancelled", 130)
    assert r.result["final_message"] == "partial"


def test_item_ids_are_the_assemblers_even_if_a_parser_sends_one():
    r = run([o.Item({"id": "vendor-1", "type": "error", "message": "m"}),
             o.ToolStarted("c", {"id": "x", "type": "web_search", "query": "q"}),
             o.ToolCompleted("c", {"id": "y"})])
    assert [e["item"]["id"] for e in map(orjson.loads, r.lines) if e["type"].startswith("item.")] == ["item_0", "item_1", "item_1"]
