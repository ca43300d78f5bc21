"""The run path's scanner (shims.cli.entry) against the typer command line (shims.cli.commands), both built
from the option table (shims.run.options): the same options for every command line the scanner
takes itself, and typer for everything else."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import shim_path
from hostile import option_like
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shims import run as shim_app
from shims.cli.commands import make_shim_app
from shims.cli.entry import (
    VALUE_FLAGS,
    parse_doctor_args,
    parse_normalize_args,
    parse_preflight_args,
    parse_run_args,
)


def through_typer(argv: list[str], monkeypatch) -> shim_app.ShimOptions | None:
    """The options typer hands the run, or None when typer refused the command line."""
    seen = []

    def fake_run(vendor, opts):
        seen.append(opts)
        return 0

    monkeypatch.setattr(shim_app, "run", fake_run)
    with pytest.raises(SystemExit):
        make_shim_app("fake")(argv, prog_name="shim-fake")
    assert len(seen) <= 1
    return seen[0] if seen else None


@pytest.mark.parametrize("argv", [
    ["hi"],
    ["--prompt", "hi there"],
    ["--mode", "write", "--model", "m-1", "--cwd", "/tmp", "--emit", "ndjson", "fix it"],
    ["--timeout=12.5", "--idle-timeout", "0", "--cancel-grace", "1", "--resume", "last", "x"],
    ["--worktree", "--fallback", "gemini,agy", "--max-cost-usd", "2", "--vendor-bin", "/bin/true", "x"],
    ["--no-worktree", "--pty", "auto", "--journal", "/tmp/j", "--no-journal", "--ignore-quota-state", "x"],
    ["--", "--a prompt that starts with dashes"],
    [],
    # a path is handed on as typer's Path writes it (found in review: "" was "" here, "." there)
    ["--cwd", "", "x"], ["--cwd", "./sub/", "x"], ["--cwd=a//b", "x"], ["--cwd", "/tmp/./x/", "x"],
])
def test_the_same_options_as_typer(argv, monkeypatch):
    fields = parse_run_args(argv)
    assert fields is not None
    assert shim_app.ShimOptions(**fields) == through_typer(argv, monkeypatch)


@pytest.mark.parametrize("argv", [
    ["--help"], ["--version"], ["--preflight"], ["--unknown", "x"], ["--mode", "sideways", "x"],
    ["--timeout", "0", "x"], ["--timeout", "soon", "x"], ["--model"], ["--model", "--mode", "write"],
    ["one", "two"], ["--prompt", "a", "b"], ["--no-journal=1", "x"], ["-h"], ["--timeout", "٣", "x"],
])
def test_everything_else_goes_to_typer(argv):
    assert parse_run_args(argv) is None


@pytest.mark.parametrize(("argv", "taken"), [
    (["--preflight"], {}),
    (["--preflight", "--vendor-bin", "/bin/x", "--ignore-quota-state"], {"vendor_bin": "/bin/x", "ignore_quota_state": True}),
    (["--vendor-bin=/bin/x", "--preflight"], {"vendor_bin": "/bin/x"}),
    (["--preflight", "--mode", "write"], None),  # typer decides what else means
    (["--preflight", "hi"], None), (["--preflight", "--version"], None), (["--preflight=1"], None),
    (["--preflight", "--help"], None), (["hi"], None), ([], None),
])
def test_a_preflight_is_read_without_typer_only_in_its_own_forms(argv, taken):
    assert parse_preflight_args(argv) == taken


def test_a_preflight_answers_the_same_without_typer(full_env, tmp_path):
    """`--preflight` (asked before every worker a host starts) no longer loads typer, which
    loads pydantic: ~140 ms of a ~200 ms answer. The answer is the one typer's path gives."""
    env = full_env
    missing = str(tmp_path / "no-such-cli")
    fast = subprocess.run([sys.executable, "-X", "importtime", shim_path("fake"), "--preflight", "--vendor-bin", missing],
                          capture_output=True, env=env, timeout=60)
    typer_path = subprocess.run([shim_path("fake"), "--preflight", "--vendor-bin", missing, "--mode", "write"],
                                capture_output=True, env=env, timeout=60)
    assert (fast.returncode, fast.stdout) == (typer_path.returncode, typer_path.stdout)
    assert fast.returncode == 3 and b'"command_missing"' in fast.stdout
    imported = {line.rpartition(b"|")[2].strip() for line in fast.stderr.splitlines() if line.startswith(b"import time:")}
    assert b"typer" not in imported and b"pydantic" not in imported


