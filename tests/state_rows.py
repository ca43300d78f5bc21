"""What the state store holds, read straight from its SQLite file (no shim code in between):
the tests' view of the usage ledger and quota memory."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

DB = "state.sqlite3"


def _query(state_dir, sql: str) -> list[tuple]:
    path = Path(state_dir) / DB
    if not path.exists():
        return []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def ledger_rows(state_dir) -> list[dict]:
    """Every run's entry, oldest first."""
    return [json.loads(text) for (text,) in _query(state_dir, "SELECT entry FROM runs ORDER BY id")]


def quota_rows(state_dir) -> dict[tuple[str, str], dict]:
    """{(provider, account): entry} of quota memory."""
    return {(p, a): json.loads(text) for p, a, text in _query(state_dir, "SELECT provider, account, entry FROM quota")}


def stored_bytes(state_dir) -> bytes:
    """Every byte the store's files hold (the database and its write-ahead log)."""
    return b"".join(Path(state_dir, DB + s).read_bytes() for s in ("", "-wal") if os.path.exists(Path(state_dir, DB + s)))


def state_of(env) -> Path:
    return Path(env["XDG_STATE_HOME"]) / "codex-shims"
