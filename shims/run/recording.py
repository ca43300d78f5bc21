"""`shims normalize`: recorded vendor output through the same parser and assembler as a live run."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import replace
from hashlib import sha256
from typing import Any

from normalize import observe as o
from normalize.reconcile import zero_total
from shims.run.pipeline import Facts, Pipeline
from shims.runtime.lines import LineFramer, TailBuffer


def derived_thread_id(*parts: bytes) -> str:
    """A fixed UUID for the same input, so the output is deterministic (CONTRACT §13)."""
    return _thread_id([sha256(p).digest() for p in parts])


def _thread_id(digests: list[bytes]) -> str:
    h = sha256()
    for d in digests:
        h.update(d)
    return str(uuid.UUID(bytes=h.digest()[:16], version=5))


def replay_events(
    vendor: str,
    stdout: bytes,
    stderr: bytes,
    *,
    exit_code: int | None = 0,
    signal_number: int | None = None,
    cancelled: str | None = None,
    timed_out: str | None = None,
    fmt: str = "stream-json",
    max_final_message_bytes: int = 8192,
    ended_at: float | None = None,
    resumed: bool = False,
    cli_version: str | None = None,
    sink=None,
) -> tuple[list[dict[str, Any]], dict[str, Any], int]:
    """Normalize one recording. Returns (events, result, exit code); `sink` also sees each line.
    A recording starts a new session (its running total starts at zero) unless `resumed`: then
    the session's earlier total is unknown, as for a live resume the journal never saw."""
    thread_id = derived_thread_id(
        vendor.encode(), fmt.encode(), stdout, stderr, str(exit_code).encode(), str(cancelled).encode()
    )
    facts = Facts(provider=vendor, format=fmt, thread_id=thread_id, max_final_message_bytes=max_final_message_bytes,
                  previous_total=None if resumed else zero_total(), cli_version=cli_version)
    exit = o.ExitInfo(exit_code=exit_code, signal=signal_number, cancelled=cancelled, timed_out=timed_out,
                      ended_at=ended_at)
    return run_recorded(facts, stdout, stderr, exit, sink=sink)


def run_recorded(
    facts: Facts,
    stdout: bytes,
    stderr: bytes,
    exit: o.ExitInfo,
    *,
    duration_ms: int = 0,
    journal: str | None = None,
    vendor_extra: dict[str, Any] | None = None,
    sink=None,
) -> tuple[list[dict[str, Any]], dict[str, Any], int]:
    """Recorded vendor bytes through the live path's parser and assembler. `exit.stderr_tail`
    is rebuilt from `stderr` the way the runtime keeps it."""
    events: list[dict[str, Any]] = []

    def collect(event: dict[str, Any], line: bytes) -> None:
        events.append(event)
        if sink is not None:
            sink(event, line)

    pipe = Pipeline(facts, collect)
    pipe.asm.launched()
    feed_lines(pipe, [stdout])
    exit = replace(exit, stderr_tail=stderr_tail([stderr]))
    result, code = pipe.finish(exit, duration_ms=duration_ms, journal=journal, vendor_extra=vendor_extra)
    return events, result, code


def feed_lines(pipe: Pipeline, chunks: Iterable[bytes]) -> None:
    """Recorded stdout to the pipeline, framed into lines as the live runtime frames them (with
    the run's line cap)."""
    framer = LineFramer(pipe.facts.max_line_bytes)
    for chunk in chunks:
        pipe.lines(framer.feed(chunk))
    pipe.lines(framer.finish())


def stderr_tail(chunks: Iterable[bytes]) -> str:
    """Recorded stderr as the runtime keeps it for error messages (its last 64 KiB)."""
    tail = TailBuffer()
    for chunk in chunks:
        tail.write(chunk)
    return tail.text()


# 32 KiB reads: the framer copies each chunk once more (into its lines), which stays in the
# CPU cache at this size; 1 MiB chunks made `shims normalize` of 100 KB lines ~30% slower. A
# line longer than a chunk is gathered once, in the framer's buffer.
CHUNK = 1 << 15


def _chunks(path: str | None) -> Iterator[bytes]:
    if path is None:
        return
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            yield chunk


def _digest(path: str | None) -> bytes:
    h = sha256()
    for chunk in _chunks(path):
        h.update(chunk)
    return h.digest()


def normalize_recording(
    vendor: str,
    stdout_path: str,
    stderr_path: str | None,
    *,
    exit_code: int | None,
    cancelled: str | None,
    fmt: str,
    emit: str,
    max_final_message_bytes: int = 8192,
    ended_at: float | None = None,
    resumed: bool = False,
    max_line_bytes: int | None = None,
    cli_version: str | None = None,
) -> int:
    """`shims normalize` over files of any size: read in chunks, so memory stays flat however
    large the recording (`make bench`). The same output as `replay_events` over the same bytes.
    The derived thread id reads the files once more, only when it is used: the vendor's
    session id, on the first line of a stream-json recording, usually takes its place."""

    def derived() -> str:
        return _thread_id([sha256(vendor.encode()).digest(), sha256(fmt.encode()).digest(),
                           _digest(stdout_path), _digest(stderr_path), sha256(str(exit_code).encode()).digest(),
                           sha256(str(cancelled).encode()).digest()])

    facts = Facts(provider=vendor, format=fmt, max_final_message_bytes=max_final_message_bytes,
                  previous_total=None if resumed else zero_total(), cli_version=cli_version)
    if max_line_bytes:
        facts.max_line_bytes = max_line_bytes
    from shims.run.resolve import emitter_for

    emitter = emitter_for(emit)
    pipe = Pipeline(facts, emitter, live=getattr(emitter, "live", None))
    pipe.asm.defer_thread_id(derived)
    pipe.asm.launched()
    feed_lines(pipe, _chunks(stdout_path))
    exit = o.ExitInfo(exit_code=exit_code, cancelled=cancelled, ended_at=ended_at,
                      stderr_tail=stderr_tail(_chunks(stderr_path)))
    result, code = pipe.finish(exit)
    return emitter.close(result, code)