@pytest.mark.parametrize(("argv", "taken"), [
    ([], {"json": False, "modes": False}), (["--json"], {"json": True, "modes": False}),
    (["--modes", "--json"], {"json": True, "modes": True}),
    (["--help"], None), (["--jsonx"], None), (["--json=1"], None), (["claude"], None),
])
def test_doctor_is_read_without_typer_only_in_its_own_forms(argv, taken):
    assert parse_doctor_args(argv) == taken


@pytest.mark.parametrize("switches", [[], ["--json"], ["--modes"], ["--json", "--modes"]])
def test_doctor_answers_the_same_without_typer(switches, full_env, tmp_path):
    """`shims doctor` reads its two switches itself (typer and pydantic were most of its
    answer's time) and prints what the typer command prints."""
    shims = str(Path(shim_path("fake")).with_name("shims"))
    env = {**full_env, "PATH": str(tmp_path)}  # no vendor CLI: the same answer on every machine
    fast = subprocess.run([sys.executable, "-X", "importtime", shims, "doctor", *switches],
                          capture_output=True, env=env, timeout=60)
    through_typer = subprocess.run(
        [sys.executable, "-c", "import sys; from shims.cli.commands import toolkit_main; sys.argv[0] = 'shims'; toolkit_main()",
         "doctor", *switches], capture_output=True, env=env, timeout=60)
    assert (fast.returncode, fast.stdout) == (through_typer.returncode, through_typer.stdout)
    assert fast.stdout
    imported = {line.rpartition(b"|")[2].strip() for line in fast.stderr.splitlines() if line.startswith(b"import time:")}
    assert b"typer" not in imported and b"pydantic" not in imported


# ----------------------------------------------------------------- shims normalize


def normalize_through_typer(argv: list[str], monkeypatch) -> dict:
    from shims.cli.commands import toolkit
    from shims.run import recording

    seen = []

    def fake(vendor, stdout_path, stderr_path, **kw):
        seen.append({"vendor": vendor, "stdout_path": stdout_path, "stderr_path": stderr_path, **kw})
        return 0

    monkeypatch.setattr(recording, "normalize_recording", fake)
    with pytest.raises(SystemExit):
        toolkit(["normalize", *argv], prog_name="shims")
    (kw,) = seen
    return kw


@pytest.mark.parametrize("argv", [
    ["claude", "--stdout", "{out}"],
    ["--stdout={out}", "gemini", "--stderr", "{err}", "--exit-code", "-3", "--signal", "TERM"],
    ["agy", "--stdout", "{out}", "--format", "text", "--emit", "pretty", "--max-final-message-bytes", "10",
     "--ended-at", "1795532831.5", "--resumed"],
    ["fake", "--stdout", "{out}", "--emit=codex-lab-v1", "--format=json", "--signal=INT"],
])
def test_normalize_gets_the_same_arguments_as_through_typer(argv, tmp_path, monkeypatch):
    (tmp_path / "out").write_bytes(b"")
    (tmp_path / "err").write_bytes(b"")
    argv = [a.format(out=tmp_path / "out", err=tmp_path / "err") for a in argv]
    fields = parse_normalize_args(argv)
    assert fields is not None
    assert fields == normalize_through_typer(argv, monkeypatch)


@pytest.mark.parametrize("argv", [
    ["claude"], ["claude", "--stdout", "{missing}"], ["claude", "--stdout", "{dir}"], ["--stdout", "{out}"],
    ["a", "b", "--stdout", "{out}"], ["claude", "--stdout", "{out}", "--emit", "json"],
    ["claude", "--stdout", "{out}", "--signal", "KILL"], ["claude", "--stdout", "{out}", "--exit-code", "x"],
    ["claude", "--stdout", "{out}", "--max-final-message-bytes", "0"], ["claude", "--stdout", "{out}", "--help"],
    ["claude", "--stdout", "{out}", "--resumed=1"], ["claude", "--stdout", "--emit"],
])
def test_normalize_leaves_everything_else_to_typer(argv, tmp_path):
    (tmp_path / "out").write_bytes(b"")
    argv = [a.format(out=tmp_path / "out", missing=tmp_path / "nope", dir=tmp_path) for a in argv]
    assert parse_normalize_args(argv) is None


