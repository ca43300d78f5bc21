"""Remembered `--version` answers of vendor binaries, keyed by the binary's fingerprint.

agy's launch depends on its version (stream-json from 1.1.8, `--mode` from 1.1.0, pipes from
1.1.1), and asking costs a process start before every run. agy updates itself by replacing its
binary (agy.md §1), so the answer is kept per binary *file*: its resolved path, device, inode,
size and modification and change times. A replaced or rewritten binary has another
fingerprint and is asked again (agy.md, "Cache the result by binary fingerprint").

One small JSON file in the state folder, rewritten under an advisory lock (versions.lock): shims
starting at once, or `shims doctor` asking its providers side by side, each add their answer to
the file as it is then, instead of the last writer's copy dropping the others' (which would
start Gemini's 1.5 s `--version` again on the next preflight). It is only a cache:
unreadable, unwritable, locked too long or damaged, it is ignored and the binary is asked.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import orjson

CACHE_NAME = "versions.json"
LOCK_NAME = "versions.lock"
MAX_ENTRIES = 64  # binaries remembered; the oldest answers go first
LOCK_WAIT_S = 1.0  # a writer holds the lock for one small read and write


def fingerprint(program: str) -> list[object] | None:
    try:
        path = os.path.realpath(program)
        st = os.stat(path)
    except OSError:
        return None
    return [path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def remembered(state_dir: str | None, program: str, ask: Callable[[str], str | None]) -> str | None:
    """The version text `ask(program)` gives, from the cache when this very binary was asked
    before. A None answer (the binary failed to say) is not remembered."""
    key = fingerprint(program)
    if state_dir is None or key is None:
        return ask(program)
    path = os.path.join(state_dir, CACHE_NAME)
    entries = _load(path)
    for entry in entries:
        if entry.get("binary") == key and isinstance(entry.get("version"), str):
            return entry["version"]
    answer = ask(program)
    if answer is not None:
        _store(path, key, answer)
    return answer


def _load(path: str) -> list[dict]:
    from shims.state.private_files import read_private

    try:
        data = orjson.loads(read_private(path))
    except (OSError, orjson.JSONDecodeError):
        return []
    if not isinstance(data, list):
        return []
    return [e for e in data if isinstance(e, dict) and isinstance(e.get("binary"), list) and e["binary"]]


def _store(path: str, key: list[object], version: str) -> None:
    """This binary's answer added to the file as it is now (an older answer for the same path
    replaced), under the lock."""
    import fcntl

    from shims.state.private_files import open_private, private_dir, replace_private_file, state_bytes

    try:
        folder = private_dir(os.path.dirname(path))
        fd = open_private(os.path.join(folder, LOCK_NAME), os.O_RDWR | os.O_CREAT)
    except OSError:
        return  # a cache: the binary is asked next time
    try:
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    return
                time.sleep(0.005)
        others = [e for e in _load(path) if e["binary"][:1] != key[:1]]
        replace_private_file(path, state_bytes(orjson.dumps([*others[-(MAX_ENTRIES - 1):],
                                                             {"binary": key, "version": version}])))
    except OSError:
        pass
    finally:
        os.close(fd)  # and with it the lock
