"""Argument injection (issue 13): no request field or flag value that reaches a vendor's argv can
be read by the vendor CLI as an option.

Model names and session ids never start with "-": such values are refused as bad_request before
launch. Everything else is placed where no option parser reads options (`--flag=value`, or after
`--`), which the real Claude and Gemini CLIs and the agy simulator prove: a fake API asks for a
shell command that writes a marker file, and the marker appears only when a permission flag
really reached the CLI (the control)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess

import procs
import pytest
from conftest import FAKE_VENDOR, ROOT, shim_path
from hostile import ESCALATING_FLAGS, option_like
from hypothesis import given, settings
from hypothesis import strategies as st
from streamcheck import check_stream, parse_stream

from normalize.request import RunSpec
from shims.agy import command as agy_command
from shims.claude import command as claude_command
from shims.fake import command as fake_command
from shims.gemini import command as gemini_command

AGY = str(ROOT / "tests" / "fakes" / "agy" / "agy")
BIG = 1024 * 1024  # 1 MiB: eight times what Linux takes in one argv string


def launch_of(vendor: str, spec: RunSpec):
    if vendor == "claude":
        return claude_command.build_launch(spec, "claude")
    if vendor == "gemini":
        launch = gemini_command.build_launch(spec, "gemini")
        shutil.rmtree(launch.scratch_dir, ignore_errors=True)
        return launch
    if vendor == "agy":
        return agy_command.build_launch(spec, "agy", version=(1, 2, 16))
    return fake_command.build_launch(spec, "fake")


def options_part(argv: list[str]) -> list[str]:
    """The words an option parser reads as options: everything before `--`."""
    return argv[: argv.index("--")] if "--" in argv else argv


# ---------------------------------------------------------------- where values go (pure)


@settings(max_examples=60, deadline=None)
@given(vendor=st.sampled_from(("claude", "gemini", "agy", "fake")), value=option_like,
       slot=st.sampled_from(("model", "resume_session", "prompt")))
def test_no_value_is_a_word_of_its_own_among_the_options(vendor, value, slot, tmp_path_factory):
    # Even a value validation would refuse (build_launch is the second line of defence).
    spec = RunSpec(prompt="hi", cwd=str(tmp_path_factory.getbasetemp()))
    setattr(spec, slot, "neutral-value")
    baseline = options_part(launch_of(vendor, spec).argv)  # the shim's own words ("-p" for Claude)
    setattr(spec, slot, value)
    if slot == "prompt" and not value.strip():
        return
    argv = launch_of(vendor, spec).argv
    assert options_part(argv).count(value) == baseline.count(value), argv
    if slot == "prompt" and "--" in argv:
        assert argv[argv.index("--") + 1:] == [value]
    else:
        assert any(w.endswith("=" + value) and w.startswith("--") for w in argv), argv


@pytest.mark.parametrize("vendor", ["claude", "gemini", "agy", "fake"])
def test_a_large_prompt_leaves_argv_for_stdin(vendor, tmp_path):
    spec = RunSpec(prompt="-" + "x" * BIG, cwd=str(tmp_path))
    launch = launch_of(vendor, spec)
    assert all(len(w.encode()) < 128 * 1024 for w in launch.argv)
    assert spec.prompt.encode() in launch.stdin_data


def test_agy_too_old_for_stdin_input_refuses_a_large_prompt_clearly(tmp_path):
    spec = RunSpec(prompt="x" * BIG, cwd=str(tmp_path))
    with pytest.raises(ValueError, match="1.1.15"):
        agy_command.build_launch(spec, "agy", version=(1, 1, 14))
    with pytest.raises(ValueError, match="pseudo-terminal"):
        agy_command.build_launch(spec, "agy", pty=True, version=(1, 2, 16))


# ---------------------------------------------------------------- refused before launch


def run_shim(vendor, env, *args, stdin=b"", cwd=None, vendor_bin=FAKE_VENDOR, timeout=120):
    proc = subprocess.run([shim_path(vendor), "--vendor-bin", vendor_bin, "--emit", "ndjson", *args], input=stdin,
                          capture_output=True, env={**os.environ, **env}, cwd=cwd, timeout=timeout)
    events = parse_stream(proc.stdout)
    return proc, events, check_stream(events, proc.returncode)


@pytest.mark.parametrize("vendor", ["claude", "gemini", "agy", "fake"])
@pytest.mark.parametrize("how", ["flag", "flag=", "request"])
@pytest.mark.parametrize("slot", ["model", "resume"])
def test_an_option_like_model_or_session_is_refused_before_launch(fake_env, tmp_path, vendor, how, slot):
    pidfile = tmp_path / "pids"
    env = {**fake_env, "FAKE_VENDOR_PIDFILE": str(pidfile)}
    value = "--dangerously-skip-permissions" if slot == "model" else "-y"
    if how == "request":
        field = {"model": value} if slot == "model" else {"resume": {"session_id": value}}
        stdin = json.dumps({"protocol_version": 2, "cwd": str(tmp_path), "message": "hi", **field}).encode()
        proc, events, result = run_shim(vendor, env, stdin=stdin)
        named = "`model`" if slot == "model" else "`resume.session_id`"
    else:
        args = [f"--{slot}={value}"] if how == "flag=" else [f"--{slot}", value]
        proc, events, result = run_shim(vendor, env, *args, "hi")
        named = f"--{slot}"
    assert proc.returncode == 2 and result["failure_kind"] == "bad_request", result["error"]
    assert named in result["error"] and value in result["error"]
    assert "turn.started" not in [e["type"] for e in events]
    assert not pidfile.exists(), "the vendor was launched"


def test_a_configured_option_like_model_is_refused_too(fake_env, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('[fake]\nmodel = "--yolo"\n')
    proc, events, result = run_shim("fake", {**fake_env, "CODEX_SHIMS_CONFIG": str(config)}, "hi")
    assert result["failure_kind"] == "bad_request" and "config file" in result["error"]


@pytest.mark.parametrize("model", ["--yolo", "a\\u0000b"], ids=["option-like", "NUL"])
def test_a_fallback_providers_configured_model_is_checked_like_the_first_ones(fake_env, tmp_path, model):
    """A fallback provider launches with its own configured model (not the first one's): that
    value reaches its argv too, and is refused the same way (was: launched with `--model=--yolo`;
    a NUL in it was a ValueError traceback and exit 1, provider_failed to a host)."""
    config = tmp_path / "config.toml"
    config.write_text(f'[agy]\nvendor_bin = "{AGY}"\nmodel = "{model}"\n')
    env = {**agy_env(fake_env, tmp_path), "CODEX_SHIMS_CONFIG": str(config)}
    proc, events, result = run_shim("fake", env, "--fallback", "agy", "hi", vendor_bin=str(tmp_path / "missing"))
    assert b"Traceback" not in proc.stderr, proc.stderr.decode(errors="replace")
    assert (proc.returncode, result["failure_kind"]) == (2, "bad_request"), result["error"]
    assert "config file" in result["error"] and "agy" in result["error"]
    assert "turn.started" not in [e["type"] for e in events]


@pytest.mark.parametrize("prompt", ESCALATING_FLAGS[:-2])
def test_an_option_like_prompt_reaches_the_fake_vendor_as_the_prompt(fake_env, prompt):
    proc, events, result = run_shim("fake", fake_env, "--", prompt)
    assert result["status"] == "completed" and result["final_message"] == f"Hello! You said: {prompt}"


def test_a_1_mib_prompt_reaches_the_fake_vendor(fake_env, tmp_path):
    prompt = "-p " + "y" * BIG + " the end"
    stdin = json.dumps({"protocol_version": 2, "cwd": str(tmp_path), "message": prompt}).encode()
    proc, events, result = run_shim("fake", fake_env, stdin=stdin)
    assert result["status"] == "completed", result["error"]
    # the fake's session id is a digest of the prompt it was given
    assert result["session_id"] == "fake-session-" + hashlib.sha1(prompt.encode()).hexdigest()[:8]
    assert result["final_message"].endswith(" the end")


# ---------------------------------------------------------------- the agy simulator


def agy_env(fake_env, tmp_path):
    return {**fake_env, "HOME": str(tmp_path / "home"), "GEMINI_API_KEY": "sim-key"}


@pytest.mark.parametrize("prompt", ["--dangerously-skip-permissions [scenario:write]",
                                    "--mode=accept-edits [scenario:write]", "-p [scenario:write]"])
def test_agy_an_option_like_prompt_does_not_escalate(fake_env, tmp_path, prompt):
    work = tmp_path / "work"
    work.mkdir()
    proc, events, result = run_shim("agy", agy_env(fake_env, tmp_path), "--mode", "read-only", "--cwd", str(work),
                                    "--", prompt, vendor_bin=AGY)
    assert not (work / "created-by-agy.txt").exists()
    assert result["status"] == "failed" and "permission" in (result["error"] or "")
    # control: the same scenario with the permission really given writes the file
    proc, events, result = run_shim("agy", agy_env(fake_env, tmp_path), "--mode", "full", "--cwd", str(work),
                                    "--", prompt, vendor_bin=AGY)
    assert (work / "created-by-agy.txt").exists()


def test_agy_a_1_mib_prompt_arrives_through_stream_json_input(fake_env, tmp_path):
    prompt = "[scenario:digest] " + "z" * BIG
    stdin = json.dumps({"protocol_version": 2, "cwd": str(tmp_path), "message": prompt}).encode()
    proc, events, result = run_shim("agy", agy_env(fake_env, tmp_path), stdin=stdin, vendor_bin=AGY)
    assert result["status"] == "completed", result["error"]
    assert hashlib.sha256(prompt.encode()).hexdigest() in result["final_message"]
    assert f"{len(prompt)} characters" in result["final_message"]


def test_agy_before_1_1_15_refuses_a_1_mib_prompt_before_launch(fake_env, tmp_path):
    stdin = json.dumps({"protocol_version": 2, "cwd": str(tmp_path), "message": "z" * BIG}).encode()
    env = {**agy_env(fake_env, tmp_path), "AGY_SIM_VERSION": "1.1.14"}
    proc, events, result = run_shim("agy", env, stdin=stdin, vendor_bin=AGY)
    assert proc.returncode == 7 and result["failure_kind"] == "unsupported_mode" and "1.1.15" in result["error"]


# ---------------------------------------------------------------- the real Claude and Gemini CLIs


@pytest.fixture(scope="module")
def anthropic():
    from fakes.fake_anthropic import FakeAnthropic

    with FakeAnthropic() as server:
        yield server


@pytest.fixture(scope="module")
def google():
    from fakes.fake_gemini import FakeGemini

    with FakeGemini() as server:
        yield server


def run_vendor_argv(argv, env, cwd, mark, stdin=None):
    return subprocess.run(argv, env={**env, procs.MARK_ENV: mark}, cwd=cwd, capture_output=True, timeout=120,
                          input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL)


CLAUDE_HOSTILE = [("model", "--allowedTools=Bash"), ("prompt", "--allowedTools=Bash [scenario:marker] go")]


@pytest.mark.realcli
@pytest.mark.slow
@pytest.mark.parametrize(("slot", "value"), CLAUDE_HOSTILE)
def test_claude_a_hostile_value_in_its_slot_does_not_grant_bash(anthropic, mark, tmp_path, slot, value):
    from fakes.claude_env import CLAUDE_BIN, claude_env

    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    env = claude_env(anthropic.base_url, home)
    spec = RunSpec(prompt="[scenario:marker] go", cwd=str(work), mode="read-only")
    setattr(spec, slot, value)  # not validated: the argv spelling alone must hold
    argv = claude_command.build_launch(spec, str(CLAUDE_BIN)).argv
    run_vendor_argv(argv, env, work, mark)
    assert not (work / "injected-marker.txt").exists(), argv
    if slot == "model":  # it was taken as the model name, nothing else
        assert anthropic.message_requests()[-1].body["model"] == value
    # control: the flag given as an option of its own does run the command
    spec.model, spec.prompt = None, "[scenario:marker] go"
    argv = claude_command.build_launch(spec, str(CLAUDE_BIN)).argv
    run_vendor_argv([*argv[:1], "--allowedTools=Bash", *argv[1:]], env, work, mark)
    assert (work / "injected-marker.txt").exists()


@pytest.mark.realcli
@pytest.mark.slow
def test_claude_shim_refuses_an_injected_flag_as_model_without_calling_the_api(anthropic, mark, tmp_path):
    from fakes.claude_env import CLAUDE_BIN, claude_env

    home = tmp_path / "home"
    home.mkdir()
    calls = anthropic.calls
    proc, events, result = run_shim("claude", {**claude_env(anthropic.base_url, home), procs.MARK_ENV: mark},
                                    "--model", "--dangerously-skip-permissions", "[scenario:marker] go",
                                    cwd=tmp_path, vendor_bin=str(CLAUDE_BIN))
    assert result["failure_kind"] == "bad_request" and "--model" in result["error"]
    assert anthropic.calls == calls and not (tmp_path / "injected-marker.txt").exists()


@pytest.mark.realcli
@pytest.mark.slow
def test_claude_a_1_mib_prompt_reaches_the_model(anthropic, mark, tmp_path):
    from fakes.claude_env import CLAUDE_BIN, claude_env

    home = tmp_path / "home"
    home.mkdir()
    prompt = "[scenario:plain] " + "q" * BIG + " end-of-prompt"
    stdin = json.dumps({"protocol_version": 2, "cwd": str(tmp_path), "message": prompt}).encode()
    proc, events, result = run_shim("claude", {**claude_env(anthropic.base_url, home), procs.MARK_ENV: mark},
                                    stdin=stdin, vendor_bin=str(CLAUDE_BIN))
    assert result["status"] == "completed", result["error"]
    body = json.dumps(anthropic.message_requests()[-1].body["messages"])
    assert "q" * BIG + " end-of-prompt" in body


GEMINI_HOSTILE = [("model", "--yolo"), ("model", "-y"), ("prompt", "--yolo [scenario:marker] go"),
                  ("prompt", "--approval-mode=yolo [scenario:marker] go")]


def gemini_run_env(api, home):
    from fakes.gemini_env import gemini_env

    return {**gemini_env(api.base_url, home), "GEMINI_CLI_NO_RELAUNCH": "true"}


@pytest.mark.realcli
@pytest.mark.slow
@pytest.mark.parametrize(("slot", "value"), GEMINI_HOSTILE)
def test_gemini_a_hostile_value_in_its_slot_does_not_grant_the_shell(google, mark, tmp_path, slot, value):
    from fakes.gemini_env import GEMINI_BIN

    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    env = gemini_run_env(google, home)
    spec = RunSpec(prompt="[scenario:marker] go", cwd=str(work), mode="read-only", model="gemini-2.5-flash")
    setattr(spec, slot, value)  # not validated: the argv spelling alone must hold
    launch = gemini_command.build_launch(spec, str(GEMINI_BIN))
    shutil.rmtree(launch.scratch_dir, ignore_errors=True)
    run_vendor_argv(launch.argv, env, work, mark)
    assert not (work / "injected-marker.txt").exists(), launch.argv
    # control: yolo given as an option of its own does run the command
    spec.model, spec.prompt, spec.mode = "gemini-2.5-flash", "[scenario:marker] go", None
    launch = gemini_command.build_launch(spec, str(GEMINI_BIN))
    shutil.rmtree(launch.scratch_dir, ignore_errors=True)
    run_vendor_argv([*launch.argv, "--yolo"], env, work, mark)
    assert (work / "injected-marker.txt").exists()


@pytest.mark.realcli
@pytest.mark.slow
def test_gemini_shim_refuses_an_injected_flag_as_session_without_calling_the_api(google, mark, tmp_path):
    from fakes.gemini_env import GEMINI_BIN

    calls = google.calls
    stdin = json.dumps({"protocol_version": 2, "cwd": str(tmp_path), "message": "[scenario:marker] go",
                        "resume": {"session_id": "--yolo"}}).encode()
    proc, events, result = run_shim("gemini", {**gemini_run_env(google, tmp_path / "home"), procs.MARK_ENV: mark},
                                    stdin=stdin, vendor_bin=str(GEMINI_BIN))
    assert result["failure_kind"] == "bad_request" and "resume.session_id" in result["error"]
    assert google.calls == calls and not (tmp_path / "injected-marker.txt").exists()


@pytest.mark.realcli
@pytest.mark.slow
def test_gemini_a_1_mib_prompt_reaches_the_model(google, mark, tmp_path):
    from fakes.gemini_env import GEMINI_BIN

    prompt = "[scenario:plain] " + "g" * BIG + " end-of-prompt"
    stdin = json.dumps({"protocol_version": 2, "cwd": str(tmp_path), "message": prompt}).encode()
    proc, events, result = run_shim("gemini", {**gemini_run_env(google, tmp_path / "home"), procs.MARK_ENV: mark},
                                    "--model", "gemini-2.5-flash", stdin=stdin, vendor_bin=str(GEMINI_BIN))
    assert result["status"] == "completed", result["error"]
    body = json.dumps(google.message_requests()[-1].body["contents"])
    assert "g" * BIG + " end-of-prompt" in body


# ---------------------------------------------------------------- the config file's own args (trusted)


def test_configured_args_stay_options_before_claudes_prompt_separator(fake_env, tmp_path):
    """The config file's `args` are the user's own options: after `--` Claude would read them as
    more prompt words instead."""
    seen = tmp_path / "argv.json"
    stub = tmp_path / "claude"
    stub.write_text(f"#!{os.path.realpath(shutil.which('python3'))}\nimport json, sys\n"
                    f"json.dump(sys.argv[1:], open({str(seen)!r}, 'w'))\n")
    stub.chmod(0o755)
    config = tmp_path / "config.toml"
    config.write_text('[claude]\nargs = ["--add-dir", "/srv/shared"]\n')
    run_shim("claude", {**fake_env, "CODEX_SHIMS_CONFIG": str(config)}, "--", "-p do it", vendor_bin=str(stub))
    argv = json.loads(seen.read_text())
    assert argv[-2:] == ["--", "-p do it"]
    assert argv.index("--add-dir") < argv.index("--") and argv[argv.index("--add-dir") + 1] == "/srv/shared"
