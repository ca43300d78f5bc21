"""Size limits of the stream (CONTRACT §3, §4): tail cuts with an exact marker, 16 KiB lines."""

from __future__ import annotations

import re

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from normalize.limits import KEEP_BYTES, MAX_LINE_BYTES, cut_marker, encode_line, tail_bytes
from normalize.models import Event

MARKER = re.compile(r"\[… (\d+) bytes cut\]\n")
CHARS = st.characters(exclude_categories=("Cs",))


def split_cut(text: str) -> tuple[int, str]:
    """(bytes cut, kept text) of a cut text."""
    m = MARKER.match(text)
    assert m, f"no marker at the start of {text[:40]!r}"
    assert MARKER.search(text, m.end()) is None, "more than one marker"
    return int(m.group(1)), text[m.end():]


# ---------------------------------------------------------------- tail_bytes


def test_marker_text():
    assert cut_marker(12) == "[… 12 bytes cut]\n"


@pytest.mark.parametrize("text", ["", "short", "x" * 4096, "é" * 2048, "😀" * 1024])
def test_text_that_fits_is_unchanged(text):
    assert len(text.encode()) <= 4096
    assert tail_bytes(text, 4096) == text


def test_one_byte_over_cuts_exactly_one_byte():
    text = "A" + "x" * 4096
    assert tail_bytes(text, 4096) == "[… 1 bytes cut]\n" + "x" * 4096


def test_multibyte_text_is_cut_on_a_character_boundary():
    text = "€" * 2000  # 3 bytes each: 6000 bytes
    n, kept = split_cut(tail_bytes(text, 4096))
    assert kept == "€" * 1365  # 4095 bytes: a 1366th char would not fit
    assert n == 6000 - 4095


def test_mixed_widths_keep_the_exact_tail():
    text = "".join(f"{i}:aé€😀\n" for i in range(2000))
    total = len(text.encode())
    n, kept = split_cut(tail_bytes(text, 1000))
    assert text.endswith(kept)
    assert len(kept.encode()) <= 1000
    assert n == total - len(kept.encode())


@settings(max_examples=300, deadline=None)
@given(text=st.text(CHARS, max_size=3000), keep=st.integers(1, 2000))
def test_any_text_keeps_its_longest_fitting_tail(text, keep):
    out = tail_bytes(text, keep)
    total = len(text.encode())
    if total <= keep:
        assert out == text
        return
    n, kept = split_cut(out)
    assert text.endswith(kept)  # a suffix of the str: no character was split
    size = len(kept.encode())
    assert size <= keep
    assert n == total - size
    # the longest such tail: one more character would not fit
    assert size + len(text[len(text) - len(kept) - 1].encode()) > keep


def test_recutting_keeps_one_marker_with_the_summed_count():
    original = "0123456789" * 1000  # 10_000 bytes
    once = tail_bytes(original, 4096)
    n1, kept1 = split_cut(once)
    assert n1 == 10_000 - 4096
    more = once + "y" * 3000
    twice = tail_bytes(more, 4096)
    n2, kept2 = split_cut(twice)
    # every byte cut so far, of the whole text (original + 3000 more)
    assert n2 == 13_000 - len(kept2.encode())
    assert kept2.endswith("y" * 3000) and (original + "y" * 3000).endswith(kept2)


def test_recutting_to_a_smaller_size_counts_from_the_original():
    original = "é" * 10_000  # 20_000 bytes
    small = tail_bytes(tail_bytes(original, 4096), 100)
    n, kept = split_cut(small)
    assert kept == "é" * 50
    assert n == 20_000 - 100


@settings(max_examples=200, deadline=None)
@given(text=st.text(CHARS, min_size=1, max_size=2000), extra=st.text(CHARS, max_size=500),
       k1=st.integers(1, 1500), k2=st.integers(1, 1500))
def test_any_recut_counts_every_byte_once(text, extra, k1, k2):
    whole = text + extra
    out = tail_bytes(tail_bytes(text, k1) + extra, k2)
    m = MARKER.match(out)
    if m is None:
        assert out == whole
        return
    n, kept = split_cut(out)
    assert whole.endswith(kept)
    assert n == len(whole.encode()) - len(kept.encode())


def test_a_cut_text_that_is_not_cut_again_keeps_its_marker():
    once = tail_bytes("z" * 5000, 4096)
    assert tail_bytes(once, 4096) == once


def test_keep_zero_counts_each_byte_once():
    assert tail_bytes("abcdef", 0) == "[… 6 bytes cut]\n"


# ---------------------------------------------------------------- encode_line


