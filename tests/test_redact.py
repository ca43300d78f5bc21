"""Secrets never reach the journal: exact masks per pattern and env value, idempotence, and the
stream redactor giving the same bytes as a whole-buffer pass, in bounded memory."""

from __future__ import annotations

import json
import re
import string
from contextlib import contextmanager
from unittest import mock

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from shims.state import redact as R
from shims.state.redact import Redactor, StreamRedactor, mask

STREAM_HOLD_BOUND = R.STREAM_KEEP + R.STREAM_BACKOFF


def masked(prefix: bytes | str, secret: bytes | str, suffix: bytes | str = b"") -> tuple[bytes, bytes]:
    """(input, expected) for a secret between prefix and suffix."""
    p, s, x = (v.encode() if isinstance(v, str) else v for v in (prefix, secret, suffix))
    return p + s + x, p + mask(len(s)) + x


def run_stream(r: Redactor, data: bytes, cuts: list[int]) -> bytes:
    s = r.stream()
    out, prev = [], 0
    for c in [*sorted(set(cuts)), len(data)]:
        out.append(s.feed(data[prev:c]))
        prev = c
    out.append(s.finish())
    return b"".join(out)


# -- masks ---------------------------------------------------------------------------------------


def test_mask_shape() -> None:
    assert mask(0) == b""
    assert mask(1) == b"*"
    assert mask(11) == b"*" * 11
    assert mask(12) == b"[REDACTED**]"
    assert mask(20) == b"[REDACTED**********]"
    for n in range(0, 5000, 7):
        assert len(mask(n)) == n
    assert mask(10_000) == b"[REDACTED" + b"*" * 9990 + b"]"


def test_masks_are_not_matched_again() -> None:
    r = Redactor(["abcdefgh1234"])
    for text in [
        b"[REDACTED**] ******** [REDACTED****************]",
        b'{"api_key": "[REDACTED*****]", "access_token": "********"}',
        b"Authorization: Bearer [REDACTED******]\nBasic ********",
        b"x-api-key: ********",
    ]:
        assert r.redact(text) == text


# -- patterns ------------------------------------------------------------------------------------

