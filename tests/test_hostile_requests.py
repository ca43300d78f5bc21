"""Hostile requests and prompts (issue 13): stdin that looks like JSON but is not, NUL bytes,
UTF-16, non-UTF-8 argv, files where folders belong, protocol 1 kept for a bad command line.

Each answer is a clear bad_request or a completed run, never a traceback (exit 1 would read as
provider_failed to a host)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from conftest import FAKE_VENDOR, shim_path
from host.codex_lab_host import run_external
from hostile import hostile_stdin, hostile_text
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from streamcheck import check_stream, parse_stream

from normalize.models import Request
from normalize.request import REQUEST_FIELDS, BadRequest, parse_request, plain_request_fields


def bad(stdin: bytes | None, **kw) -> BadRequest:
    with pytest.raises(BadRequest) as info:
        parse_request(stdin, **kw)
    return info.value


def run_fake(env, *args, stdin=b"", cwd=None, timeout=60):
    proc = subprocess.run([shim_path("fake"), "--vendor-bin", FAKE_VENDOR, *args], input=stdin, capture_output=True,
                          env={**os.environ, **env}, cwd=cwd, timeout=timeout)
    return proc


def stream_of(proc):
    events = parse_stream(proc.stdout)
    return events, check_stream(events, proc.returncode)


# ---------------------------------------------------------------- JSON that does not parse


# Values at every field's edges: the plain path must take exactly what the model keeps as is.
_EDGES = [None, True, False, 0, 1, 2, -1, 5000, 1.0, 2.5, "", " ", "x", "5", "true", "read-only", "write", "full",
          "Write", {}, {"session_id": "s-1"}, {"session_id": 5}, {"session_id": None}, {"x": 1}, [], ["a"]]


@settings(max_examples=3000, deadline=None)
@example({"protocol_version": 0}, "do it")
@example({"protocol_version": True}, "do it")
@example({"deadline_ms": 0}, "do it")
@example({"deadline_ms": 1.0}, "do it")
@example({"worktree": 1}, "do it")
@example({"cwd": 5}, "do it")
@example({"resume": {"session_id": None}}, "do it")
@example({"mode": "Write"}, "do it")
@example({"max_final_message_bytes": True}, "do it")
@given(st.dictionaries(st.sampled_from(sorted(REQUEST_FIELDS) + ["extra"]), st.sampled_from(_EDGES), max_size=3),
       st.sampled_from([None, "do it", 5, ""]))
def test_the_plain_request_path_agrees_with_the_model(obj, message):
    """Requests read without pydantic (most of them) are read as the model reads them; the
    rest go to the model."""
    if message is not None:
        obj = {**obj, "message": message}
    plain = plain_request_fields(obj)
    if plain is None:
        return
    assert plain == Request.model_validate(obj).model_dump()


def test_a_plain_request_does_not_import_pydantic(tmp_path):
    """~250 ms of a run (a protocol-2 host's every worker) went to importing pydantic for it."""
    code = ("import sys; from normalize.request import parse_request; "
            "parse_request(b'{\"protocol_version\": 2, \"message\": \"hi\", \"mode\": \"write\", "
            "\"deadline_ms\": 5000, \"resume\": {\"session_id\": \"s-1\"}}'); "
            "print('pydantic' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert out.stdout.strip() == "False"


def test_request_fields_match_the_model():
    assert set(REQUEST_FIELDS) == set(Request.model_fields)


@pytest.mark.parametrize("stdin", [
    b'{"protocol_version":1,"cwd":"/tmp","message":"hi',  # cut short
    b'{"protocol_version": 2, "message": "hi",}',  # trailing comma
    b'  \n{ "message": "hi" "cwd": "/tmp"}',  # missing comma, leading whitespace
    b'\xef\xbb\xbf{"message": "hi",}',  # UTF-8 BOM
    b'{"message": "\\ud800"}',  # a lone surrogate escape
    b'{"message": "hi", "deadline_ms": 1e400}',  # out of float range
])
def test_json_that_does_not_parse_is_a_bad_request_not_a_prompt(stdin):
    e = bad(stdin)
    assert "not valid JSON" in e.message


def test_a_cut_short_protocol_1_request_is_answered_in_protocol_1():
    assert bad(b'{"protocol_version": 1, "cwd": "/tmp", "message": "Fix').protocol_version == 1
    assert bad(b'{"protocol_version": 2, "message": "Fix').protocol_version is None


@pytest.mark.parametrize("stdin", [b'{"name": "x", "items": [1, 2]}', b"{}", b'{"text": "summarise this"}'])
def test_a_json_object_without_request_fields_is_the_prompt(stdin):
    spec = parse_request(stdin)
    assert spec.prompt == stdin.decode() and spec.protocol_version is None


def test_a_json_object_with_protocol_version_but_no_message_is_a_bad_request():
    assert "message" in bad(b'{"protocol_version": 2}').message


@pytest.mark.parametrize("stdin", [b"{placeholder} means a value", b"{}x", b"{ not json"])
def test_braces_that_do_not_open_a_json_object_are_prompt_text(stdin):
    assert parse_request(stdin).prompt == stdin.decode()


# ---------------------------------------------------------------- NUL, UTF-16, non-UTF-8


def test_nul_bytes_on_stdin_are_a_bad_request():
    assert "NUL" in bad(b"hello\x00world").message


def test_utf16_without_a_bom_is_refused_and_says_so():
    e = bad("Say hello to everyone".encode("utf-16-le"))
    assert "NUL" in e.message and "UTF-16" in e.message


@pytest.mark.parametrize("codec", ["utf-16", "utf-32", "utf-8-sig"])
def test_text_with_a_byte_order_mark_is_decoded(codec):
    assert parse_request("Grüße, world".encode(codec)).prompt == "Grüße, world"


@pytest.mark.parametrize("codec", ["utf-16", "utf-8-sig"])
def test_a_request_with_a_byte_order_mark_is_a_request(codec, tmp_path):
    spec = parse_request(json.dumps({"protocol_version": 1, "cwd": str(tmp_path), "message": "hi"}).encode(codec))
    assert spec.protocol_version == 1 and spec.prompt == "hi"


def test_a_nul_in_the_request_message_is_a_bad_request():
    e = bad(orjson.dumps({"protocol_version": 1, "message": "a\u0000b"}))
    assert "NUL" in e.message and e.protocol_version == 1


def test_a_nul_in_the_request_cwd_is_a_bad_request_not_a_traceback():
    assert "NUL" in bad(orjson.dumps({"protocol_version": 1, "message": "hi", "cwd": "/tmp\u0000x"})).message


def test_an_argv_prompt_that_is_not_utf8_is_a_bad_request():
    e = bad(None, argv_prompt=os.fsdecode(b"caf\xe9 au lait"))
    assert "UTF-8" in e.message and "e9" in e.message


@settings(max_examples=200, deadline=None)
@given(st.one_of(hostile_stdin, st.binary(max_size=64), hostile_text.map(lambda t: t.encode("utf-8", "surrogatepass"))))
def test_any_stdin_gives_a_run_or_a_bad_request(stdin):
    try:
        spec = parse_request(stdin)
    except BadRequest as exc:
        assert exc.message
        return
    assert "\x00" not in spec.prompt
    spec.prompt.encode("utf-8")  # what a vendor is given is UTF-8


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=24).map(os.fsdecode))
def test_any_argv_prompt_gives_a_run_or_a_bad_request(prompt):
    try:
        spec = parse_request(None, argv_prompt=prompt)
    except BadRequest as exc:
        assert exc.message
        return
    spec.prompt.encode("utf-8")


