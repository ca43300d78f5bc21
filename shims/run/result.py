"""The run's result, from its last attempt: the spend cap's last word, the workspace's changes,
the journal's record for `shims replay`, then the result line."""

from __future__ import annotations

import time
from typing import Any

from normalize import observe as o
from normalize.failures import FailureKind
from shims.run import spend
from shims.run.attempt import RunContext
from shims.run.changes import NOT_LOOKED, Workspace
from shims.run.output import Output


def finish(ctx: RunContext, out: Output, workspace: Workspace, provider: str, exit: o.ExitInfo,
           moved_on: list[dict[str, Any]], spent: float, *, failure: tuple[str, str] | None = None,
           quota: dict[str, Any] | None = None, changes: Any = NOT_LOOKED) -> int:
    """`failure` (with its `quota`): the last provider was not launched. `moved_on`: the
    attempts the chain moved on from; `spent`: what they cost."""
    pipe, spec = out.pipe, ctx.spec
    if failure is None:
        status = pipe.end_attempt(exit)[0]
        if spec.max_cost_usd:
            if warning := spend.unknown_cost(pipe.asm.usage or {}, pipe.facts.prices):
                pipe.feed([o.Warning(warning)])
            cap = spend.SpendCap(spec.max_cost_usd, spent)
            # The vendor only said at its end (Gemini): the answer is kept, the run fails.
            if status == "completed" and (message := cap.passed(pipe.asm.usage, pipe.facts.prices, provider,
                                                                ended=True)):
                failure = (FailureKind.QUOTA_OR_RATE_LIMITED.value, message)
                quota = {"state": "exhausted", "message": message}
    diff, extra = workspace.close(changes, ctx.journal)
    if diff is not None:
        pipe.feed([o.Item(diff["item"])])
    duration_ms = int((time.monotonic() - ctx.started) * 1000)
    last = ctx.attempts[-1] if ctx.attempts else {}
    extra = {**last.get("vendor_extra", {}), **extra, **out.journal_details()}
    if ctx.journal:
        ctx.journal.update_meta(replay={"attempts": ctx.attempts, "duration_ms": duration_ms, "vendor_extra": extra,
                                        "attempts_list": moved_on, "diff": diff,
                                        "failure": list(failure) if failure else None, "quota": quota})
    result, code = pipe.finish(exit, duration_ms=duration_ms, journal=out.journal_path, vendor_extra=extra,
                               attempts=moved_on, diff=diff["summary"] if diff else None, failure=failure, quota=quota)
    return out.close(result, code)
