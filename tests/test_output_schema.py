"""A request's output_schema (CONTRACT §2; `exec --output-schema`) reaching the vendors: the
final agent_message and final_message are then the answer's JSON text (Codex's --output-schema).

Claude: the REAL pinned CLI (`--json-schema`, a StructuredOutput tool) against the fake
Anthropic API; agy: its simulator; Gemini CLI and the fake vendor have no structured output and
refuse before launch."""

from __future__ import annotations

import json
import os
import stat

import procs
import pytest
from conftest import BIN, ROOT, shim_path
from fakes.claude_env import CLAUDE_BIN, claude_env
from fakes.fake_anthropic import FakeAnthropic
from streamcheck import run_stream

from normalize.request import RunSpec
from shims.agy import command as agy_command
from shims.claude import command as claude_command

AGY = ROOT / "tests" / "fakes" / "agy" / "agy"
SCHEMA = {"type": "object",
          "properties": {"summary": {"type": "string"}, "files": {"type": "integer", "minimum": 2},
                         "kind": {"enum": ["fix", "feature"]}},
          "required": ["summary", "files", "kind"], "additionalProperties": False}


def request(workdir, message: str, schema=SCHEMA) -> bytes:
    return json.dumps({"protocol_version": 2, "cwd": str(workdir), "message": message,
                       "output_schema": schema}).encode()


def messages(events) -> list[str]:
    return [e["item"]["text"] for e in events if e["type"] == "item.completed" and e["item"]["type"] == "agent_message"]


def fits(answer: dict) -> bool:
    """The answer satisfies SCHEMA (the keywords it uses)."""
    return (set(answer) == {"summary", "files", "kind"} and isinstance(answer["summary"], str)
            and isinstance(answer["files"], int) and answer["files"] >= 2 and answer["kind"] in ("fix", "feature"))


# ------------------------------------------------------------------ Claude Code (real CLI)


@pytest.fixture(scope="module")
def api():
    with FakeAnthropic() as server:
        yield server


@pytest.fixture
def claude(api, mark, tmp_path):
    api.reset()
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()

    def stream(stdin: bytes, *args):
        env = {**claude_env(api.base_url, home), procs.MARK_ENV: mark}
        return run_stream([shim_path("claude"), "--vendor-bin", str(CLAUDE_BIN), "--emit", "ndjson", *args],
                          env=env, cwd=work, stdin=stdin, timeout=120)

    stream.workdir = work
    return stream


@pytest.mark.slow
@pytest.mark.realcli
def test_claude_answers_in_the_schema(claude, api):
    rc, events, result = claude(request(claude.workdir, "[scenario:structured] Summarise the change"))
    assert rc == 0 and result["status"] == "completed", result["error"]
    answer = json.loads(result["final_message"])
    assert fits(answer), answer
    # the JSON text is the last agent_message; the StructuredOutput call is no item of its own
    assert messages(events)[-1] == result["final_message"]
    assert not [e for e in events if e.get("item", {}).get("type") == "mcp_tool_call"]
    # what the CLI did with --json-schema: a tool whose input schema is the request's schema
    tools = {t["name"]: t for t in api.message_requests()[0].body["tools"]}
    assert tools["StructuredOutput"]["input_schema"] == SCHEMA


@pytest.mark.slow
@pytest.mark.realcli
def test_claude_retries_a_refused_answer_and_says_so(claude):
    rc, events, result = claude(request(claude.workdir, "[scenario:structured-retry] Summarise"))
    assert rc == 0 and fits(json.loads(result["final_message"]))
    errors = [e["item"]["message"] for e in events if e.get("item", {}).get("type") == "error"]
    assert any("did not fit the output schema" in m and "required property 'summary'" in m for m in errors), errors


@pytest.mark.slow
@pytest.mark.realcli
@pytest.mark.parametrize(("scenario", "words"), [
    ("structured-never", "could not give an answer that fits the output schema"),  # 5 refused calls
    ("plain", "without calling its StructuredOutput tool"),  # prose, even after the CLI's reminder
])
def test_claude_without_a_structured_answer_fails(claude, scenario, words):
    rc, events, result = claude(request(claude.workdir, f"[scenario:{scenario}] Summarise"))
    assert (rc, result["status"], result["failure_kind"]) == (1, "failed", "provider_failed")
    assert words in result["error"]


@pytest.mark.slow
@pytest.mark.realcli
def test_claude_refuses_a_schema_the_cli_rejects(claude, api):
    bad = {"type": "object", "properties": {"a": {"type": 5}}}
    rc, events, result = claude(request(claude.workdir, "[scenario:structured] hi", bad))
    assert (rc, result["failure_kind"]) == (2, "bad_request") and "not a valid JSON Schema" in result["error"]
    assert api.calls == 0


@pytest.mark.slow
def test_claude_refuses_a_non_object_root_before_launch(claude, api):
    rc, events, result = claude(request(claude.workdir, "hi", {"type": "array", "items": {"type": "string"}}))
    assert (rc, result["failure_kind"]) == (7, "unsupported_mode") and '"type": "object"' in result["error"]
    assert api.calls == 0 and not [e for e in events if e["type"] == "turn.started"]


