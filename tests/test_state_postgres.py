"""Fleet state in PostgreSQL against a real server (tests/pg_server.py): two state folders stand
for two machines sharing one database."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pg_server as pgs
import procs
import pytest

from shims.state.store.base import RunQuery, StateError, StateSettings, open_store, public_url, url_password
from shims.state.store.outbox import Outbox
from shims.state.store.postgres import PostgresStore

pytestmark = pytest.mark.realdb

RESETS_AT = "2031-05-06T07:08:09Z"


def entry(run_id: str, **fields) -> dict:
    base = {
        "run_id": run_id, "at": "2026-12-04T10:00:00Z", "provider": "claude", "account": "default",
        "model": "claude-sonnet-4-5", "session_id": "s-1", "thread_id": None, "cwd": "/work/project", "role": "worker",
        "task_name": None, "status": "completed", "failure_kind": None, "duration_ms": 1200,
        "usage": {"input_tokens": 10, "cached_input_tokens": 0, "output_tokens": 5, "reasoning_output_tokens": 0,
                  "total_tokens": 15},
        "session_total": None, "journal": None,
    }
    return {**base, **fields}


@pytest.fixture
def machines(tmp_path, postgres_url):
    """Two machines' stores (their own state folders) on one database."""
    stores = [PostgresStore(postgres_url, str(tmp_path / name)) for name in ("a", "b")]
    yield stores
    for store in stores:
        store.close()


def test_a_limit_one_machine_met_stops_the_other_with_the_same_reset_time(machines):
    a, b = machines
    now = time.time()
    assert a.remember_quota("claude", "default", {"state": "exhausted", "resets_at": RESETS_AT, "message": "limit"},
                            ended_at=now, run_id="run-a")
    seen = b.active_quota("claude", "default", now=now)
    assert seen is not None
    assert (seen["resets_at"], seen["state"], seen["run_id"]) == (RESETS_AT, "exhausted", "run-a")
    assert b.active_quota("claude", "key-other", now=now) is None  # another account is not limited
    assert b.active_quota("claude", "default", now=seen["retry_after_s"] + now + 1) is None  # over at the reset
    b.clear_quota("claude", "default")  # b's run succeeded: the limit is over for every machine
    assert a.active_quota("claude", "default", now=now) is None
    assert a.note is None and b.note is None


def test_a_limit_without_a_future_end_is_not_shared(machines):
    a, b = machines
    now = time.time()
    assert not a.remember_quota("claude", "default", {"state": "exhausted"}, ended_at=now, run_id="r")
    assert not a.remember_quota("claude", "default", {"resets_at": "2020-01-01T00:00:00Z"}, ended_at=now, run_id="r")
    assert a.remember_quota("gemini", "default", {"state": "rate_limited", "retry_after_s": 60}, ended_at=now, run_id="r")
    assert b.active_quota("claude", "default", now=now) is None
    assert b.active_quota("gemini", "default", now=now)["retry_after_s"] == 60


def test_both_machines_runs_are_in_one_ledger(machines):
    a, b = machines
    a.record_run(entry("r1", at="2026-12-01T09:00:00Z", session_total={"input_tokens": 10, "total_tokens": 15}))
    b.record_run(entry("r2", at="2026-12-02T09:00:00Z", provider="gemini", model="gemini-2.5-pro", session_id="g-1"))
    b.record_run(entry("r3", at="2026-12-03T09:00:00Z", session_total={"input_tokens": 30, "total_tokens": 45}))
    assert [e["run_id"] for e in a.runs()] == ["r1", "r2", "r3"]
    assert [e["run_id"] for e in a.runs(RunQuery(provider="claude"))] == ["r1", "r3"]
    assert [e["run_id"] for e in b.runs(RunQuery(since="2026-12-02T00:00:00Z", until="2026-12-03T09:00:00Z"))] == ["r2"]
    assert a.last_total("claude", "s-1") == {"input_tokens": 30, "total_tokens": 45}  # b's later run
    assert a.last_session("gemini", "/work/project") == "g-1"
    assert a.last_session("claude", "/elsewhere") is None


