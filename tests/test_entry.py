"""The hand-written run path of the shim programs (shims.entry) against the typer command line
(shims.cli): the same flags, and the same options for every command line it takes itself."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from hostile import option_like
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from normalize import records
from shims import run as shim_app
from shims.cli import make_shim_app
from shims.entry import (
    NORMALIZE_FLAGS,
    NORMALIZE_SWITCHES,
    SWITCH_FLAGS,
    TYPER_ONLY,
    VALUE_FLAGS,
    parse_normalize_args,
    parse_run_args,
)


def typer_flags() -> set[str]:
    command = typer.main.get_command(make_shim_app("fake"))
    names: set[str] = set()
    for param in command.params:
        names.update(o for o in (*param.opts, *getattr(param, "secondary_opts", ())) if o.startswith("--"))
    return names


def test_the_same_flags():
    assert typer_flags() | {"--help"} == set(VALUE_FLAGS) | set(SWITCH_FLAGS) | set(TYPER_ONLY)  # click adds --help


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


def test_options_fields_exist():
    fields = set(records.fields(shim_app.ShimOptions))
    assert {f for f, *_ in VALUE_FLAGS.values()} | {f for f, _ in SWITCH_FLAGS.values()} <= fields


# ----------------------------------------------------------------- shims normalize


def typer_normalize_flags() -> set[str]:
    from shims.cli import toolkit

    group = typer.main.get_command(toolkit)
    command = group.commands["normalize"]
    return {o for p in command.params for o in (*p.opts, *getattr(p, "secondary_opts", ())) if o.startswith("--")}


def test_normalize_takes_the_same_flags_as_typer():
    assert typer_normalize_flags() | {"--help"} == set(NORMALIZE_FLAGS) | set(NORMALIZE_SWITCHES) | {"--help"}


def normalize_through_typer(argv: list[str], monkeypatch) -> dict:
    from shims import recording
    from shims.cli import toolkit

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
    field = VALUE_FLAGS[flag][0]
    fields = parse_run_args(argv)
    if fields is not None:
        assert fields[field] == value
    if value.startswith("--") and value.partition("=")[0] in ("--help", "--version", "--preflight") and not eq:
        return  # click reads these eagerly wherever they are
    if flag == "--cwd" and "\x00" in value:
        # typer's Path refuses a NUL at once; the hand parser's run refuses it as a folder
        # that does not exist. A bad_request either way, never a launch.
        assert through_typer(argv, monkeypatch) is None
        return
    expected = str(Path(value)) if flag == "--cwd" else value  # typer's Path tidies slashes
    assert getattr(through_typer(argv, monkeypatch), field) == expected


@pytest.mark.parametrize("vendor", ["claude", "gemini", "agy", "fake"])
def test_help_through_the_program(vendor):
    import subprocess

    from conftest import shim_path

    proc = subprocess.run([shim_path(vendor), "--help"], capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0 and b"Usage: shim-" in proc.stdout and b"--vendor-bin" in proc.stdout, proc.stderr
