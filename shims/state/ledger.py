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
from typing import Any

import orjson

from shims.state.private_files import append_private, private_dir, read_private, state_bytes

LEDGER_NAME = "ledger.ndjson"


class Ledger:
    def __init__(self, state_dir: str | os.PathLike[str]) -> None:
        self.path = os.path.join(state_dir, LEDGER_NAME)

    def append(self, entry: dict[str, Any]) -> None:
        """One line, masked like every state file: a request's thread_id, role or task_name, a
        vendor's session id or model name may carry a secret."""
        private_dir(os.path.dirname(self.path))
        append_private(self.path, state_bytes(orjson.dumps(entry)) + b"\n")

    def entries(self) -> Iterator[dict[str, Any]]:
        """Every readable entry, oldest first (a line cut by a crash is skipped)."""
        try:
            data = read_private(self.path)
        except OSError:
            return
        for line in data.splitlines():
            try:
                entry = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(entry, dict) and _well_formed(entry):
                yield entry

    def last_total(self, provider: str, session_id: str) -> dict[str, Any] | None:
        """The vendor's running total after the latest run of that session, if recorded."""
        found = None
        session_id = _as_stored(session_id)
        for e in self.entries():
            if e.get("provider") == provider and e.get("session_id") == session_id and isinstance(e.get("session_total"), dict):
                found = e["session_total"]
        return found

    def last_session(self, provider: str, cwd: str) -> str | None:
        """The session of the latest run of that provider in that folder (`--resume last`)."""
        found = None
        cwd = _as_stored(cwd)
        for e in self.entries():
            if e.get("provider") == provider and e.get("cwd") == cwd and e.get("session_id"):
                found = e["session_id"]
        return found


def _as_stored(text: str) -> str:
    """A value as an entry holds it (masked where it looks like a secret), to compare with it."""
    return orjson.loads(state_bytes(orjson.dumps(text)))


_TEXT_FIELDS = ("at", "provider", "model", "session_id", "cwd", "role", "account", "status")


def _well_formed(entry: dict[str, Any]) -> bool:
    """An entry whose fields have the types the shim writes; anything else (a hand edit, another
    program's line) is skipped rather than crashing every reader."""
    if not all(entry.get(k) is None or isinstance(entry.get(k), str) for k in _TEXT_FIELDS):
        return False
    for name in ("usage", "session_total"):
        usage = entry.get(name)
        if usage is None and name == "session_total":
            continue
        if not isinstance(usage, dict):
            return False
        if not all(isinstance(usage.get(k, 0), int) and not isinstance(usage.get(k, 0), bool)
                   for k in ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_output_tokens",
                             "total_tokens")):
            return False
        cost = usage.get("cost_usd")
        if cost is not None and (not isinstance(cost, int | float) or isinstance(cost, bool)):
            return False
        if not isinstance(usage.get("models", {}), dict):
            return False
    return True
