"""Failure kinds (CONTRACT §6): the closed set, their exit codes, and what a person can do."""

from __future__ import annotations

from enum import StrEnum


class FailureKind(StrEnum):
    PROVIDER_FAILED = "provider_failed"
    BAD_REQUEST = "bad_request"
    COMMAND_MISSING = "command_missing"
    AUTHENTICATION_REQUIRED = "authentication_required"
    QUOTA_OR_RATE_LIMITED = "quota_or_rate_limited"
    PROVIDER_UNAVAILABLE = "provider_unavailable"
    UNSUPPORTED_MODE = "unsupported_mode"
    MALFORMED_OUTPUT = "malformed_output"
    EMPTY_OUTPUT = "empty_output"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"


EXIT_CODES: dict[str, int] = {
    FailureKind.PROVIDER_FAILED: 1,
    FailureKind.BAD_REQUEST: 2,
    FailureKind.COMMAND_MISSING: 3,
    FailureKind.AUTHENTICATION_REQUIRED: 4,
    FailureKind.QUOTA_OR_RATE_LIMITED: 5,
    FailureKind.PROVIDER_UNAVAILABLE: 6,
    FailureKind.UNSUPPORTED_MODE: 7,
    FailureKind.MALFORMED_OUTPUT: 8,
    FailureKind.EMPTY_OUTPUT: 9,
    FailureKind.TIMED_OUT: 124,
}

# Cancellation exits like a shell reports a signal death: 128 + signal number.
CANCEL_EXIT = {"SIGINT": 130, "SIGTERM": 143}

# Kinds after which another provider may be tried (CONTRACT §11), provided nothing changed yet.
FALLBACK_KINDS = frozenset(
    {
        FailureKind.COMMAND_MISSING,
        FailureKind.AUTHENTICATION_REQUIRED,
        FailureKind.QUOTA_OR_RATE_LIMITED,
        FailureKind.PROVIDER_UNAVAILABLE,
    }
)


def exit_code_for(status: str, failure_kind: str | None, cancelled: str | None = None) -> int:
    if status == "completed":
        return 0
    if status == "cancelled":
        return CANCEL_EXIT.get(cancelled or "SIGTERM", 143)
    return EXIT_CODES.get(failure_kind or FailureKind.PROVIDER_FAILED, 1)


def is_known_kind(kind: str) -> bool:
    return kind in FailureKind._value2member_map_