def test_a_run_recorded_twice_is_one_row(machines):
    a, b = machines
    a.record_run(entry("same"))
    b.record_run(entry("same"))
    assert len(list(a.runs())) == 1
    assert b.note is None  # the second insert was not an error sent to the outbox


def test_entries_are_masked_and_the_url_shows_no_password(machines, pg_server):
    a, _ = machines
    key = "sk-ant-api03-" + "A" * 40
    a.record_run(entry("r1", role=f"uses {key}"))
    with pg_server.admin(a.url.rsplit("/", 1)[1]) as conn:
        raw = conn.execute("SELECT entry::text || role FROM runs").fetchone()[0]
    assert "sk-ant-api03-AAAA" not in raw
    assert pgs.PASSWORD in a.url and pgs.PASSWORD not in a.where
    assert a.where == a.url.replace(f":{pgs.PASSWORD}@", "@")
    assert public_url("postgresql://db.internal/shims?password=hunter22&sslmode=require") == \
        "postgresql://db.internal/shims?sslmode=require"


def test_open_store_picks_postgres_from_the_url(tmp_path, postgres_url):
    store = open_store(StateSettings(state_dir=str(tmp_path), url=postgres_url))
    try:
        assert isinstance(store, PostgresStore)
        store.record_run(entry("r1"))
        assert store.check() == {"store": "postgresql", "where": store.where, "ok": True, "schema_version": 1,
                                 "applied": ["schema version 1: created tables runs and quota"], "runs": 1,
                                 "quota": 0, "outbox": 0, "set_aside": 0, "delivered": 0}
    finally:
        store.close()


def test_server_stopped_mid_run_the_row_waits_in_the_outbox_and_is_delivered_once(tmp_path, own_pg_server):
    url = own_pg_server.new_database()
    state = str(tmp_path / "a")
    run = PostgresStore(url, state)
    assert run.active_quota("claude", "default") is None  # the run's start: connected
    own_pg_server.stop()  # the database goes away while the vendor works
    run.record_run(entry("r-mid"))
    assert "was unreachable" in run.note and "this run's row waits in the outbox (1 row)" in run.note
    assert pgs.PASSWORD not in run.note
    run.close()
    assert [k for k, _ in Outbox(state).pending()] == ["r-mid"]

    own_pg_server.start()
    later = PostgresStore(url, state)  # the next run on that machine
    later.record_run(entry("r-next", at="2026-12-04T11:00:00Z"))
    assert later.delivered == 1 and later.note is None
    assert Outbox(state).pending() == []
    assert [e["run_id"] for e in later.runs()] == ["r-mid", "r-next"]
    later.close()

    # Delivered but the outbox not emptied (a crash between the two): delivering again adds nothing.
    Outbox(state).add("r-mid", orjson.dumps(entry("r-mid")))
    again = PostgresStore(url, state)
    assert [e["run_id"] for e in again.runs()] == ["r-mid", "r-next"]
    assert again.delivered == 1 and Outbox(state).pending() == []
    again.close()


def test_database_down_before_the_run_reads_fall_back_and_say_so(tmp_path, own_pg_server):
    url = own_pg_server.new_database()
    state = str(tmp_path / "a")
    seed = PostgresStore(url, state)
    seed.remember_quota("claude", "default", {"resets_at": RESETS_AT}, ended_at=time.time(), run_id="r0")
    seed.close()
    own_pg_server.stop()
    store = PostgresStore(url, state)
    assert store.active_quota("claude", "default") is None  # can't be seen: the run proceeds
    assert "a limit another machine recorded cannot be seen, so this run proceeds without it" in store.note
    store.record_run(entry("r1", session_total={"input_tokens": 1}))
    store.record_run(entry("r2"))
    assert "this run's 2 rows wait in the outbox (2 rows)" in store.note
    assert [e["run_id"] for e in store.runs()] == ["r1", "r2"]  # this machine's undelivered rows
    assert store.last_total("claude", "s-1") == {"input_tokens": 1}
    assert "comes from this machine's 2 rows not yet delivered only" in store.note
    facts = store.check()
    assert facts["ok"] is False and facts["problem"].startswith("unreachable: ") and facts["outbox"] == 2
    store.close()
    own_pg_server.start()
    back = PostgresStore(url, state)
    assert [e["run_id"] for e in back.runs()] == ["r1", "r2"]
    assert back.active_quota("claude", "default")["resets_at"] == RESETS_AT
    back.close()