def test_normalize_numbers_are_ascii_as_click_reads_them(tmp_path):
    (tmp_path / "out").write_bytes(b"")
    assert parse_normalize_args(["claude", "--stdout", str(tmp_path / "out"), "--exit-code", "٣"]) is None
    assert parse_normalize_args(["claude", "--stdout", str(tmp_path / "out"), "--exit-code", "3"])["exit_code"] == 3


# ----------------------------------------------------------------- option-like values (issue 13)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flag=st.sampled_from(("--model", "--resume", "--cwd", "--prompt")), value=option_like, eq=st.booleans())
def test_an_option_like_value_is_that_flags_value_on_both_paths(flag, value, eq, monkeypatch):
    """Whichever parser takes it, `--model --yolo` sets the model to "--yolo" (the run then
    refuses it, naming --model) rather than switching anything on."""
    argv = [f"{flag}={value}"] if eq else [flag, value]
    if flag != "--prompt":
        argv.append("x")
    field = VALUE_FLAGS[flag].name
    expected = str(Path(value)) if flag == "--cwd" else value  # a path as typer's Path writes it
    fields = parse_run_args(argv)
    if fields is not None:
        assert fields[field] == expected
    if value.startswith("--") and value.partition("=")[0] in ("--help", "--version", "--preflight") and not eq:
        return  # click reads these eagerly wherever they are
    if flag == "--cwd" and "\x00" in value:
        # typer's Path refuses a NUL at once; the hand parser's run refuses it as a folder
        # that does not exist. A bad_request either way, never a launch.
        assert through_typer(argv, monkeypatch) is None
        return
    assert getattr(through_typer(argv, monkeypatch), field) == expected


@pytest.mark.parametrize("vendor", ["claude", "gemini", "agy", "fake"])
def test_help_through_the_program(vendor):
    import subprocess

    from conftest import shim_path

    proc = subprocess.run([shim_path(vendor), "--help"], capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0 and b"Usage: shim-" in proc.stdout and b"--vendor-bin" in proc.stdout, proc.stderr


# ----------------------------------------------------------------- the option table (shims.run.options)


def test_the_schema_describes_every_run_option():
    import dataclasses

    from shims.run.options import NORMALIZE_OPTIONS, options_schema

    schema = options_schema()
    assert list(schema["properties"]) == [f.name for f in dataclasses.fields(shim_app.ShimOptions)]
    assert schema["properties"]["mode"] == {"type": "string", "enum": ["read-only", "write", "full"],
                                            "description": VALUE_FLAGS["--mode"].help}
    assert schema["properties"]["timeout"]["minimum"] == 0.001
    assert schema["properties"]["max_cost_usd"]["exclusiveMinimum"] == 0
    assert schema["properties"]["idle_timeout"]["default"] == 600.0
    assert schema["properties"]["worktree"]["type"] == "boolean"
    assert "required" not in schema
    assert options_schema(NORMALIZE_OPTIONS)["required"] == ["stdout"]


def test_options_take_the_config_files_defaults_but_leave_request_fields_to_the_run():
    opts = shim_app.ShimOptions(emit="ndjson")
    opts.with_defaults({"emit": "auto", "pty": "never", "mode": "full", "model": "m", "worktree": True})
    assert (opts.emit, opts.pty) == ("ndjson", "never")
    assert (opts.mode, opts.model, opts.worktree) == (None, None, None)  # the request's value comes first


def test_a_preflight_with_a_vendor_bin_that_is_not_utf8_is_refused_plainly(full_env):
    """Found in review: a non-UTF-8 --vendor-bin (lone surrogates in Python) made the JSON answer
    raise a traceback. It is refused as a broken config file is: said on stderr, exit 2."""
    done = subprocess.run([shim_path("fake").encode(), b"--preflight", b"--vendor-bin", b"/x\xff"],
                          capture_output=True, env=full_env, timeout=60)
    assert done.returncode == 2 and b"Traceback" not in done.stderr
    assert b"--vendor-bin" in done.stderr and b"UTF-8" in done.stderr
