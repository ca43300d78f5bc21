"""Issue 18, the embedded state store (state.sqlite3): real SQLite files under real shims —
concurrent writers, a short write, the one-time import of the old files, migrations, and the
operators' `shims state migrate|check`."""

from __future__ import annotations

import json
import os
import resource
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from conftest import FAKE_VENDOR, shim_path
from snapshot import SNAPSHOTS
from state_rows import ledger_rows, quota_rows, state_of

from shims.state.store.base import RunQuery, StateError, open_store, state_settings
from shims.state.store.schema import SCHEMA_VERSION
from shims.state.store.sqlite import SqliteStore

SHIMS = str(Path(sys.executable).parent / "shims")
OLD_LEDGER = SNAPSHOTS / "usage_ledger.ndjson"


def _script(tmp_path, i: int) -> str:
    """Run i's vendor output: its own usage, so the sums say whether every run landed once."""
    records = [{"type": "init", "session_id": f"s-{i}"}, {"type": "text", "text": f"answer {i}"},
               {"type": "usage", "input_tokens": 100 + i, "output_tokens": 10 + i, "cost_usd": (i + 1) / 10000},
               {"type": "result", "ok": True, "text": f"answer {i}"}]
    path = tmp_path / f"script-{i}.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return str(path)


def _shim(env, *args, limit: int | None = None, **kw):
    def preexec():
        if limit is not None:  # writes past `limit` bytes fail with EFBIG instead of killing the shim
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.Popen([shim_path("fake"), "--vendor-bin", FAKE_VENDOR, "--emit", "ndjson", *args, "hi"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **env},
                            preexec_fn=preexec, **kw)


def _result(proc) -> dict:
    out, err = proc.communicate(timeout=120)
    assert out, err
    return json.loads(out.splitlines()[-1])


def _state_cmd(env, *args):
    return subprocess.run([SHIMS, "state", *args], capture_output=True, env={**os.environ, **env}, timeout=60)


# ------------------------------------------------------------------------ concurrency


@pytest.mark.slow
def test_fifty_concurrent_shims_each_land_one_row_and_the_sums_are_exact(fake_env, tmp_path):
    n = 50
    started = time.monotonic()
    procs = [_shim({**fake_env, "FAKE_VENDOR_SCRIPT": _script(tmp_path, i)}, "--no-journal") for i in range(n)]
    results = [_result(p) for p in procs]
    elapsed = time.monotonic() - started
    assert [r["status"] for r in results] == ["completed"] * n
    assert [r for r in results if "state_error" in r["vendor"]] == []
    rows = ledger_rows(state_of(fake_env))
    assert sorted(r["session_id"] for r in rows) == sorted(f"s-{i}" for i in range(n))
    usage = json.loads(subprocess.run([SHIMS, "usage", "--by", "provider", "--json"], capture_output=True,
                                      env={**os.environ, **fake_env}, timeout=60).stdout)
    (row,) = usage
    assert row["runs"] == n
    assert row["input_tokens"] == sum(100 + i for i in range(n))
    assert row["output_tokens"] == sum(10 + i for i in range(n))
    assert round(row["cost_usd"], 9) == round(sum(i + 1 for i in range(n)) / 10000, 9)
    print(f"\n{n} concurrent shims: {len(rows)} rows in {elapsed:.1f} s")  # the README's figure (pytest -s)


# ------------------------------------------------------------------------ a short write


