"""`shims replay RUN`: a journaled run's vendor output through the current code, compared with
the events the run printed (CONTRACT §12).

The journal holds the vendor's bytes and every other fact that shaped the stream (meta.json
`facts` and `replay`), so the same code gives the same lines; a difference means the
translation changed since the run (or a bug made it depend on something it should not).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from normalize import observe as o
from shims.run.recording import feed_lines, stderr_tail
from shims.state.journal.store import load
from shims.state.redact import Redactor


@dataclass(slots=True)
class ReplayOutcome:
    run: Path
    replayable: bool
    identical: bool
    recorded: list[bytes]
    replayed: list[bytes]
    note: str = ""

    def diff(self, limit: int = 200) -> list[str]:
        lines = difflib.unified_diff(
            [b.decode("utf-8", "replace") for b in self.recorded],
            [b.decode("utf-8", "replace") for b in self.replayed],
            fromfile=f"{self.run.name}/events.ndjson",
            tofile="replay",
            lineterm="",
            n=1,
        )
        out = list(lines)
        return out[:limit] + ([f"… {len(out) - limit} more diff lines"] if len(out) > limit else [])


def replay_run(path: Path) -> ReplayOutcome:
    record = load(path)
    meta = record.meta
    recorded = _lines(path / "events.ndjson")
    replay = meta.get("replay") if isinstance(meta.get("replay"), dict) else None
    attempts = _attempts(meta, replay)
    if not attempts or all(a.get("refusal") for a in attempts):
        return ReplayOutcome(path, False, True, recorded, recorded, "the vendor was never launched: nothing to re-normalize")
    replayed: list[bytes] = []
    interrupted = replay is None  # written when the run ends
    _rebuild(path, meta, replay or {}, attempts, lambda event, line: replayed.append(line))
    # The journal's copies were redacted; the replay of redacted bytes is redacted the same way
    # (masks keep lengths and are never matched again).
    scrub = Redactor()
    replayed = [scrub.redact(line) for line in replayed]
    notes = []
    if interrupted:
        replayed = replayed[: len(recorded)]
        notes.append(f"the run was interrupted: compared the {len(recorded)} events it printed")
    identical = replayed == recorded
    if not identical and _masks_alike(replayed) == _masks_alike(recorded):
        identical = True
        notes.append("masks differ in length only: the vendor spelled a secret with JSON escapes")
    return ReplayOutcome(path, True, identical, recorded, replayed, "; ".join(notes))


_LONG_MASK = re.compile(rb"\[REDACTED\*+\]")


def _masks_alike(lines: list[bytes]) -> list[bytes]:
    """The lines with every long mask made one length. A secret the vendor spelled with JSON
    escapes (`\\u0061`) is masked at that spelling's length in vendor.stdout, but at the
    decoded secret's length in the printed events: the replay of the masked bytes gives a longer
    mask, the same event otherwise."""
    return [_LONG_MASK.sub(b"[REDACTED]", line) for line in lines]


def _attempts(meta: dict[str, Any], replay: dict[str, Any] | None) -> list[dict[str, Any]]:
    found = (replay or {}).get("attempts") or meta.get("attempts")  # meta's: written at each launch
    if isinstance(found, list):
        return [a for a in found if isinstance(a, dict) and isinstance(a.get("facts"), dict)]
    if isinstance(meta.get("facts"), dict):  # one attempt, facts at the top (synthesized journals)
        return [{"facts": meta["facts"], "prefix": "vendor", "exit": (replay or {}).get("exit")}]
    return []


def _rebuild(path: Path, meta: dict[str, Any], replay: dict[str, Any], attempts: list[dict[str, Any]], sink) -> None:
    """The live run's sequence (shims.run.main._run_chain) over the journaled attempts."""
    from shims.run.pipeline import Facts, Pipeline

    pipe: Pipeline | None = None
    note = ""
    exit = o.ExitInfo(launched=False)
    for a in attempts:
        facts = Facts.from_json(a["facts"])
        if pipe is None:
            pipe = Pipeline(facts, sink)
        else:
            pipe.switch(facts, note)
        note = a.get("note") or ""
        if a.get("refusal"):
            exit = o.ExitInfo(launched=False)
            continue
        pipe.asm.launched()
        feed_lines(pipe, _chunks(path / f"{a['prefix']}.stdout"))  # a line of 300 MB is never held whole
        exit = _exit(a.get("exit"), _read(path / f"{a['prefix']}.stderr"))
        pipe.end_attempt(exit)
    assert pipe is not None
    failure = replay.get("failure")
    last = attempts[-1]
    if last.get("refusal"):
        kind, message, quota = (list(last["refusal"]) + [None, None, None])[:3]
        failure, quota = [kind, message], quota
    else:
        quota = replay.get("quota")
    diff = replay.get("diff") if isinstance(replay.get("diff"), dict) else None
    if diff is not None and isinstance(diff.get("item"), dict):
        pipe.feed([o.Item(diff["item"])])
    pipe.finish(
        exit,
        duration_ms=int(replay.get("duration_ms") or 0),
        journal=meta.get("journal_path"),
        vendor_extra=replay.get("vendor_extra") or {},
        attempts=replay.get("attempts_list") or [],
        diff=diff.get("summary") if diff else None,
        failure=tuple(failure) if failure else None,
        quota=quota,
    )


def _exit(data: Any, stderr: bytes) -> o.ExitInfo:
    if not isinstance(data, dict):  # the shim died before the vendor ended
        data = {"signal": 9}
    known = {f.name for f in fields(o.ExitInfo)}
    recorded = {k: v for k, v in data.items() if k in known}
    return o.ExitInfo(**{**recorded, "stderr_tail": stderr_tail([stderr])})


def _lines(path: Path) -> list[bytes]:
    return [line for line in _read(path).split(b"\n") if line]


def _chunks(path: Path, size: int = 1 << 20):
    try:
        f = path.open("rb")
    except OSError:
        return
    with f:
        while chunk := f.read(size):
            yield chunk


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""
