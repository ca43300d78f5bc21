"""Keep secrets out of everything the shims write and print.

Everything the journal writes (raw vendor stdout/stderr chunks, event lines, the request JSON),
every state file (shims.state.private_files.state_bytes), the stream a host reads and the
`shim:` lines go through a `Redactor` first (one per process: `use`, `current`). It masks two
kinds of secret:

* literal values of secret-looking environment variables (`Redactor.from_env`), matched anywhere,
  also inside longer strings, and in any JSON spelling: each character raw or escaped (`\\uXXXX`
  in either hex case, surrogate pairs, `\\/`, the short escapes), nested up to three levels;
* well-known credential shapes (API keys, OAuth tokens, JWTs, `Bearer`/`Basic` credentials, and the
  value of JSON/header keys that name a secret), so a key the vendor echoes is masked even when it
  is not in our environment; the key and token shapes also with escaped characters.

Text without an escape that could spell such a character goes through the plain pass (the
secrets raw and as json.dumps spells them, the shapes as written); other text through the wide
pass, compiled on first use (~20 ms). Both find the same on text the plain pass is used for.

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
  token is still masked if it sits in the carry whole (see StreamRedactor);
* a configured secret over MAX_SPELLED_SECRET_BYTES is matched only raw and as json.dumps
  spells it; a JSON key name (`"api_key"`) or header name spelled with escapes is not recognized
  (its value still is when it has a known shape); an escape behind more than ESCAPE_RUN
  backslashes (four levels of nesting) is not decoded;
* escaped characters inside a token are any printable ASCII escape, so a run of escaped
  punctuation glued to a token is masked with it.
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


# JSON spellings. A JSON writer may spell any character of a string as `\uXXXX` (either hex
# case; non-BMP characters as a surrogate pair), `/` as `\/`, and the short escapes (`\"`, `\\`,
# `\n`...); a JSON document carried inside a JSON string doubles every backslash, once per level.
# Listing the spellings is exponential, so each character becomes an alternation (itself, or a
# run of 1-8 backslashes and its escape: nesting up to three levels deep). An escape is matched
# only from the start of its run of backslashes, so a mask never leaves half an escape behind
# and the JSON stays valid.
ESCAPE_RUN = 8
_BACKSLASHES = rb"\\{1,%d}" % ESCAPE_RUN
# An escape spelled from the start of its run, after the run's first backslash.
_ESCAPE_START = rb"(?<!\\\\)\\{0,%d}" % (ESCAPE_RUN - 1)
_SHORT_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "\b": "b", "\f": "f", "\n": "n", "\r": "r", "\t": "t"}


def _split_first(pattern: bytes) -> tuple[bytes, bytes]:
    """(the literal byte a pattern starts with, the rest of the pattern)."""
    if pattern[:1] == b"\\":
        return pattern[1:2], pattern[2:]
    return pattern[:1], pattern[1:]


def _hex_digits(text: str) -> bytes:
    return b"".join(f"[{c.lower()}{c.upper()}]".encode() if c.isalpha() else c.encode() for c in text)


def _unicode_escapes(ch: str) -> tuple[bytes, int]:
    """(pattern, longest match) for `\\uXXXX` (or a surrogate pair) spelling one character."""
    code = ord(ch)
    units = [code] if code < 0x10000 else [0xD800 + ((code - 0x10000) >> 10), 0xDC00 + ((code - 0x10000) & 0x3FF)]
    pattern = b"".join(_BACKSLASHES + b"u" + _hex_digits(f"{u:04x}") for u in units)
    return pattern, len(units) * (ESCAPE_RUN + 5)


def _char_spellings(ch: str) -> tuple[list[bytes], int]:
    """The alternatives spelling one character (raw first), and the longest of them."""
    raw = ch.encode("utf-8", "surrogateescape")
    alts = [re.escape(raw)]
    longest = len(raw)
    if not 0xD800 <= ord(ch) <= 0xDFFF:  # a lone surrogate (undecodable byte) has no escape
        pattern, n = _unicode_escapes(ch)
        alts.append(pattern)
        longest = max(longest, n)
    short = _SHORT_ESCAPES.get(ch)
    if short is not None:
        alts.append(_BACKSLASHES + re.escape(short.encode()))
        longest = max(longest, ESCAPE_RUN + 1)
    return alts, longest


def _atom(alts: list[bytes]) -> bytes:
    return alts[0] if len(alts) == 1 else b"(?:" + b"|".join(alts) + b")"


def _first_alternatives(alts: list[bytes], rest: bytes) -> list[tuple[bytes, bytes]]:
    """A pattern whose first character has these spellings, as (first byte, regex for the rest)
    alternatives (see _compile). An escaped first character must start its run of backslashes."""
    out = []
    for alt in alts:
        if alt.startswith(_BACKSLASHES):
            out.append((b"\\", _ESCAPE_START + alt[len(_BACKSLASHES):] + rest))
        else:
            first, tail = _split_first(alt)
            out.append((first, tail + rest))
    return out


# An escaped character inside a token: any printable ASCII one (a token class spelled exactly
# would make the pattern several times bigger, and slower to compile, for a run of escaped
# punctuation nobody writes).
_CLASS_ESCAPE = _BACKSLASHES + rb"(?:u00[2-7][0-9a-fA-F]|/)"


def _spelled(*elements: str | tuple[str, str, int, int | None]) -> list[tuple[bytes, bytes]]:
    """A credential shape whose every character may be escaped: literal text, or (raw class, its
    characters, at least, at most). Returns its alternatives for _compile: every shape starts
    with a literal character."""
    first, *rest = elements
    assert isinstance(first, str)
    parts = [_atom(_char_spellings(c)[0]) for c in first[1:]]
    for el in rest:
        if isinstance(el, str):
            parts += [_atom(_char_spellings(c)[0]) for c in el]
        else:
            parts.append(_class_run(*el))
    return _first_alternatives(_char_spellings(first[0])[0], b"".join(parts))


def _class_run(raw: str, chars: str, least: int, most: int | None) -> bytes:
    """`[raw]{least,most}+`, each character also as an escape. Past the first `least`, raw
    characters are taken as whole runs (a class run is several times faster in `re` than one
    alternation per character). A bounded run counts its raw characters, and at most 64 escapes."""
    cls = b"[" + raw.encode() + b"]"
    one = b"(?:" + cls + b"|" + _CLASS_ESCAPE + b")"
    if most == least:
        return one + (b"{%d}" % least if least > 1 else b"")
    head = one + b"{%d}" % least
    if most is None:
        return b"(?>" + head + b"(?:" + cls + b"++|" + _CLASS_ESCAPE + b")*+)"
    return (b"(?>" + head + cls + b"{0,%d}+" % (most - least)
            + b"(?:" + _CLASS_ESCAPE + cls + b"{0,%d}+){0,64}+)" % (most - least))


_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_TOKEN = ("A-Za-z0-9_-", _ALNUM + "_-")

# Every alternative starts with a plain literal byte: then `re` only tries the pattern at bytes
# that can start one (its charset prefix scan), which keeps a pass over ordinary text cheap; a
# shape spelled from its first character on starts with `\`, a byte JSON has anyway.
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
# The same shapes with every character also in its escaped spellings (the wide pass).
_TOKEN_SHAPES: tuple[list[tuple[bytes, bytes]], ...] = (
    _spelled("sk-ant-", (*_TOKEN, 8, None)),
    _spelled("sk-", (*_TOKEN, 20, None)),
    _spelled("AIza", (*_TOKEN, 30, None)),
    _spelled("ya29.", ("0-9A-Za-z_.-", _ALNUM + "_.-", 10, None)),
    _spelled("1//0", (*_TOKEN, 20, None)),
    _spelled("gh", ("pousr", "pousr", 1, 1), "_", ("A-Za-z0-9", _ALNUM, 20, None)),
    _spelled("github_pat_", ("A-Za-z0-9_", _ALNUM + "_", 20, None)),
    _spelled("xox", ("abpr", "abpr", 1, 1), "-", ("A-Za-z0-9-", _ALNUM + "-", 10, None)),
    _spelled("A", ("KS", "KS", 1, 1), "IA", ("0-9A-Z", _ALNUM[:26] + _ALNUM[52:], 16, 16)),
    _spelled("eyJ", (*_TOKEN, 8, 1024), ".", (*_TOKEN, 8, None), ".", (*_TOKEN, 8, None)),
)

# Alternatives whose group 1 (the only group each has) is the part to mask; the rest names it.
# A value starting with `*` or `[` is a mask already: leaving it alone keeps redaction idempotent.
# Not a plain word ("Basic terminal detected", Gemini CLI's stderr on every run; "Bearer
# authentication"): base64 and opaque tokens have digits, symbols or inner capitals. Every prefix
# of a plain word is plain, so a secret masked inside one cannot make it match the next time.
_PLAIN_WORD = rb"(?:[A-Za-z][a-z]*+|[A-Z]++)(?:[.-][a-z]++)*+[.-]?(?![A-Za-z0-9._~+/=-])"
_SCHEME_VALUE = b"(?:[A-Za-z0-9._~+/=-]|" + _CLASS_ESCAPE + b")"
_SCHEMES = rb"(?i:earer|asic)[ \t]++((?!" + _PLAIN_WORD + rb")[A-Za-z0-9._~+/=-]{8,}+)"
_WIDE_SCHEMES = rb"(?i:earer|asic)[ \t]++((?!" + _PLAIN_WORD + rb")" + _SCHEME_VALUE + rb"{8,}+)"
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
# The same, with the credential schemes' value class widened to escapes (the JSON-key and
# header patterns are used as they are).
_WIDE_VALUE_PATTERNS: tuple[bytes, ...] = (b"B" + _WIDE_SCHEMES, b"b" + _WIDE_SCHEMES, *_VALUE_PATTERNS[2:])


def _to_bytes(secret: bytes | str) -> bytes:
    if isinstance(secret, str):
        return secret.encode("utf-8", "surrogateescape")
    return bytes(secret)


def _usable(secret: bytes) -> bool:
    if not MIN_SECRET_BYTES <= len(secret) <= MAX_SECRET_BYTES:
        return False
    # A value that is (part of) a mask would re-match our own masks: nothing to hide in it anyway.
    return secret not in mask(len(secret) + 12)


# A secret longer than this is matched only as its exact JSON spellings (json.dumps): a pattern
# per character would make the stream's window (and the regex) grow to many times its length.
MAX_SPELLED_SECRET_BYTES = 4096


def _secret_alternatives(secret: bytes) -> tuple[list[tuple[bytes, bytes]], int]:
    """The secret in any JSON spelling (see ESCAPE_RUN), as alternatives for _compile, and the
    longest text they match."""
    try:
        text = secret.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None or len(secret) > MAX_SPELLED_SECRET_BYTES:
        spellings = sorted((v for v in _spellings(secret) if _usable(v)), key=lambda b: (-len(b), b))
        return [(b[:1], re.escape(b[1:])) for b in spellings], max(map(len, spellings), default=0)
    atoms = [_char_spellings(c) for c in text]
    rest = b"".join(_atom(alts) for alts, _ in atoms[1:])
    return _first_alternatives(atoms[0][0], rest), sum(n for _, n in atoms)


def _spellings(secret: bytes) -> set[bytes]:
    """The secret raw and as json.dumps spells it inside a string (ASCII-only or not)."""
    out = {secret}
    try:
        text = secret.decode("utf-8")
    except UnicodeDecodeError:
        return out
    for ascii_only in (False, True):
        out.add(json.dumps(text, ensure_ascii=ascii_only)[1:-1].encode("ascii" if ascii_only else "utf-8"))
    return out


def _compile(alternatives: list[tuple[bytes, bytes]]) -> re.Pattern[bytes]:
    """One alternation over (first byte, regex for the rest), grouped by first byte.

    Same matches as the plain alternation (at a given byte only the alternatives starting with it
    can match, and their order is kept), but `re` checks one branch per distinct first byte
    instead of one per alternative: with a few secrets that is about twice as fast."""
    groups: dict[bytes, list[bytes]] = {}
    for first, rest in alternatives:
        groups.setdefault(first, []).append(rest)
    branches = []
    for first, rests in groups.items():
        if first == b"\\":
            rests = _factor_escape_runs(rests)
        branches.append(re.escape(first) + (rests[0] if len(rests) == 1 else b"(?:" + b"|".join(rests) + b")"))
    return re.compile(b"|".join(branches))


def _factor_escape_runs(rests: list[bytes]) -> list[bytes]:
    """The alternatives after a `\\` with the start of an escape run taken out into one branch,
    by the byte after the run: at every backslash of a JSON text `re` reads the run once,
    instead of once per spelled secret and shape. (An escape and the escaped JSON value
    pattern never start at the same byte, so moving them apart changes no match.)"""
    escapes = [r[len(_ESCAPE_START):] for r in rests if r.startswith(_ESCAPE_START)]
    if len(escapes) < 2:
        return rests
    by_next: dict[bytes, list[bytes]] = {}
    for r in escapes:
        nxt, tail = _split_first(r)
        by_next.setdefault(nxt, []).append(tail)
    inner = b"|".join(re.escape(n) + (t[0] if len(t) == 1 else b"(?:" + b"|".join(t) + b")") for n, t in by_next.items())
    return [_ESCAPE_START + b"(?:" + inner + b")", *(r for r in rests if not r.startswith(_ESCAPE_START))]


class Redactor:
    """Masks secrets in bytes: `redact` for a whole buffer, `stream()` for chunks as they arrive."""

    def __init__(self, secrets: Iterable[bytes | str] = (), *, patterns: bool = True) -> None:
        """`secrets` are matched literally; values shorter than 8 bytes (or longer than 64 KiB) are
        ignored, because they would mask ordinary text."""
        literal: set[bytes] = set()
        for s in secrets:
            b = _to_bytes(s).strip()
            if _usable(b):
                literal.add(b)
        # Longest first: where two secrets start at the same byte the longer one must win, or its
        # tail would leak.
        ordered = sorted(literal, key=lambda b: (-len(b), b))
        # Two passes with the same matches on text that has no escape that could spell a
        # character (see _needs_wide): a plain one (each secret raw and as json.dumps spells it),
        # and a wide one where each character may be escaped (see ESCAPE_RUN). The wide one is
        # compiled when first needed: its pattern is big, and ~20 ms to compile.
        # Secrets before patterns: a pattern stopping inside a secret (a class it does not cover)
        # would leak the secret's tail.
        plain: list[tuple[bytes, bytes]] = []
        wide: list[tuple[bytes, bytes]] = []
        longest = 0
        spelled = sorted({v for b in ordered for v in _spellings(b) if _usable(v)}, key=lambda b: (-len(b), b))
        plain += [(b[:1], re.escape(b[1:])) for b in spelled]
        for secret in ordered:
            alts, n = _secret_alternatives(secret)
            wide += alts
            longest = max(longest, n)
        if patterns:
            plain += [_split_first(p) for p in (*_TOKEN_PATTERNS, *_VALUE_PATTERNS)]
            for shape in _TOKEN_SHAPES:
                wide += shape
            wide += [_split_first(p) for p in _WIDE_VALUE_PATTERNS]
        self._re: re.Pattern[bytes] | None = _compile(plain) if plain else None
        self._wide_alternatives = wide
        self._wide_re: re.Pattern[bytes] | None = None
        # What text must hold for the wide pass to find more than the plain one: an escape of a
        # printable ASCII character or `\/`; any `\u` escape when a secret has other characters;
        # a doubled backslash when a secret has characters JSON escapes short (nested escapes).
        other = any(not 0x20 <= c < 0x7F for b in ordered for c in b)
        short = any(c in b'"\\/' for b in ordered for c in b) or other
        self._needs_wide = re.compile(rb"\\(?:u00[2-7]|/" + (rb"|u" if other else b"") + (rb"|\\" if short else b"") + b")")
        self._names: list[str] = []
        self._multiline = any(b"\n" in b for b in ordered)
        self._window = max(STREAM_KEEP, longest + 1)

    def _pattern_for(self, data: bytes | bytearray) -> re.Pattern[bytes] | None:
        """The plain pass, or the wide one when `data` has an escape that may spell a character."""
        if self._re is None or b"\\" not in data or self._needs_wide.search(data) is None:
            return self._re
        if self._wide_re is None:
            self._wide_re = _compile(self._wide_alternatives)
        return self._wide_re

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
        pattern = self._pattern_for(data)
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
_SEPARATORS = b" \n\",\t'\r;()<>{}[]`|"


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
        self._redactor = redactor
        self._re = redactor._re
        self._newline_cuts = not redactor._multiline
        self._window = redactor._window
        self._hold_max = redactor._window + STREAM_BACKOFF
        # Room for the carry and then some (a long configured secret widens the window).
        self._limit = max(STREAM_LIMIT, 2 * self._hold_max)
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
            take = min(n - pos, self._limit - len(self._buf))
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
        pattern = self._redactor._pattern_for(buf)
        assert pattern is not None
        cut = target
        spans: list[tuple[int, int]] = []
        for m in pattern.finditer(buf):
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


# The redactor of this process: a shim run installs its own (the environment, the config's
# vendor env and `redact_env`) with `use`; other commands get one for the environment. Every
# state file, printed line and `shim:` message goes through it (shims.state.journal.run.state_bytes).
_current: Redactor | None = None


def use(redactor: Redactor) -> Redactor:
    global _current
    _current = redactor
    return redactor


def current() -> Redactor:
    global _current
    if _current is None:
        import os

        _current = Redactor.from_env(os.environ)
    return _current
