"""The state store interface every reader and writer of fleet state goes through.

A ledger entry is one run's share, a plain dict with the fields the shim has always written
(run_id, at, provider, account, model, session_id, thread_id, cwd, role, task_name, status,
failure_kind, duration_ms, usage, session_total, journal); stores mask it like every state
file (shims.state.private_files.state_bytes) before it is kept. Quota memory holds, per
provider and account, the limit a run reported and when it ends (CONTRACT §8, §11).

Every method may raise StateError, with a message a person can act on; callers decide what a
failure costs (a run never fails over its bookkeeping: the result says why in
`vendor.state_error`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

# The environment variable that points a machine at a shared database, over `[state] url`.
STATE_URL_ENV = "CODEX_SHIMS_STATE_URL"


class StateError(Exception):
    """The store could not do what was asked (disk full, database down, a damaged file)."""


@dataclass(frozen=True, slots=True)
class RunQuery:
    """Which ledger entries: every field None means no filter. `since`/`until` are ISO UTC
    instants (`2026-11-01T00:00:00Z`): since inclusive, until exclusive."""

    provider: str | None = None
    model: str | None = None
    account: str | None = None
    role: str | None = None
    session_id: str | None = None
    since: str | None = None
    until: str | None = None


@dataclass(frozen=True, slots=True)
class StateSettings:
    """Where state lives: `url` None is the embedded store in `state_dir`."""

    state_dir: str
    url: str | None = None


class StateStore(Protocol):
    @property
    def where(self) -> str:
        """What a person reads: the file's path, or the database URL without its password."""

    @property
    def note(self) -> str | None:
        """Something the run should say (on stderr and in `vendor.state_error`) though nothing
        failed: e.g. the shared database was unreachable, so this run's row waits in the
        outbox. None when all is well."""

    # ---- the ledger

    def record_run(self, entry: Mapping[str, Any]) -> None:
        """One run's share, in one transaction: all of it is kept, or none (StateError)."""

    def runs(self, query: RunQuery = RunQuery()) -> Iterator[dict[str, Any]]:
        """The entries that match, oldest first."""

    def last_total(self, provider: str, session_id: str) -> dict[str, Any] | None:
        """The vendor's running total after the latest run of that session, if recorded."""

    def last_session(self, provider: str, cwd: str) -> str | None:
        """The session of the latest run of that provider in that folder (`--resume last`)."""

    # ---- quota memory

    def remember_quota(self, provider: str, account: str, quota: Mapping[str, Any], *, ended_at: float,
                       run_id: str | None) -> bool:
        """Record a limit that says when it ends (resets_at or retry_after_s). Whether it was."""

    def clear_quota(self, provider: str, account: str) -> None:
        """A run of that provider and account succeeded: the limit is over."""

    def active_quota(self, provider: str, account: str, now: float | None = None) -> dict[str, Any] | None:
        """The limit still in force, in the contract's `quota` shape plus `run_id`, or None."""

    # ---- operators (`shims state check`)

    def check(self) -> dict[str, Any]:
        """What an operator asks of the store, as plain JSON-able data: at least `where`,
        `schema_version` and `ok` (bool), plus what the store can tell (SQLite: the
        integrity check and row counts; PostgreSQL: connectivity and the outbox size).
        Never raises for a store that answers badly: `ok` False and `problem` say why."""
        ...

    def close(self) -> None: ...


def state_settings(state_dir: str, url: str | None, env: Mapping[str, str] | None = None) -> StateSettings:
    """The settings a run uses: the environment variable over the config file's `[state] url`."""
    env = os.environ if env is None else env
    return StateSettings(state_dir=state_dir, url=env.get(STATE_URL_ENV) or url or None)


def open_store(settings: StateSettings) -> StateStore:
    """The store the settings name; PostgreSQL's driver is imported only when asked for."""
    if settings.url is None:
        from shims.state.store.sqlite import SqliteStore

        return SqliteStore(settings.state_dir)
    if not settings.url.startswith(("postgresql://", "postgres://")):
        raise StateError(f"[state] url must be a postgresql:// URL, not {settings.url.split(':', 1)[0][:20]}://…")
    from urllib.parse import urlsplit  # (every run imports this module: only a URL pays for it)

    try:
        urlsplit(settings.url).port  # noqa: B018 - parses the host and port, which may be malformed
    except ValueError as exc:  # the URL itself is not shown: it may hold a password
        raise StateError(f"[state] url is not a valid postgresql:// URL ({exc})") from None
    from shims.state.store.postgres import PostgresStore

    return PostgresStore(settings.url, settings.state_dir)


def url_password(url: str | None) -> str | None:
    """The password a URL holds, decoded (in its user part, or a `password=` parameter), or
    None; for a URL too malformed to parse, what sits between `user:` and `@`."""
    import re
    from urllib.parse import parse_qsl, unquote, urlsplit

    if not url:
        return None
    try:
        parts = urlsplit(url)
        found = parts.password
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            if key == "password":
                found = value
    except ValueError:
        m = re.search(r"//[^/@:]*:([^/@]*)@", url)
        found = m.group(1) if m else None
    return unquote(found) if found else None


def public_url(url: str) -> str:
    """The URL without its password (in the user part or a `password=` parameter), as the
    shims show it; a malformed one as its scheme only."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            user, _, host = netloc.rpartition("@")
            netloc = f"{user.split(':', 1)[0]}@{host}"
        query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "password"])
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        return url.split(":", 1)[0][:20] + "://(a malformed URL)"
