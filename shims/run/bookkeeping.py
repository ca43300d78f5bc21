"""The usage ledger and quota memory of a run: they see each attempt the chain moves on from,
and the result; neither can fail the run (an error is said on stderr).

Both live in the state folder (shims.state.ledger, shims.state.quota); without one (the
config file is unusable) nothing is kept.
"""

from __future__ import annotations

import time
from typing import Any

from normalize.failures import FailureKind
from normalize.request import RunSpec
from shims.run.journaling import utc
from shims.run.outcome import Refusal
from shims.run.stderr import stderr_last


class Bookkeeping:
    def __init__(self, state_dir: str | None, vendor: str, *, thread_id: str, spec: RunSpec | None,
                 run_id: str | None, journal_path: str | None) -> None:
        self.state_dir = state_dir
        self.thread_id = thread_id
        self.spec = spec  # the run's, as resolved (its cwd is the worktree's with --worktree)
        self.run_id = run_id
        self.journal_path = journal_path
        # Who the entries are for: the provider being tried now, its account once known.
        self.provider = vendor
        self.account = "default"
        self.launch_built = False  # a quota failure is remembered only once a launch was made

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
        if self.state_dir is None:
            return
        from normalize.usage import empty_usage

        try:
            self._append(status, kind, usage or empty_usage(), session_id, duration_ms, model, session_total)
            self._remember(status, kind, quota)
        except Exception as exc:  # noqa: BLE001 - bookkeeping never costs the run
            stderr_last(f"could not update the usage ledger or quota memory: {exc}")

    def run_finished(self, result: dict[str, Any], session_total: dict[str, Any] | None) -> None:
        if self.state_dir is None:
            return
        try:
            self._append(result["status"], result["failure_kind"], result["usage"], result["session_id"],
                         result["duration_ms"], result["provider"]["model"], session_total)
            self._remember(result["status"], result["failure_kind"], result["quota"])
        except Exception as exc:  # noqa: BLE001 - bookkeeping never costs the result line
            stderr_last(f"could not update the usage ledger or quota memory: {exc}")

    def check_quota(self, provider: str, account: str) -> None:
        """A remembered limit still in force fails the attempt before anything starts (§8, §11)."""
        if self.state_dir is None:
            return
        from shims.state.quota import QuotaMemory

        try:
            quota = QuotaMemory(self.state_dir).active(provider, account)
        except Exception as exc:  # noqa: BLE001 - memory is advice: a broken file must not stop a run
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
        return self._ledger().last_total(provider, resume_session) if self.state_dir else None

    def last_session(self, provider: str, cwd: str) -> str | None:
        return self._ledger().last_session(provider, cwd)

    def _append(self, status, kind, usage, session_id, duration_ms, model, session_total) -> None:
        spec = self.spec
        request = (spec.request if spec else None) or {}
        self._ledger().append({
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
        })

    def _remember(self, status: str, kind: str | None, quota: dict[str, Any] | None) -> None:
        from shims.state.quota import QuotaMemory

        memory = QuotaMemory(self.state_dir)  # masks what it writes (the message is the vendor's)
        if status == "completed":
            memory.clear(self.provider, self.account)
        elif kind == FailureKind.QUOTA_OR_RATE_LIMITED and quota and self.launch_built:
            memory.remember(self.provider, self.account, quota, ended_at=time.time(), run_id=self.run_id)

    def _ledger(self):
        from shims.state.ledger import Ledger

        return Ledger(self.state_dir)