# ---------------------------------------------------------------- the real shim program


def test_non_utf8_prompt_on_argv_is_a_bad_request_from_the_shim(fake_env):
    proc = subprocess.run([os.fsencode(shim_path("fake")), b"--vendor-bin", os.fsencode(FAKE_VENDOR), b"--emit",
                           b"ndjson", b"caf\xe9"], capture_output=True, env={**os.environ, **fake_env}, timeout=60)
    assert b"Traceback" not in proc.stderr
    events, result = stream_of(proc)
    assert proc.returncode == 2 and result["failure_kind"] == "bad_request" and "UTF-8" in result["error"]


@pytest.mark.parametrize("flag", ["--model", "--resume", "--cwd"])
def test_non_utf8_flag_values_are_a_bad_request_naming_the_flag(fake_env, flag):
    proc = subprocess.run([os.fsencode(shim_path("fake")), b"--vendor-bin", os.fsencode(FAKE_VENDOR), b"--emit",
                           b"ndjson", os.fsencode(flag), b"x\xff", b"hi"], capture_output=True,
                          env={**os.environ, **fake_env}, timeout=60)
    assert b"Traceback" not in proc.stderr
    events, result = stream_of(proc)
    assert proc.returncode == 2 and result["failure_kind"] == "bad_request"
    assert flag in result["error"] and "UTF-8" in result["error"]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(hostile_stdin)
