"""What a user expects of any command line (issue 17): `-h` as well as `--help` everywhere,
`shims --version`, plain messages instead of tracebacks for a folder that cannot be written or
files that are not there, and `--check` options that fail when they cannot check."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FAKE_VENDOR, shim_path

from shims import __version__

SHIMS = str(Path(sys.executable).parent / "shims")


def run(argv, env=None, cwd=None):
    return subprocess.run(argv, capture_output=True, env={**os.environ, **(env or {})}, cwd=cwd, timeout=60,
                          stdin=subprocess.DEVNULL)


TOOLKIT_COMMANDS = [[], ["schema"], ["normalize"], ["replay"], ["doctor"], ["runs"], ["runs", "show"], ["top"],
                    ["usage"], ["config"], ["config", "show"], ["mcp"]]


@pytest.mark.parametrize("words", TOOLKIT_COMMANDS, ids=lambda w: " ".join(w) or "shims")
def test_dash_h_is_help_for_every_toolkit_command(words):
    short, long = run([SHIMS, *words, "-h"]), run([SHIMS, *words, "--help"])
    assert short.returncode == 0, short.stderr.decode()
    assert short.stdout == long.stdout and b"Usage: shims" in short.stdout


@pytest.mark.parametrize("vendor", ["claude", "gemini", "agy", "fake"])
def test_dash_h_is_help_for_every_shim(vendor):
    """-h goes past the run path's scanner (shims.cli.entry) to typer, as --help does."""
    short, long = run([shim_path(vendor), "-h"]), run([shim_path(vendor), "--help"])
    assert short.returncode == 0, short.stderr.decode()
    assert short.stdout == long.stdout and f"Usage: shim-{vendor}".encode() in short.stdout


def test_dash_h_is_help_for_shim_exec_and_a_prompt_after_the_double_dash(fake_env):
    """`codex exec -h` is its help too; after `--`, `-h` is the prompt."""
    short, long = run([shim_path("fake"), "exec", "-h"]), run([shim_path("fake"), "exec", "--help"])
    assert short.returncode == 0 and short.stdout == long.stdout and b"shim-fake exec" in short.stdout
    asked = run([shim_path("fake"), "--vendor-bin", FAKE_VENDOR, "--emit", "ndjson", "--", "-h"], env=fake_env)
    assert asked.returncode == 0 and b"You said: -h" in asked.stdout


def test_shims_version():
    done = run([SHIMS, "--version"])
    assert done.returncode == 0 and done.stdout.decode() == f"shims {__version__}\n"


def test_schema_check_outside_a_checkout_says_the_files_are_missing(tmp_path):
    done = run([SHIMS, "schema", "--check"], cwd=tmp_path)
    assert done.returncode == 1
    err = done.stderr.decode()
    assert "drift" not in err and "missing" in err and str(tmp_path / "schema") in err, err


def test_schema_check_names_a_missing_file_and_a_changed_one(tmp_path):
    subprocess.run([SHIMS, "schema", "--out", str(tmp_path)], check=True, capture_output=True, timeout=60)
    files = sorted(tmp_path.glob("*.schema.json"))
    files[0].unlink()
    files[1].write_text("{}\n")
    err = run([SHIMS, "schema", "--out", str(tmp_path), "--check"]).stderr.decode()
    assert f"schema missing: {files[0].name}" in err and f"schema drift: {files[1].name}" in err, err


def test_schema_out_that_cannot_be_written_is_a_plain_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    done = run([SHIMS, "schema", "--out", str(blocker / "schema")])
    assert done.returncode == 2 and b"Traceback" not in done.stderr, done.stderr.decode()
    assert b"shims schema: cannot write" in done.stderr and str(blocker).encode() in done.stderr


@pytest.mark.parametrize(("words", "code"), [(["runs"], 0), (["runs", "show", "last"], 2), (["replay", "last"], 2)])
def test_a_journal_root_that_is_a_file_is_named_without_a_traceback(tmp_path, words, code):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    done = run([SHIMS, *words, "--root", str(blocker)])
    assert done.returncode == code and b"Traceback" not in done.stderr, done.stderr.decode()
    assert f"No runs recorded under {blocker}".encode() in done.stderr


def test_replay_check_fails_on_a_run_it_cannot_replay(fake_env, tmp_path):
    """A run whose vendor never started has no vendor output to normalize again: --check
    cannot vouch for it, so it fails (without --check the note is all, exit 0)."""
    never = run([shim_path("fake"), "--vendor-bin", str(tmp_path / "nope"), "--emit", "ndjson", "hi"], env=fake_env)
    assert never.returncode == 3  # command_missing, journaled
    plain = run([SHIMS, "replay", "last"], env=fake_env)
    assert plain.returncode == 0 and b"never launched" in plain.stdout
    check = run([SHIMS, "replay", "last", "--check"], env=fake_env)
    assert check.returncode == 1 and b"never launched" in check.stdout