@pytest.mark.timeout(60)
def test_a_closed_port_and_a_silent_server_go_to_the_outbox_without_hanging(tmp_path):
    closed = pgs.free_port()
    store = PostgresStore(f"postgresql://shims:pw@127.0.0.1:{closed}/shims", str(tmp_path / "a"))
    store.record_run(entry("r1"))
    assert "refused" in store.note and "outbox (1 row)" in store.note
    # A server that takes the connection and never answers: the connect timeout ends the wait.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        hung = PostgresStore(f"postgresql://shims@127.0.0.1:{port}/shims", str(tmp_path / "b"))
        hung.record_run(entry("r2"))
    assert "timeout" in hung.note and "outbox (1 row)" in hung.note


def test_a_schema_newer_than_this_version_is_not_written_to(machines, pg_server):
    a, b = machines
    a.record_run(entry("r1"))
    with pg_server.admin(a.url.rsplit("/", 1)[1]) as conn:
        conn.execute("INSERT INTO schema_version (version) VALUES (99)")
    b.record_run(entry("r2"))
    assert "made by a newer codex-shims (schema version 99; this one knows up to 1)" in b.note
    assert [k for k, _ in b.outbox.pending()] == ["r2"]


WRITER = """
import sys
from shims.state.store.postgres import PostgresStore
url, state, i = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = PostgresStore(url, state)
store.record_run({"run_id": f"w-{i}", "at": "2026-12-04T10:00:00Z", "provider": "claude", "account": "default",
                  "usage": {"input_tokens": i, "output_tokens": 2 * i, "total_tokens": 3 * i}})
assert store.note is None, store.note
store.close()
"""


@pytest.mark.slow
def test_fifty_concurrent_writers_from_two_machines(tmp_path, postgres_url, mark):
    env = {**os.environ, procs.MARK_ENV: mark}
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, postgres_url, str(tmp_path / "ab"[i % 2]), str(i)],
                                env=env, stderr=subprocess.PIPE) for i in range(50)]
    failed = [(w.args[-1], w.stderr.read().decode()[-500:]) for w in writers if w.wait(timeout=120) != 0]
    for w in writers:
        w.stderr.close()
    assert failed == []
    store = PostgresStore(postgres_url, str(tmp_path / "reader"))
    rows = list(store.runs())
    store.close()
    assert len(rows) == 50
    assert sum(r["usage"]["input_tokens"] for r in rows) == sum(range(50))
    assert sum(r["usage"]["total_tokens"] for r in rows) == 3 * sum(range(50))


def test_missing_postgresql_fails_with_how_to_install_it(monkeypatch):
    monkeypatch.setattr(pgs.shutil, "which", lambda name: None)
    monkeypatch.setattr(pgs.glob, "glob", lambda pattern: [])
    with pytest.raises(pgs.PostgresMissing, match="make postgres"):
        pgs.bindir()


# The README's grants for a database the shims do not own (section "Fleet state in PostgreSQL").
README_GRANTS = """
GRANT CONNECT ON DATABASE {db} TO shims;
GRANT USAGE ON SCHEMA public TO shims;
GRANT SELECT, INSERT ON runs TO shims;
GRANT USAGE ON SEQUENCE runs_id_seq TO shims;
GRANT SELECT, INSERT, UPDATE, DELETE ON quota TO shims;
GRANT SELECT ON schema_version TO shims;
"""


