"""Gemini CLI failure classification (gemini.md §8, §9, §15).

The exit code never decides success alone (0 on empty answers and on signals; the HTTP status
mod 256 on API errors), and `result.error.type` is just `unknown` for every API error: the
message text and the exit code together decide.
"""

from __future__ import annotations

import re

from normalize import observe as o
from normalize.failures import FailureKind as K

_RETRY_AFTER = re.compile(r"Suggested retry after (\d+(?:\.\d+)?)s")
_HTTP_IN_JSON = re.compile(r'"code"\s*:\s*(\d{3})')

# exit code -> (kind, what to do); 144/145/147/173/244/247 are HTTP statuses mod 256.
EXIT_CODES: dict[int, tuple[str, str]] = {
    41: (K.AUTHENTICATION_REQUIRED, "Gemini has no usable credentials: set GEMINI_API_KEY or sign in with `gemini`."),
    42: (K.BAD_REQUEST, "Gemini rejected the input (no prompt, or an unknown --resume session)."),
    44: (K.PROVIDER_FAILED, "Gemini's sandbox could not start."),
    52: (K.PROVIDER_FAILED, "Gemini's configuration is invalid; check ~/.gemini/settings.json."),
    53: (K.PROVIDER_FAILED, "Gemini reached its session turn limit (model.maxSessionTurns)."),
    54: (K.PROVIDER_FAILED, "A Gemini tool failed fatally (for example, no space left on the device)."),
    55: (K.PROVIDER_FAILED, "Gemini does not trust this folder; add it to ~/.gemini/trustedFolders.json."),
    130: (K.CANCELLED, "Gemini was cancelled."),
    144: (K.AUTHENTICATION_REQUIRED, "Gemini's API key was refused (400 API_KEY_INVALID); check GEMINI_API_KEY."),
    145: (K.AUTHENTICATION_REQUIRED, "Gemini's credentials were refused (401); check GEMINI_API_KEY or sign in again."),
    147: (K.AUTHENTICATION_REQUIRED, "Gemini's credentials lack permission (403)."),
    173: (K.QUOTA_OR_RATE_LIMITED, "Gemini quota or rate limit reached (429)."),
    244: (K.PROVIDER_UNAVAILABLE, "Gemini's API failed on its side (500)."),
    247: (K.PROVIDER_UNAVAILABLE, "Gemini's API is unavailable (503)."),
}


def classify_message(message: str, exit_code: int | None) -> o.Failed:
    """A `result` with status error, or a fatal `error` event, -> the failure."""
    text = message.strip()
    low = text.lower()
    if "daily quota" in low or "perday" in low.replace(" ", ""):
        quota = {"state": "exhausted", "resets_at": None, "retry_after_s": None, "window": "daily", "message": _first_line(text)}
        return o.Failed(K.QUOTA_OR_RATE_LIMITED, f"Gemini daily quota exhausted ({_first_line(text)}).", quota)
    m = _RETRY_AFTER.search(text)
    if m or "resource_exhausted" in low or "quota" in low or "429" in text or "rate limit" in low or exit_code == 173:
        retry = float(m.group(1)) if m else None
        quota = {"state": "rate_limited", "resets_at": None, "retry_after_s": retry,
                 "window": "minute" if retry is not None else None, "message": _first_line(text)}
        return o.Failed(K.QUOTA_OR_RATE_LIMITED, f"Gemini rate limit not recovered after retries ({_first_line(text)}).", quota)
    status = _http_status(text)
    if "api_key_invalid" in low or status in (401, 403) or exit_code in (41, 144, 145, 147):
        return o.Failed(K.AUTHENTICATION_REQUIRED, f"Gemini's credentials were refused ({_short(text)}); check GEMINI_API_KEY.")
    if ((status is not None and status >= 500) or exit_code in (244, 247) or "fetch failed" in low or "econnrefused" in low
            or "overloaded" in low or "unavailable" in low or "api error: terminated" in low or "econnreset" in low
            or "socket hang up" in low):
        return o.Failed(K.PROVIDER_UNAVAILABLE, f"Gemini's API is unavailable after retries ({_short(text)}).")
    if "empty response" in low or "invalid_stream" in low or "stream ended" in low:
        return o.Failed(K.PROVIDER_FAILED, f"Gemini's model gave no usable answer ({_short(text)}).")
    if exit_code in EXIT_CODES:
        kind, hint = EXIT_CODES[exit_code]
        return o.Failed(kind, f"{hint} ({_short(text)})" if text else hint)
    return o.Failed(K.PROVIDER_FAILED, f"Gemini failed: {_short(text) or 'no details given'}.")


