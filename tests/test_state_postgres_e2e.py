"""Fleet state in PostgreSQL through the real shim program: two state folders (two machines)
pointed at one database with CODEX_SHIMS_STATE_URL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pg_server as pgs
import pytest
from conftest import FAKE_VENDOR, shim_path
from streamcheck import check_stream, parse_stream

from shims.state.store.base import STATE_URL_ENV

pytestmark = pytest.mark.realdb


def run_fake(env, *args, timeout=60):
    proc = subprocess.run([shim_path("fake"), "--vendor-bin", FAKE_VENDOR, "--emit", "ndjson", *args],
                          capture_output=True, env={**os.environ, **env}, timeout=timeout)
    events = parse_stream(proc.stdout)
    return proc, events, check_stream(events, proc.returncode)


def machine(fake_env, tmp_path, name, url):
    """A machine's environment: its own state folder, the shared database."""
    return {**fake_env, "XDG_STATE_HOME": str(tmp_path / name / "state"), STATE_URL_ENV: url}


def quota_script(tmp_path):
    resets = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 600))
    path = tmp_path / "quota.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in [
        {"type": "init", "session_id": "s-q", "model": "m", "version": "1"},
        {"type": "result", "ok": False, "error_kind": "quota_or_rate_limited", "message": "Out of quota.",
         "resets_at": resets, "window": "5h"},
    ]))
    return {"FAKE_VENDOR_SCRIPT": str(path)}, resets


def db_runs(server, url):
    with server.admin(url.rsplit("/", 1)[1]) as conn:
        return [r[0] for r in conn.execute("SELECT entry FROM runs ORDER BY at, id")]


def test_a_limit_met_on_one_machine_stops_the_other_without_starting_the_vendor(fake_env, tmp_path, pg_server,
                                                                                  postgres_url):
    a, b = (machine(fake_env, tmp_path, n, postgres_url) for n in ("a", "b"))
    quota_env, resets = quota_script(tmp_path)
    pids = tmp_path / "pids"
    proc, _, first = run_fake({**a, **quota_env, "FAKE_VENDOR_PIDFILE": str(pids)}, "go")
    assert proc.returncode == 5 and first["quota"]["resets_at"] == resets
    launches = pids.read_text().count("\n")

    proc, events, second = run_fake({**b, "FAKE_VENDOR_PIDFILE": str(pids)}, "go on b")
    assert proc.returncode == 5 and second["failure_kind"] == "quota_or_rate_limited"
    assert second["quota"]["resets_at"] == resets and second["quota"]["state"] == "exhausted"
    assert first["journal"].split("/")[-1] in second["error"]  # remembered from a's run
    assert "turn.started" not in [e["type"] for e in events]
    assert pids.read_text().count("\n") == launches, "b started the vendor"
    pre = subprocess.run([shim_path("fake"), "--vendor-bin", FAKE_VENDOR, "--preflight"], capture_output=True,
                         env={**os.environ, **b}, timeout=30)
    assert pre.returncode == 5 and json.loads(pre.stdout)["quota"]["resets_at"] == resets

    # One ledger for both machines; neither kept a local store.
    assert first["journal"].split("/")[-1] in [e["run_id"] for e in db_runs(pg_server, postgres_url)]
    for env in (a, b):
        assert not (Path(env["XDG_STATE_HOME"]) / "codex-shims" / "state.sqlite3").exists()


def test_the_database_down_during_a_run_the_row_waits_and_the_next_run_delivers_it(fake_env, tmp_path, own_pg_server):
    url = own_pg_server.new_database()
    a = machine(fake_env, tmp_path, "a", url)
    own_pg_server.stop()
    proc, _, down = run_fake(a, "go")
    assert proc.returncode == 0 and down["status"] == "completed"  # the run does not pay for the database
    said = down["vendor"]["state_error"]
    assert "was unreachable" in said and "this run's row waits in the outbox (1 row)" in said
    assert pgs.PASSWORD not in said and pgs.PASSWORD not in proc.stderr.decode()
    assert "was unreachable" in proc.stderr.decode()  # said where a person or a host reads it, too

    own_pg_server.start()
    facts = json.loads(shims(a, "state", "check", "--json").stdout)  # an operator's look delivers it
    assert (facts["ok"], facts["delivered"], facts["outbox"], facts["runs"]) == (True, 1, 0, 1)
    proc, _, back = run_fake(a, "go again")
    assert proc.returncode == 0 and back["vendor"].get("state_error") is None
    ids = [e["run_id"] for e in db_runs(own_pg_server, url)]
    assert ids == [down["journal"].split("/")[-1], back["journal"].split("/")[-1]]


