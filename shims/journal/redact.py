"""Keep secrets out of the journal on disk.

Everything the journal writes (raw vendor stdout/stderr chunks, event lines, the request JSON) goes
through a `Redactor` first. It masks two kinds of secret:

* literal values of secret-looking environment variables (`Redactor.from_env`), matched as exact
  bytes anywhere, also inside longer strings and in their JSON-escaped spelling;
* well-known credential shapes (API keys, OAuth tokens, JWTs, `Bearer`/`Basic` credentials, and the
  value of JSON/header keys that name a secret), so a key the vendor echoes is masked even when it
  is not in our environment.

Masks keep the byte length (`mask`): `shims replay` re-normalizes the journal and compares it with
the recorded events, and output cut markers count bytes. No pattern matches a mask, so redaction
is idempotent; the exceptions need a configured secret that itself contains mask bytes (`*`, `[`,
`]`) or JSON quoting, right against another match, which no real credential does.

Known limits, chosen on purpose (a masked word costs less than a leaked credential):
* a configured value is masked wherever it occurs, so a path-valued variable such as
  GOOGLE_APPLICATION_CREDENTIALS or SSH_AUTH_SOCK masks that path in the journal too (harmless).
  Names are matched as substrings, with two carve-outs that would mask ordinary output: counts
  (`*_TOKENS`, `TOKENIZERS_*`) and `AUTHOR` (GIT_AUTHOR_NAME; this also skips XAUTHORITY, a path);
* values shorter than 8 bytes are never used ("1", "true" would mask ordinary text);
* shapes are matched without word boundaries, so a long kebab-case name containing "sk-"
  ("task-queue-worker-service-config") is masked from the "sk-" on; `Bearer`/`Basic` followed
  by a plain word ("Basic terminal detected") is left alone;
* a configured secret is found even where a shape match started earlier, but not when such a
  match (a `Bearer` token, a header value) stops inside it: that secret's tail stays visible;
* the stream gives exactly `redact()` of the whole for matches up to STREAM_KEEP bytes; a longer
  token is still masked if it sits in the carry whole (see StreamRedactor).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache

MIN_SECRET_BYTES = 8
# A longer value is not a credential we can usefully match, and the stream has to hold a whole
# secret in its carry: this bounds the carry.
MAX_SECRET_BYTES = 64 * 1024

# Stream buffering (see StreamRedactor): never hold more than STREAM_LIMIT bytes; keep at least
# STREAM_KEEP bytes (or the longest secret) unreleased so a token cut by a chunk boundary is seen
# whole; back the cut off by up to STREAM_BACKOFF bytes to a separator so that longer tokens
# (JWTs are often 1-2 KB) are not cut either.
STREAM_LIMIT = 1 << 20
STREAM_KEEP = 1024
STREAM_BACKOFF = 16 * 1024

# Well-known names are listed although the name rule below covers them: a change to the rule must
# not silently drop one of these.
WELL_KNOWN_NAMES = frozenset(
    {
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_AUTH_TOKEN",
        "CLAUDE_CODE_OAUTH_TOKEN",
        "GEMINI_API_KEY",
        "GOOGLE_API_KEY",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "OPENAI_API_KEY",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "GITHUB_TOKEN",
        "GH_TOKEN",
    }
)

# TOKEN(?!S|IZ): MAX_THINKING_TOKENS, CLAUDE_CODE_MAX_OUTPUT_TOKENS, TOKENIZERS_PARALLELISM hold
# numbers and flags; masking an 8-digit number would corrupt JSON usage counts in the journal.
# AUTH(?!OR...): GIT_AUTHOR_NAME/EMAIL hold a person's name, which vendor output (git log) shows
# all the time; AUTHORIZATION/AUTHORISATION still count.
_SECRET_NAME = re.compile(
    r"API_?KEY|TOKEN(?!S|IZ)|SECRET|PASSWORD|PASSWD|CREDENTIAL|PRIVATE_?KEY|AUTH(?!OR(?!I[SZ]))",
    re.IGNORECASE,
)


@lru_cache(maxsize=1024)
def _mask_cached(n: int) -> bytes:
    if n >= 12:
        return b"[REDACTED" + b"*" * (n - 10) + b"]"
    return b"*" * n


def mask(n: int) -> bytes:
    """The mask for a secret of n bytes: same length, recognizably a mask when long enough."""
    return _mask_cached(n) if n <= 4096 else b"[REDACTED" + b"*" * (n - 10) + b"]"


# Every alternative starts with a plain literal byte: then `re` only tries the pattern at bytes
# that can start one (its charset prefix scan), which keeps a pass over ordinary text cheap.
# Quantifiers over a class are possessive: the classes never contain the byte that follows, so
# backtracking could not produce a match anyway, and it would make failures quadratic. A failed
# JWT attempt still reads its whole first run, so that run (the JWT header) is capped at 1 KiB:
# text of repeated "eyJ" would otherwise cost quadratic time.
_TOKEN_PATTERNS: tuple[bytes, ...] = (
    rb"sk-ant-[A-Za-z0-9_-]{8,}+",
    rb"sk-[A-Za-z0-9_-]{20,}+",
    rb"AIza[0-9A-Za-z_-]{30,}+",
    rb"ya29\.[0-9A-Za-z_.-]{10,}+",
    rb"1//0[0-9A-Za-z_-]{20,}+",
    rb"gh[pousr]_[A-Za-z0-9]{20,}+",
    rb"github_pat_[A-Za-z0-9_]{20,}+",
    rb"xox[abpr]-[A-Za-z0-9-]{10,}+",
    rb"A[KS]IA[0-9A-Z]{16}",
    rb"eyJ[A-Za-z0-9_-]{8,1024}+\.[A-Za-z0-9_-]{8,}+\.[A-Za-z0-9_-]{8,}+",
)

# Alternatives whose group 1 (the only group each has) is the part to mask; the rest names it.
# A value starting with `*` or `[` is a mask already: leaving it alone keeps redaction idempotent.
# Not a plain word ("Basic terminal detected", Gemini CLI's stderr on every run; "Bearer
# authentication"): base64 and opaque tokens have digits, symbols or inner capitals. Every prefix
# of a plain word is plain, so a secret masked inside one cannot make it match the next time.
_PLAIN_WORD = rb"(?:[A-Za-z][a-z]*+|[A-Z]++)(?:[.-][a-z]++)*+[.-]?(?![A-Za-z0-9._~+/=-])"
_SCHEMES = rb"(?i:earer|asic)[ \t]++((?!" + _PLAIN_WORD + rb")[A-Za-z0-9._~+/=-]{8,}+)"
_JSON_KEYS = (
    rb"(?:x-(?:goog-)?)?api[_-]?key|(?:access|refresh|id|auth|session)[_-]?token"
    rb"|client[_-]?secret|private[_-]?key|password|passwd|secret"
)
# A JSON string value, escapes included (an escaped quote does not end it).
_JSON_VALUE = rb'(?![*\[])(?:[^"\\\r\n]|\\[^\r\n])++'
# The same JSON echoed inside a JSON string (vendor tool output: `\"api_key\": \"...\"`): the value
# ends at the escaped closing quote, so it does not run on to mask the rest of the line.
_ESCAPED_JSON_VALUE = rb'(?![*\[])(?:[^"\\\r\n]|\\(?!\\*")[^"\r\n])++'
_HEADER_VALUE = rb"(?![*\[])[^\s\"'\\,;&]++"
_VALUE_PATTERNS: tuple[bytes, ...] = (
    b"B" + _SCHEMES,
    b"b" + _SCHEMES,
    # The lookahead is redundant with the keys; it is a cheap first test at every quote of JSON.
    rb'"(?=[aAcCiIpPrRsSxX])(?i:' + _JSON_KEYS + rb')"[ \t]*+:[ \t]*+"(' + _JSON_VALUE + b")",
    # `\\\\*+` rather than `\\++`: the branch must start with a plain literal (see above).
    rb'\\\\*+"(?i:' + _JSON_KEYS + rb')\\++"[ \t]*+:[ \t]*+\\++"(' + _ESCAPED_JSON_VALUE + b")",
    rb"x(?i:-(?:goog-)?api-key)[ \t]*+[:=][ \t]*+(" + _HEADER_VALUE + b")",
    rb"X(?i:-(?:goog-)?api-key)[ \t]*+[:=][ \t]*+(" + _HEADER_VALUE + b")",
)


def _to_bytes(secret: bytes | str) -> bytes:
    if isinstance(secret, str):
        return secret.encode("utf-8", "surrogateescape")
    return bytes(secret)


def _usable(secret: bytes) -> bool:
    if not MIN_SECRET_BYTES <= len(secret) <= MAX_SECRET_BYTES:
        return False
    # A value that is (part of) a mask would re-match our own masks: nothing to hide in it anyway.
    return secret not in mask(len(secret) + 12)


def _spellings(secret: bytes) -> set[bytes]:
    """The secret as it may appear on disk: raw, and escaped inside a JSON string (a vendor's
    JSON output, our event lines and the request JSON all escape quotes, backslashes, controls)."""
    out = {secret}
    try:
        text = secret.decode("utf-8")
    except UnicodeDecodeError:
        return out
    for ascii_only in (False, True):
        out.add(json.dumps(text, ensure_ascii=ascii_only)[1:-1].encode("ascii" if ascii_only else "utf-8"))
    return out


def _split_first(pattern: bytes) -> tuple[bytes, bytes]:
    """(the literal byte a pattern starts with, the rest of the pattern)."""
    if pattern[:1] == b"\\":
        return pattern[1:2], pattern[2:]
    return pattern[:1], pattern[1:]


def _compile(alternatives: list[tuple[bytes, bytes]]) -> re.Pattern[bytes]:
    """One alternation over (first byte, regex for the rest), grouped by first byte.

    Same matches as the plain alternation (at a given byte only the alternatives starting with it
    can match, and their order is kept), but `re` checks one branch per distinct first byte
    instead of one per alternative: with a few secrets that is about twice as fast."""
    groups: dict[bytes, list[bytes]] = {}
    for first, rest in alternatives:
        groups.setdefault(first, []).append(rest)
    branches = [
        re.escape(first) + (rests[0] if len(rests) == 1 else b"(?:" + b"|".join(rests) + b")")
        for first, rests in groups.items()
    ]
    return re.compile(b"|".join(branches))


class Redactor:
    """Masks secrets in bytes: `redact` for a whole buffer, `stream()` for chunks as they arrive."""

    def __init__(self, secrets: Iterable[bytes | str] = (), *, patterns: bool = True) -> None:
        """`secrets` are matched literally; values shorter than 8 bytes (or longer than 64 KiB) are
        ignored, because they would mask ordinary text."""
        literal: set[bytes] = set()
        for s in secrets:
            b = _to_bytes(s).strip()
            if _usable(b):
                literal |= {v for v in _spellings(b) if _usable(v)}
        # Longest first: where two secrets start at the same byte the longer one must win, or its
        # tail would leak.
        ordered = sorted(literal, key=lambda b: (-len(b), b))
        # Secrets before patterns: a pattern stopping inside a secret (a class it does not cover)
        # would leak the secret's tail.
        alternatives = [(b[:1], re.escape(b[1:])) for b in ordered]
        if patterns:
            alternatives += [_split_first(p) for p in (*_TOKEN_PATTERNS, *_VALUE_PATTERNS)]
        self._re: re.Pattern[bytes] | None = _compile(alternatives) if alternatives else None
        self._names: list[str] = []
        self._multiline = any(b"\n" in b for b in ordered)
        self._window = max(STREAM_KEEP, max(map(len, ordered), default=0) + 1)

    @classmethod
    def from_env(cls, env: Mapping[str, str], extra_names: Iterable[str] = ()) -> Redactor:
        """A redactor for the secret values in `env`: variables whose name looks like a secret
        (API_KEY, TOKEN, SECRET, PASSWORD, CREDENTIAL, PRIVATE_KEY, AUTH...), the well-known
        vendor names, and `extra_names` (exact names from the user's config)."""
        extra = set(extra_names)
        names: list[str] = []
        values: list[bytes] = []
        for name, value in env.items():
            if name in extra or is_secret_env_name(name):
                b = _to_bytes(value).strip()
                if _usable(b):
                    names.append(name)
                    values.append(b)
        r = cls(values)
        r._names = sorted(set(names))
        return r

    @property
    def names(self) -> list[str]:
        """Names of the environment variables whose values are masked (never the values)."""
        return list(self._names)

    def redact(self, data: bytes) -> bytes:
        pattern = self._re
        if pattern is None:
            return bytes(data)
        out: bytearray | None = None
        for m in pattern.finditer(data):
            if out is None:
                out = bytearray(data)
            s, e = m.span(m.lastindex or 0)
            out[s:e] = mask(e - s)
        return bytes(data) if out is None else bytes(out)

    def redact_text(self, text: str) -> str:
        # surrogateescape both ways: a str that came from undecodable bytes round-trips unchanged
        # except for the masks (which are ASCII and replace whole secrets).
        return self.redact(text.encode("utf-8", "surrogateescape")).decode("utf-8", "surrogateescape")

    def stream(self) -> StreamRedactor:
        return StreamRedactor(self)


# Bytes no token class contains, so a cut just after one does not split a token (a JSON value
# may contain them; the cut is moved out of such a match). Most common first: each search only
# looks after the best cut found so far.
_SEPARATORS = b" \n\",\t'\\\r;()<>{}[]`|"


class StreamRedactor:
    """Redacts a byte stream fed in arbitrary chunks; what it returns concatenates to exactly
    `redact(whole stream)` for secrets and tokens up to STREAM_KEEP bytes (longer configured
    secrets widen the window to fit them).

    It holds back unreleased raw bytes and releases only up to a *cut* where a whole-buffer scan
    would also start a fresh search: a position no match spans, with every match decision before
    it final (it read no byte beyond what we have). Two kinds of position qualify: just after the
    last newline (no pattern spans a newline; unless a configured secret contains one), and
    anywhere at least `window` bytes before the end (no match attempt reads further). The cut is
    then moved out of any match that straddles it. The carry is raw, not redacted: the next scan
    sees exactly the bytes a whole-buffer scan would, so no mask is ever guessed at.
    """

    def __init__(self, redactor: Redactor) -> None:
        self._re = redactor._re
        self._newline_cuts = not redactor._multiline
        self._window = redactor._window
        self._hold_max = redactor._window + STREAM_BACKOFF
        self._buf = bytearray()

    def feed(self, chunk: bytes) -> bytes:
        if self._re is None:
            return bytes(chunk)
        out: list[bytes] = []
        view = memoryview(chunk)
        pos, n = 0, len(view)
        while pos < n:
            # A big chunk goes in slices, so the buffer never exceeds STREAM_LIMIT; a release at
            # the limit always frees room, since the carry is at most _hold_max bytes.
            take = min(n - pos, STREAM_LIMIT - len(self._buf))
            self._buf += view[pos : pos + take]
            pos += take
            out.append(self._release(final=False))
        return b"".join(out)

    def finish(self) -> bytes:
        if self._re is None:
            return b""
        rest = self._release(final=True)
        self._buf = bytearray()
        return rest

    def _target(self) -> int:
        """Where a cut may go before looking at matches (0: nothing to release yet)."""
        buf = self._buf
        size = len(buf)
        target = 0
        far = size - self._window
        if far > 0:
            lo = max(0, far - STREAM_BACKOFF)
            best = -1
            for sep in _SEPARATORS:
                i = buf.rfind(sep, max(lo, best + 1), far)
                if i > best:
                    best = i
            # No separator in the back-off range: one huge run; cut it, bounding the carry.
            target = best + 1 if best >= 0 else far
        if self._newline_cuts:
            target = max(target, buf.rfind(b"\n") + 1)
        return target

    def _release(self, *, final: bool) -> bytes:
        buf = self._buf
        size = len(buf)
        target = size if final else self._target()
        if target <= 0:
            return b""
        assert self._re is not None
        cut = target
        spans: list[tuple[int, int]] = []
        for m in self._re.finditer(buf):
            start, end = m.span()
            if start >= target:
                break
            if end > target:
                # A match ending before the buffer end is complete; one reaching it may continue
                # in the next chunk, so it waits, unless it is already longer than we may hold.
                if end < size or size - start > self._hold_max:
                    cut = end
                else:
                    cut = start
                    break
            spans.append(m.span(m.lastindex or 0))
        if cut <= 0:
            return b""
        out = bytearray(buf[:cut])
        for s, e in spans:
            out[s:e] = mask(e - s)
        del buf[:cut]
        return bytes(out)


def is_secret_env_name(name: str) -> bool:
    """Whether a variable's value is treated as a secret (the journal masks it; `shims config
    show` hides it): one rule for both."""
    return name.upper() in WELL_KNOWN_NAMES or bool(_SECRET_NAME.search(name))
