"""Issue 13, secrets on disk in every form: a secret is masked however a JSON writer spells it,
and in every file the shims write and every stream they print."""

from __future__ import annotations

import json

from hostile import escaped_nested, json_spellings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shims.journal import redact as R
from shims.journal.redact import Redactor

SECRET = "zQ9/house-Secret_7w"  # a configured value: not a known credential shape
SHAPED = "sk-ant-api03-Ab9_Ab9_Ab9_Ab9_Ab9_Ab9_"  # a credential shape, not configured


def _in_vendor_json(spelling: str) -> bytes:
    return b'{"type":"tool_result","content":"export K=' + spelling.encode() + b'; done"}'


def _gone(out: bytes, inner: str) -> None:
    assert inner.encode() not in out
    # what a reader decodes from it does not hold the secret either
    text = json.loads(out)["content"]
    assert inner not in text
    assert text.startswith("export K=") and text.endswith("; done")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.integers(0, 2))
def test_configured_secret_in_any_json_spelling(data, levels) -> None:
    spelling = escaped_nested(data.draw(json_spellings(SECRET)), levels)
    line = _in_vendor_json(spelling)
    r = Redactor([SECRET], patterns=False)
    out = r.redact(line)
    assert len(out) == len(line)
    assert r.redact(out) == out
    assert b"export K=" + R.mask(len(spelling)) + b"; done" in out
    _gone(out, SECRET)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.integers(0, 2))
def test_credential_shape_in_any_json_spelling(data, levels) -> None:
    spelling = escaped_nested(data.draw(json_spellings(SHAPED)), levels)
    line = _in_vendor_json(spelling)
    out = Redactor().redact(line)
    assert len(out) == len(line)
    assert b"export K=" + R.mask(len(spelling)) + b"; done" in out
    _gone(out, SHAPED)


def test_every_character_escaped_in_upper_and_lower_case() -> None:
    for fmt in ("\\u{:04x}", "\\u{:04X}"):
        spelling = "".join(fmt.format(ord(c)) for c in SECRET)
        out = Redactor([SECRET]).redact(_in_vendor_json(spelling))
        _gone(out, SECRET)


def test_slash_escaped_as_backslash_slash() -> None:
    out = Redactor([SECRET]).redact(_in_vendor_json(SECRET.replace("/", "\\/")))
    _gone(out, SECRET)


def test_non_ascii_secret_escaped_as_utf16_surrogates() -> None:
    secret = "p\u00e4ss-\U0001f511-word-9"
    spelling = json.dumps(secret)[1:-1]  # \u00e4 and \ud83d\udd11
    assert "\\ud83d" in spelling
    out = Redactor([secret]).redact(_in_vendor_json(spelling))
    _gone(out, secret)


def test_mask_never_leaves_half_an_escape() -> None:
    # a literal backslash before an escaped secret: the mask starts after the whole run of
    # backslashes or takes it all, so the JSON stays valid
    for run in ("\\\\", "\\\\\\\\"):
        line = _in_vendor_json(run + "".join(f"\\u{ord(c):04x}" for c in SECRET))
        json.loads(Redactor([SECRET]).redact(line))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.lists(st.integers(0, 400), max_size=8))
def test_stream_equals_whole_for_escaped_spellings(data, cuts) -> None:
    spelling = data.draw(json_spellings(SECRET))
    shaped = data.draw(json_spellings(SHAPED))
    line = (_in_vendor_json(spelling) + b"\n" + _in_vendor_json(shaped) + b"\n") * 2
    r = Redactor([SECRET])
    s = r.stream()
    out, prev = [], 0
    for c in [*sorted({min(c, len(line)) for c in cuts}), len(line)]:
        out.append(s.feed(line[prev:c]))
        prev = c
    out.append(s.finish())
    assert b"".join(out) == r.redact(line)
