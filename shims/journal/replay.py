"""`shims replay RUN`: a journaled run's vendor output through the current code, compared with
the events the run printed (CONTRACT §12).

The journal holds the vendor's bytes and every other fact that shaped the stream (meta.json
`facts` and `replay`), so the same code gives the same lines; a difference means the
translation changed since the run (or a bug made it depend on something it should not).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from normalize import observe as o
from shims.journal.redact import Redactor
from shims.journal.store import load


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
    from shims.pipeline import Facts
    from shims.recording import run_recorded

    record = load(path)
    meta = record.meta
    recorded = _lines(path / "events.ndjson")
    facts_json = meta.get("facts")
    if not isinstance(facts_json, dict):
        return ReplayOutcome(path, False, True, recorded, recorded, "the vendor was never launched: nothing to re-normalize")
    facts = Facts.from_json(facts_json)
    replay = meta.get("replay") if isinstance(meta.get("replay"), dict) else None
    interrupted = replay is None
    if interrupted:
        # The shim died before the vendor ended: only the events it printed can be compared.
        exit = o.ExitInfo(signal=9)
        duration_ms, extra = 0, {}
    else:
        exit = o.ExitInfo(**{k: v for k, v in replay["exit"].items() if k in o.ExitInfo.__dataclass_fields__})
        duration_ms, extra = int(replay.get("duration_ms") or 0), replay.get("vendor_extra") or {}
    replayed: list[bytes] = []
    run_recorded(
        facts,
        _read(path / "vendor.stdout"),
        _read(path / "vendor.stderr"),
        exit,
        duration_ms=duration_ms,
        journal=meta.get("journal_path"),
        vendor_extra=extra,
        sink=lambda event, line: replayed.append(line),
    )
    # The journal's copies were redacted; the replay of redacted bytes is redacted the same way
    # (masks keep lengths and are never matched again).
    scrub = Redactor()
    replayed = [scrub.redact(line) for line in replayed]
    note = ""
    if interrupted:
        replayed = replayed[: len(recorded)]
        note = f"the run was interrupted: compared the {len(recorded)} events it printed"
    return ReplayOutcome(path, True, replayed == recorded, recorded, replayed, note)


def _lines(path: Path) -> list[bytes]:
    return [line for line in _read(path).split(b"\n") if line]


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""
