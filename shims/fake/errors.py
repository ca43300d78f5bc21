"""Fake vendor failure classification: structured result fields first, then the exit code."""

from __future__ import annotations

from typing import Any

from normalize import observe as o
from normalize.failures import FailureKind, is_known_kind


def failure_from_result(m: dict[str, Any]) -> o.Failed:
    kind = m.get("error_kind")
    kind = kind if isinstance(kind, str) and is_known_kind(kind) else FailureKind.PROVIDER_FAILED.value
    message = m.get("message") if isinstance(m.get("message"), str) else "The fake vendor reported a failure."
    quota = None
    if kind == FailureKind.QUOTA_OR_RATE_LIMITED:
        quota = {
            "state": "exhausted" if m.get("resets_at") else "rate_limited",
            "resets_at": m.get("resets_at") if isinstance(m.get("resets_at"), str) else None,
            "window": m.get("window") if m.get("window") in ("minute", "5h", "daily", "weekly") else None,
            "message": message,
        }
    return o.Failed(kind, message, quota)


def classify_exit(exit: o.ExitInfo) -> o.Failed | None:
    """The fake CLI's exit codes: 41 = signed out (like Gemini's), everything else generic."""
    if exit.exit_code == 41:
        return o.Failed(FailureKind.AUTHENTICATION_REQUIRED.value, "The fake vendor is signed out; run `fake login`.")
    return None
