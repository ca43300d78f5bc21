"""The request (CONTRACT §2): argv prompt, plain-text stdin, protocol 1 and protocol 2 JSON."""

from __future__ import annotations

import os

import orjson
import pytest

from normalize.request import BadRequest, RunSpec, parse_request


def req(**fields) -> bytes:
    return orjson.dumps(fields) + b"\n"


def bad(stdin: bytes | None, **kw) -> BadRequest:
    with pytest.raises(BadRequest) as info:
        parse_request(stdin, **kw)
    return info.value


# ---------------------------------------------------------------- prompts without a request


def test_argv_prompt():
    spec = parse_request(None, argv_prompt="Say hello")
    assert isinstance(spec, RunSpec)
    assert spec.prompt == "Say hello"
    assert spec.protocol_version is None
    assert spec.request is None and spec.request_thread_id is None


def test_argv_prompt_wins_over_stdin():
    spec = parse_request(req(protocol_version=1, message="from stdin"), argv_prompt="from argv")
    assert spec.prompt == "from argv" and spec.protocol_version is None


def test_empty_argv_prompt_is_a_bad_request():
    assert "empty" in bad(None, argv_prompt="   ").message


def test_plain_text_stdin_is_the_prompt():
    spec = parse_request("Fix the failing test in ünïcode.py\nthen run it\n".encode())
    assert spec.prompt.strip() == "Fix the failing test in ünïcode.py\nthen run it"
    assert spec.protocol_version is None
    assert spec.cwd == os.getcwd()


@pytest.mark.parametrize("stdin", [b'["a", "list"]', b'"just a string"', b"42", b"{not json at all", b"{}x"])
def test_json_that_is_not_an_object_is_prompt_text(stdin):
    spec = parse_request(stdin)
    assert spec.prompt == stdin.decode()
    assert spec.protocol_version is None


@pytest.mark.parametrize("stdin", [None, b"", b"   \n\t\n"])
def test_empty_stdin_is_a_bad_request(stdin):
    e = bad(stdin)
    assert "prompt" in e.message.lower()
    assert e.protocol_version is None


# ---------------------------------------------------------------- protocol 1 (codex-lab)


def test_protocol_1_request(tmp_path):
    stdin = req(
        protocol_version=1,
        thread_id="019a-thread",
        parent_thread_id="019a-parent",
        author="/root",
        recipient="/root/worker",
        role="worker",
        task_name="fix-tests",
        cwd=str(tmp_path),
        message="Make the tests pass.",
    )
    spec = parse_request(stdin)
    assert spec.prompt == "Make the tests pass."
    assert spec.protocol_version == 1
    assert spec.cwd == str(tmp_path)
    assert spec.request_thread_id == "019a-thread"
    # the host's fields are kept for the journal
    assert spec.request["parent_thread_id"] == "019a-parent"
    assert spec.request["role"] == "worker" and spec.request["task_name"] == "fix-tests"
    # nothing of protocol 2 was asked for
    assert (spec.mode, spec.model, spec.timeout_s, spec.resume_session, spec.worktree) == (None, None, None, None, False)
    assert spec.max_final_message_bytes == 8192


def test_relative_cwd_is_made_absolute(tmp_path, monkeypatch):
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path)
    spec = parse_request(req(protocol_version=1, cwd="sub", message="hi"))
    assert spec.cwd == str(tmp_path / "sub")


def test_missing_cwd_defaults_to_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert parse_request(req(protocol_version=1, message="hi")).cwd == str(tmp_path)


# ---------------------------------------------------------------- protocol 2


def test_protocol_2_fields(tmp_path):
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}}
    spec = parse_request(
        req(
            protocol_version=2,
            message="Refactor it.",
            cwd=str(tmp_path),
            mode="write",
            model="gemini-2.5-pro",
            deadline_ms=90_500,
            resume={"session_id": "sess-42"},
            output_schema=schema,
            max_final_message_bytes=1000,
            worktree=True,
        )
    )
    assert spec.protocol_version == 2
    assert spec.prompt == "Refactor it."
    assert spec.mode == "write"
    assert spec.model == "gemini-2.5-pro"
    assert spec.timeout_s == pytest.approx(90.5)
    assert spec.resume_session == "sess-42"
    assert spec.output_schema == schema
    assert spec.max_final_message_bytes == 1000
    assert spec.worktree is True


