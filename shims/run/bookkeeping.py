"""The usage ledger and quota memory of a run: they see each attempt the chain moves on from,
and the result; neither can fail the run. Both are kept by the run's state store
(shims.state.store, opened once by shims.run.main and passed in); without one (the config file
is unusable, or the store could not be opened) nothing is kept. What went wrong is said on
stderr and, for the result, in `vendor.state_error` (run_finished's answer).
"""

from __future__ import annotations

import os
import time
from typing import Any

from normalize.failures import FailureKind
from normalize.request import RunSpec
from shims.run.journaling import utc
from shims.run.outcome import Refusal
from shims.run.stderr import stderr_last


class Bookkeeping:
    def __init__(self, store: Any, vendor: str, *, thread_id: str, spec: RunSpec | None, run_id: str | None,
                 journal_path: str | None, problem: str | None = None) -> None:
        """`store`: a shims.state.store.base.StateStore, or None; `problem`: why there is none
        though there should be (said in the result)."""
        self.store = store
        self.thread_id = thread_id
        self.spec = spec  # the run's, as resolved (its cwd is the worktree's with --worktree)
        self.run_id = run_id
        self.journal_path = journal_path
        # Who the entries are for: the provider being tried now, its account once known.
        self.provider = vendor
        self.account = "default"
        self.launch_built = False  # a quota failure is remembered only once a launch was made
        self.problems: list[str] = []  # what the result's vendor.state_error says
        self.attempts_kept = 0  # each attempt of a fallback chain is a ledger row of its own
        if problem:
            self._failed(problem)

    def attempt_started(self, provider: str, account: str | None = None, *, launch_built: bool = False) -> None:
        """`account` None: not known yet (entries keep the one before)."""
        self.provider = provider
        if account is not None:
            self.account = account
        self.launch_built = self.launch_built or launch_built

    def attempt_settled(self, *, status: str, kind: str | None, usage: dict[str, Any] | None, session_id: str | None,
                        session_total: dict[str, Any] | None, duration_ms: int, model: str | None,
                        quota: dict[str, Any] | None) -> None:
        """A provider the chain moves on from still spent what it spent, and its quota failure
        is remembered like any other."""
        from normalize.usage import empty_usage

        self._keep(status, kind, usage or empty_usage(), session_id, duration_ms, model, session_total, quota)

    def run_finished(self, result: dict[str, Any], session_total: dict[str, Any] | None) -> str | None:
        """The result's share and quota kept; what the result's `vendor.state_error` says
        (every failure of the run's bookkeeping and the store's note), or None."""
        self._keep(result["status"], result["failure_kind"], result["usage"], result["session_id"],
                   result["duration_ms"], result["provider"]["model"], session_total, result["quota"])
        note = self.store.note if self.store is not None else None
        if note:  # nothing failed, but the run must say it (the database down: the row waits)
            stderr_last(f"state: {note}")
        said = [*self.problems, *([note] if note else [])]
        return "; ".join(said) if said else None

    def check_quota(self, provider: str, account: str) -> None:
        """A remembered limit still in force fails the attempt before anything starts (§8, §11)."""
        if self.store is None:
            return

        try:
            quota = self.store.active_quota(provider, account)
        except Exception as exc:  # noqa: BLE001 - memory is advice: a broken store must not stop a run
            stderr_last(f"quota memory unreadable, ignored: {exc}")
            return
        if quota is None:
            return
        run = quota.pop("run_id", None)
        what = "quota is exhausted" if quota["state"] == "exhausted" else "rate limit is in force"
        raise Refusal(
            FailureKind.QUOTA_OR_RATE_LIMITED,
            f"The {provider} {what} until {quota['resets_at']} (remembered from run {run}); not launched. "
            "Pass --ignore-quota-state to try anyway.",
            quota,
        )

    def previous_total(self, provider: str, resume_session: str | None) -> dict[str, Any] | None:
        """The session's running total before this run: zeros for a new session, the ledger's
        last one for a resumed session, None when unknown."""
        from normalize.reconcile import zero_total

        if not resume_session:
            return zero_total()
        return self._ask(lambda s: s.last_total(provider, resume_session))

    def last_session(self, provider: str, cwd: str) -> str | None:
        return self._ask(lambda s: s.last_session(provider, cwd))

    def close(self) -> None:
        if self.store is not None:
            self.store.close()

    def _ask(self, question: Any) -> Any:
        """A read of the ledger; unknown (None) when there is no store or it cannot answer."""

        if self.store is None:
            return None
        try:
            return question(self.store)
        except Exception as exc:  # noqa: BLE001 - a ledger that cannot answer is an unknown, not a failed run
            stderr_last(f"the usage ledger is unreadable, ignored: {exc}")
            return None

    def _keep(self, status, kind, usage, session_id, duration_ms, model, session_total, quota) -> None:
        if self.store is None:
            return
        spec = self.spec
        request = (spec.request if spec else None) or {}
        entry = {
            "run_id": self.run_id,
            "at": utc(time.time()),
            "provider": self.provider,
            "account": self.account,
            "model": model or usage.get("model"),
            "session_id": session_id,
            "thread_id": self.thread_id,
            "cwd": spec.cwd if spec else None,
            "role": request.get("role") if isinstance(request.get("role"), str) else None,
            "task_name": request.get("task_name") if isinstance(request.get("task_name"), str) else None,
            "status": status,
            "failure_kind": kind,
            "duration_ms": duration_ms,
            "usage": usage,
            "session_total": session_total,
            "journal": self.journal_path,
            "attempt": self.attempts_kept,
            "host": os.uname().nodename,  # a vendor's sessions live on this machine (--resume last)
        }
        self.attempts_kept += 1
        try:
            self.store.record_run(entry)
        except Exception as exc:  # noqa: BLE001 - bookkeeping never costs the run
            self._failed(f"this run's usage was not recorded: {exc}")
        try:
            if status == "completed":
                self.store.clear_quota(self.provider, self.account)
            elif kind == FailureKind.QUOTA_OR_RATE_LIMITED and quota and self.launch_built:
                self.store.remember_quota(self.provider, self.account, quota, ended_at=time.time(), run_id=self.run_id)
        except Exception as exc:  # noqa: BLE001
            self._failed(f"quota memory was not updated: {exc}")

    def _failed(self, message: str) -> None:
        self.problems.append(message)
        stderr_last(f"could not update the usage ledger or quota memory: {message}")
