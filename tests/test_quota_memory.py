"""Quota memory in the state store, on real SQLite files: what is remembered, for how long, and
for whom."""

from __future__ import annotations

import hashlib
import threading

import pytest
from state_rows import quota_rows

from shims.state.quota import account_key, format_time, parse_time
from shims.state.store.sqlite import SqliteStore

NOW = 1_795_532_000.0  # 2026-11-24T14:53:20Z


class Memory:
    """The old QuotaMemory's calls, on the store: the tests read as they did."""

    def __init__(self, store):
        self.store = store

    def remember(self, provider, account, quota, **kw):
        return self.store.remember_quota(provider, account, quota, **kw)

    def clear(self, provider, account):
        self.store.clear_quota(provider, account)

    def active(self, provider, account, now=None):
        return self.store.active_quota(provider, account, now)


@pytest.fixture
def memory(tmp_path):
    store = SqliteStore(tmp_path)
    yield Memory(store)
    store.close()


def test_a_reset_time_is_remembered_until_it_passes(memory):
    resets = format_time(NOW + 600)
    assert memory.remember("claude", "default", {"state": "exhausted", "resets_at": resets, "window": "5h",
                                                 "message": "5-hour limit"}, ended_at=NOW, run_id="r1")
    active = memory.active("claude", "default", now=NOW + 1)
    assert active == {"state": "exhausted", "resets_at": resets, "retry_after_s": 599, "window": "5h",
                      "message": "5-hour limit", "run_id": "r1"}
    assert memory.active("claude", "other-account", now=NOW + 1) is None
    assert memory.active("gemini", "default", now=NOW + 1) is None
    assert memory.active("claude", "default", now=NOW + 600) is None


def test_a_short_retry_after_is_remembered_shortly(memory):
    assert memory.remember("gemini", "k", {"state": "rate_limited", "retry_after_s": 30}, ended_at=NOW, run_id=None)
    active = memory.active("gemini", "k", now=NOW + 10)
    assert active["state"] == "rate_limited" and active["retry_after_s"] == 20
    assert active["resets_at"] == format_time(NOW + 30)
    assert memory.active("gemini", "k", now=NOW + 31) is None


def test_nothing_to_remember_without_a_time_or_with_one_in_the_past(memory, tmp_path):
    assert not memory.remember("agy", "a", {"state": "exhausted", "resets_at": None}, ended_at=NOW, run_id=None)
    assert not memory.remember("agy", "a", {"state": "exhausted", "resets_at": format_time(NOW - 5)}, ended_at=NOW,
                               run_id=None)
    assert quota_rows(tmp_path) == {}


def test_clear_forgets_one_account_only(memory):
    for account in ("a", "b"):
        memory.remember("claude", account, {"retry_after_s": 100}, ended_at=NOW, run_id=None)
    memory.clear("claude", "a")
    assert memory.active("claude", "a", now=NOW) is None
    assert memory.active("claude", "b", now=NOW) is not None


def test_concurrent_writers_lose_nothing(memory, tmp_path):
    def record(i):  # each writer with its own connection, as each shim has
        store = SqliteStore(tmp_path)
        try:
            store.remember_quota("claude", f"acct-{i}", {"retry_after_s": 100}, ended_at=NOW, run_id=str(i))
        finally:
            store.close()

    threads = [threading.Thread(target=record, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(memory.active("claude", f"acct-{i}", now=NOW) for i in range(16))


def test_a_broken_old_file_is_an_empty_memory(tmp_path):
    (tmp_path / "quota.json").write_text("{not json")
    memory = Memory(SqliteStore(tmp_path))
    assert memory.active("claude", "default") is None
    assert (tmp_path / "quota.json.imported").read_text() == "{not json", "imported as nothing, and kept"
    memory.remember("claude", "default", {"retry_after_s": 5}, ended_at=NOW, run_id=None)
    assert memory.active("claude", "default", now=NOW) is not None
    memory.store.close()


def test_accounts_are_fingerprints_never_values():
    key = account_key({"ANTHROPIC_API_KEY": "sk-ant-secret-value"}, ["ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"])
    assert key.startswith("key-") and "secret" not in key
    assert key != account_key({"ANTHROPIC_API_KEY": "sk-ant-other-value"}, ["ANTHROPIC_API_KEY"])
    assert account_key({}, ["ANTHROPIC_API_KEY"]) == "default"
    # the fingerprint of quota.json files written by earlier versions: SHA-256 of `NAME=value`
    assert account_key({"ANTHROPIC_API_KEY": "abc"}, ["ANTHROPIC_API_KEY"]) == \
        "key-" + hashlib.sha256(b"ANTHROPIC_API_KEY=abc").hexdigest()[:12]


def test_rfc3339_times():
    assert parse_time("2026-11-24T15:07:11Z") == 1795532831
    assert parse_time("2026-11-24T15:07:11.5+00:00") == 1795532831.5
    assert parse_time("2026-11-24 15:07") is None and parse_time(None) is None
    # what time.strptime took before: a leap second, one-digit fields, a lowercase t
    assert parse_time("2026-12-31T23:59:60Z") == parse_time("2027-01-01T00:00:00Z")
    assert parse_time("2026-1-4t1:2:3Z") == parse_time("2026-01-04T01:02:03Z")
    for bad in ("2026-13-24T15:07:11Z", "2026-11-24T15:07:11", "2026-11-24T15:07:11+01:00", "2026-1-024T15:07:11Z",
                "2026-11-24T15:07:1xZ", "2026-11-24T25:07:11Z", ""):
        assert parse_time(bad) is None, bad
    assert format_time(1795532831.2) == "2026-11-24T15:07:12Z"  # rounded up: never earlier than the vendor said
