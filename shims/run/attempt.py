"""One attempt of a run on one provider: set up (shims.run.setup), launch, and its outcome.
The chain (shims.run.main) decides what follows."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

from normalize.failures import FailureKind
from normalize.request import RunSpec
from shims.run import spend, vendors
from shims.run.bookkeeping import Bookkeeping
from shims.run.journaling import journal_launch
from shims.run.options import ShimOptions
from shims.run.outcome import Outcome, Refusal
from shims.run.setup import build, set_up


@dataclasses.dataclass(slots=True)
class RunContext:
    """What every attempt of one run shares, set when the run starts."""

    opts: ShimOptions
    spec: RunSpec  # the request as resolved; a fallback provider's task is a copy (chain.fallback_spec)
    thread_id: str  # used unless the request named one or the vendor's session id comes first
    started: float  # time.monotonic(): one deadline for the whole run, whatever the fallbacks
    cancels: Any  # shims.runtime.signals.Cancels
    journal: Any  # shims.state.journal.run.RunJournal or None
    books: Bookkeeping
    host_gone: Callable[[], str | None]
    max_line_bytes: int  # [journal] max_line_bytes: longer stdout lines are not read
    attempts: list[dict[str, Any]]  # the journal's record of each attempt, for `shims replay`


def attempt(ctx: RunContext, pipe: Any, provider: str, task: RunSpec, record: dict[str, Any], *, primary: bool,
            cap: spend.SpendCap | None) -> Outcome:
    """Set up, launch, settle: how this provider's attempt ended. `record` is its journal entry;
    `pipe` the run's pipeline, this provider's now."""
    if cancel := ctx.cancels.poll():
        return _cancelled(cancel, provider)
    if not primary and cap and (message := cap.used_up(provider)):
        quota = {"state": "exhausted", "message": message}
        return Outcome.refused(Refusal(FailureKind.QUOTA_OR_RATE_LIMITED.value, message, quota), final=True)
    try:
        launch, settings = set_up(ctx.opts, ctx.books, provider, task, primary)
        ctx.books.attempt_started(provider, launch_built=True)
        if cancel := ctx.cancels.poll():  # came during the setup (a version probe)
            return _cancelled(cancel, provider)
        exit = run_launch(ctx, pipe, provider, task, launch, settings, record, cap)
    except Refusal as r:
        return Outcome.refused(r)
    status, kind, error = pipe.end_attempt(exit)
    return Outcome(exit, status, kind, error)


def _cancelled(cancel: str, provider: str) -> Outcome:
    message = f"Cancelled by {cancel} before the {provider} CLI started."
    return Outcome.refused(Refusal(FailureKind.CANCELLED.value, message), final=True, cancelled=cancel)


def run_launch(ctx: RunContext, pipe: Any, provider: str, task: RunSpec, launch: Any, settings: Any,
               record: dict[str, Any], cap: spend.SpendCap | None) -> Any:
    """The vendor, run to its end: its ExitInfo (or the Refusal of one that could not start)."""
    from shims.runtime.loop import Limits, run_vendor
    from shims.runtime.spawn import LaunchError

    opts, spec = ctx.opts, ctx.spec
    command = vendors.command_module(provider)
    running_cap = None
    # A vendor with a budget flag of its own (Claude) enforces the cap itself, between turns.
    # Gemini reports usage only at its end: checked then (shims.run.result).
    if cap is not None and not getattr(command, "NATIVE_SPEND_CAP", False):
        def running_cap() -> str | None:
            return cap.passed(pipe.asm.usage, pipe.facts.prices, provider)
    timeout = None
    if spec.timeout_s is not None:  # one deadline for the whole run, whatever the fallbacks
        timeout = max(spec.timeout_s - (time.monotonic() - ctx.started), 0.001)
    limits = Limits(timeout_s=timeout, idle_timeout_s=opts.idle_timeout or None, cancel_grace_s=opts.cancel_grace,
                    stop=running_cap, host_gone=ctx.host_gone, max_line_bytes=pipe.facts.max_line_bytes)
    while True:
        if launch.output_format != pipe.facts.format:
            pipe.restart_parser(launch.output_format)
        pipe.launched_version(launch.cli_version)
        record["facts"] = pipe.facts.to_json()
        recorder = journal_launch(ctx.journal, provider, launch, spec, ctx.books.account, ctx.attempts,
                                  record["prefix"])
        try:
            exit = run_vendor(launch, limits, pipe.line, recorder=recorder, cancels=ctx.cancels,
                              on_started=lambda proc, a=pipe.asm: a.launched())
        except LaunchError as exc:
            kind = FailureKind.COMMAND_MISSING if exc.missing else FailureKind.PROVIDER_FAILED
            raise Refusal(kind, f"Could not start the {provider} CLI: {exc}") from None
        finally:
            if recorder is not None:
                recorder.close()
        retry = getattr(command, "should_retry_under_pty", None)
        if (opts.pty == "auto" and not launch.pty and retry is not None and not exit.cancelled and not exit.timed_out
                and retry(launch.output_format, exit.exit_code, pipe.stdout_bytes)):
            # The vendor printed nothing through a pipe (agy < 1.1.1): run it again under a
            # pseudo-terminal. Nothing was emitted yet: text output is parsed at the end.
            if ctx.journal:
                ctx.journal.set_aside(record["prefix"], record["prefix"] + "-pipe-attempt")
            launch = build(provider, task, launch.argv[0], True, settings)
            continue
        break
    record["exit"] = {k: getattr(exit, k) for k in _EXIT_KEYS}
    record["vendor_extra"] = {"argv0": launch.argv[0], **({"pty": True} if launch.pty else {})}
    return exit


_EXIT_KEYS = ("exit_code", "signal", "launched", "cancelled", "timed_out", "timeout_s", "ended_at", "stopped")
