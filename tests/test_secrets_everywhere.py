"""Issue 13, secrets on disk in every form: a secret is masked however a JSON writer spells it,
and in every file the shims write and every stream they print."""

from __future__ import annotations

import json

from hostile import escaped_nested, json_spellings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shims.state import redact as R
from shims.state.redact import Redactor

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


# ----------------------------------------------------------------- every file, every stream

import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import orjson  # noqa: E402
import pytest  # noqa: E402
from conftest import FAKE_VENDOR, shim_path  # noqa: E402
from state_rows import quota_rows, stored_bytes  # noqa: E402

KEY = "sk-proj-Zq8Yv3Lr5Tn1Wx7Kp2Hs9Dm4Bc6Fg0Jt"  # in the environment as OPENAI_API_KEY
KEY_U = "".join(f"\\u{ord(c):04X}" for c in KEY)  # the vendor spells it all escaped


def _state(env) -> Path:
    return Path(env["XDG_STATE_HOME"]) / "codex-shims"


def _script(tmp_path, records, name="s.jsonl") -> dict[str, str]:
    path = tmp_path / name
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return {"FAKE_VENDOR_SCRIPT": str(path)}


def _escaped_script(tmp_path, records, name="s.jsonl") -> dict[str, str]:
    """Native lines where KEY is written with every character as \\uXXXX."""
    path = tmp_path / name
    path.write_bytes(b"".join(orjson.dumps(r).replace(KEY.encode(), KEY_U.encode()) + b"\n" for r in records))
    return {"FAKE_VENDOR_SCRIPT": str(path)}


def _run(env, *args, stdin=b"", emit="ndjson"):
    return subprocess.run([shim_path("fake"), "--vendor-bin", FAKE_VENDOR, "--emit", emit, *args], input=stdin,
                          capture_output=True, env={**os.environ, **env}, timeout=60)


def _shims(*args, env):
    return subprocess.run([str(Path(sys.executable).parent / "shims"), *args], capture_output=True,
                          env={**os.environ, **env}, timeout=60)


def _leaks(env, *also: bytes) -> list[str]:
    found = []
    for path in _state(env).rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            found += [f"{path.name}: {s!r}" for s in (KEY.encode(), KEY_U.encode(), *also) if s in data]
    return found


RECORDS = [
    {"type": "init", "session_id": "s-1", "model": "fake-model-1", "version": "1.2.3"},
    {"type": "tool_use", "id": "t1", "name": "shell", "input": {"command": "env"}},
    {"type": "tool_result", "id": "t1", "output": f"OPENAI_API_KEY={KEY}\n", "exit_code": 0},
    {"type": "text", "text": f"The key is {KEY}"},
    {"type": "result", "ok": True, "text": f"The key is {KEY}"},
]


@pytest.mark.parametrize("journal", [[], ["--no-journal"]])
def test_the_stream_a_host_reads_is_masked(fake_env, tmp_path, journal):
    env = {**fake_env, **_escaped_script(tmp_path, RECORDS), "OPENAI_API_KEY": KEY}
    proc = _run(env, *journal, f"please use {KEY}")
    assert proc.returncode == 0, proc.stderr
    assert KEY.encode() not in proc.stdout and KEY.encode() not in proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    result = events[-1]
    assert result["final_message"].startswith("The key is [REDACTED")
    assert len(result["final_message"]) == len(f"The key is {KEY}")
    if not journal:  # the journal holds exactly what was printed
        assert (Path(result["journal"]) / "events.ndjson").read_bytes() == proc.stdout
    assert _leaks(fake_env) == []


def test_protocol_1_answer_and_result_line_are_masked(fake_env, tmp_path):
    env = {**fake_env, **_script(tmp_path, RECORDS), "OPENAI_API_KEY": KEY}
    request = orjson.dumps({"message": f"use {KEY}"})
    proc = _run(env, stdin=request, emit="codex-lab-v1")
    assert proc.returncode == 0
    answer = json.loads(proc.stdout)
    assert answer["status"] == "completed" and "[REDACTED" in answer["final_message"]
    assert KEY.encode() not in proc.stdout and KEY.encode() not in proc.stderr
    assert b"shim-result: " in proc.stderr