JWT = (
    "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)

PATTERN_CASES = [
    # (prefix, secret, suffix): only the secret part is masked
    ("echo ", "sk-ant-api03-AbCdEf_12-xyzXYZ0987", "\n"),
    ("", "sk-ant-oat01-abcdefgh", ""),
    ("OPENAI_API_KEY=", "sk-proj-" + "aB3_" * 10, " ok"),
    ("key ", "sk-" + "a1B2" * 5, "."),  # the generic form at its minimum length
    ("?key=", "AIzaSyD-" + "x7" * 13, "&alt=json"),
    ('"', "ya29.a0AfH6SMBx-abc.def_GHI", '"'),
    ("refresh: ", "1//0" + "gAbC-def_" * 3, " "),
    ("GITHUB_TOKEN=", "ghp_" + "A1b2C3d4E5" * 4, "\n"),
    ("", "gho_" + "z" * 20, ""),
    ("", "ghu_" + "9" * 36, ""),
    ("", "ghs_" + "Ab" * 18, ""),
    ("", "ghr_" + "Cd" * 18, ""),
    ("token: ", "github_pat_11ABCDEFG0_abcdefghijklmnopqrstuvwxyz0123", "\r\n"),
    ("slack=", "xoxb-1234567890-abcdefABCDEF", ";"),
    ("", "xoxp-12345-67890", ""),
    ("aws ", "AKIAIOSFODNN7EXAMPLE", " id"),
    ("aws ", "ASIAIOSFODNN7EXAMPLE", ""),
    ("jwt=", JWT, "&"),
    ("Authorization: Bearer ", "abc123DEF.456-xyz~+/=", "\r\n"),
    ("authorization: bearer ", "abcdefg1", ""),
    ("AUTHORIZATION: BEARER\t", "Zm9vYmFyYmF6", "'"),
    ("Authorization: Basic ", "dXNlcjpwYXNzd29yZA==", "\n"),
    ("curl -H 'Authorization: basic ", "YWxhZGRpbjpvcGVuc2VzYW1l", "'"),
    ('{"x-api-key": "', "k3y-v4lue-0001", '"}'),
    ('{"api_key":"', "hunter2hunter2", '", "n": 1}'),
    ('{"apiKey": "', "abc", '"}'),  # the key says it is a secret: short values too
    ('{"API_KEY" : "', "sk_live_51Hx", '"}'),
    ('{"access_token": "', "at-0123456789", '"}'),
    ('{"refresh_token": "', "rt/0123 456+789", '"}'),  # JSON values may contain spaces
    ('{"id_token": "', "not.a.jwt.but.secret", '"}'),
    ('{"client_secret": "', "GOCSPX-abcdefghijkl", '"}'),
    ('{"accessToken": "', "camel-case-token", '"}'),
    ('{"private_key": "', "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBg\\n-----END PRIVATE KEY-----\\n", '"}'),
    ('{"password": "', 'p@ss\\"word', '"}'),  # an escaped quote inside the value
    ("x-goog-api-key: ", "AIzaFAKEKEY", "\n"),
    ("X-Goog-Api-Key:", "short1", "\r\n"),
    ("X-API-KEY: ", "abcdef0123", ""),
    ('curl -H "x-api-key: ', "k-123456", '" https://api'),
    ("https://h/?x-api-key=", "abc123xyz", "&q=1"),
    # the same JSON echoed inside a JSON string (vendor tool output): backslash-escaped quotes
    ('{"content": "{\\"api_key\\": \\"', "v4lue-123/xyz", '\\", \\"n\\": 1}"}'),
    ('{"content": "{\\\\\\"access_token\\\\\\": \\\\\\"', "deep-nested-1", '\\\\\\"}"}'),
]


@pytest.mark.parametrize(("prefix", "secret", "suffix"), PATTERN_CASES)
def test_pattern_masks_exactly_the_secret(prefix: str, secret: str, suffix: str) -> None:
    data, expected = masked(prefix, secret, suffix)
    r = Redactor()
    assert r.redact(data) == expected
    assert len(r.redact(data)) == len(data)
    assert r.redact(expected) == expected


def test_a_token_glued_to_more_token_characters_is_masked_whole() -> None:
    # Greedy: the whole run is the credential, not just its first 20 characters.
    data, expected = masked("x ", "sk-" + "Ab1-" * 40, " y")
    assert Redactor().redact(data) == expected


@pytest.mark.parametrize(
    "text",
    [
        b"Warning: Basic terminal detected (TERM=dumb). Visual rendering will be limited.",
        b"Bearer tokens are described in RFC 6750; use Bearer authentication.",
        b"BASIC CONFIGURATION and Basic example.com-style names",
        b"sk-short sk-ant-abc ghp_short xoxb-1 AKIA1234 ASIAlowercase0000000 ya29.short",
        b"eyJhbGciOiJIUzI1NiJ9 eyJ.a.b eyJhbGciOiJIUzI1NiJ9.eyJzdWIi",
        b'{"type":"system","apiKeySource":"none","api_key_source":"env","tokens":123456789}',
        b'{"api_key": null, "password": "", "token_count": "12345678"}',
        b"1//0short x-api-key 'plain' 1//",
    ],
)
def test_ordinary_text_is_untouched(text: bytes) -> None:
    assert Redactor().redact(text) == text


# -- secrets from the environment ----------------------------------------------------------------

WELL_KNOWN = {
    "ANTHROPIC_API_KEY": "sk-ant-api03-" + "Q" * 30,
    "ANTHROPIC_AUTH_TOKEN": "auth-token-value-1",
    "CLAUDE_CODE_OAUTH_TOKEN": "sk-ant-oat01-" + "w" * 20,
    "GEMINI_API_KEY": "gemini-key-value-2",
    "GOOGLE_API_KEY": "google-key-value-3",
    "GOOGLE_APPLICATION_CREDENTIALS": "/home/u/.config/gcloud/sa.json",
    "OPENAI_API_KEY": "openai-key-value-4",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "AWS_SESSION_TOKEN": "aws-session-token-5",
    "GITHUB_TOKEN": "github-token-value-6",
    "GH_TOKEN": "gh-token-value-7",
}


def test_well_known_names_are_covered() -> None:
    assert set(WELL_KNOWN) == set(R.WELL_KNOWN_NAMES)
    r = Redactor.from_env(WELL_KNOWN)
    assert r.names == sorted(WELL_KNOWN)
    for name, value in WELL_KNOWN.items():
        data, expected = masked(f"{name}={{", value, "}\n")
        assert r.redact(data) == expected, name


def test_env_name_rule() -> None:
    env = {
        "MY_SERVICE_TOKEN": "tok-aaaaaaaa",
        "STRIPE_APIKEY": "strp-bbbbbbbb",
        "DB_PASSWORD": "hunter2hunter2",
        "FTP_PASSWD": "ftp-pass-cccc",
        "APP_SECRET": "app-secret-dddd",
        "AZURE_CREDENTIALS": "azure-cred-eeee",
        "SSH_PRIVATE_KEY": "ssh-priv-ffff",
        "PROXY_AUTHORIZATION": "Basic Zm9vOmJhcg==",
        "basic_auth": "user:pass-gggg",  # names match case-insensitively
        "SSH_AUTH_SOCK": "/tmp/ssh-XXXX/agent.1",  # a path: masking it is harmless
        # not secrets
        "HOME": "/home/somebody",
        "PATH": "/usr/local/bin:/usr/bin",
        "GIT_AUTHOR_NAME": "Jane Developer",
        "XAUTHORITY": "/run/user/1000/xauth",
        "MAX_THINKING_TOKENS": "100000000",
        "TOKENIZERS_PARALLELISM": "false-ish-value",
        # too short to be matched without masking ordinary text
        "SHORT_TOKEN": "1",
        "FLAG_SECRET": "true",
        "SEVEN_TOKEN": "1234567",
        "BLANK_TOKEN": "       ",
    }
    r = Redactor.from_env(env)
    assert r.names == sorted(
        [
            "MY_SERVICE_TOKEN",
            "STRIPE_APIKEY",
            "DB_PASSWORD",
            "FTP_PASSWD",
            "APP_SECRET",
            "AZURE_CREDENTIALS",
            "SSH_PRIVATE_KEY",
            "PROXY_AUTHORIZATION",
            "basic_auth",
            "SSH_AUTH_SOCK",
        ]
    )
    text = " | ".join(env.values()).encode()
    out = r.redact(text)
    for name in r.names:
        assert env[name].encode() not in out, name
    for name in ["HOME", "GIT_AUTHOR_NAME", "XAUTHORITY", "MAX_THINKING_TOKENS", "SEVEN_TOKEN"]:
        assert env[name].encode() in out, name


def test_names_never_hold_values() -> None:
    env = {"ANTHROPIC_API_KEY": "sk-ant-api03-" + "Z" * 30, "CUSTOM": "custom-value-123"}
    r = Redactor.from_env(env, extra_names=["CUSTOM", "NOT_SET"])
    assert r.names == ["ANTHROPIC_API_KEY", "CUSTOM"]
    dumped = json.dumps(r.names)
    assert all(v not in dumped for v in env.values())
    # a copy: the caller cannot change what is redacted
    r.names.append("X")
    assert r.names == ["ANTHROPIC_API_KEY", "CUSTOM"]
    assert Redactor(["literal-secret-1"]).names == []


def test_extra_names_are_exact_and_still_need_eight_bytes() -> None:
    env = {"MY_VAR": "not-a-pattern-value", "my_var2": "another-value-99", "TINY": "abc"}
    r = Redactor.from_env(env, extra_names=["MY_VAR", "MY_VAR2", "TINY"])
    assert r.names == ["MY_VAR"]
    assert r.redact(b"x not-a-pattern-value another-value-99") == b"x " + mask(19) + b" another-value-99"


def test_literal_secret_inside_longer_strings_and_split_everywhere() -> None:
    secret = "Zq8-custom-Hf2"
    r = Redactor.from_env({"MY_TOKEN": secret})
    data, expected = masked("prefix" + "x", secret, "suffixy")
    assert r.redact(data) == expected
    # split across two chunks at every possible byte
    for i in range(len(data) + 1):
        assert run_stream(r, data, [i]) == expected


def test_short_and_mask_like_secrets_are_ignored() -> None:
    r = Redactor(["", "a", "true", "1234567", "REDACTED", "********", "  padded-secret  "], patterns=False)
    text = b"a true 1234567 REDACTED ******** padded-secret"
    assert r.redact(text) == b"a true 1234567 REDACTED ******** " + mask(13)


def test_secret_in_json_escaped_spelling() -> None:
    secret = 'pa"ss\\w/rd-\u00e9-1'
    r = Redactor([secret], patterns=False)
    for ensure_ascii in (True, False):
        line = json.dumps({"out": f"echo {secret}!"}, ensure_ascii=ensure_ascii).encode()
        out = r.redact(line)
        assert len(out) == len(line)
        assert json.loads(out)["out"].startswith("echo [REDACTED")
        assert secret not in json.loads(out)["out"]


def test_multiline_secret_is_masked_whole_also_when_streamed() -> None:
    pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nbktSMc2+abc\n-----END PRIVATE KEY-----\n"
    r = Redactor.from_env({"SSH_PRIVATE_KEY": pem})
    data = b"line 1\ncat key:\n" + pem.encode() + b"done\n"
    expected = b"line 1\ncat key:\n" + mask(len(pem.strip())) + b"\ndone\n"
    assert r.redact(data) == expected
    for i in range(0, len(data) + 1, 3):
        assert run_stream(r, data, [i, i + 5, i + 40]) == expected


def test_key_echoed_inside_json_string_of_vendor_output() -> None:
    key = "sk-ant-api03-" + "k3yK3y_-" * 10
    custom = "zx9-house-token-Q"
    env = {"ANTHROPIC_API_KEY": key, "HOUSE": custom, "HOME": "/home/u"}
    r = Redactor.from_env(env, extra_names=["HOUSE"])
    event = {
        "type": "user",
        "message": {
            "content": [
                {
                    "type": "tool_result",
                    "content": f"ANTHROPIC_API_KEY={key}\nHOUSE={custom}\n"
                    + json.dumps({"headers": {"x-api-key": key}, "house": custom}),
                }
            ]
        },
    }
    line = json.dumps(event).encode() + b"\n"
    out = run_stream(r, line, [7, 100, 101, len(line) // 2])
    assert out == r.redact(line)
    assert len(out) == len(line)
    assert key.encode() not in out and custom.encode() not in out
    content = json.loads(out)["message"]["content"][0]["content"]  # still valid JSON
    assert content.startswith("ANTHROPIC_API_KEY=[REDACTED***")


def test_redact_text() -> None:
    r = Redactor(["s\u00e9cret-value"])
    text = "caf\u00e9 s\u00e9cret-value \udcff end"  # a lone surrogate from surrogateescape decoding
    out = r.redact_text(text)
    assert "s\u00e9cret" not in out
    assert out.encode("utf-8", "surrogateescape") == (
        "caf\u00e9 ".encode() + mask(len("s\u00e9cret-value".encode())) + " \udcff end".encode("utf-8", "surrogateescape")
    )
    request = json.dumps({"prompt": "hi", "env": {"K": "s\u00e9cret-value"}})
    # json.dumps escapes the \u00e9: the escaped spelling is masked, 17 bytes
    assert json.loads(r.redact_text(request))["env"]["K"] == mask(17).decode()


def test_nothing_to_redact_is_a_passthrough() -> None:
    r = Redactor(patterns=False)
    data = b"sk-ant-api03-abcdefghijklmnop Bearer abcdefgh1234"
    assert r.redact(data) == data
    assert r.redact(bytearray(data)) == data
    s = r.stream()
    assert s.feed(data[:10]) == data[:10]  # nothing held back
    assert s.feed(data[10:]) == data[10:]
    assert s.finish() == b""


def test_stream_releases_complete_lines_at_once() -> None:
    r = Redactor(["held-secret-1"])
    s = r.stream()
    assert s.feed(b"first line\nsecond") == b"first line\n"
    assert s.feed(b" line\n") == b"second line\n"
    # a partial line is released up to the last window, never the possible start of a secret
    out = s.feed(b"x" * 5000 + b" held-sec")
    assert out and b"held" not in out
    assert s.feed(b"ret-1 tail\n").endswith(mask(13) + b" tail\n")
    assert s.finish() == b""


def test_long_token_cut_by_a_chunk_boundary_in_a_long_line() -> None:
    # A JWT longer than the stream window, split in the middle of a line: the cut backs off to the
    # separator before it rather than releasing its first half unmasked.
    jwt = "eyJ" + "a" * 100 + "." + "B1" * 900 + "." + "c_" * 200
    data = b"{" + b'"x": "' + b"y" * 3000 + b'", "t": "' + jwt.encode() + b'"}\n'
    i = data.index(b"eyJ") + 1500
    out = run_stream(Redactor(), data, [i])
    assert out == Redactor().redact(data)
    assert b"B1B1" not in out


def test_match_reaching_the_chunk_end_waits_for_its_end() -> None:
    # A JSON value with spaces, longer than the window: the cut (after its last space) falls inside
    # the match, which may still continue, so all of it stays in the carry until it is complete.
    value = ("w0rd " * 600).strip()
    data = b'{"note": "hi", "password": "' + value.encode() + b'", "n": 1}\n'
    r = Redactor()
    s = r.stream()
    first = s.feed(data[: data.index(b"w0rd") + 2500])
    assert first == b'{"note": "hi", '
    assert s.feed(data[len(first) + len(s._buf) :]) + s.finish() == r.redact(data)[len(first) :]


def test_match_longer_than_the_stream_may_hold_is_released_masked() -> None:
    value = "w0rd " * 8000  # 40 KB, no closing quote yet
    r = Redactor()
    s = r.stream()
    out = s.feed(b'"password": "' + value.encode())
    assert len(s._buf) <= STREAM_HOLD_BOUND
    assert out.startswith(b'"password": "[REDACTED****') and b"w0rd" not in out


def test_bounded_memory_for_a_20mb_line_without_newline() -> None:
    secret = b"Zq8-bounded-secret-Hf2"
    r = Redactor([secret])
    chunk = 64 * 1024
    block = bytearray(b"abc def " * (1 << 17))  # 1 MiB, spaces as in ordinary text
    # secrets and a token straddling chunk boundaries and the 1 MiB mark
    for at in (chunk - 5, 3 * chunk - 11, (1 << 20) - 10 - 1024):
        block[at : at + len(secret)] = secret
    block[5 * chunk - 20 : 5 * chunk + 20] = b"sk-ant-" + b"x" * 33
    data = bytes(block) * 20
    s = r.stream()
    out = []
    biggest = 0
    for i in range(0, len(data), chunk):
        out.append(s.feed(data[i : i + chunk]))
        biggest = max(biggest, len(s._buf))
        assert len(s._buf) <= R.STREAM_LIMIT + 512
    out.append(s.finish())
    streamed = b"".join(out)
    assert biggest < 64 * 1024  # ordinary text: the carry stays near the window
    assert streamed == r.redact(data)
    assert secret not in streamed and b"sk-ant-xxx" not in streamed


def test_bounded_memory_without_any_separator() -> None:
    # The worst case: one 20 MB run of token characters, fed in 64 KiB chunks and in one piece.
    data = b"Q" * (20 << 20)
    r = Redactor(["never-present-1"])
    s = r.stream()
    n = 0
    for i in range(0, len(data), 64 * 1024):
        n += len(s.feed(data[i : i + 64 * 1024]))
        assert len(s._buf) <= R.STREAM_LIMIT + 512
    n += len(s.finish())
    assert n == len(data)
    s = r.stream()
    assert len(s.feed(data)) + len(s.finish()) == len(data)


# -- properties ----------------------------------------------------------------------------------

ALNUM = string.ascii_letters + string.digits
TOKEN = ALNUM + "_-"
UPPER_DIGITS = string.ascii_uppercase + string.digits
KEYS = ["x-api-key", "api_key", "apiKey", "access_token", "refresh_token", "id_token", "client_secret"]


def _t(alphabet: str, lo: int, hi: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=alphabet, min_size=lo, max_size=hi)


tokens = st.one_of(
    st.builds("sk-ant-{}".format, _t(TOKEN, 8, 40)),
    st.builds("sk-{}".format, _t(TOKEN, 20, 40)),
    st.builds("AIza{}".format, _t(TOKEN, 30, 40)),
    st.builds("ya29.{}".format, _t(TOKEN + ".", 10, 30)),
    st.builds("1//0{}".format, _t(TOKEN, 20, 30)),
    st.builds("gh{}_{}".format, st.sampled_from("pousr"), _t(ALNUM, 20, 36)),
    st.builds("github_pat_{}".format, _t(ALNUM + "_", 20, 40)),
    st.builds("xox{}-{}".format, st.sampled_from("abpr"), _t(ALNUM + "-", 10, 30)),
    st.builds("AKIA{}".format, _t(UPPER_DIGITS, 16, 16)),
    st.builds("eyJ{}.{}.{}".format, _t(TOKEN, 8, 20), _t(TOKEN, 8, 20), _t(TOKEN, 8, 20)),
    st.builds("{}{}".format, st.sampled_from(["Bearer ", "bearer\t", "BASIC ", "Basic  "]), _t(TOKEN + "./+=~", 8, 30)),
    st.builds('"{}": "{}"'.format, st.sampled_from(KEYS), _t(ALNUM + " -_/", 1, 30)),
    st.builds('\\"{}\\": \\"{}\\"'.format, st.sampled_from(KEYS), _t(ALNUM, 1, 30)),
    st.builds("x-goog-api-key: {}".format, _t(ALNUM, 1, 30)),
    # fragments and look-alikes: prefixes without a token, and our own masks
    st.sampled_from(
        ["sk-", "sk-ant-", "eyJ", "Bearer ", '"api_key": "', "AKIA", "1//0", "ya29.", "ghp_", "[REDACTED***]", "*" * 9]
    ),
)
_FILLER = " \n\t\"',:{}[]\\=.-_/*\u00e9\u4e2d\U0001f600abcXYZ019"
filler = st.text(alphabet=st.sampled_from(list(_FILLER)), max_size=30)
# Long lines: the stream has to cut inside them (window cut, back-off, moving out of a match).
filler_one_line = st.text(alphabet=st.sampled_from(list(_FILLER.replace("\n", ""))), max_size=30)
# Secrets: no mask bytes and no JSON syntax (see the module docstring for why those are excluded).
secret_alphabet = TOKEN + "!@#%^&()+=.~\u00e9"


@st.composite
def streams(
    draw: st.DrawFn, max_secret: int, min_parts: int = 0, max_parts: int = 40, glue: bool = True
) -> tuple[list[str], bytes, list[int]]:
    secrets = draw(st.lists(_t(secret_alphabet, 8, max_secret), max_size=3))
    text = draw(st.sampled_from([filler, filler_one_line]))
    parts = draw(
        st.lists(
            st.one_of(text, tokens, st.sampled_from(secrets) if secrets else text),
            min_size=min_parts,
            max_size=max_parts,
        )
    )
    # Glued parts make long runs of token characters; the stream's guarantee is for runs that fit
    # its window, so with small windows most glued inputs would be out of scope.
    joiner = draw(st.sampled_from(["", " ", ", ", "\t", '" '] if glue else [" ", ", ", "\t", '" ']))
    data = joiner.join(parts).encode()
    cuts = draw(st.lists(st.integers(0, len(data)), max_size=12))
    return secrets, data, cuts


# Runs of bytes one match attempt may read (token characters, blanks); the stream's equality
# guarantee covers matches and runs that fit its window.
_RUNS = re.compile(rb"[A-Za-z0-9._~+/=-]+|[ \t]+")


def in_scope(r: Redactor, data: bytes, keep: int) -> bool:
    assert r._re is not None
    longest_match = max((m.end() - m.start() for m in r._re.finditer(data)), default=0)
    longest_run = max((len(m) for m in _RUNS.findall(data)), default=0)
    return longest_match <= keep // 2 and longest_run <= keep // 3


@contextmanager
def small_stream_limits(keep: int = 192, backoff: int = 48, limit: int = 600):
    """Tiny windows, so that short generated inputs exercise the window cut, the back-off to a
    separator, moving the cut out of a match, and slicing of chunks bigger than the buffer."""
    with (
        mock.patch.object(R, "STREAM_KEEP", keep),
        mock.patch.object(R, "STREAM_BACKOFF", backoff),
        mock.patch.object(R, "STREAM_LIMIT", limit),
    ):
        yield


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams(max_secret=512))
@example(([], b"x sk-ant-abcdefgh\n", [5, 6]))
@example((["Zq8Hf2-secret"], b"a Zq8Hf2-secret b", [4, 9]))
def test_stream_equals_whole_buffer(case: tuple[list[str], bytes, list[int]]) -> None:
    secrets, data, cuts = case
    r = Redactor(secrets)
    assume(in_scope(r, data, R.STREAM_KEEP))
    assert run_stream(r, data, cuts) == r.redact(data)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams(max_secret=60, min_parts=20, max_parts=120, glue=False))
def test_stream_equals_whole_buffer_with_small_windows(case: tuple[list[str], bytes, list[int]]) -> None:
    secrets, data, cuts = case
    with small_stream_limits():
        r = Redactor(secrets)
        assume(in_scope(r, data, R.STREAM_KEEP))
        assert run_stream(r, data, cuts) == r.redact(data)
        # one byte at a time: the most releases, each as early as possible
        s = r.stream()
        assert b"".join(s.feed(data[i : i + 1]) for i in range(len(data))) + s.finish() == r.redact(data)
        assert len(s._buf) == 0


@st.composite
def byte_streams(draw: st.DrawFn) -> tuple[list[bytes], bytes, list[int]]:
    """Any bytes: secrets with newlines, quotes, mask bytes or invalid UTF-8 (the multi-line mode
    of the stream), cut anywhere, also inside a UTF-8 character."""
    secrets = draw(st.lists(st.binary(min_size=8, max_size=40), max_size=3))
    noise = st.binary(max_size=40) | st.text(max_size=20).map(str.encode)
    parts = draw(st.lists(noise | tokens.map(str.encode) | st.sampled_from(secrets or [b""]), max_size=30))
    data = b"".join(parts)
    return secrets, data, draw(st.lists(st.integers(0, len(data)), max_size=12))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(byte_streams())
def test_stream_equals_whole_buffer_for_any_bytes(case: tuple[list[bytes], bytes, list[int]]) -> None:
    secrets, data, cuts = case
    with small_stream_limits():
        r = Redactor(secrets)
        assume(in_scope(r, data, R.STREAM_KEEP))
        assert run_stream(r, data, cuts) == r.redact(data)


@settings(max_examples=300, deadline=None)
@given(streams(max_secret=64))
def test_idempotent_and_length_preserving(case: tuple[list[str], bytes, list[int]]) -> None:
    secrets, data, _ = case
    r = Redactor(secrets)
    once = r.redact(data)
    assert len(once) == len(data)
    assert r.redact(once) == once


@settings(max_examples=200, deadline=None)
@given(
    st.lists(_t(TOKEN, 8, 40), min_size=1, max_size=3),
    st.lists(st.tuples(st.integers(0, 2), filler), max_size=10),
    st.lists(st.integers(0, 2000), max_size=8),
)
def test_every_inserted_secret_is_gone(secrets: list[str], parts: list[tuple[int, str]], cuts: list[int]) -> None:
    # Secrets separated by a space from what follows: on their own, none may survive in any chunking.
    text = "".join(f"{f} {secrets[i % len(secrets)]} " for i, f in parts).encode()
    r = Redactor(secrets, patterns=False)
    out = run_stream(r, text, [c for c in cuts if c <= len(text)])
    assert out == r.redact(text)
    for s in secrets:
        assert s.encode() not in out


def test_stream_is_reusable_after_finish() -> None:
    r = Redactor(["reuse-secret-1"])
    s: StreamRedactor = r.stream()
    assert s.feed(b"a reuse-sec") + s.finish() == b"a reuse-sec"
    assert s.feed(b"reuse-secret-1") + s.finish() == mask(14)
