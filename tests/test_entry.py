"""The hand-written run path of the shim programs (shims.entry) against the typer command line
(shims.cli): the same flags, and the same options for every command line it takes itself."""

from __future__ import annotations

import dataclasses

import pytest
import typer

from shims import app as shim_app
from shims.cli import make_shim_app
from shims.entry import SWITCH_FLAGS, TYPER_ONLY, VALUE_FLAGS, parse_run_args


def typer_flags() -> set[str]:
    command = typer.main.get_command(make_shim_app("fake"))
    names: set[str] = set()
    for param in command.params:
        names.update(o for o in (*param.opts, *getattr(param, "secondary_opts", ())) if o.startswith("--"))
    return names


def test_the_same_flags():
    assert typer_flags() | {"--help"} == set(VALUE_FLAGS) | set(SWITCH_FLAGS) | set(TYPER_ONLY)  # click adds --help


def through_typer(argv: list[str], monkeypatch) -> shim_app.ShimOptions:
    seen = []

    def fake_run(vendor, opts):
        seen.append(opts)
        return 0

    monkeypatch.setattr(shim_app, "run", fake_run)
    with pytest.raises(SystemExit):
        make_shim_app("fake")(argv, prog_name="shim-fake")
    (opts,) = seen
    return opts


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
    ["one", "two"], ["--prompt", "a", "b"], ["--no-journal=1", "x"], ["-h"],
])
def test_everything_else_goes_to_typer(argv):
    assert parse_run_args(argv) is None


def test_options_fields_exist():
    fields = {f.name for f in dataclasses.fields(shim_app.ShimOptions)}
    assert {f for f, *_ in VALUE_FLAGS.values()} | {f for f, _ in SWITCH_FLAGS.values()} <= fields