def test_the_readme_grants_are_enough_when_the_shims_do_not_own_the_tables(tmp_path, pg_server):
    db = "t_granted"
    with pg_server.admin() as conn:
        conn.execute(f"CREATE DATABASE {db}")  # owned by the DBA
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    assert README_GRANTS.strip().format(db="shims") in readme
    owner_url = f"postgresql://postgres@/{db}?host={pg_server.root}&port={pg_server.port}"
    owner = PostgresStore(owner_url, str(tmp_path / "dba"))
    assert owner.migrate() == 1  # the tables, made by their owner (`shims state migrate`)
    owner.close()
    with pg_server.admin(db) as conn:
        conn.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
        for statement in README_GRANTS.format(db=db).strip().splitlines():
            conn.execute(statement)
    store = PostgresStore(pg_server.url(db), str(tmp_path / "a"))
    now = time.time()
    store.record_run(entry("r1"))
    assert store.remember_quota("claude", "default", {"resets_at": RESETS_AT}, ended_at=now, run_id="r1")
    assert store.remember_quota("claude", "default", {"resets_at": RESETS_AT}, ended_at=now, run_id="r2")  # update
    assert store.active_quota("claude", "default", now=now)["run_id"] == "r2"
    store.clear_quota("claude", "default")
    assert [e["run_id"] for e in store.runs()] == ["r1"] and store.last_session("claude", "/work/project") == "s-1"
    assert store.note is None and store.check()["ok"] is True
    store.close()


