"""What codex-lab makes of a protocol-1 answer, and the answer's text written for it (CONTRACT §7).

codex-lab (cbusillo/codex-lab, `external_command` backend, `protocol = "json"`) never reads a
failure kind: it guesses one from a failed answer's `final_message` with a phrase list
(`classify_provider_failure_text`), checked class by class in a fixed order (quota or rate
limit, authentication, permission denied in later revisions, unsupported mode), each phrase
anywhere in the ASCII-lowercased text; anything else is a generic provider failure. It cuts
any message over 8 KiB to its tail behind its own marker, before it classifies it.

So a failed answer here (`failure_message`):
- starts with `<kind>: ` (the kind's name for the parent model) and, for the three kinds
  codex-lab has a class for, words of that class ("authentication required", "unsupported
  mode"; "quota_or_rate_limited" itself holds codex-lab's "rate_limit");
- has every phrase of any *other* class in the rest of the text (the vendor's own words:
  "API Error: 429" in a provider failure, "unauthorized" in an outage) broken by an invisible
  U+2060 WORD JOINER after its first letter. Order in the text cannot help, since codex-lab
  checks classes, not positions; dropping the vendor's words would lose what a person needs.
  The kinds codex-lab does not know (command_missing, timed_out, provider_unavailable,
  bad_request, malformed_output, empty_output, cancelled, provider_failed) so read as its
  generic provider_failed, never as a wrong specific class. The journal and the `shim-result`
  envelope keep the vendor's text as it was;
- is at most `MESSAGE_BYTES` long, cut in the vendor's part, so codex-lab never cuts it and the
  kind at its head always reaches the classifier.
"""

from __future__ import annotations

from normalize.failures import FailureKind
from normalize.limits import fit_tail

# codex-lab's MAX_MODEL_VISIBLE_EXTERNAL_AGENT_BYTES: a message over it is cut again.
MESSAGE_BYTES = 8 * 1024

# codex-lab's classes in the order it checks them, with the phrases of every revision seen
# (codex-rs/core/src/agent/external_diagnostics.rs at 17fe631b and b51b9188). None: a class
# of codex-lab's with no shim kind (permission_denied).
_CLASSES: tuple[tuple[str | None, tuple[str, ...]], ...] = (
    (FailureKind.QUOTA_OR_RATE_LIMITED, ("rate limit", "rate_limit", "too many requests", "quota exceeded",
                                         "insufficient_quota", "resource exhausted", "http 429", "status 429",
                                         "api error: 429")),
    (FailureKind.AUTHENTICATION_REQUIRED, ("authentication required", "not authenticated", "unauthorized",
                                           "auth failed", "invalid api key", "invalid token", "please sign in",
                                           "please log in", "login required", "sign in to", "log in to",
                                           "waiting for authentication")),
    (None, ("permission that headless mode cannot prompt for", "auto-denied",
            "user denied permission to run command", "soft-denying tool confirmation")),
    (FailureKind.UNSUPPORTED_MODE, ("unknown command", "unknown flag", "unknown option", "unrecognized option",
                                    "unsupported mode", "invalid option")),
)

# Words of codex-lab's own class for the kinds it knows, put after `<kind>: ` (the kind's name
# alone does not match but for the quota kind, whose name holds "rate_limit").
_OWN_WORDS = {
    FailureKind.AUTHENTICATION_REQUIRED: "authentication required",
    FailureKind.UNSUPPORTED_MODE: "unsupported mode",
}

_JOINER = "\u2060".encode()  # WORD JOINER: invisible, and no ASCII phrase matches across it


def defused(text: str, kind: str) -> str:
    """`text` with every phrase of a codex-lab class other than `kind`'s broken by a U+2060
    after its first letter. Matching is ASCII-case-insensitive, on bytes, like codex-lab's;
    every match gets its break (overlapping phrases included), and a break makes no new match."""
    data = text.encode("utf-8", "surrogatepass")
    low = data.lower()  # bytes.lower changes ASCII letters only: offsets stay those of `data`
    breaks: set[int] = set()
    for owner, phrases in _CLASSES:
        if owner == kind:
            continue
        for phrase in phrases:
            needle, at = phrase.encode(), low.find(phrase.encode())
            while at >= 0:
                breaks.add(at + 1)  # phrases start with an ASCII letter: a character boundary
                at = low.find(needle, at + 1)
    if not breaks:
        return text
    out, last = [], 0
    for at in sorted(breaks):
        out += [data[last:at], _JOINER]
        last = at
    out.append(data[last:])
    return b"".join(out).decode("utf-8", "surrogatepass")


def failure_message(kind: str, error: str | None, resets_at: str | None = None) -> str:
    """A failed protocol-1 `final_message`: `<kind>: [codex-lab's words — ]<error>[; resets T]`,
    read by codex-lab as `kind` when it has that class and as provider_failed otherwise, and at
    most MESSAGE_BYTES long."""
    head = f"{kind}: " + (f"{_OWN_WORDS[kind]} — " if kind in _OWN_WORDS else "")
    body = error or "the worker failed"
    tail = f"; resets {resets_at}" if resets_at and resets_at not in body else ""
    body = defused(body + tail, kind)
    room = MESSAGE_BYTES - len(head.encode())
    return head + fit_tail(body, room)
