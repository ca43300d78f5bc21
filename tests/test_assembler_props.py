"""Property tests: whatever a vendor parser reports, the assembled stream keeps CONTRACT §3-§6.

Random sequences of every observation type go into a fresh Assembler; the stream that comes
out is checked against the rules a reader relies on, and the result against an independent
model of the outcome (cancel > timeout > the vendor's verdict > how the process ended).
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from normalize import observe as o
from normalize.assembler import Assembler
from normalize.failures import CANCEL_EXIT, EXIT_CODES, FailureKind, exit_code_for
from normalize.limits import MAX_LINE_BYTES
from normalize.models import Event
from normalize.usage import build_usage

MARKER = re.compile(r"\[… (\d+) bytes cut\]\n")
FALLBACK = "11111111-1111-4111-8111-111111111111"

# ---------------------------------------------------------------- strategies

CHARS = st.characters(exclude_categories=("Cs",))  # orjson (and JSON) cannot carry lone surrogates
small_text = st.text(CHARS, max_size=30)


def _repeat(seed: str, n: int) -> str:
    return (seed * (n // len(seed) + 1))[:n]


# ~50 KB of text (in characters; up to 4x that in bytes) without making hypothesis draw every char
huge_text = st.builds(_repeat, st.text(CHARS, min_size=1, max_size=8), st.integers(16_000, 60_000))
texts = st.integers(0, 15).flatmap(lambda r: huge_text if r == 0 else st.just("") if r == 1 else small_text)

# The vendor call id decides the item type, so updates and completions fit the started item;
# a small pool makes starts, updates and completions of one call collide.
CALLS = {
    "sh1": "command_execution",
    "sh2": "command_execution",
    "fc1": "file_change",
    "mc1": "mcp_tool_call",
    "mc2": "mcp_tool_call",
    "ws1": "web_search",
    "td1": "todo_list",
}
STATUS_TYPES = ("command_execution", "file_change", "mcp_tool_call")
end_status = st.sampled_from(["completed", "failed", "declined"])
changes = st.lists(
    st.fixed_dictionaries(
        {"path": small_text, "kind": st.sampled_from(["add", "delete", "update"])}, optional={"diff": texts}
    ),
    max_size=3,
)
todo_items = st.lists(st.fixed_dictionaries({"text": texts, "completed": st.booleans()}), max_size=4)
json_args = st.dictionaries(st.sampled_from(["path", "pattern", "query", "limit"]), st.one_of(texts, st.integers(-(2**63), 2**63 - 1)), max_size=3)


def start_item(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    return {
        "command_execution": st.fixed_dictionaries(
            {"type": st.just(kind), "command": texts, "aggregated_output": texts, "exit_code": st.none()}
        ),
        "file_change": st.fixed_dictionaries({"type": st.just(kind), "changes": changes}),
        "mcp_tool_call": st.fixed_dictionaries(
            {"type": st.just(kind), "server": small_text, "tool": small_text, "arguments": json_args}
        ),
        "web_search": st.fixed_dictionaries({"type": st.just(kind), "query": texts}),
        "todo_list": st.fixed_dictionaries({"type": st.just(kind), "items": todo_items}),
    }[kind]


def update_fields(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    return {
        "command_execution": st.fixed_dictionaries({}, optional={"aggregated_output": texts}),
        "file_change": st.fixed_dictionaries({}, optional={"changes": changes}),
        "mcp_tool_call": st.fixed_dictionaries({}, optional={"arguments": json_args}),
        "web_search": st.fixed_dictionaries({}, optional={"query": texts}),
        "todo_list": st.fixed_dictionaries({}, optional={"items": todo_items}),
    }[kind]


def end_fields(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    """Either fields to merge over a started item, or a whole item (for a start never seen)."""
    partial = {
        "command_execution": st.fixed_dictionaries(
            {}, optional={"aggregated_output": texts, "exit_code": st.integers(-1, 255), "status": end_status}
        ),
        "file_change": st.fixed_dictionaries({}, optional={"status": end_status}),
        "mcp_tool_call": st.fixed_dictionaries(
            {}, optional={"result": json_args, "error": st.fixed_dictionaries({"message": texts}), "status": end_status}
        ),
        "web_search": st.just({}),
        "todo_list": st.just({}),
    }[kind]
    whole = start_item(kind)
    if kind in STATUS_TYPES:
        whole = st.builds(lambda item, status: {**item, "status": status}, whole, end_status)
    return st.one_of(partial, whole)


def whole_item() -> st.SearchStrategy[dict[str, Any]]:
    def with_status(item: dict[str, Any], status: str) -> dict[str, Any]:
        return {**item, "status": status} if item["type"] in STATUS_TYPES else item

    tools = [st.builds(with_status, start_item(k), end_status) for k in sorted(set(CALLS.values()))]
    return st.one_of(
        st.fixed_dictionaries({"type": st.just("agent_message"), "text": texts}),
        st.fixed_dictionaries({"type": st.just("reasoning"), "text": texts}),
        st.fixed_dictionaries({"type": st.just("error"), "message": texts}),
        *tools,
    )


def tool_observations(calls: dict[str, str]) -> st.SearchStrategy[o.Observation]:
    def one(call_id: str) -> st.SearchStrategy[o.Observation]:
        kind = calls[call_id]
        return st.one_of(
            st.builds(o.ToolStarted, st.just(call_id), start_item(kind)),
            st.builds(o.ToolUpdated, st.just(call_id), update_fields(kind)),
            st.builds(o.ToolCompleted, st.just(call_id), end_fields(kind)),
        )

    return st.sampled_from(sorted(calls)).flatmap(one)


quotas = st.fixed_dictionaries(
    {"state": st.sampled_from(["ok", "warning", "rate_limited", "exhausted", "unknown"])},
    optional={
        "resets_at": st.sampled_from(["2026-11-24T15:07:00Z", None]),
        "retry_after_s": st.one_of(st.none(), st.floats(0, 1e6)),
        "window": st.sampled_from(["minute", "5h", "daily", "weekly", None]),
        "message": st.one_of(st.none(), texts),
    },
)
counts = st.integers(0, 10**9)
usages = st.builds(
    build_usage,
    input_tokens=counts,
    cached_input_tokens=counts,
    cache_write_input_tokens=counts,
    output_tokens=counts,
    reasoning_output_tokens=counts,
    cost_usd=st.one_of(st.none(), st.floats(0, 100)),
    cost_source=st.sampled_from(["vendor", "price_table"]),
    model=st.one_of(st.none(), small_text),
)


def observations() -> st.SearchStrategy[list[o.Observation]]:
    calls = CALLS
    one = st.one_of(
        st.builds(o.Session, st.one_of(st.none(), small_text), st.one_of(st.none(), small_text), st.one_of(st.none(), small_text)),
        st.builds(o.Message, texts),
        st.builds(o.MessageDelta, st.sampled_from(["a", "b"]), texts, restart=st.just(False)),  # the model has no restarts
        st.builds(o.MessageEnd, st.sampled_from([None, "a", "b"])),
        st.builds(o.Reasoning, texts),
        tool_observations(calls),
        tool_observations(calls),
        st.builds(o.Item, whole_item()),
        st.builds(o.Warning, texts),
        st.builds(o.UsageReport, usages),
        st.builds(o.QuotaReport, quotas),
        st.builds(o.Completed, st.one_of(st.none(), texts)),
        st.builds(o.Failed, st.sampled_from([k.value for k in FailureKind]), texts, st.one_of(st.none(), quotas)),
        st.builds(o.VendorInfo, st.dictionaries(st.sampled_from(["stop_reason", "exit_code", "x"]), st.one_of(st.integers(-(2**63), 2**63 - 1), small_text), max_size=2)),
        st.builds(o.Unparsed, texts),
    )
    # lengths spread evenly over 0..60 (plain st.lists stays short)
    return st.integers(0, 60).flatmap(lambda n: st.lists(one, min_size=n, max_size=n))


exits = st.builds(
    o.ExitInfo,
    exit_code=st.sampled_from([None, 0, 0, 1, 2, 137]),
    signal=st.sampled_from([None, None, 9, 15]),
    stderr_tail=texts,
    launched=st.booleans(),
    cancelled=st.sampled_from([None] * 8 + ["SIGINT", "SIGTERM"]),
    timed_out=st.sampled_from([None] * 8 + ["idle", "timeout"]),
    timeout_s=st.sampled_from([None, 30.0, 0.5]),
)
params = st.fixed_dictionaries(
    {
        "request_thread_id": st.one_of(st.none(), st.text(CHARS, min_size=1, max_size=20)),
        "max_final_message_bytes": st.sampled_from([1, 64, 8192]),
        "partial_text": st.booleans(),
    }
)

# ---------------------------------------------------------------- running and oracles


def assemble(obs: list[o.Observation], exit: o.ExitInfo, kw: dict[str, Any]):
    """(the uncut event as JSON at sink time, the line) pairs, the result and the exit code."""
    got: list[tuple[bytes, bytes]] = []
    asm = Assembler(lambda event, line: got.append((orjson.dumps(event), line)), provider="fake",
                    fallback_thread_id=FALLBACK, **kw)
    if exit.launched:
        asm.launched()
    asm.feed(obs)
    result, code = asm.finish(exit)
    return got, result, code


def is_cut_of(cut: Any, orig: Any) -> bool:
    """`cut` is `orig` with strings cut to their tail behind an exact marker and lists cut to
    their tail, as §3 allows; nothing else changed."""
    if isinstance(orig, str):
        if cut == orig:
            return True
        m = MARKER.match(cut)
        if not (isinstance(cut, str) and m):
            return False
        earlier, body = 0, orig
        if (mo := MARKER.match(orig)) is not None:
            earlier, body = int(mo.group(1)), orig[mo.end():]
        kept = cut[m.end():]
        return body.endswith(kept) and int(m.group(1)) == earlier + len(body.encode()) - len(kept.encode())
    if isinstance(orig, dict):
        return isinstance(cut, dict) and cut.keys() == orig.keys() and all(is_cut_of(cut[k], orig[k]) for k in orig)
    if isinstance(orig, list):
        skip = len(orig) - len(cut) if isinstance(cut, list) else -1
        return skip >= 0 and all(is_cut_of(c, x) for c, x in zip(cut, orig[skip:], strict=True))
    return cut == orig


def expected_messages(obs: list[o.Observation]) -> tuple[list[str], str | None]:
    """A model of message assembly: the agent_message texts in stream order, and the text the
    final message is taken from (before any cut)."""
    texts_out: list[str] = []
    last: str | None = None
    key: str | None = None
    chunks: list[str] = []
    open_calls: set[str] = set()

    def flush() -> None:
        nonlocal key, chunks, last
        if key is not None and "".join(chunks):
            last = "".join(chunks)
            texts_out.append(last)
        key, chunks = None, []

    for ob in obs:
        if isinstance(ob, o.MessageDelta):
            if key is not None and ob.key != key:
                flush()
            key = ob.key
            chunks.append(ob.text)
        elif isinstance(ob, o.MessageEnd):
            if ob.key is None or ob.key == key:
                flush()
        elif isinstance(ob, o.Message):
            flush()
            if ob.text:
                last = ob.text
                texts_out.append(ob.text)
        elif isinstance(ob, (o.Reasoning, o.Warning)):
            flush()
        elif isinstance(ob, o.Item):
            flush()
            if ob.item["type"] == "agent_message":
                texts_out.append(ob.item["text"])
        elif isinstance(ob, o.ToolStarted):
            flush()
            open_calls.add(ob.call_id)
        elif isinstance(ob, o.ToolCompleted):
            flush()
            open_calls.discard(ob.call_id)
    flush()
    verdicts = [ob for ob in obs if isinstance(ob, (o.Completed, o.Failed))]
    if verdicts and isinstance(verdicts[-1], o.Completed) and verdicts[-1].final_message is not None:
        last = verdicts[-1].final_message
    return texts_out, last


def expected_outcome(obs, exit: o.ExitInfo, final: str | None, any_item: bool) -> tuple[str, str | None]:
    verdicts = [ob for ob in obs if isinstance(ob, (o.Completed, o.Failed))]
    verdict = verdicts[-1] if verdicts else None
    unparsed = any(isinstance(ob, o.Unparsed) for ob in obs)
    if exit.cancelled:
        return "cancelled", "cancelled"
    if exit.timed_out:
        return "failed", "timed_out"
    if isinstance(verdict, o.Failed):
        return ("cancelled" if verdict.kind == "cancelled" else "failed"), verdict.kind
    if isinstance(verdict, o.Completed):
        return ("completed", None) if final else ("failed", "empty_output")
    if exit.signal:
        return "failed", "provider_failed"
    if exit.exit_code not in (0, None):
        if unparsed and not any_item and not exit.stderr_tail.strip():
            return "failed", "malformed_output"
        return "failed", "provider_failed"
    if final:
        return "completed", None
    return "failed", "malformed_output" if unparsed else "empty_output"


def check_run(obs: list[o.Observation], exit: o.ExitInfo, kw: dict[str, Any]) -> None:
    got, result, code = assemble(obs, exit, kw)

    # every line: at most 16 KiB, the event itself (or its §3 cut), a valid Event
    events = []
    for raw_event, line in got:
        assert len(line) <= MAX_LINE_BYTES, f"line of {len(line)} bytes"
        event = orjson.loads(line)
        if len(raw_event) <= MAX_LINE_BYTES:
            assert line == raw_event, "a line that fits must be the event unchanged"
        else:
            assert is_cut_of(event, orjson.loads(raw_event)), "a cut changed more than long texts"
        Event.model_validate(event)
        events.append(event)

    # order: thread.started first, one terminal event right before the one result
    types = [e["type"] for e in events]
    assert types[0] == "thread.started" and types.count("thread.started") == 1
    assert types[-1] == "result" and types.count("result") == 1
    assert sum(t in ("turn.completed", "turn.failed") for t in types) == 1
    assert types[-2] in ("turn.completed", "turn.failed")
    if types[-2] == "turn.failed":
        assert types[-3] == "error"
        assert events[-3]["message"] == events[-2]["error"]["message"]
    if exit.launched:
        assert types[1] == "turn.started" and types.count("turn.started") == 1
    else:
        assert "turn.started" not in types

    # ids: item_0.. in order of first appearance; started first, completed last, one each
    per_id: dict[str, list[dict]] = {}
    for e in events:
        if e["type"].startswith("item."):
            item_id = e["item"]["id"]
            if item_id not in per_id:
                assert item_id == f"item_{len(per_id)}", (item_id, list(per_id))
                per_id[item_id] = []
            per_id[item_id].append(e)
    for item_id, evs in per_id.items():
        kinds = [e["type"] for e in evs]
        assert kinds.count("item.started") <= 1 and kinds.count("item.completed") <= 1, (item_id, kinds)
        if "item.started" in kinds:
            assert kinds[0] == "item.started", (item_id, kinds)
        if "item.completed" in kinds:
            assert kinds[-1] == "item.completed", (item_id, kinds)
        assert len({e["item"]["type"] for e in evs}) == 1, (item_id, kinds)
        if evs[0]["item"]["type"] in STATUS_TYPES:
            # started means in progress; completed means an end state
            assert all(e["item"]["status"] == "in_progress" for e in evs if e["type"] == "item.started")
            assert all(e["item"]["status"] != "in_progress" for e in evs if e["type"] == "item.completed")

    # messages: every agent_message is the expected text (or its exact cut)
    want_texts, want_final = expected_messages(obs)
    shown = [e["item"]["text"] for e in events if e["type"] == "item.completed" and e["item"]["type"] == "agent_message"]
    assert len(shown) == len(want_texts)
    assert all(is_cut_of(s, w) for s, w in zip(shown, want_texts, strict=True))
    final = result["final_message"]
    if want_final is None:
        assert final is None
    else:
        assert is_cut_of(final, want_final)
        assert len(MARKER.sub("", final, count=1).encode()) <= kw["max_final_message_bytes"]
        if kw["max_final_message_bytes"] >= 64:  # room for a marker: the whole value fits (CONTRACT §4)
            assert len(final.encode()) <= kw["max_final_message_bytes"]

    # the outcome and the exit code
    status, kind = expected_outcome(obs, exit, final, bool(per_id))
    assert (result["status"], result["failure_kind"]) == (status, kind)
    assert code == exit_code_for(status, kind, exit.cancelled or "SIGINT")
    if status == "cancelled":
        assert code == CANCEL_EXIT[exit.cancelled or "SIGINT"]
    elif status == "failed":
        assert code == EXIT_CODES.get(kind, 1)
    assert (types[-2] == "turn.completed") == (status == "completed") == (code == 0)
    if status == "completed":
        assert result["error"] is None and final

    # thread and session
    session_ids = [ob.session_id for ob in obs if isinstance(ob, o.Session) and ob.session_id]
    assert result["session_id"] == (session_ids[-1] if session_ids else None)
    assert events[0]["thread_id"] == result["thread_id"]
    assert result["thread_id"] in {kw["request_thread_id"] or FALLBACK, *session_ids}
    if obs and isinstance(obs[0], o.Session) and obs[0].session_id:
        assert result["thread_id"] == obs[0].session_id

    # determinism: the same input gives the same bytes
    again, result2, code2 = assemble(obs, exit, kw)
    assert [line for _, line in again] == [line for _, line in got]
    assert (result2, code2) == (result, code)


PROPS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@PROPS
@given(obs=observations(), exit=exits, kw=params)
@example(
    obs=[o.MessageDelta("a", ""), o.Message("hi")],
    exit=o.ExitInfo(exit_code=0),
    kw={"request_thread_id": None, "max_final_message_bytes": 8192, "partial_text": False},
)
@example(
    obs=[o.ToolStarted("ws1", {"type": "web_search", "query": "q"})],
    exit=o.ExitInfo(cancelled="SIGTERM"),
    kw={"request_thread_id": None, "max_final_message_bytes": 8192, "partial_text": False},
)
def test_stream_rules_hold_for_any_observations(obs, exit, kw):
    """Regression examples: an empty delta once left a gap in item ids; a status-less tool
    left open once got an invalid `status` at finish."""
    check_run(obs, exit, kw)


live_only = st.one_of(st.builds(o.LiveText, texts),
                      st.builds(o.LiveUsage, st.one_of(st.none(), st.integers(0, 10**9)),
                                st.one_of(st.none(), st.floats(0, 100))))


@PROPS
@given(obs=observations(), extra=st.lists(st.tuples(st.integers(0, 40), live_only), max_size=6), exit=exits,
       kw=params)
def test_the_live_channel_and_live_only_observations_leave_the_stream_as_it_is(obs, extra, exit, kw):
    """Issue 17: the live view's side channel (text and usage as they arrive) is not the stream:
    the lines are the same with or without it, and with or without the live-only observations."""
    mixed = list(obs)
    for at, ob in extra:
        mixed.insert(min(at, len(mixed)), ob)
    seen: list[o.Observation] = []

    def lines(observations, live):
        got: list[bytes] = []
        asm = Assembler(lambda event, line: got.append(line), provider="fake", fallback_thread_id=FALLBACK,
                        live=live, **kw)
        if exit.launched:
            asm.launched()
        asm.feed(observations)
        asm.finish(exit)
        return got

    assert lines(mixed, seen.append) == lines(mixed, None) == lines(obs, None)
    arriving = (o.LiveText, o.LiveUsage, o.MessageDelta)
    assert seen == [ob for ob in mixed if type(ob) in arriving]  # and the view got all that arrived, in order