@pytest.mark.parametrize("reader", [True, False], ids=["with-a-reader", "alone"])
def test_a_failed_write_never_fails_the_run_nor_damages_earlier_rows(fake_env, tmp_path, reader):
    """A file-size limit (as a full disk): with another connection open (a reader, a shim) the
    store opens and the insert's write to the WAL fails; alone, growing the -shm already does.
    Either way the run completes, its result says why, and the next healthy run lands."""
    first = _result(_shim({**fake_env, "FAKE_VENDOR_SCRIPT": _script(tmp_path, 1)}))
    assert first["status"] == "completed"
    db = state_of(fake_env) / "state.sqlite3"
    before = ledger_rows(state_of(fake_env))
    held = sqlite3.connect(db) if reader else None
    if held:
        held.execute("SELECT count(*) FROM runs").fetchone()
    try:
        faulty = _result(_shim({**fake_env, "FAKE_VENDOR_SCRIPT": _script(tmp_path, 2)}, "--no-journal", limit=8000))
    finally:
        if held:
            held.close()
    assert faulty["status"] == "completed" and faulty["final_message"] == "answer 2"
    error = faulty["vendor"]["state_error"]
    assert str(db) in error and "disk I/O error" in error
    if reader:
        assert "this run's usage was not recorded" in error and "SQLITE_IOERR_WRITE" in error
    assert ledger_rows(state_of(fake_env)) == before
    after = _result(_shim({**fake_env, "FAKE_VENDOR_SCRIPT": _script(tmp_path, 3)}))
    assert "state_error" not in after["vendor"]
    assert [r["session_id"] for r in ledger_rows(state_of(fake_env))] == ["s-1", "s-3"]
    check = json.loads(_state_cmd(fake_env, "check", "--json").stdout)
    assert check["ok"] and check["integrity"] == "ok" and check["runs"] == 2


def test_a_lock_held_past_the_busy_timeout_is_a_state_error_and_loses_nothing(tmp_path):
    store = SqliteStore(tmp_path, busy_timeout_s=0.1)
    store.record_run({"at": "2026-12-01T00:00:00Z", "provider": "claude", "usage": {"input_tokens": 1}})
    other = sqlite3.connect(tmp_path / "state.sqlite3", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StateError, match="locked.*busy timeout"):
            store.record_run({"at": "2026-12-01T00:00:01Z", "provider": "claude", "usage": {"input_tokens": 2}})
    finally:
        other.execute("ROLLBACK")
        other.close()
    store.record_run({"at": "2026-12-01T00:00:02Z", "provider": "claude", "usage": {"input_tokens": 3}})
    assert [e["usage"]["input_tokens"] for e in store.runs()] == [1, 3]
    store.close()


# ------------------------------------------------------------------------ import, migrations


def _old_state(folder: Path) -> None:
    folder.mkdir(parents=True, mode=0o700)
    (folder / "ledger.ndjson").write_bytes(OLD_LEDGER.read_bytes() + b'{"cut by a cra')
    quota = {"fake": {"default": {"state": "exhausted", "until": time.time() + 3600, "resets_at": "x",
                                  "window": "5h", "message": "limit", "recorded_at": 1.0, "run_id": "r9"}},
             "gemini": "oops"}
    (folder / "quota.json").write_bytes(orjson.dumps(quota))


def test_the_old_ledger_and_quota_memory_are_imported_once_and_kept(fake_env):
    folder = state_of(fake_env)
    _old_state(folder)
    old = [orjson.loads(line) for line in OLD_LEDGER.read_bytes().splitlines()]
    out = _state_cmd(fake_env, "migrate")
    assert out.returncode == 0, out.stderr
    assert f"imported {len(old)} runs from ledger.ndjson (kept as ledger.ndjson.imported)" in out.stdout.decode()
    assert "imported 1 quota limits from quota.json" in out.stdout.decode()
    assert ledger_rows(folder) == old
    assert quota_rows(folder)[("fake", "default")]["run_id"] == "r9"
    assert not (folder / "ledger.ndjson").exists() and not (folder / "quota.json").exists()
    assert (folder / "ledger.ndjson.imported").read_bytes().startswith(OLD_LEDGER.read_bytes())
    again = _state_cmd(fake_env, "migrate")
    assert again.stdout.decode().endswith(f"nothing to do: schema version {SCHEMA_VERSION}\n")
    assert len(ledger_rows(folder)) == len(old)
    # the imported limit is in force for a run, as it was in quota.json
    proc = _shim(fake_env)
    proc.communicate(timeout=60)
    assert proc.returncode == 5


def test_an_old_version_database_is_migrated(tmp_path):
    sqlite3.connect(tmp_path / "state.sqlite3").close()  # version 0: an empty database
    store = SqliteStore(tmp_path)
    assert store.applied == ["schema version 1: created tables runs and quota"]
    assert store.check()["schema_version"] == SCHEMA_VERSION
    store.close()