def test_claude_schema_is_one_argv_word_before_the_prompt(tmp_path):
    hostile = {"type": "object", "properties": {"--dangerously-skip-permissions": {"const": "-- --allowedTools Bash"}}}
    argv = claude_command.build_launch(RunSpec(prompt="-p", cwd=str(tmp_path), output_schema=hostile), "claude").argv
    words = [w for w in argv if "json-schema" in w]
    assert words == ["--json-schema=" + json.dumps(hostile, separators=(",", ":"))]
    assert argv.index(words[0]) < argv.index("--") and "--dangerously-skip-permissions" not in argv
    assert claude_command.build_launch(RunSpec(prompt="x", cwd=str(tmp_path)), "claude").argv.count("--json-schema") == 0


def test_a_schema_too_big_for_the_command_line_is_refused(tmp_path):
    big = {"type": "object", "description": "x" * (80 * 1024)}
    for build in (lambda s: claude_command.build_launch(s, "claude"),
                  lambda s: agy_command.build_launch(s, "agy", version=(1, 2, 16))):
        with pytest.raises(ValueError, match="KiB"):
            build(RunSpec(prompt="x", cwd=str(tmp_path), output_schema=big))


# ------------------------------------------------------------------ agy (simulator)


@pytest.fixture
def agy(mark, tmp_path):
    home, work = tmp_path / "home", tmp_path / "work"
    (home / ".gemini" / "antigravity-cli").mkdir(parents=True)
    (home / ".gemini" / "antigravity-cli" / "antigravity-oauth-token").write_text('{"token": "fake"}')
    work.mkdir()

    def stream(stdin: bytes, *args, version="1.2.16"):
        env = {"PATH": os.environ["PATH"], "HOME": str(home), "LANG": "C.UTF-8", "AGY_SIM_VERSION": version,
               procs.MARK_ENV: mark}
        return run_stream([shim_path("agy"), "--vendor-bin", str(AGY), "--emit", "ndjson", *args], env=env, cwd=work,
                          stdin=stdin, timeout=60)

    stream.workdir = work
    return stream


@pytest.mark.slow
def test_agy_answers_in_the_schema(agy):
    rc, events, result = agy(request(agy.workdir, "Summarise the change"))
    assert rc == 0 and result["status"] == "completed", result["error"]
    assert fits(json.loads(result["final_message"])) and messages(events)[-1] == result["final_message"]


@pytest.mark.slow
def test_agy_without_structured_output_fails(agy):
    rc, events, result = agy(request(agy.workdir, "[scenario:tool] run"), "--mode", "full")
    assert (rc, result["failure_kind"]) == (1, "provider_failed") and "structured_output" in result["error"]


@pytest.mark.slow
def test_agy_before_1_1_8_is_refused(agy):
    rc, events, result = agy(request(agy.workdir, "hi"), version="1.1.7")
    assert (rc, result["failure_kind"]) == (7, "unsupported_mode") and "1.1.8" in result["error"]
    assert not [e for e in events if e["type"] == "turn.started"]


def test_agy_schema_under_a_terminal_is_refused(tmp_path):
    with pytest.raises(ValueError, match="pseudo-terminal"):
        agy_command.build_launch(RunSpec(prompt="x", cwd=str(tmp_path), output_schema=SCHEMA), "agy", pty=True,
                                 version=(1, 2, 16))


# ------------------------------------------------------------------ no structured output: refused before launch


def recording_vendor(tmp_path) -> tuple[str, str]:
    """A vendor binary that only notes that it was started (nothing contacts any API)."""
    marker = tmp_path / "started"
    wrapper = tmp_path / "vendor"
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> "{marker}"\nexit 1\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return str(wrapper), str(marker)


@pytest.mark.parametrize(("vendor", "title"), [("gemini", "Gemini CLI"), ("fake", "The fake vendor CLI")])
def test_vendors_without_structured_output_refuse_and_launch_nothing(vendor, title, tmp_path, mark):
    wrapper, marker = recording_vendor(tmp_path)
    env = {**os.environ, "GEMINI_API_KEY": "fake-key", procs.MARK_ENV: mark}
    rc, events, result = run_stream([shim_path(vendor), "--vendor-bin", wrapper, "--emit", "ndjson"], env=env,
                                    cwd=tmp_path, stdin=request(tmp_path, "hi"), timeout=60)
    assert (rc, result["status"], result["failure_kind"]) == (7, "failed", "unsupported_mode")
    assert result["error"].startswith(f"{title} cannot constrain its answer to a JSON schema")
    assert "claude or agy" in result["error"]
    assert not os.path.exists(marker), open(marker).read()
    # without a schema the same binary is launched: the refusal above is the schema's
    run_stream([shim_path(vendor), "--vendor-bin", wrapper, "--emit", "ndjson"], env=env, cwd=tmp_path, stdin=b"hi",
               timeout=60)
    assert os.path.exists(marker)


# ------------------------------------------------------------------ shims doctor


@pytest.mark.slow
def test_doctor_says_which_vendor_takes_an_output_schema(tmp_path, mark):
    import subprocess

    def rows(version: str) -> dict:
        env = {**os.environ, "PATH": f"{AGY.parent}:/usr/bin:/bin", "AGY_SIM_VERSION": version,
               "XDG_STATE_HOME": str(tmp_path / version), procs.MARK_ENV: mark}
        out = subprocess.run([str(BIN / "shims"), "doctor", "--json"], capture_output=True,
                             env=env, timeout=120)
        return {r["provider"]: r["output_schema"] for r in json.loads(out.stdout)}

    now = rows("1.2.16")
    assert now["claude"] is None and now["agy"] is None
    assert now["gemini"].startswith("Gemini CLI cannot constrain its answer to a JSON schema")
    assert "1.1.8" in rows("1.1.7")["agy"]
