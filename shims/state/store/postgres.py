"""Fleet state in PostgreSQL: every machine's runs in one ledger, and quota memory shared, so a
limit one machine met stops every machine's next launch with the same reset time.

The database is never worth a run: connecting waits CONNECT_TIMEOUT_S at most, and when the
database cannot be reached (refused, timed out, gone mid-transaction, refusing our schema) the
run's row is kept in this machine's outbox (shims.state.store.outbox) and `note` says so. The
next store that connects delivers the outbox first; the insert is idempotent on the run's id,
so a row is delivered once however often delivery is tried. Reads while the database is down
see only this machine's undelivered rows, and no shared limit: the run proceeds, and says so.

The tables are SQLite's (shims.state.store.schema, rendered in PostgreSQL's types; made on
first use or by `shims state migrate`), plus `runs.row_key`, unique: the run's id, what makes
delivering twice insert once. The schema version is the table schema_version's highest row.
Entries are masked like every state file (shims.state.store.rows) before they are sent.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import orjson

from normalize.emit import visible
from shims.state import quota as limits
from shims.state.store.base import RunQuery, StateError, public_url, url_password

try:
    import psycopg
except ImportError as exc:  # a dependency, but an install without it must not crash every run
    raise StateError(f"[state] url names PostgreSQL, but its driver is missing ({exc}): "
                     "pip install 'psycopg[binary]>=3.2'") from None
from shims.state.store.outbox import Outbox
from shims.state.store.rows import as_stored, entry_of, masked, matches, query_filters, run_row, well_formed
from shims.state.store.schema import MIGRATIONS, RUN_COLUMNS, SCHEMA_VERSION, create_statements

CONNECT_TIMEOUT_S = 2  # libpq's minimum that means anything; a dead host costs a run this much
STATEMENT_TIMEOUT_MS = 5000  # a locked or overloaded database must not hold a run either
# A server gone from the network mid-query (no reset, so no error) would hold the run until TCP
# gives up, many minutes: unacknowledged data ends the connection after this long instead.
TCP_USER_TIMEOUT_MS = 10_000
# After a failed connect, this store does not try again for a while: one run pays the timeout
# once, not once per read and write.
RETRY_AFTER_S = 30.0
# A server that stopped answering but whose kernel still acknowledges (frozen, stuck on its
# disk, a stalled proxy) trips neither TCP timeout, and cannot run its own statement_timeout:
# past this the client shuts the socket itself (_bounded). Delivering a big outbox gets longer.
OPERATION_TIMEOUT_S = 6.0
DELIVERY_TIMEOUT_S = 20.0

TYPES = {"serial": "bigserial PRIMARY KEY", "text": "text", "key": "text NOT NULL",
         "real": "double precision NOT NULL", "json": "jsonb NOT NULL"}
# What PostgreSQL adds to a schema version's tables: the outbox's delivery key.
EXTRA = {1: ("ALTER TABLE runs ADD COLUMN IF NOT EXISTS row_key text NOT NULL",
             "CREATE UNIQUE INDEX IF NOT EXISTS runs_row_key ON runs (row_key)")}
_MIGRATION_LOCK = 0x636F6465_78736873  # pg_advisory_xact_lock's key ("codexshs"): one migrator at a time

_INSERT_RUN = (f"INSERT INTO runs (row_key, {', '.join(RUN_COLUMNS)}, entry) "
               f"VALUES (%s, {', '.join(['%s'] * len(RUN_COLUMNS))}, %s::jsonb) ON CONFLICT (row_key) DO NOTHING")

T = TypeVar("T")
_UNREACHABLE = object()


class PostgresStore:
    def __init__(self, url: str, state_dir: str) -> None:
        self.url = url
        self.state_dir = state_dir
        self.outbox = Outbox(state_dir)
        self.delivered = 0  # rows of the outbox this store delivered
        self.applied: list[str] = []  # what connecting did to the schema (shims state migrate says)
        self._conn: psycopg.Connection | None = None
        self._failed_at: float | None = None
        self._reason = ""
        self._notes: list[str] = []  # what the run should hear besides the database being down
        self._missed: list[str] = []  # what the database being down cost this run
        self._queued = 0  # this store's rows in the outbox (a fallback chain writes one per attempt)
        self._waiting = 0  # all the rows in the outbox after the last one was added

    @property
    def where(self) -> str:
        return public_url(self.url)

    @property
    def note(self) -> str | None:
        said = list(dict.fromkeys(self._notes))
        missed = list(dict.fromkeys(self._missed))
        if self._queued:
            rows = "this run's row waits" if self._queued == 1 else f"this run's {self._queued} rows wait"
            missed.insert(0 if not missed else 1, f"{rows} in the outbox ({_rows(self._waiting)}) and "
                                                  "is delivered by the next run that reaches the database")
        if missed:
            said.insert(0, f"the database at {self.where} was unreachable ({self._reason}): " + "; ".join(missed))
        return "; ".join(said) or None

    # ---- the ledger

    def record_run(self, entry: Mapping[str, Any]) -> None:
        clean, text = masked(without_nul(entry))
        key, data = run_key(clean), text.encode()
        if self._attempt(lambda conn: _insert_runs(conn, [(key, data)])) is not _UNREACHABLE:
            return
        try:
            waiting = self.outbox.add(key, data)
        except (OSError, sqlite3.Error) as exc:
            raise StateError(f"the database at {self.where} was unreachable ({self._reason}), and this run's row "
                             f"could not be kept in the outbox {self.outbox.path} either: {exc}") from exc
        self._queued, self._waiting = self._queued + 1, waiting

    def runs(self, query: RunQuery = RunQuery()) -> Iterator[dict[str, Any]]:
        sql, params = runs_sql(query)
        found = self._attempt(lambda conn: [r[0] for r in conn.execute(sql, params)])
        if found is _UNREACHABLE:
            found = [e for e in self._local("the ledger") if matches(e, query)]
        return (e for e in found if isinstance(e, dict) and well_formed(e))

    def last_total(self, provider: str, session_id: str) -> dict[str, Any] | None:
        sql = ("SELECT entry->'session_total' FROM runs WHERE provider = %s AND session_id = %s "
               "AND jsonb_typeof(entry->'session_total') = 'object' ORDER BY at DESC, id DESC LIMIT 1")
        found = self._attempt(lambda conn: _one(conn.execute(sql, (as_stored(provider), as_stored(session_id)))))
        if found is not _UNREACHABLE:
            return found
        totals = [e["session_total"] for e in self._local("the session's running total")
                  if matches(e, RunQuery(provider=provider, session_id=session_id)) and isinstance(e.get("session_total"), dict)]
        return totals[-1] if totals else None

    def last_session(self, provider: str, cwd: str) -> str | None:
        """This machine's: a vendor's sessions live on the machine that ran it (rows from before
        machines were named count as this one's)."""
        host = as_stored(os.uname().nodename)  # as shims.run.bookkeeping names it
        sql = ("SELECT session_id FROM runs WHERE provider = %s AND cwd = %s AND session_id <> '' "
               "AND coalesce(entry->>'host', %s) = %s ORDER BY at DESC, id DESC LIMIT 1")
        found = self._attempt(lambda conn: _one(conn.execute(sql, (as_stored(provider), as_stored(cwd), host, host))))
        if found is not _UNREACHABLE:
            return found
        provider, cwd = as_stored(provider), as_stored(cwd)
        sessions = [e["session_id"] for e in self._local("the last session")
                    if e.get("provider") == provider and e.get("cwd") == cwd and e.get("session_id")]
        return sessions[-1] if sessions else None

    # ---- quota memory

    def remember_quota(self, provider: str, account: str, quota: Mapping[str, Any], *, ended_at: float,
                       run_id: str | None) -> bool:
        kept = limits.limit_entry(quota, ended_at=ended_at, run_id=run_id)
        if kept is None:
            return False
        clean, text = masked(without_nul(kept))  # the message is the vendor's
        key = (as_stored(provider), as_stored(account))
        if self._attempt(lambda conn: _share_limit(conn, *key, clean, text)) is _UNREACHABLE:
            self._wait(key, text.encode(), ended_at, "the limit this run met waits in the outbox and is shared "
                                                     "with the other machines by the next run that reaches the database")
        return True

    def clear_quota(self, provider: str, account: str) -> None:
        key = (as_stored(provider), as_stored(account))
        at = time.time()
        if self._attempt(lambda conn: _clear_limit(conn, *key, at)) is _UNREACHABLE:
            self._wait(key, None, at, "this run's success clears a shared limit of this account, if any, once a "
                                      "run reaches the database")

    def active_quota(self, provider: str, account: str, now: float | None = None) -> dict[str, Any] | None:
        sql = "SELECT entry FROM quota WHERE provider = %s AND account = %s"
        key = (as_stored(provider), as_stored(account))
        entry = self._attempt(lambda conn: _one(conn.execute(sql, key)))
        if entry is _UNREACHABLE:  # what this machine itself met, while no other's can be seen
            self._missed.append("a limit another machine recorded cannot be seen, so this run proceeds without it")
            waiting = [e for p, a, e, _ in self._outbox_limits() if (p, a) == key]
            entry = entry_of(waiting[-1]) if waiting and waiting[-1] is not None else None
        return limits.in_force(entry, now)

    def _wait(self, key: tuple[str, str], entry: bytes | None, at: float, said: str) -> None:
        try:
            self.outbox.add_limit(*key, entry, at)
        except (OSError, sqlite3.Error) as exc:
            raise StateError(f"the database at {self.where} was unreachable ({self._reason}), and quota memory "
                             f"could not be kept in the outbox {self.outbox.path} either: {exc}") from exc
        self._missed.append(said)

    def _outbox_limits(self) -> list[tuple[str, str, bytes | None, float]]:
        try:
            return self.outbox.limits()
        except (sqlite3.Error, OSError):
            return []

    # ---- operators

    def migrate(self) -> int:
        """Bring the database's tables to this version (connecting does it too); the version."""
        if self._db() is None:
            raise StateError(f"the database at {self.where} was unreachable ({self._reason})")
        return SCHEMA_VERSION

    def check(self) -> dict[str, Any]:
        """What `shims state check` shows: reachable or why not, schema version, rows, outbox."""
        answer: dict[str, Any] = {"store": "postgresql", "where": self.where, "ok": False}

        def counts(conn: psycopg.Connection) -> dict[str, Any]:
            return {
                "schema_version": _one(conn.execute("SELECT max(version) FROM schema_version")),
                "applied": list(self.applied),
                "runs": _one(conn.execute("SELECT count(*) FROM runs")),
                "quota": _one(conn.execute("SELECT count(*) FROM quota WHERE until > 0")),  # not the clears
            }

        found = self._attempt(counts)  # connecting delivers the outbox: count what is left after
        try:
            waiting: int | str = len(self.outbox.pending())
            aside = len(self.outbox.set_aside())
        except (sqlite3.Error, OSError) as exc:
            waiting, aside = f"unreadable: {exc}", 0
        if found is _UNREACHABLE:
            return {**answer, "outbox": waiting, "set_aside": aside, "problem": f"unreachable: {self._reason}"}
        answer = {**answer, **found, "outbox": waiting, "set_aside": aside, "delivered": self.delivered}
        if isinstance(waiting, str):
            answer["problem"] = f"the outbox {self.outbox.path} is {waiting}"
        elif found["schema_version"] != SCHEMA_VERSION:
            answer["problem"] = f"schema version {found['schema_version']}, expected {SCHEMA_VERSION}"
        elif aside:
            answer["problem"] = (f"the database refused {_rows(aside)} of the outbox; they are kept in "
                                 f"{self.outbox.path} (table set_aside)")
        answer["ok"] = "problem" not in answer
        return answer

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # ---- the connection

    def _attempt(self, work: Callable[[psycopg.Connection], T]) -> T | object:
        """`work`'s answer, or _UNREACHABLE (the reason in self._reason). A connection that broke
        under it (the server restarted) is replaced once: every statement here is idempotent."""
        for _ in range(2):
            conn = self._db()
            if conn is None:
                return _UNREACHABLE
            try:
                with _bounded(conn):
                    return work(conn)
            except psycopg.OperationalError as exc:  # the connection is gone: connect again once
                self._lost(exc)
            except psycopg.Error as exc:  # the database refuses (permissions, a full disk): no retry
                self._lost(exc)
                self._failed_at = time.monotonic()
                return _UNREACHABLE
        return _UNREACHABLE

    def _db(self) -> psycopg.Connection | None:
        if self._conn is not None and not self._conn.closed:
            return self._conn
        if self._failed_at is not None and time.monotonic() - self._failed_at < RETRY_AFTER_S:
            return None
        conn = None
        try:
            conn = psycopg.connect(self.url, connect_timeout=CONNECT_TIMEOUT_S, autocommit=True,
                                   application_name="codex-shims", tcp_user_timeout=TCP_USER_TIMEOUT_MS,
                                   options=f"-c statement_timeout={STATEMENT_TIMEOUT_MS}")
            with _bounded(conn, OPERATION_TIMEOUT_S + DELIVERY_TIMEOUT_S):
                self.applied += _migrate(conn)
                self._conn = conn
                self._deliver(conn)
        except (psycopg.Error, StateError, sqlite3.Error, OSError) as exc:  # (the outbox's, delivering)
            if conn is not None:
                conn.close()
            self._lost(exc)
            self._failed_at = time.monotonic()
            return None
        self._failed_at = None
        return conn

    def _lost(self, exc: Exception) -> None:
        self._reason = self._scrubbed(describe(exc))
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _deliver(self, conn: psycopg.Connection) -> None:
        """The outbox first: rows that waited are older than anything this run writes."""
        try:
            pending, waiting_limits = self.outbox.pending(), self.outbox.limits()
        except (sqlite3.Error, OSError) as exc:
            self._notes.append(f"the outbox {self.outbox.path} is unreadable ({exc}); its rows were not delivered")
            return
        for provider, account, entry, at in waiting_limits:  # a newer word in the database wins
            kept = entry_of(entry) if entry is not None else None
            if entry is None:
                _clear_limit(conn, provider, account, at)
            elif kept is not None and isinstance(kept.get("until"), int | float):
                _share_limit(conn, provider, account, kept, entry.decode())
            # (anything else is not a limit this code wrote: dropped with the rest)
        self.outbox.remove_limits([(p, a, at) for p, a, _, at in waiting_limits])
        # A row that is not a ledger entry (a damaged file, another program's row) can never be
        # delivered: put aside at once, so it cannot stop the rows after it.
        unreadable = [(key, "not a ledger entry") for key, data in pending if entry_of(data) is None]
        if unreadable:
            self.outbox.put_aside(unreadable)
            self._notes.append(f"{_rows(len(unreadable))} of the outbox ({', '.join(k for k, _ in unreadable)}) "
                               f"were not ledger entries; kept apart in {self.outbox.path} (table set_aside)")
            aside = {key for key, _ in unreadable}
            pending = [(key, data) for key, data in pending if key not in aside]
        if not pending:
            return
        try:
            _insert_runs(conn, pending)
            delivered, refused = [key for key, _ in pending], []
        except psycopg.OperationalError:
            raise  # the connection is gone: the rows stay for the next run
        except psycopg.Error:  # a row the database refuses: the others go one by one, it is put aside
            delivered, refused = [], []
            for key, data in pending:
                try:
                    _insert_runs(conn, [(key, data)])
                    delivered.append(key)
                except psycopg.OperationalError:
                    raise
                except psycopg.Error as exc:
                    refused.append((key, describe(exc)))
        self.outbox.remove(delivered)
        self.delivered += len(delivered)
        if refused:
            self.outbox.put_aside(refused)
            self._notes.append(f"the database refused {_rows(len(refused))} of the outbox "
                               f"({', '.join(k for k, _ in refused)}: {refused[0][1]}); kept apart in "
                               f"{self.outbox.path} (table set_aside)")

    def _scrubbed(self, text: str) -> str:
        """An error as the note says it: libpq quotes a URL it cannot use, password and all."""
        text = text.replace(self.url, self.where)
        password = url_password(self.url)
        return text.replace(password, "***") if password else text

    def _local(self, what: str) -> list[dict[str, Any]]:
        """This machine's undelivered rows, when the database cannot be read; the note says so."""
        try:
            rows = [e for e in (entry_of(data) for _, data in self.outbox.pending()) if e is not None]
        except (sqlite3.Error, OSError):
            rows = []
        self._missed.append(f"{what} comes from this machine's {_rows(len(rows))} not yet delivered only")
        return rows


# ---- pure helpers


def without_nul(value: Any) -> Any:
    """The value with every NUL character as U+FFFD: PostgreSQL's text and jsonb take no NUL,
    and a vendor's or a request's text may hold one."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if isinstance(value, Mapping):
        return {without_nul(k): without_nul(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [without_nul(v) for v in value]
    return value


def describe(exc: Exception) -> str:
    """An error on one line, as a person reads it in a note: the server's words, so control
    characters are shown as escapes (a hostile server's ESC sequences never reach a terminal)."""
    text = visible(" ".join(str(exc).split()), keep="") or type(exc).__name__
    return text if len(text) <= 300 else text[:299] + "…"


def run_key(entry: Mapping[str, Any]) -> str:
    """What makes a row unique: its run's id and, past the first, the attempt of a fallback chain
    (each attempt is a row); a row without a run id (--no-journal) gets a fresh id."""
    run_id, attempt = entry.get("run_id"), entry.get("attempt")
    if not isinstance(run_id, str) or not run_id:
        return uuid.uuid4().hex
    return f"{run_id}#{attempt}" if isinstance(attempt, int) and not isinstance(attempt, bool) and attempt else run_id


def runs_sql(query: RunQuery) -> tuple[str, list[Any]]:
    """RunQuery as SQL (shims.state.store.rows.query_filters), oldest first as SQLite's."""
    filters = query_filters(query)
    where = " AND ".join(f"{column} {op} %s" for column, op, _ in filters)
    return "SELECT entry FROM runs" + (f" WHERE {where}" if where else "") + " ORDER BY at, id", \
        [value for _, _, value in filters]


def _insert_runs(conn: psycopg.Connection, rows: list[tuple[str, bytes]]) -> None:
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(_INSERT_RUN, [(key, *run_row(orjson.loads(data))[0], data.decode()) for key, data in rows])


@contextlib.contextmanager
def _bounded(conn: psycopg.Connection, seconds: float = OPERATION_TIMEOUT_S) -> Iterator[None]:
    """At most `seconds` for what runs inside: then the connection's socket is shut down from a
    timer thread, so a read blocked on a server that never answers returns (psycopg raises
    OperationalError, and the row goes to the outbox)."""
    timer = threading.Timer(seconds, _shut, (conn,))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def _shut(conn: psycopg.Connection) -> None:
    try:
        fd = conn.pgconn.socket
        with socket.socket(fileno=os.dup(fd)) as sock:
            sock.shutdown(socket.SHUT_RDWR)
    except (OSError, psycopg.Error):  # already closed
        pass


def _share_limit(conn: psycopg.Connection, provider: str, account: str, entry: Mapping[str, Any], text: str) -> None:
    """A limit met, unless the database holds a word on it recorded later (another machine's)."""
    conn.execute("INSERT INTO quota (provider, account, until, entry) VALUES (%s, %s, %s, %s::jsonb) "
                 "ON CONFLICT (provider, account) DO UPDATE SET until = EXCLUDED.until, entry = EXCLUDED.entry "
                 "WHERE (quota.entry->>'recorded_at')::float8 IS NULL "
                 "OR (quota.entry->>'recorded_at')::float8 <= (EXCLUDED.entry->>'recorded_at')::float8",
                 (provider, account, entry["until"], text))


def _clear_limit(conn: psycopg.Connection, provider: str, account: str, at: float) -> None:
    """A success at `at` ends the limits recorded before it, not one met after it. It is kept as
    a row that ends at once (`until` 0), dated: a limit recorded before it and delivered late
    (from an outbox) then finds a later word and does not come back."""
    cleared = {"cleared": True, "until": 0, "recorded_at": at}
    conn.execute("INSERT INTO quota (provider, account, until, entry) VALUES (%s, %s, 0, %s::jsonb) "
                 "ON CONFLICT (provider, account) DO UPDATE SET until = 0, entry = EXCLUDED.entry "
                 "WHERE coalesce((quota.entry->>'recorded_at')::float8, 0) <= %s",
                 (provider, account, orjson.dumps(cleared).decode(), at))


def _one(cur: psycopg.Cursor) -> Any:
    row = cur.fetchone()
    return row[0] if row else None


def _migrate(conn: psycopg.Connection) -> list[str]:
    """The tables at SCHEMA_VERSION, made or upgraded under a lock (many shims start at once);
    what was done."""
    try:
        version = _one(conn.execute("SELECT max(version) FROM schema_version")) or 0
    except psycopg.errors.UndefinedTable:
        version = 0
    if version == SCHEMA_VERSION:
        return []  # every run after the first: one query
    _refuse_newer(version)
    applied = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version integer PRIMARY KEY, "
                     "applied_at timestamptz NOT NULL DEFAULT now())")
        version = _one(conn.execute("SELECT max(version) FROM schema_version")) or 0  # another shim's meanwhile?
        _refuse_newer(version)
        for step in MIGRATIONS:
            if step.version <= version:
                continue
            for table in step.tables:
                for statement in create_statements(table, TYPES):
                    conn.execute(statement)
            for statement in EXTRA.get(step.version, ()):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (step.version,))
            applied.append(f"schema version {step.version}: {step.what}")
    return applied


def _refuse_newer(version: int) -> None:
    if version > SCHEMA_VERSION:
        raise StateError(f"it was made by a newer codex-shims (schema version {version}; this one knows up to "
                         f"{SCHEMA_VERSION}): upgrade codex-shims")


def _rows(n: int) -> str:
    return f"{n} row" if n == 1 else f"{n} rows"