def test_hostile_stdin_never_makes_a_traceback(fake_env, stdin):
    proc = run_fake(fake_env, "--emit", "ndjson", stdin=stdin)
    assert b"Traceback" not in proc.stderr
    events, result = stream_of(proc)
    assert (proc.returncode, result["status"]) == (0, "completed") or \
        (proc.returncode, result["failure_kind"]) == (2, "bad_request")


def test_a_cut_short_protocol_1_request_through_the_host_is_one_failed_object(fake_env, tmp_path):
    proc = subprocess.run([shim_path("fake"), "--vendor-bin", FAKE_VENDOR], capture_output=True, timeout=60,
                          input=b'{"protocol_version":1,"cwd":"' + str(tmp_path).encode() + b'","message":"Fix it',
                          env={**os.environ, **fake_env})
    assert proc.returncode == 0
    (answer,) = [json.loads(line) for line in proc.stdout.splitlines()]
    assert answer["status"] == "failed" and answer["final_message"].startswith("bad_request:")
    assert "not valid JSON" in answer["final_message"]


# ---------------------------------------------------------------- paths


def test_a_cwd_flag_that_is_a_file_says_so(fake_env, tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("x")
    events, result = stream_of(run_fake(fake_env, "--emit", "ndjson", "--cwd", str(f), "hi"))
    assert result["failure_kind"] == "bad_request" and "is a file" in result["error"] and str(f) in result["error"]


def test_a_request_cwd_that_is_a_file_says_so(tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("x")
    e = bad(orjson.dumps({"protocol_version": 1, "cwd": str(f), "message": "hi"}))
    assert "is a file" in e.message and str(f) in e.message


def test_a_relative_vendor_bin_is_resolved_against_the_start_folder(fake_env, tmp_path):
    start, work = tmp_path / "start", tmp_path / "work"
    (start / "bin").mkdir(parents=True)
    work.mkdir()
    (start / "bin" / "vendor").symlink_to(FAKE_VENDOR)
    proc = run_fake(fake_env, "--vendor-bin", "bin/vendor", "--emit", "ndjson", "--cwd", str(work), "hi", cwd=start)
    events, result = stream_of(proc)
    assert proc.returncode == 0 and result["status"] == "completed", result["error"]


def test_a_missing_vendor_bin_names_the_absolute_path_tried(fake_env, tmp_path):
    proc = run_fake(fake_env, "--vendor-bin", "nowhere/vendor", "--emit", "ndjson", "hi", cwd=tmp_path)
    events, result = stream_of(proc)
    assert result["failure_kind"] == "command_missing"
    assert str(tmp_path / "nowhere" / "vendor") in result["error"] and "does not exist" in result["error"]


def test_a_vendor_bin_that_is_not_executable_says_so(fake_env, tmp_path):
    script = tmp_path / "vendor"
    script.write_text("#!/bin/sh\necho hi\n")
    events, result = stream_of(run_fake(fake_env, "--vendor-bin", str(script), "--emit", "ndjson", "hi"))
    assert result["failure_kind"] == "command_missing" and "not executable" in result["error"]


@pytest.mark.parametrize("shebang", ["#!/no/such/interpreter\n", "#!/usr/bin/env no-such-interpreter-13\n"])
def test_a_bad_shebang_names_the_missing_interpreter(fake_env, tmp_path, shebang):
    script = tmp_path / "vendor"
    script.write_text(shebang + "print('hi')\n")
    script.chmod(0o755)
    events, result = stream_of(run_fake(fake_env, "--vendor-bin", str(script), "--emit", "ndjson", "hi"))
    assert result["failure_kind"] == "command_missing"
    interpreter = shebang[2:].split()[-1]
    assert "interpreter" in result["error"] and interpreter in result["error"] and "first line" in result["error"]


# ---------------------------------------------------------------- protocol 1 for a bad command line


@pytest.mark.parametrize("args", [["--mode", "bogus"], ["--timeout", "soon"], ["--no-such-flag"], ["--emit", "bogus"]])
def test_a_bad_flag_with_a_protocol_1_request_is_one_failed_object(fake_env, tmp_path, args):
    request = {"protocol_version": 1, "cwd": str(tmp_path), "message": "hi"}
    outcome = run_external([shim_path("fake"), "--vendor-bin", FAKE_VENDOR, *args], request, env=fake_env)
    assert outcome.exit_code == 0, outcome.stderr
    (answer,) = [json.loads(line) for line in outcome.stdout.splitlines()]
    assert set(answer) == {"status", "final_message"} and answer["status"] == "failed"
    assert answer["final_message"].startswith("bad_request:")
    flag = args[0]
    assert flag in answer["final_message"]


@pytest.mark.parametrize("emit", [["--emit", "codex-lab-v1"], ["--emit=codex-lab-v1"]])
def test_a_bad_flag_with_emit_codex_lab_v1_is_one_failed_object(fake_env, emit):
    proc = run_fake(fake_env, *emit, "--mode", "bogus", "hi")
    assert proc.returncode == 0
    (answer,) = [json.loads(line) for line in proc.stdout.splitlines()]
    assert answer["status"] == "failed" and "bad_request" in answer["final_message"]
    assert "--mode" in answer["final_message"]


def test_a_bad_flag_without_protocol_1_is_still_an_ndjson_bad_request(fake_env):
    proc = run_fake(fake_env, "--mode", "bogus", "hi")
    events, result = stream_of(proc)
    assert proc.returncode == 2 and result["failure_kind"] == "bad_request" and "--mode" in result["error"]


@pytest.mark.parametrize("signo", [signal.SIGTERM, signal.SIGINT])
def test_a_bad_flag_still_answers_when_a_cancel_signal_comes_during_the_stdin_wait(fake_env, signo):
    """A bad command line reads stdin (up to 5 s) for a protocol-1 request. A host that leaves
    stdin open and sends SIGTERM (or a Ctrl-C) meanwhile still gets the bad_request answer at
    once: not a shim killed with an empty stdout, not a KeyboardInterrupt traceback."""
    from shims.cli import commands as cli
    proc = subprocess.Popen([shim_path("fake"), "--vendor-bin", FAKE_VENDOR, "--mode", "bogus", "hi"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, **fake_env})
    try:
        seen = b""
        while b"Error:" not in seen:  # the usage error is shown before the stdin wait begins
            line = proc.stderr.readline()
            assert line, f"the shim ended before its usage error: {seen!r}"
            seen += line
        sent = time.monotonic()
        proc.send_signal(signo)
        out, err = proc.communicate(timeout=30)
        waited = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert b"Traceback" not in seen + err, (seen + err).decode(errors="replace")
    events, result = stream_of(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    assert proc.returncode == 2 and result["failure_kind"] == "bad_request" and "--mode" in result["error"]
    assert waited < cli._STDIN_WAIT_S, f"the signal did not end the stdin wait ({waited:.1f} s)"


@pytest.mark.parametrize("args", [["--mode", "{secret}"], ["--{secret}"]], ids=["bad-value", "unknown-flag"])
@pytest.mark.parametrize("secret", ["sk-proj-Zq8Yv3Lr5Tn1Wx7Kp2Hs9Dm4Bc6Fg0Jt", "plain-but-in-the-env-42"])
def test_a_secret_in_a_bad_flag_is_masked_in_the_answer(fake_env, args, secret):
    """The refusal of a bad command line quotes the flag typer could not use. Like every other
    stream the shims print (README, "Secrets"), its answer and its stderr mask a secret there:
    an environment secret's value, or a credential shape (was: printed as given)."""
    argv = [a.format(secret=secret) for a in args]
    proc = run_fake({**fake_env, "MY_SERVICE_TOKEN": secret}, *argv, "hi")
    events, result = stream_of(proc)
    assert proc.returncode == 2 and result["failure_kind"] == "bad_request"
    assert secret.encode() not in proc.stdout and secret.encode() not in proc.stderr
    assert "[REDACTED" in result["error"]