def test_protocol_version_defaults_to_2():
    assert parse_request(req(message="hi")).protocol_version == 2


def test_unknown_fields_are_ignored():
    spec = parse_request(req(protocol_version=1, message="hi", host_extra={"a": 1}, tools=["x"], resume={"session_id": "s", "fork": True}))
    assert spec.prompt == "hi"
    assert spec.resume_session == "s"


# ---------------------------------------------------------------- bad requests


def test_empty_message_is_a_bad_request():
    e = bad(req(protocol_version=1, message="  \n"))
    assert "message" in e.message
    assert e.protocol_version == 1


@pytest.mark.parametrize("pv", [1, 2])
def test_missing_message_names_the_field_and_keeps_the_protocol(pv):
    e = bad(req(protocol_version=pv, thread_id="t"))
    assert "message" in e.message
    assert e.protocol_version == pv


def test_non_string_message_is_a_bad_request():
    e = bad(req(protocol_version=1, message=["not", "text"]))
    assert "message" in e.message and e.protocol_version == 1


@pytest.mark.parametrize("pv", [3, 0, "1", None])
def test_unknown_protocol_version_is_a_bad_request(pv):
    e = bad(req(protocol_version=pv, message="hi"))
    assert "protocol_version" in e.message
    assert e.protocol_version is None  # no known protocol to answer in


def test_nonexistent_cwd_is_a_bad_request(tmp_path):
    missing = tmp_path / "gone"
    e = bad(req(protocol_version=1, cwd=str(missing), message="hi"))
    assert str(missing) in e.message
    assert e.protocol_version == 1


def test_cwd_that_is_a_file_is_a_bad_request(tmp_path):
    f = tmp_path / "file.txt"
    f.write_text("x")
    assert bad(req(protocol_version=2, cwd=str(f), message="hi")).protocol_version == 2


@pytest.mark.parametrize("mode", ["danger", "READ-ONLY", "workspace-write", ""])
def test_bad_mode_is_a_bad_request(mode):
    e = bad(req(protocol_version=2, message="hi", mode=mode))
    assert "mode" in e.message and e.protocol_version == 2


@pytest.mark.parametrize("field,value", [("deadline_ms", 0), ("deadline_ms", -5), ("max_final_message_bytes", 0),
                                         ("resume", {"id": "x"})])
def test_out_of_range_fields_are_bad_requests(field, value):
    e = bad(req(protocol_version=2, message="hi", **{field: value}))
    assert field in e.message


def test_boolean_protocol_version_is_a_bad_request():
    bad(req(protocol_version=True, message="hi"))


# ---------------------------------------------------------------- values bound for a vendor's argv


@pytest.mark.parametrize(("field", "value"), [("model", "--yolo"), ("model", "-m"), ("resume", {"session_id": "-y"}),
                                              ("model", "a\u0000b"), ("model", "  ")])
def test_request_values_a_vendor_would_misread_are_bad_requests(field, value):
    e = bad(req(protocol_version=1, message="hi", **{field: value}))
    assert f"`{field}" in e.message and e.protocol_version == 1


def test_an_empty_model_still_means_the_vendors_default():
    assert parse_request(req(message="hi", model="")).model == ""


@pytest.mark.parametrize("value", ["claude-opus-5-5", "gemini-2.5-pro", "Gemini 3.5 Flash (Low)", "sess-42", "a-b--c"])
def test_ordinary_models_and_sessions_pass(value):
    spec = parse_request(req(message="hi", model=value, resume={"session_id": value}))
    assert (spec.model, spec.resume_session) == (value, value)
