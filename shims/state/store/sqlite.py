"""The embedded state store: `state.sqlite3` in the state folder.

WAL mode, so readers never wait for the one writer and concurrent shims queue on a busy
timeout instead of failing; each write is one `BEGIN IMMEDIATE` transaction, so a failed write
(a full disk, a file-size limit, the lock held past the timeout) leaves every earlier row as it
was and raises StateError. The schema version is `PRAGMA user_version`; the migrations of
shims.state.store.schema are applied in order when the store is opened, the first one with a
one-time import of the old ledger.ndjson and quota.json (renamed to *.imported after, so they
are never imported twice and nothing is lost).

The database and its -wal and -shm files are state files like the others (0600, never opened
through a planted link): they are made through shims.state.private_files before SQLite opens
them, and SQLite gives its own files the database's mode.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Mapping
from typing import Any

from shims.state.private_files import open_private, private_dir, read_private
from shims.state.store.base import RunQuery, StateError
from shims.state.store.rows import as_stored, entry_of, masked, query_filters, run_row, well_formed
from shims.state.store.schema import MIGRATIONS, RUN_COLUMNS, SCHEMA_VERSION, create_statements

DB_NAME = "state.sqlite3"
# Long enough for 50 shims finishing at once (each write takes well under a millisecond),
# short enough that a stuck lock costs a run's result a bounded wait.
BUSY_TIMEOUT_S = 10.0
TYPES = {"serial": "INTEGER PRIMARY KEY", "text": "TEXT", "key": "TEXT NOT NULL", "real": "REAL NOT NULL",
         "json": "TEXT NOT NULL"}


class SqliteStore:
    def __init__(self, state_dir: str | os.PathLike[str], *, busy_timeout_s: float = BUSY_TIMEOUT_S) -> None:
        self.state_dir = os.fspath(state_dir)
        self.path = os.path.join(self.state_dir, DB_NAME)
        self.applied: list[str] = []  # what opening it did (shims state migrate says)
        self._db: sqlite3.Connection | None = None
        try:
            private_dir(self.state_dir)
            for suffix in ("", "-wal", "-shm"):
                os.close(open_private(self.path + suffix, os.O_RDWR | os.O_CREAT))
            # Autocommit: every transaction is an explicit BEGIN IMMEDIATE below.
            self._db = sqlite3.connect(self.path, timeout=busy_timeout_s, isolation_level=None)
            self._refuse_newer(_version(self._db))  # before WAL mode, which rewrites the header
            self._db.execute("PRAGMA journal_mode=WAL")
            # In WAL mode NORMAL loses no committed row to a crash of the shim, only to a power
            # cut, and saves an fsync per run.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._upgrade()
        except (sqlite3.Error, OSError) as exc:
            self.close()
            raise StateError(self._say(exc)) from None
        except StateError:
            self.close()
            raise

    @property
    def where(self) -> str:
        return self.path

    @property
    def note(self) -> str | None:
        return None

    # ---- the ledger

    def record_run(self, entry: Mapping[str, Any]) -> None:
        values, text = run_row(entry)
        self._write(lambda db: _insert_run(db, values, text))

    def runs(self, query: RunQuery = RunQuery()) -> Iterator[dict[str, Any]]:
        filters = query_filters(query)
        where = " AND ".join(f"{column} {op} ?" for column, op, _ in filters)
        args = [value for _, _, value in filters]
        sql = "SELECT entry FROM runs" + (f" WHERE {where}" if where else "") + " ORDER BY at, id"
        for (text,) in self._read(sql, args):
            entry = entry_of(text)
            if entry is not None and well_formed(entry):
                yield entry

    def last_total(self, provider: str, session_id: str) -> dict[str, Any] | None:
        rows = self._read("SELECT entry FROM runs WHERE provider = ? AND session_id = ? ORDER BY id DESC",
                          (as_stored(provider), as_stored(session_id)))
        for (text,) in rows:
            total = (entry_of(text) or {}).get("session_total")
            if isinstance(total, dict):
                return total
        return None

    def last_session(self, provider: str, cwd: str) -> str | None:
        rows = self._read("SELECT session_id FROM runs WHERE provider = ? AND cwd = ? AND session_id != '' "
                          "ORDER BY id DESC LIMIT 1", (as_stored(provider), as_stored(cwd)))
        return rows[0][0] if rows else None

    # ---- quota memory

    def remember_quota(self, provider: str, account: str, quota: Mapping[str, Any], *, ended_at: float,
                       run_id: str | None) -> bool:
        from shims.state.quota import limit_entry

        entry = limit_entry(quota, ended_at=ended_at, run_id=run_id)
        if entry is None:
            return False
        clean, text = masked(entry)  # the message is the vendor's
        key = (as_stored(provider), as_stored(account))
        self._write(lambda db: _put_quota(db, *key, clean["until"], text))
        return True

    def clear_quota(self, provider: str, account: str) -> None:
        key = (as_stored(provider), as_stored(account))
        # Most runs succeed with nothing remembered: a read, not a write transaction, for them.
        if self._read("SELECT 1 FROM quota WHERE provider = ? AND account = ?", key):
            self._write(lambda db: db.execute("DELETE FROM quota WHERE provider = ? AND account = ?", key))

    def active_quota(self, provider: str, account: str, now: float | None = None) -> dict[str, Any] | None:
        rows = self._read("SELECT entry FROM quota WHERE provider = ? AND account = ?",
                          (as_stored(provider), as_stored(account)))
        if not rows:
            return None  # every run asks: without a limit kept, shims.state.quota is not even imported
        from shims.state.quota import in_force

        return in_force(entry_of(rows[0][0]), now)

    # ---- operators

    def check(self) -> dict[str, Any]:
        out: dict[str, Any] = {"store": "sqlite", "where": self.path, "ok": False, "applied": list(self.applied)}
        try:
            db = self._conn()
            out["schema_version"] = db.execute("PRAGMA user_version").fetchone()[0]
            out["journal_mode"] = db.execute("PRAGMA journal_mode").fetchone()[0]
            out["integrity"] = "; ".join(r[0] for r in db.execute("PRAGMA integrity_check").fetchall())
            out["runs"] = db.execute("SELECT count(*) FROM runs").fetchone()[0]
            out["quota"] = db.execute("SELECT count(*) FROM quota").fetchone()[0]
        except (sqlite3.Error, StateError) as exc:
            out["problem"] = self._say(exc) if isinstance(exc, sqlite3.Error) else str(exc)
            return out
        out["ok"] = out["integrity"] == "ok" and out["schema_version"] == SCHEMA_VERSION
        if not out["ok"]:
            out["problem"] = f"integrity check: {out['integrity']}" if out["integrity"] != "ok" else \
                f"schema version {out['schema_version']}, expected {SCHEMA_VERSION}"
        return out

    def close(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            try:
                db.close()
            except sqlite3.Error:
                pass

    # ---- the parts

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise StateError(f"{self.path}: the store is closed")
        return self._db

    def _read(self, sql: str, args: Any) -> list[tuple[Any, ...]]:
        try:
            return self._conn().execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise StateError(self._say(exc)) from None

    def _write(self, change: Any) -> None:
        """`change(db)` in one transaction: all of it, or nothing and StateError."""
        db = self._conn()
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                change(db)
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        except (sqlite3.Error, OSError) as exc:
            raise StateError(self._say(exc)) from None

    def _upgrade(self) -> None:
        """The migrations this database has not had, in one transaction with the import."""
        db = self._conn()
        if _version(db) == SCHEMA_VERSION:
            return  # every run after the first: one read of the header
        self._refuse_newer(_version(db))
        imported: list[str] = []

        def migrate(db: sqlite3.Connection) -> None:
            version = _version(db)  # again, in the transaction: another shim may have just done it
            self._refuse_newer(version)
            for step in MIGRATIONS:
                if step.version <= version:
                    continue
                for table in step.tables:
                    for sql in create_statements(table, TYPES):
                        db.execute(sql)
                self.applied.append(f"schema version {step.version}: {step.what}")
                if step.import_legacy:
                    imported.extend(self._import_legacy(db))
                db.execute(f"PRAGMA user_version = {int(step.version)}")

        self._write(migrate)
        # After the commit: a crash in between leaves the old files in place, never imported twice.
        from shims.state.store import legacy

        for name in imported:
            old = os.path.join(self.state_dir, name)
            os.replace(old, old + legacy.IMPORTED_SUFFIX)

    def _import_legacy(self, db: sqlite3.Connection) -> list[str]:
        """The old files' rows into the new tables; the names of the files imported."""
        from shims.state.store import legacy

        found = []
        for name in (legacy.LEDGER_NAME, legacy.QUOTA_NAME):
            try:
                data = read_private(os.path.join(self.state_dir, name))
            except FileNotFoundError:
                continue
            if name == legacy.LEDGER_NAME:
                count = 0
                for entry in legacy.ledger_entries(data):
                    _insert_run(db, *run_row(entry))
                    count += 1
                self.applied.append(f"imported {count} runs from {name} (kept as {name}{legacy.IMPORTED_SUFFIX})")
            else:
                count = 0
                for provider, account, entry in legacy.quota_entries(data):
                    clean, text = masked(entry)
                    _put_quota(db, as_stored(provider), as_stored(account), clean["until"], text)
                    count += 1
                self.applied.append(f"imported {count} quota limits from {name} "
                                    f"(kept as {name}{legacy.IMPORTED_SUFFIX})")
            found.append(name)
        return found

    def _refuse_newer(self, version: int) -> None:
        if version > SCHEMA_VERSION:
            raise StateError(f"{self.path} was made by a newer codex-shims (schema version {version}; this one "
                             f"knows up to {SCHEMA_VERSION}): upgrade codex-shims, or move the file away")

    def _say(self, exc: BaseException) -> str:
        text = str(exc) or type(exc).__name__
        if getattr(exc, "sqlite_errorname", None):  # which write failed: SQLITE_IOERR_WRITE, _SHMSIZE, SQLITE_FULL
            text += f" ({exc.sqlite_errorname})"
        if isinstance(exc, sqlite3.OperationalError) and "locked" in text:
            text += " (another process held it past the busy timeout)"
        return f"{self.path}: {text}"


def _version(db: sqlite3.Connection) -> int:
    return db.execute("PRAGMA user_version").fetchone()[0]


def _insert_run(db: sqlite3.Connection, values: tuple[str | None, ...], text: str) -> None:
    db.execute(f"INSERT INTO runs ({', '.join(RUN_COLUMNS)}, entry) VALUES ({', '.join('?' * (len(values) + 1))})",
               (*values, text))


def _put_quota(db: sqlite3.Connection, provider: str, account: str, until: float, text: str) -> None:
    db.execute("INSERT OR REPLACE INTO quota (provider, account, until, entry) VALUES (?, ?, ?, ?)",
               (provider, account, until, text))



