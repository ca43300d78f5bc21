"""The usage ledger: one line per finished run, kept apart from the run folders.

`shims usage` sums it, and resumed runs measure their usage against it, so it must outlive
the journal's retention (a pruned run's tokens were still spent) and must not depend on
`--no-journal` (it holds numbers and ids, never text). Each entry is appended with a single
write to a file opened O_APPEND, so concurrent shims never interleave lines.

An entry's `usage` is that run's own share (per invocation); `session_total` is the vendor's
running total for the session after the run, when the vendor reports one — what the next
resume of that session is measured against (CONTRACT §5).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

LEDGER_NAME = "ledger.ndjson"


class Ledger:
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / LEDGER_NAME

    def append(self, entry: dict[str, Any]) -> None:
        from shims.journal.run import FILE_MODE, private_dir

        private_dir(self.path.parent)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, FILE_MODE)
        try:
            os.write(fd, orjson.dumps(entry) + b"\n")
        finally:
            os.close(fd)

    def entries(self) -> Iterator[dict[str, Any]]:
        """Every readable entry, oldest first (a line cut by a crash is skipped)."""
        try:
            data = self.path.read_bytes()
        except OSError:
            return
        for line in data.splitlines():
            try:
                entry = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(entry, dict):
                yield entry

    def last_total(self, provider: str, session_id: str) -> dict[str, Any] | None:
        """The vendor's running total after the latest run of that session, if recorded."""
        found = None
        for e in self.entries():
            if e.get("provider") == provider and e.get("session_id") == session_id and isinstance(e.get("session_total"), dict):
                found = e["session_total"]
        return found

    def last_session(self, provider: str, cwd: str) -> str | None:
        """The session of the latest run of that provider in that folder (`--resume last`)."""
        found = None
        for e in self.entries():
            if e.get("provider") == provider and e.get("cwd") == cwd and e.get("session_id"):
                found = e["session_id"]
        return found
