"""`shims normalize`: recorded vendor output through the same parser and assembler as a live run."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from normalize import observe as o
from normalize.assembler import Assembler
from normalize.emit import make_emitter
from normalize.limits import tail_bytes
from shims import vendors
from shims.runtime.lines import LineFramer


def derived_thread_id(*parts: bytes) -> str:
    """A fixed UUID for the same input, so the output is deterministic (CONTRACT §13)."""
    h = hashlib.sha256()
    for p in parts:
        h.update(hashlib.sha256(p).digest())
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
    sink=None,
) -> tuple[list[dict[str, Any]], dict[str, Any], int]:
    """Normalize one recording. Returns (events, result, exit code); `sink` also sees each line."""
    parser = vendors.new_parser(vendor, fmt)
    events: list[dict[str, Any]] = []

    def collect(event: dict[str, Any], line: bytes) -> None:
        events.append(event)
        if sink is not None:
            sink(event, line)

    thread_id = derived_thread_id(
        vendor.encode(), fmt.encode(), stdout, stderr, str(exit_code).encode(), str(cancelled).encode()
    )
    asm = Assembler(collect, provider=vendor, fallback_thread_id=thread_id, max_final_message_bytes=max_final_message_bytes)
    asm.launched()
    framer = LineFramer()
    for line in framer.feed(stdout) + framer.finish():
        asm.feed(parser.feed(line))
    exit = o.ExitInfo(
        exit_code=exit_code,
        signal=signal_number,
        stderr_tail=tail_bytes(stderr.decode("utf-8", "replace"), 64 * 1024),
        cancelled=cancelled,
        timed_out=timed_out,
        ended_at=ended_at,
    )
    asm.feed(parser.finish(exit))
    result, code = asm.finish(exit)
    return events, result, code


def normalize_recording(
    vendor: str,
    stdout: bytes,
    stderr: bytes,
    *,
    exit_code: int | None,
    cancelled: str | None,
    fmt: str,
    emit: str,
    max_final_message_bytes: int = 8192,
    ended_at: float | None = None,
) -> int:
    emitter = make_emitter(emit)
    _, result, code = replay_events(
        vendor,
        stdout,
        stderr,
        exit_code=exit_code,
        cancelled=cancelled,
        fmt=fmt,
        max_final_message_bytes=max_final_message_bytes,
        ended_at=ended_at,
        sink=emitter,
    )
    return emitter.close(result, code)
