"""Quota memory: a provider that said "out of quota until T" is not launched again before T.

What is kept, per provider and account, and how it reads back; the state store
(shims.state.store) keeps it. An account is a fingerprint of the credentials the vendor would
use (never the credentials), so two API keys of one provider are remembered apart. A run that
ends with a reset time records it; a later successful run of the same provider and account
clears it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any


def account_key(env: Mapping[str, str], names: Iterable[str]) -> str:
    """`default`, or a short fingerprint of the values of the vendor's credential variables."""
    values = [f"{n}={env[n]}" for n in names if env.get(n)]
    if not values:
        return "default"
    import hashlib  # here, not at the top: it loads OpenSSL (~2.5 ms), and most runs hash nothing

    return "key-" + hashlib.sha256("\n".join(values).encode()).hexdigest()[:12]


def parse_time(value: str | None) -> float | None:
    """RFC 3339 in UTC (`…Z` or `+00:00`, optional fraction) -> epoch seconds; else None."""
    m = _UTC_TIME.fullmatch(value.strip()) if value else None
    if m is None:
        return None
    year, month, day, hour, minute, second, rest = m.groups()
    leap = int(second) - 59 if second in ("60", "61") else 0
    try:
        when = datetime.fromisoformat(f"{year}-{month:0>2}-{day:0>2}T{hour:0>2}:{minute:0>2}:{int(second) - leap:02}{rest}")
    except ValueError:  # no such day or hour
        return None
    return when.timestamp() + leap


# The shape is checked first: fromisoformat takes more than RFC 3339 (week dates, no seconds,
# junk before the offset). Besides RFC 3339, what time.strptime took when it read these times:
# one-digit fields, a lowercase `t`, a leap second (:60, :61).
_UTC_TIME = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})[Tt](\d{1,2}):(\d{1,2}):(\d{1,2})((?:\.\d*)?(?:Z|\+00:00))", re.ASCII)


def format_time(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(epoch + 0.999)))


def limit_entry(quota: Mapping[str, Any], *, ended_at: float, run_id: str | None) -> dict[str, Any] | None:
    """What quota memory keeps of a quota failure: only one that says when it ends, in the
    future (an absolute `resets_at`, else `retry_after_s` from the run's end); else None."""
    until = parse_time(quota.get("resets_at"))
    retry = quota.get("retry_after_s")
    if until is None and isinstance(retry, int | float) and retry > 0:
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


def in_force(entry: Any, now: float | None = None) -> dict[str, Any] | None:
    """A kept entry as the limit still in force, in contract `quota` shape plus `run_id`, or
    None (ended, or not an entry this module wrote)."""
    now = time.time() if now is None else now
    if not isinstance(entry, dict) or not isinstance(entry.get("until"), int | float) or entry["until"] <= now:
        return None
    return {
        "state": entry.get("state") or "exhausted",
        "resets_at": entry.get("resets_at"),
        "retry_after_s": max(int(entry["until"] - now + 0.999), 1),
        "window": entry.get("window"),
        "message": entry.get("message"),
        "run_id": entry.get("run_id"),
    }