_STDIN_TRUNCATED = re.compile(r"stdin input truncated to (\d+) bytes")


def stdin_truncated(stderr_tail: str) -> int | None:
    """How many bytes of the prompt Gemini kept, when it cut a prompt given on stdin (8 MiB,
    gemini.md §3): the shim passes prompts over 64 KiB that way."""
    m = _STDIN_TRUNCATED.search(stderr_tail)
    return int(m.group(1)) if m else None


def truncated_prompt_failure(kept: int) -> o.Failed:
    """Gemini 0.61 exits 0 without a result after cutting a huge prompt: no user cancel (no one
    sent a signal) but a request too large for it."""
    return o.Failed(K.BAD_REQUEST, f"The prompt is larger than Gemini reads from stdin: it kept only the first {kept} "
                                   "bytes and ended without an answer; shorten the prompt.")


def truncated_prompt_warning(kept: int) -> o.Warning:
    return o.Warning(f"Gemini read only the first {kept} bytes of the prompt (its stdin limit): the answer is to a cut "
                     "prompt.")


def classify_exit(exit_code: int | None, stderr_tail: str) -> o.Failed | None:
    """No `result` line: failures before `init` print plain text on stderr and an exit code."""
    line = _last_meaningful(stderr_tail)
    if exit_code in EXIT_CODES:
        kind, hint = EXIT_CODES[exit_code]
        if exit_code in (173, 144, 145, 147, 244, 247):
            return classify_message(line or hint, exit_code)
        return o.Failed(kind, f"{hint} ({line})" if line else hint)
    if exit_code == 1 and line:
        if _OBJECT_OBJECT in line:
            # Text mode ends API errors with "An unexpected critical error occurred:[object
            # Object]" and exit 1: the error class and message, and the HTTP status, are in the
            # log above it (recorded: golden/gemini/text-*). Classified as stream-json's
            # result.error is, the status standing in for the exit code it would have given.
            text, status = api_error_in_log(stderr_tail)
            if text or status:
                return classify_message(text or f"HTTP {status} from the Gemini API",
                                        status % 256 if status else None)
        return classify_message(line, exit_code)
    return None


_OBJECT_OBJECT = "[object Object]"
# "Error when talking to Gemini API Full report available at: /tmp/….json TerminalQuotaError: …"
_API_ERROR_LINE = re.compile(r"Error when talking to Gemini API(?: Full report available at: \S+)? (.+)")
# The HTTP status in the retry log and in the error objects Node prints (`status: 429`).
_STATUS_IN_LOG = re.compile(r"failed with status (\d{3})|\"code\":\s*(\d{3})|^\s*status: (\d{3})\s*$", re.M)


_ERROR_CLASS = re.compile(r"[\w$.]*(?:Error|Exception): ")


def api_error_in_log(stderr_tail: str) -> tuple[str, int | None]:
    """The last API error the CLI logged, spelt as stream-json's `result.error.message` spells
    it (`[API Error: message]`: the class is left out, it says little: `RetryableQuotaError` is
    also a 503), and the last HTTP status logged; ("", None) when there is neither."""
    errors = _API_ERROR_LINE.findall(stderr_tail)
    statuses = [int(a or b or c) for a, b, c in _STATUS_IN_LOG.findall(stderr_tail)]
    text = ""
    if errors:
        message = errors[-1].strip()
        m = _ERROR_CLASS.match(message)
        text = f"[API Error: {message[m.end():] if m else message}]"[:2000]
    return text, (statuses[-1] if statuses else None)


def _http_status(text: str) -> int | None:
    m = _HTTP_IN_JSON.search(text)
    return int(m.group(1)) if m else None


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0].strip() if text.strip() else ""


def _short(text: str, limit: int = 300) -> str:
    line = _first_line(text).rstrip(".")
    return line if len(line) <= limit else line[: limit - 1] + "…"


_NOISE = ("Warning: Basic terminal", "Warning: 256-color", "True color", "Ripgrep is not available", "[STARTUP]",
          "YOLO mode is enabled", "Loaded cached credentials")


def _last_meaningful(stderr: str) -> str:
    """The last stderr line that is not one of the CLI's routine warnings."""
    for line in reversed(stderr.strip().splitlines()):
        line = line.strip()
        if line and not any(n in line for n in _NOISE) and not line.startswith("at "):
            return line[-500:]
    return ""
