"""Claude Code failure classification, from structured fields first (claude.md §7, §8).

Order: `is_error` false -> success; `terminal_reason` aborted -> cancelled; max turns, budget,
structured-output retries -> provider_failed; a usage limit (`api_error: usage_limit_reached`,
a `rejected` rate-limit event) -> quota exhausted with its reset time; then the synthetic
assistant's `error` enum with `api_error_status`. Text is only a last resort. `subtype` is
never trusted: API errors arrive as `subtype: success`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from normalize import observe as o
from normalize.failures import FailureKind as K

WINDOWS = {"five_hour": "5h", "seven_day": "weekly", "seven_day_opus": "weekly", "seven_day_sonnet": "weekly"}
_STATES = {"allowed": "ok", "allowed_warning": "warning", "rejected": "exhausted"}


def epoch_to_rfc3339(value: Any) -> str | None:
    """resetsAt is epoch seconds; one SDK documents milliseconds, so a huge value is ms."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    if value > 1e12:
        value = value / 1000
    try:
        return datetime.fromtimestamp(value, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return None


def quota_from_rate_limit_info(info: dict[str, Any], message: str | None = None) -> dict[str, Any]:
    # Lookups only with strings: a list or an object there raised (found by fuzzing).
    status, window = info.get("status"), info.get("rateLimitType")
    return {
        "state": _STATES.get(status, "unknown") if isinstance(status, str) else "unknown",
        "resets_at": epoch_to_rfc3339(info.get("resetsAt")),
        "retry_after_s": None,
        "window": WINDOWS.get(window) if isinstance(window, str) else None,
        "message": message,
    }


_SPEND_CAP = re.compile(r"regain access on (\d{4}-\d{2}-\d{2})(?: at (\d{2}:\d{2}))?")
_OLD_LIMIT = re.compile(r"usage limit reached\|(\d{9,13})")


def classify_result(
    result: dict[str, Any],
    synthetic: dict[str, Any] | None,
    rejected_quota: dict[str, Any] | None,
) -> o.Failed:
    """A `result` line with is_error true -> the failure (kind, one actionable sentence, quota)."""
    reason = result.get("terminal_reason")
    # The CLI's sentences end with a period; ours add their own.
    text = (_text(result.get("result")) or _text((synthetic or {}).get("text")) or _errors_text(result)).rstrip(".")
    status = result.get("api_error_status")
    if status is None and synthetic:
        status = synthetic.get("api_error_status")
    api_error = result.get("api_error") or (synthetic or {}).get("api_error")
    enum = (synthetic or {}).get("error")

    if reason in ("aborted_streaming", "aborted_tools"):
        return o.Failed(K.CANCELLED, "Claude was interrupted before it finished.")
    if reason == "max_turns" or result.get("subtype") == "error_max_turns":
        return o.Failed(K.PROVIDER_FAILED, f"Claude stopped at its turn limit ({_errors_text(result) or 'max turns reached'}).")
    if reason == "structured_output_retry_exhausted" or result.get("subtype") == "error_max_structured_output_retries":
        # --json-schema: the model's StructuredOutput calls never fitted the schema (5 tries).
        return o.Failed(K.PROVIDER_FAILED, "Claude could not give an answer that fits the output schema "
                        f"({_errors_text(result) or 'structured output retries exhausted'}); retry, or loosen the schema.")
    if reason == "budget_exhausted" or result.get("subtype") == "error_max_budget_usd":
        # --max-budget-usd is how --max-cost-usd reaches Claude: one spend-cap policy across
        # vendors (quota_or_rate_limited, exhausted), and final: no fallback spends more.
        cap = _errors_text(result) or "budget exhausted"
        message = f"Claude stopped at the spend cap ({cap}); raise --max-cost-usd to let it continue."
        return o.Failed(K.QUOTA_OR_RATE_LIMITED, message, {"state": "exhausted", "message": cap}, spend_cap=True)

    # Objects only where objects belong (found by fuzzing: `true` for either raised).
    params = (synthetic or {}).get("api_error_params")
    info = params.get("rate_limit_info") if isinstance(params, dict) else None
    info = info if isinstance(info, dict) else {}
    if api_error == "usage_limit_reached" or rejected_quota or info.get("status") == "rejected":
        quota = quota_from_rate_limit_info(info, text) if info else dict(rejected_quota or {})
        quota["state"] = "exhausted"
        quota["message"] = text
        when = f"; resets {quota['resets_at']}" if quota.get("resets_at") else ""
        return o.Failed(K.QUOTA_OR_RATE_LIMITED, f"Claude usage limit reached ({text}){when}.", quota)
    m = _OLD_LIMIT.search(text)
    if m:  # 1.0.x wording: "Claude AI usage limit reached|<epoch>"
        quota = {"state": "exhausted", "resets_at": epoch_to_rfc3339(int(m.group(1))), "retry_after_s": None,
                 "window": "5h", "message": text}
        return o.Failed(K.QUOTA_OR_RATE_LIMITED, f"Claude usage limit reached; resets {quota['resets_at']}.", quota)
    if enum == "billing_error" or "credit balance is too low" in text.lower():
        quota = {"state": "exhausted", "resets_at": None, "retry_after_s": None, "window": None, "message": text}
        return o.Failed(K.QUOTA_OR_RATE_LIMITED, f"Claude account has no credit left ({text}); add credits.", quota)
    m = _SPEND_CAP.search(text)
    if m:  # API-key spend cap, a 400 with error "unknown"
        resets = f"{m.group(1)}T{m.group(2) or '00:00'}:00Z"
        quota = {"state": "exhausted", "resets_at": resets, "retry_after_s": None, "window": None, "message": text}
        return o.Failed(K.QUOTA_OR_RATE_LIMITED, f"Claude API spend limit reached; resets {resets}.", quota)
    if enum == "rate_limit" or status == 429:
        quota = {"state": "rate_limited", "resets_at": None, "retry_after_s": None, "window": None, "message": text}
        return o.Failed(K.QUOTA_OR_RATE_LIMITED, f"Claude API rate limit not recovered after retries ({text}).", quota)
    if enum == "authentication_failed" or status in (401, 403) or "not logged in" in text.lower():
        return o.Failed(
            K.AUTHENTICATION_REQUIRED,
            f"Claude is not signed in or its key was refused ({text}); set ANTHROPIC_API_KEY or run `claude /login`.",
        )
    if enum == "model_not_found" or status == 404:
        return o.Failed(K.BAD_REQUEST, f"Claude does not know the requested model ({text}).")
    if enum == "server_error" or api_error == "connection_failed" or (isinstance(status, int) and status >= 500):
        return o.Failed(K.PROVIDER_UNAVAILABLE, f"Claude's API is unavailable after retries ({text}).")
    if reason == "prompt_too_long":
        return o.Failed(K.PROVIDER_FAILED, f"The conversation is too long for the model ({text}).")
    # Text output carries no structured fields: the CLI's own wording (claude.md §7) decides.
    for needle, kind, template in _TEXT_RULES:
        if needle in text:
            quota = None
            if kind == K.QUOTA_OR_RATE_LIMITED:
                state = "exhausted" if "hit your" in text else "rate_limited"
                quota = {"state": state, "resets_at": None, "retry_after_s": None, "window": None, "message": text}
            return o.Failed(kind, template.format(text=text), quota)
    return o.Failed(K.PROVIDER_FAILED, f"Claude failed: {text or 'no details given'}.")


_TEXT_RULES = (
    ("No conversation found with session ID", K.BAD_REQUEST, "No Claude session with that id ({text}); check the resume session id."),
    ("You've hit your", K.QUOTA_OR_RATE_LIMITED, "Claude usage limit reached ({text})."),
    ("limit reached", K.QUOTA_OR_RATE_LIMITED, "Claude usage limit reached ({text})."),
    ("Request rejected (429)", K.QUOTA_OR_RATE_LIMITED, "Claude API rate limit not recovered after retries ({text})."),
    ("Invalid API key", K.AUTHENTICATION_REQUIRED,
     "Claude's API key was refused ({text}); set ANTHROPIC_API_KEY or run `claude /login`."),
    ("Failed to authenticate", K.AUTHENTICATION_REQUIRED,
     "Claude could not authenticate ({text}); check its credentials."),
    ("Not logged in", K.AUTHENTICATION_REQUIRED, "Claude is not signed in ({text}); run `claude /login` or set ANTHROPIC_API_KEY."),
    ("issue with the selected model", K.BAD_REQUEST, "Claude does not know the requested model ({text})."),
    ("Repeated 529", K.PROVIDER_UNAVAILABLE, "Claude's API is overloaded ({text})."),
    ("Internal server error", K.PROVIDER_UNAVAILABLE, "Claude's API failed on its side ({text})."),
    ("Connection refused", K.PROVIDER_UNAVAILABLE, "Claude cannot reach its API ({text})."),
    ("Can't reach the API server", K.PROVIDER_UNAVAILABLE, "Claude cannot reach its API ({text})."),
    ("Prompt is too long", K.PROVIDER_FAILED, "The conversation is too long for the model ({text})."),
)


_STDERR_RULES = (
    ("No conversation found with session ID", K.BAD_REQUEST, "No Claude session with that id: {line}"),
    ("cannot be used with root/sudo", K.UNSUPPORTED_MODE, "Claude refuses this permission mode as root: {line}"),
    ("Input must be provided", K.BAD_REQUEST, "Claude got no prompt: {line}"),
    # The CLI compiles the --json-schema it is given (draft-07 by default) before any call.
    ("--json-schema is not a valid JSON Schema", K.BAD_REQUEST, "The output schema is not a valid JSON Schema: {line}"),
    ("unknown option", K.PROVIDER_FAILED, "This Claude CLI does not accept a flag the shim passed (version mismatch?): {line}"),
    ("Not logged in", K.AUTHENTICATION_REQUIRED, "Claude is not signed in: {line}"),
)


def classify_stderr(stderr: str) -> o.Failed | None:
    """Start-up errors: one stderr line, nothing on stdout, exit 1 (claude.md §5)."""
    for line in reversed(stderr.strip().splitlines()):
        for needle, kind, template in _STDERR_RULES:
            if needle in line:
                return o.Failed(kind, template.format(line=line.strip()))
    return None


def _text(v: Any) -> str:
    return v.strip() if isinstance(v, str) else ""


def _errors_text(result: dict[str, Any]) -> str:
    errs = result.get("errors")
    if isinstance(errs, list):
        return "; ".join(str(e) for e in errs if not str(e).startswith("[ede_diagnostic]"))
    return ""