@pytest.mark.parametrize(
    "event",
    [
        {"type": "turn.started"},
        {"type": "item.completed", "item": {"id": "item_3", "type": "agent_message", "text": "héllo 😀"}},
        {"type": "thread.started", "thread_id": "abc"},
    ],
)
def test_small_events_are_encoded_unchanged(event):
    assert encode_line(event) == orjson.dumps(event)


def test_a_line_of_exactly_the_limit_is_unchanged_and_one_more_byte_is_cut():
    base = len(orjson.dumps({"type": "error", "message": ""}))
    exact = {"type": "error", "message": "m" * (MAX_LINE_BYTES - base)}
    assert encode_line(exact) == orjson.dumps(exact)
    over = {"type": "error", "message": "m" * (MAX_LINE_BYTES - base + 1)}
    line = encode_line(over)
    assert len(line) <= MAX_LINE_BYTES
    n, kept = split_cut(orjson.loads(line)["message"])
    assert n + len(kept) == MAX_LINE_BYTES - base + 1


def test_one_huge_field_is_cut_to_its_last_4_kib():
    output = "".join(f"row {i}\n" for i in range(20_000))
    event = {"type": "item.completed", "item": {"id": "item_0", "type": "command_execution", "command": "seq",
                                                  "aggregated_output": output, "exit_code": 0, "status": "completed"}}
    line = encode_line(event)
    assert len(line) <= MAX_LINE_BYTES
    item = orjson.loads(line)["item"]
    n, kept = split_cut(item["aggregated_output"])
    assert output.endswith(kept) and len(kept.encode()) <= KEEP_BYTES
    assert n == len(output.encode()) - len(kept.encode())
    assert {k: v for k, v in item.items() if k != "aggregated_output"} == {
        "id": "item_0", "type": "command_execution", "command": "seq", "exit_code": 0, "status": "completed"}


def test_many_long_fields_all_fit_in_one_line():
    blocks = [{"type": "text", "text": f"--- {i}\n" + "+ line é\n" * 1500} for i in range(30)]
    event = {"type": "item.completed", "item": {"id": "item_7", "type": "mcp_tool_call", "server": "claude",
                                                  "tool": "Read", "arguments": {"file_path": "f"},
                                                  "result": {"content": blocks, "structured_content": None},
                                                  "error": None, "status": "completed"}}
    assert len(orjson.dumps(event)) > 10 * MAX_LINE_BYTES
    line = encode_line(event)
    assert len(line) <= MAX_LINE_BYTES
    Event.model_validate_json(line)
    shown = orjson.loads(line)["item"]
    assert shown["id"] == "item_7" and shown["status"] == "completed"
    assert len(shown["result"]["content"]) == 30  # every block is still there
    for got, want in zip(shown["result"]["content"], blocks, strict=True):
        assert got["type"] == "text"
        n, kept = split_cut(got["text"])
        assert want["text"].endswith(kept)
        assert n == len(want["text"].encode()) - len(kept.encode())


def test_a_huge_list_of_small_entries_still_fits():
    items = [{"text": f"step {i}", "completed": i % 2 == 0} for i in range(20_000)]
    event = {"type": "item.updated", "item": {"id": "item_1", "type": "todo_list", "items": items}}
    line = encode_line(event)
    assert len(line) <= MAX_LINE_BYTES
    Event.model_validate_json(line)
    shown = orjson.loads(line)["item"]["items"]
    assert 0 < len(shown) < len(items)
    assert shown == items[-len(shown):]  # the list keeps its tail, entries intact


def test_a_result_with_a_long_answer_and_long_error_fits():
    event = {"type": "error", "message": "é" * 40_000}
    line = encode_line(event)
    assert len(line) <= MAX_LINE_BYTES
    n, kept = split_cut(orjson.loads(line)["message"])
    assert n == 80_000 - len(kept.encode())


def test_a_huge_object_of_small_entries_still_fits():
    event = {"type": "item.completed", "item": {"id": "item_0", "type": "mcp_tool_call", "server": "s", "tool": "t",
                                                  "arguments": {f"k{i}": i for i in range(5000)}, "status": "completed"}}
    assert len(encode_line(event)) <= MAX_LINE_BYTES


def test_a_huge_nested_type_value_is_cut():
    event = {"type": "item.completed", "item": {"id": "item_0", "type": "mcp_tool_call", "server": "s", "tool": "t",
                                                  "arguments": {"type": "x" * 50_000}, "status": "completed"}}
    assert len(encode_line(event)) <= MAX_LINE_BYTES


def test_a_huge_key_is_cut():
    event = {"type": "item.completed", "item": {"id": "item_0", "type": "mcp_tool_call", "server": "s", "tool": "t",
                                                  "arguments": {"x" * 50_000: 1}, "status": "completed"}}
    assert len(encode_line(event)) <= MAX_LINE_BYTES
