"""The rows a shared database could not take yet, kept on this machine until a run reaches it:
the ledger's rows, and the latest word on each quota limit (met or cleared).

A small SQLite file in the state folder (WAL, a busy timeout: many shims of one machine may
add or deliver at once). Each row is keyed by its run's id, so delivering twice inserts once
(the database's insert is idempotent on the same key) and adding twice keeps one row.
"""

from __future__ import annotations

import os
import sqlite3

from shims.state.private_files import open_private, private_dir

OUTBOX_NAME = "outbox.sqlite3"
BUSY_TIMEOUT_S = 5.0


class Outbox:
    def __init__(self, state_dir: str | os.PathLike[str]) -> None:
        self.path = os.path.join(state_dir, OUTBOX_NAME)

    def add(self, key: str, entry: bytes) -> int:
        """Keep one masked entry; how many wait now."""
        with self._open(create=True) as db:
            db.execute("INSERT OR IGNORE INTO pending(key, entry) VALUES (?, ?)", (key, entry))
            return db.execute("SELECT count(*) FROM pending").fetchone()[0]

    def pending(self) -> list[tuple[str, bytes]]:
        """Every waiting (key, entry), oldest first; none when there is no outbox."""
        if not os.path.exists(self.path):
            return []
        with self._open() as db:
            return [(k, bytes(e)) for k, e in db.execute("SELECT key, entry FROM pending ORDER BY seq")]

    def remove(self, keys: list[str]) -> None:
        """Delivered: gone from the outbox."""
        if not keys:
            return
        with self._open() as db:
            db.executemany("DELETE FROM pending WHERE key = ?", [(k,) for k in keys])

    def add_limit(self, provider: str, account: str, entry: bytes | None, at: float) -> None:
        """A limit met (`entry`, masked) or cleared (None) while the database was down: the
        latest word per provider and account waits, to be shared once a run reaches it."""
        with self._open(create=True) as db:
            db.execute("INSERT OR REPLACE INTO limits(provider, account, entry, at) VALUES (?, ?, ?, ?)",
                       (provider, account, entry, at))

    def limits(self) -> list[tuple[str, str, bytes | None, float]]:
        """Every waiting (provider, account, entry or None for a clear, when), oldest first."""
        if not os.path.exists(self.path):
            return []
        with self._open() as db:
            return [(p, a, None if e is None else bytes(e), t)
                    for p, a, e, t in db.execute("SELECT provider, account, entry, at FROM limits ORDER BY at")]

    def remove_limits(self, keys: list[tuple[str, str, float]]) -> None:
        """Shared: gone, unless a newer word for that provider and account came meanwhile."""
        if not keys:
            return
        with self._open() as db:
            db.executemany("DELETE FROM limits WHERE provider = ? AND account = ? AND at = ?", keys)

    def put_aside(self, refused: list[tuple[str, str]]) -> None:
        """Rows the database refused, (key, why): out of the way of the rows after them, and
        kept (nothing is lost) for an operator to look at (`shims state check` counts them)."""
        if not refused:
            return
        with self._open() as db:
            for key, why in refused:
                db.execute("INSERT OR REPLACE INTO set_aside(key, entry, reason) "
                           "SELECT key, entry, ? FROM pending WHERE key = ?", (why, key))
                db.execute("DELETE FROM pending WHERE key = ?", (key,))

    def set_aside(self) -> list[tuple[str, bytes, str]]:
        """Every row put aside, (key, entry, why), oldest first."""
        if not os.path.exists(self.path):
            return []
        with self._open() as db:
            return [(k, bytes(e), r) for k, e, r in db.execute("SELECT key, entry, reason FROM set_aside ORDER BY seq")]

    def _open(self, create: bool = False) -> _Db:
        """Its files as every state file: 0600, and a planted link at any of them refused
        (OSError) rather than written through; sqlite then opens what was checked."""
        if create:
            private_dir(os.path.dirname(self.path))
        for suffix in ("", "-wal", "-shm"):
            os.close(open_private(self.path + suffix, os.O_RDWR | (os.O_CREAT if create or suffix else 0)))
        return _Db(self.path)


class _Db:
    """One transaction on the outbox file, committed on success, rolled back on an error."""

    def __init__(self, path: str) -> None:
        self._conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)

    def __enter__(self) -> sqlite3.Connection:
        db = self._conn
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE IF NOT EXISTS pending(seq INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, entry BLOB NOT NULL)")
        db.execute("CREATE TABLE IF NOT EXISTS set_aside(seq INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, "
                   "entry BLOB NOT NULL, reason TEXT NOT NULL)")
        db.execute("CREATE TABLE IF NOT EXISTS limits(provider TEXT NOT NULL, account TEXT NOT NULL, entry BLOB, "
                   "at REAL NOT NULL, PRIMARY KEY (provider, account))")
        db.execute("BEGIN IMMEDIATE")
        return db

    def __exit__(self, exc_type, *rest: object) -> None:
        try:
            self._conn.execute("COMMIT" if exc_type is None else "ROLLBACK")
        finally:
            self._conn.close()