def test_a_database_from_a_newer_codex_shims_is_refused_not_damaged(fake_env, tmp_path):
    folder = state_of(fake_env)
    folder.mkdir(parents=True, mode=0o700)
    db = sqlite3.connect(folder / "state.sqlite3")
    db.execute("CREATE TABLE future (x)")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    data = (folder / "state.sqlite3").read_bytes()
    with pytest.raises(StateError, match="made by a newer codex-shims"):
        SqliteStore(folder)
    result = _result(_shim(fake_env))
    assert result["status"] == "completed" and "made by a newer codex-shims" in result["vendor"]["state_error"]
    check = _state_cmd(fake_env, "check")
    assert check.returncode == 1 and b"made by a newer codex-shims" in check.stderr
    usage = subprocess.run([SHIMS, "usage"], capture_output=True, env={**os.environ, **fake_env}, timeout=60)
    assert usage.returncode == 1 and b"shims usage:" in usage.stderr and b"newer codex-shims" in usage.stderr
    assert (folder / "state.sqlite3").read_bytes() == data


# ------------------------------------------------------------------------ files, queries, settings


def test_the_store_files_are_private_while_open_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        store = SqliteStore(tmp_path / "s")
        store.record_run({"at": "2026-12-01T00:00:00Z", "provider": "fake", "usage": {}})
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "s").iterdir()}
        store.close()
    finally:
        os.umask(old)
    assert modes == {"state.sqlite3": 0o600, "state.sqlite3-wal": 0o600, "state.sqlite3-shm": 0o600}
    assert stat.S_IMODE((tmp_path / "s").stat().st_mode) == 0o700


def test_queries_resume_and_quota_through_the_interface(tmp_path):
    store = open_store(state_settings(str(tmp_path), None, env={}))
    for i, (provider, role) in enumerate([("claude", "worker"), ("gemini", "reviewer"), ("claude", "reviewer")]):
        store.record_run({"at": f"2026-12-0{i + 1}T00:00:00Z", "provider": provider, "role": role, "cwd": "/w",
                          "session_id": f"s{i}", "usage": {"input_tokens": i},
                          "session_total": {"input_tokens": 10 + i} if i != 2 else None})
    assert [e["session_id"] for e in store.runs(RunQuery(provider="claude"))] == ["s0", "s2"]
    assert [e["session_id"] for e in store.runs(RunQuery(role="reviewer", since="2026-12-02T00:00:00Z",
                                                         until="2026-12-03T00:00:00Z"))] == ["s1"]
    assert store.last_session("claude", "/w") == "s2" and store.last_session("claude", "/elsewhere") is None
    assert store.last_total("claude", "s0") == {"input_tokens": 10} and store.last_total("claude", "s2") is None
    assert store.remember_quota("gemini", "k", {"retry_after_s": 60}, ended_at=time.time(), run_id="r")
    assert store.active_quota("gemini", "k")["run_id"] == "r" and store.active_quota("gemini", "other") is None
    store.close()


def test_the_environment_variable_names_the_store_over_the_config_file(tmp_path):
    settings = state_settings("/s", "postgresql://db/a", env={"CODEX_SHIMS_STATE_URL": "postgresql://db/b"})
    assert settings.url == "postgresql://db/b"
    assert state_settings("/s", None, env={}).url is None
    with pytest.raises(StateError, match="postgresql://"):
        open_store(state_settings("/s", "mysql://db", env={}))


@pytest.mark.parametrize(("table", "problem"), [('[state]\nurl = ""\n', "postgresql://"),
                                                ('[state]\nurll = "postgresql://x"\n', "unknown key 'urll'"),
                                                ('[stat]\nurl = "x"\n', "did you mean [state]")])
def test_a_bad_state_table_is_a_clear_config_error(tmp_path, table, problem):
    from shims.run.config import ConfigError, load_state_settings

    path = tmp_path / "config.toml"
    path.write_text(table)
    with pytest.raises(ConfigError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        load_state_settings(path)