@pytest.mark.parametrize("field", ["thread_id", "role", "task_name", "cwd", "session_id", "model"])
def test_a_secret_in_any_ledger_field_is_masked(fake_env, tmp_path, field):
    records = [dict(r) for r in RECORDS]
    request = {"protocol_version": 2, "message": "hi", "role": "worker"}
    folder = tmp_path / f"work-{KEY}"
    folder.mkdir()
    if field == "session_id":
        records[0]["session_id"] = f"sess-{KEY}"
    elif field == "model":
        records[0]["model"] = f"model-{KEY}"
    elif field == "cwd":
        request["cwd"] = str(folder)
    else:
        request[field] = f"x-{KEY}" if field != "thread_id" else KEY
    env = {**fake_env, **_script(tmp_path, records), "OPENAI_API_KEY": KEY}
    proc = _run(env, stdin=orjson.dumps(request))
    assert proc.returncode in (0, 1), proc.stderr
    ledger = stored_bytes(_state(fake_env))
    assert KEY.encode() not in ledger and b"[REDACTED" in ledger
    for by in ("role", "model", "session"):
        out = _shims("usage", "--by", by, env=env)
        assert KEY.encode() not in out.stdout
    assert _leaks(fake_env) == []


def test_quota_memory_never_holds_a_vendor_echoed_secret(fake_env, tmp_path):
    resets = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    records = [{"type": "init", "session_id": "s-q"},
               {"type": "result", "ok": False, "error_kind": "quota_or_rate_limited",
                "message": f"limit reached for key {KEY}", "resets_at": resets, "window": "5h"}]
    env = {**fake_env, **_escaped_script(tmp_path, records), "OPENAI_API_KEY": KEY}
    for journal in (["--no-journal"], []):
        _run(env, *journal, "--ignore-quota-state", "hi")
        quota = stored_bytes(_state(fake_env))
        assert KEY.encode() not in quota and KEY_U.encode() not in quota and b"[REDACTED" in quota
        assert any("[REDACTED" in e["message"] for e in quota_rows(_state(fake_env)).values())
    assert _leaks(fake_env) == []


def test_version_cache_and_config_show_mask_secrets(fake_env, tmp_path):
    from shims.state import version_cache
    os.environ["OPENAI_API_KEY"] = KEY
    try:
        state = str(tmp_path / "st")
        assert version_cache.remembered(state, FAKE_VENDOR, lambda p: f"1.0 licensed to {KEY}") is not None
        assert KEY.encode() not in (tmp_path / "st" / "versions.json").read_bytes()
    finally:
        del os.environ["OPENAI_API_KEY"]
    config = tmp_path / "config.toml"
    config.write_text(f'[claude]\nargs = ["--api-key={KEY}"]\n[claude.env]\nHOUSE_URL = "https://u:{KEY}@h"\n')
    env = {**fake_env, "CODEX_SHIMS_CONFIG": str(config), "OPENAI_API_KEY": KEY}
    for args in (("config", "show"), ("config", "show", "--json")):
        out = _shims(*args, env=env)
        assert out.returncode == 0, out.stderr
        assert KEY.encode() not in out.stdout and b"[REDACTED" in out.stdout


def test_gemini_home_settings_never_hold_a_secret(tmp_path):
    from shims.gemini.command import prepare_home

    user = tmp_path / "home" / ".gemini"
    user.mkdir(parents=True)
    (user / "settings.json").write_text(json.dumps({"mcpServers": {"x": {"headers": {"Authorization": f"Bearer {KEY}"}},
                                                                  "y": {"env": {"K": KEY}}}}))
    env = {"HOME": str(tmp_path / "home"), "XDG_STATE_HOME": str(tmp_path / "state"), "OPENAI_API_KEY": KEY}
    home = prepare_home(env)
    data = (Path(home) / ".gemini" / "settings.json").read_bytes()
    assert KEY.encode() not in data


def test_preflight_and_doctor_output_mask_what_a_vendor_says(fake_env, tmp_path):
    vendor = tmp_path / "talkative"
    vendor.write_text(f'#!/bin/sh\necho "weird-cli {KEY}"\n')
    vendor.chmod(0o755)
    proc = subprocess.run([shim_path("fake"), "--vendor-bin", str(vendor), "--preflight"], capture_output=True,
                          env={**os.environ, **fake_env}, timeout=60)
    answer = json.loads(proc.stdout)
    assert answer["cli_version"].startswith("[REDACTED") and KEY.encode() not in proc.stdout