def shims(env, *args):
    return subprocess.run([str(Path(shim_path("fake")).parent / "shims"), *args], capture_output=True,
                          env={**os.environ, **env}, timeout=60)


def test_shims_usage_and_state_check_see_the_whole_fleet(fake_env, tmp_path, postgres_url):
    a, b = (machine(fake_env, tmp_path, n, postgres_url) for n in ("a", "b"))
    for env in (a, b, b):
        assert run_fake(env, "go")[0].returncode == 0
    rows = json.loads(shims(a, "usage", "--json").stdout)
    assert sum(r["runs"] for r in rows) == 3  # a's one and b's two, from a
    check = shims(b, "state", "check", "--json")
    facts = json.loads(check.stdout)
    assert check.returncode == 0 and facts["ok"] is True and facts["runs"] == 3 and facts["outbox"] == 0
    assert pgs.PASSWORD not in check.stdout.decode() and facts["where"].endswith(postgres_url.rsplit("/", 1)[1])

    dead = {**a, STATE_URL_ENV: f"postgresql://shims:{pgs.PASSWORD}@127.0.0.1:{pgs.free_port()}/shims"}
    check = shims(dead, "state", "check")
    assert check.returncode == 1
    assert "ok: no" in check.stdout.decode() and "problem: unreachable: " in check.stdout.decode()
    assert pgs.PASSWORD not in check.stdout.decode() + check.stderr.decode()


def test_a_run_without_a_url_never_imports_the_driver(fake_env, tmp_path):
    """Start-up stays cheap: psycopg (100 ms and more to import) only when a URL is set."""
    argv = [sys.executable, "-X", "importtime", shim_path("fake"), "--vendor-bin", FAKE_VENDOR, "--emit", "ndjson", "hi"]
    plain = subprocess.run(argv, capture_output=True, env={**os.environ, **fake_env}, timeout=60)
    assert plain.returncode == 0 and b" shims.state.store.sqlite\n" in plain.stderr
    assert b"psycopg" not in plain.stderr
    dead = {**fake_env, STATE_URL_ENV: f"postgresql://shims@127.0.0.1:{pgs.free_port()}/shims"}
    with_url = subprocess.run(argv, capture_output=True, env={**os.environ, **dead}, timeout=60)
    assert with_url.returncode == 0 and b" psycopg\n" in with_url.stderr


def test_the_databases_password_reaches_neither_the_vendor_nor_what_is_printed(fake_env, tmp_path, postgres_url):
    """The URL is the shims' own: the vendor (and what it runs) does not inherit it, and its
    password is masked like any secret wherever a vendor's text would carry it."""
    a = machine(fake_env, tmp_path, "a", postgres_url)
    script = tmp_path / "echo.jsonl"
    script.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in [
        {"type": "init", "session_id": "s-pw", "model": "m", "version": "1"},
        {"type": "text", "text": f"I found {postgres_url} and {pgs.PASSWORD} in my environment"},
        {"type": "result", "ok": True},
    ]))
    proc, _, result = run_fake({**a, "FAKE_VENDOR_SCRIPT": str(script)}, "go")
    assert proc.returncode == 0, proc.stderr
    assert pgs.PASSWORD.encode() not in proc.stdout and pgs.PASSWORD.encode() not in proc.stderr
    journal = Path(result["journal"])
    assert STATE_URL_ENV not in json.loads((journal / "meta.json").read_text())["env_names"]
    for name in ("events.ndjson", "result.json", "meta.json"):
        assert pgs.PASSWORD.encode() not in (journal / name).read_bytes(), name


def test_migrate_against_a_database_it_cannot_reach_fails(fake_env, tmp_path):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = machine(fake_env, tmp_path, "a", f"postgresql://shims:secret-pw-0123456789@127.0.0.1:{port}/shims")
    out = shims(env, "state", "migrate")
    assert out.returncode == 1, out
    assert b"unreachable" in out.stderr and b"secret-pw" not in out.stdout + out.stderr


def test_usage_with_the_database_down_says_what_it_shows(fake_env, tmp_path, own_pg_server):
    url = own_pg_server.new_database()
    a = machine(fake_env, tmp_path, "a", url)
    assert run_fake(a, "first")[0].returncode == 0
    own_pg_server.stop()
    assert run_fake(a, "while down")[0].returncode == 0  # its row waits in the outbox
    out = shims(a, "usage", "--by", "provider")
    assert out.returncode == 1, out  # not the fleet's usage: a script must not take it for that
    assert b"unreachable" in out.stderr and b"not yet delivered" in out.stderr
    assert b"fake" in out.stdout  # what it could show: this machine's row that waits
