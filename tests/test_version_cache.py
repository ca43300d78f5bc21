"""Remembered `--version` answers (shims.state.version_cache) with real binaries on disk: asked once
per binary file, asked again when the file is replaced, and never trusted when damaged."""

from __future__ import annotations

import os
import stat

import orjson

from shims.agy import command as agy_command
from shims.state import version_cache


def script(path, version: str, log) -> str:
    path.write_text(f"#!/bin/sh\necho asked >> {log}\necho 'agy version {version}'\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def asks(log) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_a_binary_is_asked_once_and_again_when_replaced(tmp_path):
    state, log = tmp_path / "state", tmp_path / "asked.log"
    program = script(tmp_path / "agy", "1.2.16", log)
    ask = agy_command._run_version
    assert version_cache.remembered(str(state), program, lambda p: ask(p, 10)) == "1.2.16"
    assert version_cache.remembered(str(state), program, lambda p: ask(p, 10)) == "1.2.16"
    assert asks(log) == 1
    assert stat.S_IMODE(os.stat(state / version_cache.CACHE_NAME).st_mode) == 0o600

    # agy's self-update replaces the file: a new inode (and here a new size) -> asked again
    os.unlink(program)
    program = script(tmp_path / "agy", "1.3.0", log)
    assert version_cache.remembered(str(state), program, lambda p: ask(p, 10)) == "1.3.0"
    assert asks(log) == 2


def test_a_damaged_cache_is_ignored_and_rewritten(tmp_path):
    state, log = tmp_path / "state", tmp_path / "asked.log"
    state.mkdir()
    program = script(tmp_path / "agy", "1.1.8", log)
    for damage in (b"{not json", b'{"a": 1}', b'[1, {"binary": "x"}, {"binary": []}]'):
        (state / version_cache.CACHE_NAME).write_bytes(damage)
        assert version_cache.remembered(str(state), program, lambda p: agy_command._run_version(p, 10)) == "1.1.8"
    assert asks(log) == 3
    assert version_cache.remembered(str(state), program, lambda p: "never asked") == "1.1.8"


def test_no_answer_is_not_remembered(tmp_path):
    state = tmp_path / "state"
    silent = tmp_path / "agy"
    silent.write_text("#!/bin/sh\nexit 1\n")
    silent.chmod(0o755)
    assert version_cache.remembered(str(state), str(silent), lambda p: agy_command._run_version(p, 10)) is None
    assert not (state / version_cache.CACHE_NAME).exists()


def test_without_a_state_folder_the_binary_is_asked(tmp_path):
    log = tmp_path / "asked.log"
    program = script(tmp_path / "agy", "1.2.0", log)
    for _ in range(2):
        assert version_cache.remembered(None, program, lambda p: agy_command._run_version(p, 10)) == "1.2.0"
    assert asks(log) == 2


def test_the_cache_keeps_a_bounded_number_of_binaries(tmp_path):
    state = tmp_path / "state"
    for i in range(version_cache.MAX_ENTRIES + 10):
        f = tmp_path / f"agy{i}"
        f.write_text("#!/bin/sh\n")
        assert version_cache.remembered(str(state), str(f), lambda p, i=i: f"1.0.{i}") == f"1.0.{i}"
    entries = orjson.loads((state / version_cache.CACHE_NAME).read_bytes())
    assert len(entries) == version_cache.MAX_ENTRIES
    assert entries[-1]["version"] == f"1.0.{version_cache.MAX_ENTRIES + 9}"


def test_answers_stored_side_by_side_are_all_kept(tmp_path):
    """Regression: each writer replaced the file with its own copy of what it had read, so of
    answers stored at once (shims starting together, doctor's providers asked side by side) only
    the last stayed, and the next preflight started e.g. Gemini's 1.5 s `--version` again."""
    from concurrent.futures import ThreadPoolExecutor

    state = tmp_path / "state"
    programs = []
    for i in range(12):
        f = tmp_path / f"cli{i}"
        f.write_text("#!/bin/sh\n")
        programs.append(str(f))
    with ThreadPoolExecutor(len(programs)) as pool:
        answers = list(pool.map(lambda p: version_cache.remembered(str(state), p, lambda _p: f"v-{_p}"), programs))
    assert answers == [f"v-{p}" for p in programs]
    entries = orjson.loads((state / version_cache.CACHE_NAME).read_bytes())
    assert sorted(e["version"] for e in entries) == sorted(answers)
    assert all(version_cache.remembered(str(state), p, lambda _p: "asked again") == f"v-{p}" for p in programs)
