"""Quota memory's rules as pure functions, for stores that keep limits in a table: the same
semantics as shims.state.quota.QuotaMemory (a limit is kept only when it says when it ends, and
that end is in the future; it is seen until then, in the contract's `quota` shape)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shims.state.quota import format_time, parse_time


def limit_entry(quota: Mapping[str, Any], *, ended_at: float, run_id: str | None) -> dict[str, Any] | None:
    """What is kept for a limit a run reported, or None when it does not say a future end."""
    until = parse_time(quota.get("resets_at"))
    retry = quota.get("retry_after_s")
    if until is None and isinstance(retry, int | float) and not isinstance(retry, bool) and retry > 0:
        until = ended_at + float(retry)
    if until is None or until <= ended_at:
        return None
    return {
        "state": quota.get("state") or "exhausted",
        "until": until,
        "resets_at": format_time(until),
        "window": quota.get("window"),
        "message": quota.get("message"),
        "recorded_at": ended_at,
        "run_id": run_id,
    }


def active_limit(entry: Mapping[str, Any] | None, now: float) -> dict[str, Any] | None:
    """A kept limit still in force at `now`, in the contract's `quota` shape plus run_id."""
    if not isinstance(entry, Mapping):
        return None
    until = entry.get("until")
    if not isinstance(until, int | float) or isinstance(until, bool) or until <= now:
        return None
    return {
        "state": entry.get("state") or "exhausted",
        "resets_at": entry.get("resets_at"),
        "retry_after_s": max(int(until - now + 0.999), 1),
        "window": entry.get("window"),
        "message": entry.get("message"),
        "run_id": entry.get("run_id"),
    }