def test_without_the_driver_a_url_is_a_state_error_saying_how_to_install_it(tmp_path):
    probe = ("import sys; sys.modules['psycopg'] = None\n"  # as if psycopg were not installed
             "from shims.state.store.base import StateError, StateSettings, open_store\n"
             "try:\n"
             f"    open_store(StateSettings(state_dir={str(tmp_path)!r}, url='postgresql://shims@db.internal/shims'))\n"
             "except StateError as exc:\n"
             "    print(exc)\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "its driver is missing" in out.stdout and "pip install 'psycopg[binary]>=3.2'" in out.stdout


DOWN_WRITER = """
import sys
from shims.state.store.postgres import PostgresStore
url, state, i = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = PostgresStore(url, state)
store.record_run({"run_id": f"w-{i}", "at": "2026-12-04T10:00:00Z", "provider": "claude", "account": "default",
                  "usage": {"input_tokens": i, "output_tokens": 0, "total_tokens": i}})
assert "waits in the outbox" in store.note, store.note
store.close()
"""

DELIVERER = """
import sys
from shims.state.store.postgres import PostgresStore
store = PostgresStore(sys.argv[1], sys.argv[2])
assert store.check()["ok"], store.check()
store.close()
"""


@pytest.mark.slow
def test_rows_many_shims_left_in_the_outbox_are_delivered_once_by_racing_runs(tmp_path, own_pg_server, mark):
    url = own_pg_server.new_database()
    state = str(tmp_path / "a")
    own_pg_server.stop()
    env = {**os.environ, procs.MARK_ENV: mark}

    def all_of(argvs):
        started = [subprocess.Popen(a, env=env, stderr=subprocess.PIPE) for a in argvs]
        failed = [(p.args[-1], p.stderr.read().decode()[-400:]) for p in started if p.wait(timeout=120) != 0]
        for p in started:
            p.stderr.close()
        return failed

    assert all_of([[sys.executable, "-c", DOWN_WRITER, url, state, str(i)] for i in range(20)]) == []
    assert len(Outbox(state).pending()) == 20
    own_pg_server.start()
    assert all_of([[sys.executable, "-c", DELIVERER, url, state] for _ in range(8)]) == []  # all deliver at once
    store = PostgresStore(url, str(tmp_path / "reader"))
    rows = list(store.runs())
    store.close()
    assert sorted(r["run_id"] for r in rows) == sorted(f"w-{i}" for i in range(20))
    assert sum(r["usage"]["input_tokens"] for r in rows) == sum(range(20))
    assert Outbox(state).pending() == []


def test_a_nul_character_in_an_entry_is_kept_not_refused(machines):
    """PostgreSQL's jsonb and text take no NUL: a model or role holding one (vendor or request
    text) must not make the database refuse the row, nor send it to the outbox."""
    a, _ = machines
    a.record_run(entry("r-nul", role="wor\x00ker", model="m\x00"))
    assert a.note is None
    (row,) = [e for e in a.runs() if e["run_id"] == "r-nul"]
    assert row["role"] == "wor\ufffdker" and row["model"] == "m\ufffd"


def test_a_row_the_database_refuses_is_set_aside_and_the_rest_delivered(tmp_path, postgres_url):
    """One bad row in the outbox must not keep every later row (and the database) from this
    machine: it is kept apart, said once, and the others are delivered."""
    outbox = Outbox(str(tmp_path / "a"))
    good = orjson.dumps(entry("r-good"))
    outbox.add("r-bad", good.replace(b'"worker"', b'"w\\u0000"'))  # jsonb refuses \u0000
    outbox.add("r-good", good)
    store = PostgresStore(postgres_url, str(tmp_path / "a"))
    try:
        ids = [e["run_id"] for e in store.runs()]
        assert ids == ["r-good"], ids
        assert "refused" in (store.note or "") and "r-bad" in store.note
        facts = store.check()
        assert facts["outbox"] == 0 and facts["set_aside"] == 1 and facts["ok"] is False
        store.record_run(entry("r-next"))
        assert "r-next" in [e["run_id"] for e in store.runs()]
    finally:
        store.close()
    assert [k for k, _ in outbox.pending()] == [] and [k for k, _, _ in outbox.set_aside()] == ["r-bad"]


def test_a_limit_met_while_the_database_is_down_is_shared_once_it_is_back(tmp_path, own_pg_server):
    """The limit waits in the outbox like a row: this machine honours it meanwhile, and the
    first run that reaches the database shares it with every other machine."""
    url = own_pg_server.new_database()
    a_dir, b_dir = str(tmp_path / "a"), str(tmp_path / "b")
    own_pg_server.stop()
    met = PostgresStore(url, a_dir)
    assert met.remember_quota("claude", "default", {"resets_at": RESETS_AT}, ended_at=time.time(), run_id="r-q")
    assert "the limit this run met waits in the outbox" in met.note
    met.close()
    still_down = PostgresStore(url, a_dir)  # the same machine's next launch, the database still down
    assert still_down.active_quota("claude", "default")["resets_at"] == RESETS_AT
    still_down.close()

    own_pg_server.start()
    back = PostgresStore(url, a_dir)
    back.record_run(entry("r-any"))  # any run of machine a that reaches the database
    back.close()
    other = PostgresStore(url, b_dir)
    assert other.active_quota("claude", "default")["resets_at"] == RESETS_AT
    # A success on a while the database is down clears the limit everywhere once delivered.
    own_pg_server.stop()
    ok = PostgresStore(url, a_dir)
    ok.clear_quota("claude", "default")
    ok.close()
    own_pg_server.start()
    deliver = PostgresStore(url, a_dir)
    deliver.runs()
    deliver.close()
    assert PostgresStore(url, b_dir).active_quota("claude", "default") is None


# ---- the review's attacks (each failed before its fix)


def test_every_attempt_of_a_fallback_chain_is_a_row(tmp_path, own_pg_server):
    """The attempts of one run share its id: each is a row of its own, in the database and in
    the outbox, and delivering twice still inserts each once."""
    url = own_pg_server.new_database()
    store = PostgresStore(url, str(tmp_path / "a"))
    store.record_run(entry("r-chain", attempt=0, provider="claude"))
    store.record_run(entry("r-chain", attempt=1, provider="gemini"))
    own_pg_server.stop()
    store.close()
    down = PostgresStore(url, str(tmp_path / "a"))
    down.record_run(entry("r-chain2", attempt=0, provider="claude"))
    down.record_run(entry("r-chain2", attempt=1, provider="gemini"))
    down.close()
    own_pg_server.start()
    back = PostgresStore(url, str(tmp_path / "a"))
    rows = [(e["run_id"], e["provider"]) for e in back.runs()]
    assert rows == [("r-chain", "claude"), ("r-chain", "gemini"), ("r-chain2", "claude"), ("r-chain2", "gemini")]
    back.close()


def test_an_outbox_row_that_is_not_an_entry_is_put_aside_not_a_crash(tmp_path, postgres_url):
    outbox = Outbox(str(tmp_path / "a"))
    outbox.add("r-garbage", b"garbage")
    outbox.add("r-list", b"[1, 2]")
    outbox.add("r-good", orjson.dumps(entry("r-good")))
    store = PostgresStore(postgres_url, str(tmp_path / "a"))
    try:
        assert [e["run_id"] for e in store.runs()] == ["r-good"]
        assert sorted(k for k, _, _ in outbox.set_aside()) == ["r-garbage", "r-list"]
        assert "r-garbage" in store.note
    finally:
        store.close()


@pytest.mark.parametrize("url", ["postgresql://shims:hunter2-secret-pw@[127.0.0.1:5432/db",
                                 "postgresql://shims:hunter2-secret-pw@127.0.0.1:99999/db"])
def test_a_malformed_url_is_a_state_error_that_does_not_show_the_password(tmp_path, url):
    with pytest.raises(StateError) as err:
        open_store(StateSettings(str(tmp_path), url))
    assert "hunter2" not in str(err.value) and "not a valid" in str(err.value)


def test_a_password_in_the_query_is_dropped_from_the_url_shown(tmp_path):
    assert public_url("postgresql://shims@h/db?password=hunter2-secret&sslmode=require") == \
        "postgresql://shims@h/db?sslmode=require"
    assert url_password("postgresql://shims@h/db?password=hunter2-secret") == "hunter2-secret"
    assert url_password("postgresql://shims:p%40ss@h/db") == "p@ss"


@pytest.mark.timeout(60)
def test_a_frozen_database_holds_a_write_for_seconds_not_forever(tmp_path, own_pg_server):
    """A server that stopped answering (SIGSTOP: the kernel still acknowledges, so no TCP
    timeout fires, and the server's own statement_timeout cannot run)."""
    import signal

    url = own_pg_server.new_database()
    store = PostgresStore(url, str(tmp_path / "a"))
    assert store.active_quota("claude", "default") is None  # connected
    pids = own_pg_server.pids()
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        store.record_run(entry("r-frozen"))
        took = time.monotonic() - started
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    store.close()
    assert took < 15, took
    assert [k for k, _ in Outbox(str(tmp_path / "a")).pending()] == ["r-frozen"]


def test_a_success_after_a_queued_limit_is_not_undone_by_its_late_delivery(tmp_path, own_pg_server):
    """Machine a meets a limit while the database is down (t1); the database comes back and
    machine b succeeds (t2 > t1); a's later delivery of the older limit must not bring it back."""
    url = own_pg_server.new_database()
    a_dir, b_dir = str(tmp_path / "a"), str(tmp_path / "b")
    own_pg_server.stop()
    a = PostgresStore(url, a_dir)
    a.remember_quota("claude", "default", {"resets_at": RESETS_AT}, ended_at=time.time() - 5, run_id="r-q")
    a.close()
    own_pg_server.start()
    b = PostgresStore(url, b_dir)
    b.clear_quota("claude", "default")
    b.close()
    a_again = PostgresStore(url, a_dir)
    a_again.runs()  # connects: delivers the queued limit
    a_again.close()
    check = PostgresStore(url, b_dir)
    assert check.active_quota("claude", "default") is None
    assert check.check()["quota"] == 0  # a clear is kept to date the next word, not counted as a limit
    check.close()


def test_a_planted_link_at_the_outbox_is_refused_not_written_through(tmp_path):
    target = tmp_path / "elsewhere.db"
    target.write_bytes(b"")
    state = tmp_path / "a"
    state.mkdir(mode=0o700)
    (state / "outbox.sqlite3").symlink_to(target)
    store = PostgresStore(f"postgresql://shims@127.0.0.1:{pgs.free_port()}/db", str(state))
    with pytest.raises(StateError):
        store.record_run(entry("r-link"))
    assert target.read_bytes() == b""


def test_resume_last_picks_this_machines_session_not_anothers(machines):
    """Every machine has its own vendor sessions: `--resume last` in the same folder on b must
    not pick the session a ran (b's vendor has no such session)."""
    a, b = machines
    a.record_run(entry("r-a", session_id="sess-on-a", host="machine-a", at="2026-12-04T10:00:00Z"))
    b.record_run(entry("r-b", session_id="sess-on-b", host=os.uname().nodename, at="2026-12-04T09:00:00Z"))
    assert b.last_session("claude", "/work/project") == "sess-on-b"
