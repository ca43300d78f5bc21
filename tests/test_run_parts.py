"""The parts of a run (shims.run), each alone: the fallback chain, the spend cap, request
resolution, the workspace, the bookkeeping's refusals and program lookup."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import pytest
from test_workspace import git, make_repo, write

from normalize.failures import FailureKind
from normalize.request import RunSpec
from shims.run import chain, spend
from shims.run.bookkeeping import Bookkeeping
from shims.run.changes import Workspace, open_workspace
from shims.run.options import ShimOptions
from shims.run.outcome import Refusal
from shims.run.programs import resolve_program
from shims.run.resolve import choose_emit, resolve_spec

# --- the chain ---------------------------------------------------------------------------------


def test_the_chain_is_the_provider_then_each_fallback_once():
    assert chain.providers("claude", " gemini, ,claude,agy,gemini") == ["claude", "gemini", "agy"]
    assert chain.providers("gemini", None) == ["gemini"]


def test_an_unknown_fallback_provider_is_refused_naming_it():
    with pytest.raises(Refusal) as caught:
        chain.providers("claude", "gemini,codex")
    assert caught.value.kind == FailureKind.BAD_REQUEST and "'codex'" in caught.value.message


@pytest.mark.parametrize("kind", [FailureKind.QUOTA_OR_RATE_LIMITED, FailureKind.COMMAND_MISSING,
                                  FailureKind.AUTHENTICATION_REQUIRED, FailureKind.PROVIDER_UNAVAILABLE])
def test_a_failure_another_provider_could_avoid_falls_back(kind):
    assert chain.may_fall_back(kind, last=False)


@pytest.mark.parametrize("why", [{"last": True}, {"last": False, "cancelled": "SIGTERM"},
                                 {"last": False, "side_effects": True}, {"last": False, "spend_capped": True}])
def test_no_fallback_from_the_last_provider_a_cancel_side_effects_or_the_spend_cap(why):
    assert not chain.may_fall_back(FailureKind.QUOTA_OR_RATE_LIMITED, **why)


@pytest.mark.parametrize("kind", [None, FailureKind.BAD_REQUEST, FailureKind.PROVIDER_FAILED, FailureKind.TIMED_OUT])
def test_other_endings_do_not_fall_back(kind):
    assert not chain.may_fall_back(kind, last=False)


def test_a_fallback_provider_gets_the_task_without_the_first_ones_model_session_or_spent_budget():
    spec = RunSpec(prompt="hi", model="opus", resume_session="s-1", max_cost_usd=1.0, mode="read-only")
    task = chain.fallback_spec(spec, "gemini", spend.SpendCap(1.0, 0.25))
    assert (task.prompt, task.mode, task.model, task.resume_session, task.max_cost_usd) == (
        "hi", "read-only", None, None, 0.75)
    assert (spec.model, spec.resume_session, spec.max_cost_usd) == ("opus", "s-1", 1.0)  # the run's own is kept
    assert chain.fallback_spec(spec, "gemini", None).max_cost_usd is None


def test_journal_prefixes_and_the_switch_note():
    assert [chain.journal_prefix(i, p) for i, p in enumerate(["claude", "gemini"])] == ["vendor", "vendor-1-gemini"]
    assert chain.switch_note("claude", "quota_or_rate_limited", "Out of quota.", "gemini") == (
        "claude could not serve (quota_or_rate_limited: Out of quota); falling back to gemini.")


# --- the spend cap -----------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [0.0, -1.0, math.inf, math.nan])
def test_a_cap_that_is_not_a_positive_amount_is_refused(bad):
    with pytest.raises(Refusal) as caught:
        spend.checked_cap(bad)
    assert caught.value.kind == FailureKind.BAD_REQUEST and "--max-cost-usd" in caught.value.message


def test_a_cap_counts_what_earlier_attempts_spent():
    cap = spend.SpendCap(1.0, spent=0.4)
    assert cap.passed({"cost_usd": 0.5}, {}, "claude") is None
    stopped = cap.passed({"cost_usd": 0.7}, {}, "claude")
    assert stopped and stopped.startswith("The run was stopped: its cost ($1.1000, claude)") and "$1." in stopped
    assert "known only when the vendor reported" in cap.passed({"cost_usd": 0.7}, {}, "gemini", ended=True)
    assert cap.passed(None, {}, "claude") is None and cap.passed({"cost_usd": math.nan}, {}, "claude") is None


def test_a_used_up_cap_stops_the_chain_before_the_next_provider():
    assert spend.SpendCap(0.5, spent=0.2).used_up("gemini") is None
    message = spend.SpendCap(0.5, spent=0.5).used_up("gemini")
    assert message == "The earlier attempts spent $0.5000, the whole --max-cost-usd cap of $0.5; gemini was not tried."
    assert spend.SpendCap(0.5, spent=0.7).remaining() == 0.000001


def test_cost_is_the_reported_one_else_estimated_from_prices():
    prices = {"m": {"input": 2.0, "output": 10.0}}
    assert spend.cost_of({"cost_usd": 0.3, "input_tokens": 10**6}, prices) == 0.3
    assert spend.cost_of({}, prices) is None
    assert spend.unknown_cost({"total_tokens": 0}, {}) is None
    assert "no price for x-1" in spend.unknown_cost({"total_tokens": 5, "model": "x-1"}, {})
    assert spend.dollars(2.5) == "2.5" and spend.dollars(3.0) == "3"


# --- request resolution ------------------------------------------------------------------------


def _resolve(spec: RunSpec, defaults: dict | None = None, last=None, **flags) -> RunSpec:
    return resolve_spec(spec, ShimOptions(**flags), defaults or {}, "claude", last)


def test_flags_win_over_the_request_and_the_request_over_the_config(tmp_path):
    spec = _resolve(RunSpec(prompt="p", model="from-request", mode="read-only", request={"model": "from-request"}),
                    {"model": "from-config", "mode": "yolo"}, model="from-flag")
    assert (spec.model, spec.mode) == ("from-flag", "read-only")
    spec = _resolve(RunSpec(prompt="p"), {"model": "from-config", "mode": "yolo"})
    assert (spec.model, spec.mode) == ("from-config", "yolo")


def test_the_earlier_deadline_wins_and_no_worktree_overrides_the_request(tmp_path):
    spec = _resolve(RunSpec(prompt="p", timeout_s=30.0, worktree=True, request={"worktree": True}), timeout=10.0,
                    worktree=False)
    assert (spec.timeout_s, spec.worktree) == (10.0, False)
    spec = _resolve(RunSpec(prompt="p", timeout_s=5.0, request={}), {"worktree": True}, timeout=10.0)
    assert (spec.timeout_s, spec.worktree) == (5.0, True)


def test_a_bad_cwd_is_refused_naming_it(tmp_path):
    with pytest.raises(Refusal) as caught:
        _resolve(RunSpec(prompt="p"), cwd=str(tmp_path / "nowhere"))
    assert caught.value.kind == FailureKind.BAD_REQUEST and str(tmp_path / "nowhere") in caught.value.message


def test_a_model_that_would_be_an_option_is_refused_naming_where_it_came_from():
    with pytest.raises(Refusal) as caught:
        _resolve(RunSpec(prompt="p"), {"model": "--dangerous"})
    assert "config file's `model`" in caught.value.message


def test_resume_last_is_the_ledgers_session_for_this_folder(tmp_path):
    asked = []

    def last(provider, cwd):
        asked.append((provider, cwd))
        return "sess-9"

    spec = _resolve(RunSpec(prompt="p", cwd=str(tmp_path)), last=last, resume="last")
    assert spec.resume_session == "sess-9" and asked == [("claude", str(tmp_path))]
    with pytest.raises(Refusal) as caught:
        _resolve(RunSpec(prompt="p", cwd=str(tmp_path)), last=None, resume="last")
    assert "no earlier claude session" in caught.value.message


def test_emit_auto_follows_the_protocol():
    assert choose_emit("auto", 1) == "codex-lab-v1" and choose_emit("pretty", 1) == "pretty"
    assert choose_emit("auto", 2) == "ndjson"


# --- the workspace -----------------------------------------------------------------------------


def test_outside_a_repository_the_workspace_has_nothing_to_collect(tmp_path):
    with open_workspace(str(tmp_path), worktree=False, state_dir=None, name=None, vendor="fake", own=()) as ws:
        (tmp_path / "new.txt").write_text("x")
        assert ws.snapshot is None and ws.changes() is None
        assert ws.close() == (None, {})


def test_the_workspace_reports_only_what_the_run_changed(tmp_path):
    repo = make_repo(tmp_path / "r", {"a.txt": "a\n", "b.txt": "b\n"})
    write(repo / "b.txt", "dirty before the run\n")
    with open_workspace(str(repo), worktree=False, state_dir=None, name=None, vendor="fake", own=()) as ws:
        assert ws.changes() is None
        write(repo / "a.txt", "a2\n")
        diff, extra = ws.close()
    assert [c["path"] for c in diff["item"]["changes"]] == ["a.txt"] and extra == {}
    assert diff["summary"]["files_changed"] == 1 and diff["summary"]["patch_path"] is None


def test_a_worktree_is_removed_when_the_run_changed_nothing_and_kept_when_it_did(tmp_path):
    repo = make_repo(tmp_path / "r", {"a.txt": "a\n"})
    state = tmp_path / "state"
    with open_workspace(str(repo), worktree=True, state_dir=str(state), name="clean", vendor="fake", own=()) as ws:
        clean = Path(ws.worktree.path)
        assert clean.is_dir() and (state / "worktrees" / "clean.owner").exists()
    assert not clean.exists() and not (state / "worktrees" / "clean.owner").exists()  # left by __exit__
    with open_workspace(str(repo), worktree=True, state_dir=str(state), name="kept", vendor="fake", own=()) as ws:
        write(Path(ws.worktree.cwd) / "a.txt", "changed\n")
        diff, extra = ws.close()
    assert extra["worktree"]["kept"] and Path(extra["worktree"]["path"]).is_dir()
    # The kept worktree is named in result.vendor (extra), not in the item: Codex's file_change has no such key.
    assert set(diff["item"]) == {"type", "changes", "status"}
    assert "codex-shims/kept" in git(repo, "branch", "--list", "codex-shims/*")


def test_a_worktree_needs_a_state_folder(tmp_path):
    repo = make_repo(tmp_path / "r", {"a.txt": "a\n"})
    with pytest.raises(Refusal, match="needs a state folder"):
        open_workspace(str(repo), worktree=True, state_dir=None, name="x", vendor="fake", own=())


def test_the_changes_item_has_codex_shape_a_rename_is_a_delete_and_an_add(tmp_path):
    repo = make_repo(tmp_path / "r", {"a.txt": "a\n", "old.txt": "same content, long enough to be a rename\n"})
    with open_workspace(str(repo), worktree=False, state_dir=None, name=None, vendor="fake", own=()) as ws:
        write(repo / "a.txt", "changed\n")
        os.rename(repo / "old.txt", repo / "new.txt")
        diff, _ = ws.close()
    assert diff["item"] == {"type": "file_change", "status": "completed", "changes": [
        {"path": "a.txt", "kind": "update"}, {"path": "old.txt", "kind": "delete"}, {"path": "new.txt", "kind": "add"}]}


def test_an_unclosed_workspace_without_a_worktree_leaves_nothing(tmp_path):
    with Workspace() as ws:
        assert ws.worktree is None
    assert os.listdir(tmp_path) == []


# --- bookkeeping and programs ------------------------------------------------------------------


def test_a_remembered_limit_refuses_the_attempt_until_it_resets(tmp_path):
    from shims.state.store.sqlite import SqliteStore

    store = SqliteStore(tmp_path)
    books = Bookkeeping(store, "claude", thread_id="t", spec=None, run_id="r1", journal_path=None)
    books.check_quota("claude", "default")  # nothing remembered
    store.remember_quota("claude", "default", {"state": "exhausted", "retry_after_s": 3600}, ended_at=time.time(),
                         run_id="r0")
    with pytest.raises(Refusal) as caught:
        books.check_quota("claude", "default")
    assert caught.value.kind == FailureKind.QUOTA_OR_RATE_LIMITED and "remembered from run r0" in caught.value.message
    books.check_quota("claude", "other-account")


def test_the_stores_failures_and_note_are_what_the_result_says(tmp_path):
    """vendor.state_error: every write of the run that failed (an attempt the chain moved on
    from, the result) and the store's note (PostgreSQL: the row waits in the outbox)."""
    from shims.state.store.base import StateError
    from shims.state.store.sqlite import SqliteStore

    class Failing(SqliteStore):
        note = "the shared database is unreachable: this run's row waits in the outbox"

        def record_run(self, entry):
            if entry["status"] == "failed":
                raise StateError("disk full")
            super().record_run(entry)

    store = Failing(tmp_path)
    books = Bookkeeping(store, "claude", thread_id="t", spec=None, run_id="r1", journal_path=None)
    books.attempt_settled(status="failed", kind="provider_failed", usage=None, session_id=None, session_total=None,
                          duration_ms=1, model=None, quota=None)
    said = books.run_finished({"status": "completed", "failure_kind": None, "usage": {}, "session_id": "s",
                               "duration_ms": 2, "provider": {"model": None}, "quota": None}, None)
    assert said == ("this run's usage was not recorded: disk full; "
                    "the shared database is unreachable: this run's row waits in the outbox")
    assert [e["status"] for e in store.runs()] == ["completed"]
    store.close()


def test_a_quota_failure_is_remembered_only_once_a_launch_was_made(tmp_path):
    from shims.state.store.sqlite import SqliteStore

    store = SqliteStore(tmp_path)
    books = Bookkeeping(store, "claude", thread_id="t", spec=None, run_id="r1", journal_path=None)
    result = {"status": "failed", "failure_kind": "quota_or_rate_limited", "usage": {}, "session_id": None,
              "duration_ms": 1, "provider": {"model": None}, "quota": {"state": "exhausted", "retry_after_s": 60}}
    assert books.run_finished(result, None) is None  # nothing went wrong
    assert store.active_quota("claude", "default") is None
    books.attempt_started("claude", "default", launch_built=True)
    books.run_finished(result, None)
    assert store.active_quota("claude", "default")["run_id"] == "r1"


def test_the_vendor_on_path_is_found_absolute(tmp_path, monkeypatch):
    (tmp_path / "claude").write_text("#!/bin/sh\n")
    (tmp_path / "claude").chmod(0o755)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", ".")
    assert resolve_program("claude", None) == str(tmp_path / "claude")
    monkeypatch.setenv("PATH", "")
    assert resolve_program("claude", None) is None  # an empty PATH finds nothing
