"""Token reconciliation: the shim's computed usage checked against the vendor's own totals.

Every peer tool has shipped a double-counting bug at some point (cumulative totals summed as if
they were per call, cached tokens added twice…). Where a vendor reports the same quantity two
ways, the shim compares them and makes a mismatch visible — an `error` item and
`result.vendor.usage_mismatch` — instead of trusting one silently.

Vendor parsers call `differences`/`cost_difference` for their own pairs of figures (which pairs
exist is a vendor quirk) and hand all of them to `mismatch_observations`; `settle` is the vendor-neutral session check a live run does with the journal's
last running total (CONTRACT §5).
"""

from __future__ import annotations

import math
from typing import Any

from normalize import observe as o
from normalize.usage import COUNT_FIELDS, TURN_USAGE_FIELDS, add, build_usage, subtract

# Costs are floats summed in different orders by vendor and shim: a micro-dollar is noise.
COST_TOLERANCE_USD = 1e-6


def differences(
    computed: dict[str, Any], reported: dict[str, Any], fields: tuple[str, ...] = COUNT_FIELDS
) -> dict[str, list[int]]:
    """`{field: [computed, reported]}` for each listed count that differs (missing = 0)."""
    out: dict[str, list[int]] = {}
    for f in fields:
        a, b = _whole(computed.get(f)), _whole(reported.get(f))
        if a != b:
            out[f] = [a, b]
    return out


def cost_difference(
    computed: float | None, reported: float | None, field: str = "cost_usd", tolerance: float = COST_TOLERANCE_USD
) -> dict[str, list[float]]:
    """`{field: [computed, reported]}` when both costs are known and differ by more than the tolerance."""
    if not _is_number(computed) or not _is_number(reported):
        return {}
    if abs(computed - reported) <= tolerance:
        return {}
    return {field: [round(computed, 10), round(reported, 10)]}


def mismatch(check: str, diffs: dict[str, list[Any]]) -> dict[str, Any]:
    """One entry of `result.vendor.usage_mismatch`."""
    return {"check": check, "fields": diffs}


def mismatch_message(provider: str, check: str, diffs: dict[str, list[Any]]) -> str:
    shown = ", ".join(f"{f} {a} vs {b}" for f, (a, b) in sorted(diffs.items()))
    return f"Usage mismatch ({provider}: {check}): {shown}. The reported usage is the shim's computation."


def mismatch_observations(provider: str, checks: dict[str, dict[str, list[Any]]]) -> list[o.Observation]:
    """What a vendor parser emits for its checks (`{check: differences}`, empty = passed): an
    `error` item per failed check and one `usage_mismatch` list with all of them, since
    `result.vendor` details of one key replace each other."""
    failed = {check: diffs for check, diffs in checks.items() if diffs}
    if not failed:
        return []
    warnings: list[o.Observation] = [o.Warning(mismatch_message(provider, c, d)) for c, d in failed.items()]
    return [*warnings, o.VendorInfo({"usage_mismatch": [mismatch(c, d) for c, d in failed.items()]})]


def is_all_zero(usage: dict[str, Any], fields: tuple[str, ...] = COUNT_FIELDS) -> bool:
    """Vendors zero their usage object when a run is interrupted or fails: such a figure checks nothing."""
    return not any(_whole(usage.get(f)) for f in fields)


def settle(
    usage: dict[str, Any] | None,
    session_total: dict[str, Any] | None,
    previous_total: dict[str, Any] | None,
) -> tuple[dict[str, Any] | None, dict[str, list[int]] | None, str | None]:
    """This invocation's usage (None when the vendor gave none), given the vendor's running total after the run and the
    journal's running total before it (zeros for a new session, None when unknown).

    Returns (usage, diffs, total_scope): `usage` is per invocation whenever the previous total
    is known; `diffs` lists the counts where previous + invocation != running total (None when
    nothing could be checked); `total_scope` says how the vendor's total behaved: `session`
    (it carried the earlier runs), `invocation` (it restarted from zero, as some Claude
    versions do on resume) or None."""
    if session_total is None or previous_total is None:
        return usage, None, None
    if usage is None or usage.get("scope") == "session":
        # The vendor gave only its running total: this run's share is the difference.
        settled = subtract(session_total, previous_total)
        if usage is not None:
            settled["model"] = usage.get("model") or settled.get("model")
            settled["num_turns"] = usage.get("num_turns")
        return settled, None, None
    expected = add(previous_total, usage)
    diffs = differences(expected, session_total, TURN_USAGE_FIELDS)
    if not diffs:
        return usage, {}, "session"
    if not differences(usage, session_total, TURN_USAGE_FIELDS):
        return usage, {}, "invocation"
    return usage, diffs, None


def zero_total() -> dict[str, Any]:
    """The running total of a session that has not started yet."""
    return build_usage(cost_usd=0.0, scope="session")


def _is_number(v: Any) -> bool:
    return (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and math.isfinite(v))


def _whole(v: Any) -> int:
    # A vendor's field of the wrong type must make a check fail, never the parser.
    if not _is_number(v):
        return 0
    return int(v)
