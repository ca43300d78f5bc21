"""agy failure classification (agy.md §6, §7, §11).

Structured signals first: the `AGY_ERROR: {json}` stderr line (≥1.2.6), then the `error:` line
(≥1.1.28) and the result's `error`, then other stderr markers. `retryable: true` on a 429 says
nothing about when: the reset duration decides (a week-long reset is exhausted quota, not a
rate limit to retry).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from normalize import observe as o
from normalize.failures import FailureKind as K
from normalize.jsonline import read_document

_RESETS = re.compile(r"Resets in ((?:\d+h)?(?:\d+m)?(?:\d+(?:\.\d+)?s)?)\b")
_GO_PART = re.compile(r"(\d+(?:\.\d+)?)(h|m|s)")
FIVE_HOURS = 5 * 3600

TTY_NEEDED = "could not open TTY"
PRINT_TIMEOUT = "[agy] print timeout"


def go_duration_s(text: str) -> float | None:
    """`2h39m52s` -> 9592.0; None when it is not a Go duration."""
    parts = _GO_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts)


def stderr_markers(stderr: str) -> dict[str, Any]:
    """The lines agy's stderr is parsed for (only lines that START with a marker, agy.md §6)."""
    found: dict[str, Any] = {"agy_error": None, "error": None, "jetski": None, "print_timeout": None, "other": []}
    for line in stderr.splitlines():
        s = line.strip()
        if s.startswith("AGY_ERROR:"):
            # Tolerantly, as stdout lines are: a lone surrogate in its message must not cost the
            # structured error (its status and code decide the kind).
            doc = read_document(s[len("AGY_ERROR:") :].strip().encode("utf-8", "surrogatepass"))
            found["agy_error"] = doc[0] if doc is not None and isinstance(doc[0], dict) else None
        elif s.startswith("error:"):
            found["error"] = s[len("error:") :].strip()
        elif s.startswith("jetski:"):
            found["jetski"] = s[len("jetski:") :].strip()
        elif s.startswith(PRINT_TIMEOUT):
            found["print_timeout"] = s
        elif s:
            found["other"].append(s)
    return found


def quota_from_text(text: str, ended_at: float | None) -> dict[str, Any] | None:
    """`Individual quota reached … Resets in 34m13s.` -> quota with the reset as an absolute time
    (when the end of the run is known) and as seconds from then."""
    m = _RESETS.search(text)
    secs = go_duration_s(m.group(1)) if m else None
    low = text.lower()
    if secs is None and "quota reached" not in low and "credits" not in low:
        return None
    resets_at = None
    if secs is not None and ended_at is not None:
        try:
            resets_at = datetime.fromtimestamp(ended_at + secs, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        except (OverflowError, OSError, ValueError):  # "Resets in 99999999999999h": past any calendar
            resets_at = None  # (found by fuzzing)
    window = None if secs is None else ("5h" if secs <= FIVE_HOURS else "weekly")
    return {"state": "exhausted", "resets_at": resets_at, "retry_after_s": secs, "window": window, "message": text}


def classify(text: str, agy_error: dict[str, Any] | None, ended_at: float | None) -> o.Failed:
    status = (agy_error or {}).get("status") or ""
    code = (agy_error or {}).get("error_code")
    text = text or (agy_error or {}).get("short_error") or ""
    low = text.lower()
    if low.strip() == "interrupted":
        return o.Failed(K.CANCELLED, "agy was interrupted before it finished.")
    quota = quota_from_text(text, ended_at)
    if quota or "credits balance is too low" in low or "prepayment credits are depleted" in low:
        quota = quota or {"state": "exhausted", "resets_at": None, "retry_after_s": None, "window": None, "message": text}
        when = f"; resets {quota['resets_at']}" if quota.get("resets_at") else (
            f"; resets in {quota['retry_after_s']:.0f}s" if quota.get("retry_after_s") is not None else "")
        return o.Failed(K.QUOTA_OR_RATE_LIMITED, f"agy quota exhausted ({_first(text)}){when}.", quota)
    if status == "RESOURCE_EXHAUSTED" or code == 429:
        quota = {"state": "rate_limited", "resets_at": None, "retry_after_s": None, "window": None, "message": text}
        return o.Failed(K.QUOTA_OR_RATE_LIMITED, f"agy rate limited after its own retries ({_first(text)}).", quota)
    if ("api key not valid" in low or "authentication" in low or status in ("UNAUTHENTICATED", "PERMISSION_DENIED")
            or code in (401, 403)):
        return o.Failed(K.AUTHENTICATION_REQUIRED,
                        f"agy is not signed in or its key was refused ({_first(text)}); run `agy` in a terminal to sign in.")
    if "invalid model selection" in low or "not recognized as a known model" in low:
        return o.Failed(K.BAD_REQUEST, f"agy does not know the requested model ({_first(text)}).")
    if status in ("UNAVAILABLE", "DEADLINE_EXCEEDED") or (isinstance(code, int) and code >= 500) or "overloaded" in low \
            or "high traffic" in low or "stream was interrupted" in low:
        return o.Failed(K.PROVIDER_UNAVAILABLE, f"agy's model API is unavailable ({_first(text)}).")
    return o.Failed(K.PROVIDER_FAILED, f"agy failed: {_first(text) or 'no details given'}.")


def classify_no_result(exit_code: int | None, stderr: str, ended_at: float | None) -> o.Failed | None:
    """No `result` on stdout: start-up failures and old versions."""
    marks = stderr_markers(stderr)
    if any(TTY_NEEDED in line for line in marks["other"]):
        return o.Failed(K.AUTHENTICATION_REQUIRED,
                        "agy needs an interactive sign-in or a folder-trust answer: run `agy` once in a terminal in this "
                        "folder, answer it, then retry.")
    for line in marks["other"]:
        if "flag provided but not defined" in line:
            return o.Failed(K.UNSUPPORTED_MODE, f"This agy does not accept a flag the shim passed ({line}); update agy.")
        if line.startswith("Error: authentication required") or "authentication failed" in line:
            return o.Failed(K.AUTHENTICATION_REQUIRED, "agy is not signed in: run `agy` in a terminal to log in, then retry.")
        if "invalid model selection" in line:
            return classify(line, None, ended_at)
    if marks["agy_error"] or marks["error"]:
        return classify(marks["error"] or "", marks["agy_error"], ended_at)
    return None


def _first(text: str) -> str:
    line = text.strip().splitlines()[0].strip() if text.strip() else ""
    return line.rstrip(".")
