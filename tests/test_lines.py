"""Line framing of the vendor's stdout and the stderr tail (shims/runtime/lines.py)."""

from __future__ import annotations

import tracemalloc

from hypothesis import given, settings
from hypothesis import strategies as st

from shims.runtime.lines import LineFramer, OversizedLine, TailBuffer

# Newline-heavy bytes with invalid UTF-8 (lone continuation bytes, truncated sequences, 0xff).
PIECES = st.sampled_from([b"\n", b"\n", b"a", b"xyz", b"\xff", b"\xc3", b"\xa9", b"\xe2\x82", b"\xf0\x9f\x98\x80", b"\r", b""])
data_strategy = st.one_of(st.binary(max_size=400), st.lists(PIECES, max_size=200).map(b"".join))


@st.composite
def chunked(draw):
    data = draw(data_strategy)
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=30)))
    bounds = [0, *cuts, len(data)]
    return data, [data[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


def frame(chunks: list[bytes]) -> list[bytes]:
    framer = LineFramer()
    out: list = []
    for chunk in chunks:
        out.extend(framer.feed(chunk))  # kept as handed over: later feeds must not change them
    out.extend(framer.finish())
    assert framer.pending == 0
    return [bytes(line) for line in out]


def split_semantics(data: bytes) -> list[bytes]:
    parts = data.split(b"\n")
    return parts[:-1] + ([parts[-1]] if parts[-1] else [])


@settings(max_examples=500, deadline=None)
@given(chunked())
def test_any_chunking_gives_the_lines_of_split(case):
    data, chunks = case
    assert frame(chunks) == split_semantics(data)


def test_last_line_without_newline_comes_from_finish():
    framer = LineFramer()
    assert framer.feed(b"one\ntw") == [b"one"]
    assert framer.pending == 2
    assert framer.feed(b"o") == []
    assert [bytes(x) for x in framer.finish()] == [b"two"]
    assert framer.finish() == []


def test_empty_lines_are_kept():
    assert frame([b"\n\na\n", b"\n"]) == [b"", b"", b"a", b""]


def test_invalid_utf8_passes_through_byte_for_byte():
    raw = b"\xff\xfe{\"x\": \"\xc3\"}\n\xe2\x82"
    assert frame([raw[:3], raw[3:9], raw[9:]]) == [b"\xff\xfe{\"x\": \"\xc3\"}", b"\xe2\x82"]


def test_a_20_mb_line_in_64_kib_chunks_comes_out_whole():
    line = bytes(range(256)).replace(b"\n", b"-") * (20 * 1024 * 1024 // 256)
    data = line + b"\nnext\n"
    step = 64 * 1024
    framer = LineFramer()
    out: list = []
    for i in range(0, len(data), step):
        got = framer.feed(data[i : i + step])
        if i + step < len(line):
            assert got == [], "no line before its newline"
        out.extend(got)
    out.extend(framer.finish())
    assert len(out) == 2
    assert len(out[0]) == len(line) and bytes(out[0]) == line
    assert bytes(out[1]) == b"next"


# ---------------------------------------------------------------- TailBuffer


def test_tail_buffer_keeps_the_last_bytes_and_counts_all():
    buf = TailBuffer(limit=10)
    for i in range(1000):
        buf.write(f"{i:04d}\n".encode())
    assert buf.total == 5000
    assert buf.text() == "0998\n0999\n"


def test_tail_buffer_shorter_than_its_limit_keeps_everything():
    buf = TailBuffer(limit=100)
    buf.write(b"error: ")
    buf.write("bad key ✗\n".encode())
    assert buf.text() == "error: bad key ✗\n"
    assert buf.total == len("error: bad key ✗\n".encode())


@settings(max_examples=300, deadline=None)
@given(chunks=st.lists(st.binary(max_size=300), max_size=40), limit=st.integers(1, 500))
def test_tail_buffer_is_the_tail_of_everything_written(chunks, limit):
    buf = TailBuffer(limit=limit)
    for c in chunks:
        buf.write(c)
    everything = b"".join(chunks)
    assert buf.total == len(everything)
    assert buf.text() == everything[-limit:].decode("utf-8", "replace")


def test_tail_buffer_memory_stays_bounded():
    buf = TailBuffer(limit=1024)
    chunk = b"x" * 4096
    tracemalloc.start()
    try:
        for _ in range(10_000):
            buf.write(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert buf.total == 40_960_000
    assert peak < 100_000, f"peak {peak} bytes for a 1 KiB tail"
    assert buf.text() == "x" * 1024


# ---------------------------------------------------------------- the line cap (issue 13)


def frame_capped(chunks: list[bytes], cap: int) -> list[object]:
    framer = LineFramer(max_line_bytes=cap)
    out: list = []
    for chunk in chunks:
        out.extend(framer.feed(chunk))
    out.extend(framer.finish())
    assert framer.pending == 0
    return [("oversized", line.size) if isinstance(line, OversizedLine) else bytes(line) for line in out]


@settings(max_examples=500, deadline=None)
@given(chunked(), st.integers(1, 40))
def test_a_capped_framer_gives_every_line_up_to_the_cap_and_the_size_of_each_longer_one(case, cap):
    """Whatever the chunking: lines up to `cap` bytes as split gives them, each longer line as
    one OversizedLine that knows its exact size (so a replay, chunked otherwise, agrees)."""
    data, chunks = case
    expected = [line if len(line) <= cap else ("oversized", len(line)) for line in split_semantics(data)]
    assert frame_capped(chunks, cap) == expected


def test_an_oversized_line_is_not_buffered():
    """A 64 MB line under a 1 MiB cap: the framer holds at most about the cap, never the line."""
    framer = LineFramer(max_line_bytes=1 << 20)
    chunk = b"x" * (256 * 1024)
    tracemalloc.start()
    try:
        for _ in range(256):
            assert framer.feed(chunk) == []
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20, f"{peak} bytes traced"
    (line,) = framer.feed(b"end\nnext")
    assert isinstance(line, OversizedLine) and line.size == 256 * 256 * 1024 + 3 and line == b""
    assert framer.finish() == [b"next"]
