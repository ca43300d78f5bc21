"""Shared fixtures: where the shims and the fake vendor are, and the no-leftover-process check."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import procs
import pytest

ROOT = Path(__file__).resolve().parent.parent
FAKE_VENDOR = str(ROOT / "tests" / "fakes" / "fake_vendor.py")
BIN = Path(sys.executable).parent


def shim_path(vendor: str = "fake") -> str:
    return str(BIN / f"shim-{vendor}")


@pytest.fixture
def mark():
    """A marker every process of the test inherits; after the test none may be alive."""
    m = procs.new_mark()
    yield m
    left = procs.wait_no_processes(m, timeout_s=5.0)
    if left:
        procs.kill_marked(m)
        pytest.fail(f"processes left behind: {left}")


@pytest.fixture(autouse=True)
def private_state(tmp_path_factory, monkeypatch):
    """Every test gets its own journal, usage ledger, quota memory and config folder: nothing
    a test records leaks into another test or into the user's own state."""
    base = tmp_path_factory.mktemp("xdg")
    dirs = {"XDG_STATE_HOME": str(base / "state"), "XDG_CONFIG_HOME": str(base / "config")}
    for name, value in dirs.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("CODEX_SHIMS_CONFIG", raising=False)
    # Shims started without --cwd work in the test's own folder, not in this repository: a run
    # in a git folder snapshots it (diff collection), which must not touch the project's .git.
    monkeypatch.chdir(base)
    return dirs


@pytest.fixture
def fake_env(mark, private_state):
    """Environment for a shim run against the fake vendor (pass as `env=`)."""
    return {procs.MARK_ENV: mark, "PYTHONUNBUFFERED": "1", **private_state}


@pytest.fixture
def full_env(fake_env):
    return {**os.environ, **fake_env}


# ---- PostgreSQL (tests/pg_server.py): one server for the session, a fresh database per test


def _postgres():
    """A throwaway PostgreSQL server, removed after. Missing PostgreSQL fails the tests that
    need it (with how to install it), never skips them."""
    import pg_server as pgs

    try:
        server = pgs.started()
    except pgs.PostgresMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    yield server
    server.destroy()


pg_server = pytest.fixture(scope="session", name="pg_server")(_postgres)  # the session's server


@pytest.fixture
def postgres_url(pg_server):
    """A fresh database on the session's server, owned by the shims' role: its URL."""
    return pg_server.new_database()


own_pg_server = pytest.fixture(name="own_pg_server")(_postgres)  # a test's own: it may stop and start it
