"""`shim-<vendor> exec`, the `codex exec` drop-in (CONTRACT §15), with the fake vendor: the argv
the Codex SDKs pass, Codex's stream and nothing else on stdout, Codex's exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest
from conftest import FAKE_VENDOR, shim_path

from normalize.models import Event
from shims.cli.codex_exec import ExecCall, UsageError, parse_exec_argv

CODEX_EVENT_TYPES = {"thread.started", "turn.started", "turn.completed", "turn.failed", "item.started",
                     "item.updated", "item.completed", "error"}


def exec_shim(args, *, stdin=b"", env=None, vendor_bin=FAKE_VENDOR, timeout=60):
    argv = [shim_path("fake"), "exec", *args]
    if vendor_bin:
        argv += ["--vendor-bin", vendor_bin]
    proc = subprocess.run(argv, input=stdin, capture_output=True, env={**os.environ, **(env or {})}, timeout=timeout)
    return proc.returncode, proc.stdout, proc.stderr


def codex_lines(out: bytes) -> list[dict]:
    """Each stdout line as a Codex ThreadEvent: an event type Codex has, valid against the item
    models (which are Codex's shapes), and never the `result` envelope."""
    events = [json.loads(line) for line in out.decode().splitlines()]
    for event in events:
        assert event["type"] in CODEX_EVENT_TYPES, event
        Event.model_validate(event)
    return events


def envelope(err: bytes) -> dict:
    last = err.decode().rstrip("\n").splitlines()[-1]
    assert last.startswith("shim-result: ")
    return json.loads(last.removeprefix("shim-result: "))


# ------------------------------------------------------------------ the command line


def test_the_typescript_sdks_argv_is_read_as_codex_reads_it():
    # As @openai/codex-sdk 0.163 builds it (reference/codex.md §2.6): flags, resume, then images.
    call = parse_exec_argv(["--experimental-json", "--config", 'approval_policy="never"', "--model", "opus",
                            "--sandbox", "workspace-write", "--cd", "/w", "--add-dir", "/a", "--add-dir", "/b",
                            "--skip-git-repo-check", "--output-schema", "/tmp/s.json",
                            "--config", 'model_reasoning_effort="high"', "resume", "sess-1",
                            "--image", "x.png", "--image", "y.png,z.png"])
    assert call == ExecCall(json=True, model="opus", mode="write", cwd="/w", add_dirs=["/a", "/b"],
                            output_schema_path="/tmp/s.json", effort="high", images=["x.png", "y.png", "z.png"],
                            resume="sess-1", notes=["--config approval_policy"], shim=call.shim)
    assert not any(call.shim.values())


@pytest.mark.parametrize(("argv", "mode"), [
    (["--sandbox", "read-only"], "read-only"), (["-s", "danger-full-access"], "full"), (["--full-auto"], "write"),
    (["--dangerously-bypass-approvals-and-sandbox"], "full"), (["-c", "sandbox_mode='workspace-write'"], "write"),
    ([], None)])
def test_sandboxes_become_the_shims_modes(argv, mode):
    assert parse_exec_argv(argv).mode == mode


def test_prompt_and_resume_positions():
    assert parse_exec_argv(["do it"]).prompt == "do it"
    assert parse_exec_argv(["-"]).prompt == "-"
    call = parse_exec_argv(["resume", "abc", "go on", "--json"])
    assert (call.resume, call.prompt, call.json) == ("abc", "go on", True)
    assert parse_exec_argv(["resume", "--last", "again"]).resume == "last"
    assert parse_exec_argv(["--", "-starts with a dash"]).prompt == "-starts with a dash"


@pytest.mark.parametrize("argv", [["--bogus"], ["a", "b"], ["resume"], ["--sandbox", "yolo"], ["-c", "novalue"],
                                  ["-c", "sandbox_mode='everything'"], ["-c", "model_reasoning_effort='huge'"],
                                  ["--last"], ["--timeout", "-1"]])
def test_a_command_line_codex_would_refuse_is_refused(argv):
    with pytest.raises(UsageError):
        parse_exec_argv(argv)


def test_a_refused_command_line_prints_nothing_on_stdout_and_exits_2(fake_env):
    code, out, err = exec_shim(["--json", "--no-such-flag"], env=fake_env)
    assert (code, out) == (2, b"")
    assert b"unexpected argument '--no-such-flag'" in err


# ------------------------------------------------------------------ the stream


def test_json_prints_exactly_codexs_stream_and_the_envelope_goes_to_stderr(fake_env, tmp_path):
    last = tmp_path / "last.txt"
    code, out, err = exec_shim(["--experimental-json", "--skip-git-repo-check", "-o", str(last)],
                               stdin=b"Say hello", env=fake_env)
    events = codex_lines(out)
    assert code == 0
    assert [e["type"] for e in events][:2] == ["thread.started", "turn.started"]
    assert events[-1]["type"] == "turn.completed"
    assert events[-1]["usage"] == {"input_tokens": 125, "cached_input_tokens": 20, "cache_write_input_tokens": 5,
                                   "output_tokens": 50, "reasoning_output_tokens": 10}
    result = envelope(err)
    # The thread id is the vendor's session id: what the SDK hands back to `exec resume`.
    assert events[0]["thread_id"] == result["session_id"] and result["session_id"].startswith("fake-session-")
    assert result["status"] == "completed" and result["journal"]
    assert last.read_text() == "Hello! You said: Say hello" == result["final_message"]
    # The journal keeps the whole protocol-2 stream, result included.
    recorded = (open(os.path.join(result["journal"], "events.ndjson")).read().splitlines())
    assert json.loads(recorded[-1])["type"] == "result"


def test_stdin_that_looks_like_a_request_is_the_prompt(fake_env):
    prompt = b'{"protocol_version": 1, "message": "not a request here"}'
    code, out, err = exec_shim(["--json"], stdin=prompt, env=fake_env)
    assert code == 0
    assert envelope(err)["final_message"] == "Hello! You said: " + prompt.decode()


def test_an_argument_prompt_with_piped_stdin_gets_a_stdin_block(fake_env):
    code, _, err = exec_shim(["--json", "Summarize"], stdin=b"the log", env=fake_env)
    assert code == 0
    assert envelope(err)["final_message"] == "Hello! You said: Summarize\n\n<stdin>\nthe log\n</stdin>"


def test_resume_continues_the_vendor_session_named_by_the_thread_id(fake_env):
    _, out, _ = exec_shim(["--json"], stdin=b"first", env=fake_env)
    thread_id = codex_lines(out)[0]["thread_id"]
    code, out, err = exec_shim(["--json", "resume", thread_id], stdin=b"second", env=fake_env)
    assert code == 0
    assert codex_lines(out)[0]["thread_id"] == thread_id == envelope(err)["session_id"]


def test_without_json_the_final_message_is_all_stdout(fake_env):
    code, out, _ = exec_shim([], stdin=b"Say hello", env=fake_env)
    assert (code, out) == (0, b"Hello! You said: Say hello\n")


def test_a_failed_turn_exits_1_and_its_message_starts_with_the_failure_kind(fake_env):
    code, out, err = exec_shim(["--json"], stdin=b"hi", env=fake_env, vendor_bin="/nonexistent/claude")
    events = codex_lines(out)
    assert code == 1
    assert events[-1]["type"] == "turn.failed" and events[-2]["type"] == "error"
    assert events[-1]["error"]["message"].startswith("command_missing: The fake CLI was not found")
    assert events[-2]["message"] == events[-1]["error"]["message"]
    assert envelope(err)["failure_kind"] == "command_missing"


def test_an_image_fails_the_turn_with_unsupported_mode_and_launches_nothing(fake_env, tmp_path):
    pidfile = tmp_path / "pids"
    code, out, _ = exec_shim(["--json", "describe", "--image", "shot.png"], env={**fake_env, "FAKE_VENDOR_PIDFILE": str(pidfile)})
    assert code == 1
    assert codex_lines(out)[-1]["error"]["message"].startswith("unsupported_mode: The fake CLI takes no image input")
    assert not pidfile.exists()


def test_an_output_schema_that_is_not_a_json_object_is_a_bad_request(fake_env, tmp_path):
    schema = tmp_path / "schema.json"
    schema.write_text("[1, 2]")
    code, out, _ = exec_shim(["--json", "--output-schema", str(schema), "x"], env=fake_env)
    assert code == 1
    assert codex_lines(out)[-1]["error"]["message"].startswith("bad_request: --output-schema")


def test_an_add_dir_that_does_not_exist_is_a_bad_request(fake_env, tmp_path):
    code, out, _ = exec_shim(["--json", "--add-dir", str(tmp_path / "missing"), "x"], env=fake_env)
    assert code == 1
    assert "--add-dir does not exist" in codex_lines(out)[-1]["error"]["message"]


def test_options_with_no_meaning_are_named_on_stderr_and_change_nothing(fake_env, tmp_path):
    plain = exec_shim(["--json", "x"], env=fake_env)
    noted = exec_shim(["--json", "--ephemeral", "-p", "work", "--enable", "web_search", "--add-dir", str(tmp_path),
                       "-c", "model_reasoning_effort='high'", "x"], env=fake_env)
    assert noted[0] == plain[0] == 0
    assert noted[1] == plain[1]  # the same stream: nothing changed what ran
    note = [line for line in noted[2].decode().splitlines() if line.startswith("shim-fake exec: taken")]
    assert len(note) == 1
    for named in ("--profile work", "--enable web_search", "--ephemeral", "--add-dir",
                  "model_reasoning_effort=high (no such effort)"):
        assert named in note[0]


def test_sigterm_as_the_sdk_aborts_leaves_no_process_and_exits_143(fake_env, mark):
    # The TypeScript SDK aborts a turn by SIGTERM to the child (reference/codex.md §2.6).
    proc = subprocess.Popen([shim_path("fake"), "exec", "--json", "--vendor-bin", FAKE_VENDOR, "wait"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, **fake_env, "FAKE_VENDOR_MISBEHAVE": "hang"})
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert json.loads(first)["type"] == "thread.started"
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 143
    events = codex_lines(first + out)
    assert events[-1]["error"]["message"].startswith("cancelled: ")
    assert envelope(err)["status"] == "cancelled"


# ------------------------------------------------------------------ what reaches the vendor


@pytest.mark.parametrize(("vendor", "flag", "effort"), [("claude", "--add-dir", "--effort=high"),
                                                       ("gemini", "--include-directories", None),
                                                       ("agy", "--add-dir", "--effort=high")])
def test_add_dirs_and_effort_reach_the_vendors_own_flags(vendor, flag, effort, tmp_path):
    import dataclasses

    from normalize.request import RunSpec
    from shims.run.setup import build

    spec = RunSpec(prompt="p", cwd=str(tmp_path), add_dirs=("/data/a", "/data/b"), effort="high")
    settings = type("Settings", (), {"args": [], "env": {}})()
    launch = build(vendor, spec, vendor, False, settings) if vendor != "agy" else None
    if vendor == "agy":
        from shims.agy.command import build_launch

        launch = build_launch(dataclasses.replace(spec), "agy", version=(1, 1, 15))
    assert f"{flag}=/data/a" in launch.argv and f"{flag}=/data/b" in launch.argv
    if effort:
        assert effort in launch.argv
    else:
        assert not any(a.startswith("--effort") for a in launch.argv)


def test_a_long_answer_is_whole_in_the_stream_the_file_and_plain_stdout_and_the_envelope_fits_8_kib(
        fake_env, tmp_path):
    # A 40 KB prompt comes back in the fake's answer: Codex cuts no answer (an SDK's
    # finalResponse is the last agent_message; an --output-schema answer must stay JSON).
    answer = "Hello! You said: " + "x" * 39_990 + "END"
    last = tmp_path / "last.txt"
    code, out, err = exec_shim(["--json", "-o", str(last)], stdin=answer[17:].encode(), env=fake_env)
    assert code == 0
    final = [e for e in codex_lines(out) if e["type"] == "item.completed" and e["item"]["type"] == "agent_message"][-1]
    assert final["item"]["text"] == answer
    assert last.read_text() == answer
    line = err.rstrip(b"\n").splitlines()[-1]
    assert len(line) + 1 <= 8192  # the envelope line still fits a host's 8 KiB stderr tail
    result = envelope(err[-8192:])
    assert result["status"] == "completed" and "final_message" in result["dropped"]["fields"]
    code, out, _ = exec_shim([], stdin=answer[17:].encode(), env=fake_env)
    assert (code, out) == (0, answer.encode() + b"\n")



def test_a_deeply_nested_config_value_is_a_refused_command_line_not_a_crash(fake_env):
    # tomllib recurses per nesting level: 5000 `[` raised RecursionError (a traceback, exit 1,
    # no shim-result line) before the value was ever looked at.
    for entry in ("x=" + "[" * 5000, "model=" + "[" * 5000 + "]" * 5000, "y=" + "{a=" * 3000):
        with pytest.raises(UsageError):
            parse_exec_argv(["-c", entry])
    code, out, err = exec_shim(["--json", "-c", "x=" + "[" * 5000, "hi"], env=fake_env)
    assert (code, out) == (2, b"")
    assert b"Traceback" not in err and b"invalid --config x" in err


def test_the_last_config_value_of_a_key_wins_and_a_flag_beats_them_all():
    # As Codex reads repeated -c overrides (the last one wins), with -m/--sandbox over any -c.
    call = parse_exec_argv(["-c", "model='a'", "-c", "model='b'", "-c", "sandbox_mode='read-only'",
                            "-c", "sandbox_mode='danger-full-access'"])
    assert (call.model, call.mode) == ("b", "full")
    call = parse_exec_argv(["-m", "flag", "-c", "model='b'", "-s", "read-only", "-c", "sandbox_mode='danger-full-access'"])
    assert (call.model, call.mode) == ("flag", "read-only")


def test_words_after_a_double_dash_are_only_the_prompt():
    # `exec -- resume` is the prompt "resume", as for clap; it was taken for the subcommand.
    assert parse_exec_argv(["--", "resume"]) == ExecCall(prompt="resume", shim=parse_exec_argv([]).shim)
    with pytest.raises(UsageError):  # two prompts, not a resume of session "abc"
        parse_exec_argv(["--", "resume", "abc"])
    assert parse_exec_argv(["resume", "abc", "--", "-go on"]).resume == "abc"


def test_help_after_a_double_dash_is_a_prompt_not_the_help(fake_env):
    code, out, err = exec_shim(["--json", "--vendor-bin", FAKE_VENDOR, "--", "--help"], env=fake_env, vendor_bin=None)
    assert code == 0, err
    assert envelope(err)["final_message"] == "Hello! You said: --help"
    assert not out.startswith(b"usage:")


def test_stdin_that_cannot_be_decoded_is_named_as_such_not_as_a_missing_prompt(fake_env):
    # A UTF-16 byte-order mark followed by a lone surrogate half: stdin is not text.
    bad = b"\xff\xfeh\x00\x00\xd8"
    for args in (["--json"], ["--json", "a prompt"]):
        code, out, err = exec_shim(args, stdin=bad, env=fake_env)
        assert code == 1
        message = codex_lines(out)[-1]["error"]["message"]
        assert message.startswith("bad_request: stdin starts with a UTF-16-LE byte-order mark"), message


def _fifo(tmp_path):
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return str(path)


def test_an_output_schema_that_is_a_fifo_or_a_device_is_refused_at_once(fake_env, tmp_path):
    # open() of a FIFO with no writer blocks, and the shim holds SIGTERM while it does: an SDK's
    # abort could not stop it. /dev/zero never ends.
    for path in (_fifo(tmp_path), "/dev/zero"):
        code, out, _ = exec_shim(["--json", "--output-schema", path, "x"], env=fake_env, timeout=20)
        assert code == 1
        assert codex_lines(out)[-1]["error"]["message"].startswith(f"bad_request: --output-schema {path} is not a file")


def test_an_output_schema_file_over_the_limit_is_refused_without_reading_it_all(fake_env, tmp_path):
    from shims.cli.codex_exec import SCHEMA_FILE_MAX

    big = tmp_path / "big.json"
    big.write_bytes(b'{"type": "object", "description": "' + b"x" * SCHEMA_FILE_MAX + b'"}')
    code, out, _ = exec_shim(["--json", "--output-schema", str(big), "x"], env=fake_env)
    assert code == 1
    assert "bytes: at most" in codex_lines(out)[-1]["error"]["message"]


def test_output_last_message_to_a_fifo_nobody_reads_does_not_hang_the_shim(fake_env, tmp_path):
    code, out, err = exec_shim(["--json", "-o", _fifo(tmp_path), "hi"], env=fake_env, timeout=20)
    assert code == 0
    assert codex_lines(out)[-1]["type"] == "turn.completed"
    assert b"could not write --output-last-message" in err
    assert envelope(err)["status"] == "completed"


def test_a_folder_gemini_would_split_at_its_comma_is_refused_not_widened(tmp_path):
    # Gemini splits each --include-directories value at commas and trims it: `ws/x,/home`
    # (a folder an agent can make in its workspace) would have included /home as well.
    from normalize.request import RunSpec
    from shims.run.outcome import Refusal
    from shims.run.setup import build

    sneaky = tmp_path / "x," / "home"
    sneaky.mkdir(parents=True)
    settings = type("Settings", (), {"args": [], "env": {}})()
    for folder in (str(sneaky), str(tmp_path) + " "):
        with pytest.raises(Refusal) as refused:
            build("gemini", RunSpec(prompt="p", cwd=str(tmp_path), add_dirs=(folder,)), "gemini", False, settings)
        assert refused.value.kind == "unsupported_mode" and "comma-separated" in refused.value.message


def test_no_prompt_says_how_exec_takes_one(fake_env):
    code, out, _ = exec_shim(["--json"], stdin=b"  \n", env=fake_env)
    assert code == 1
    assert codex_lines(out)[-1]["error"]["message"] == (
        "bad_request: No prompt: give PROMPT or write the prompt to stdin (the Codex SDKs write it there).")
