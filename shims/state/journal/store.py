"""The journal root: naming runs, finding them again, and keeping the folder within its limits."""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from typing import Any

import orjson

from shims.runtime.procs import owner_alive
from shims.runtime.scratch import remove_tree
from shims.state.private_files import open_private, replace_private_file

# 20261124T183327.042Z-claude-1a2b3c: sorts by start time (to the millisecond: retention keeps
# the newest), says whose run it is, unique enough for many shims starting at once.
RUN_ID = re.compile(r"^\d{8}T\d{6}\.\d{3}Z-[a-z0-9_-]+-[0-9a-f]{6}$")


def new_run_id(provider: str, now: float | None = None) -> str:
    now = time.time() if now is None else now
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now))
    return f"{stamp}.{int(now * 1000) % 1000:03d}Z-{provider}-{os.urandom(3).hex()}"


def run_dirs(root: str | os.PathLike[str]) -> list[str]:
    """Every run folder under the root, oldest first."""
    root = os.fspath(root)
    try:
        names = [e.name for e in os.scandir(root) if e.is_dir(follow_symlinks=False) and RUN_ID.match(e.name)]
    except OSError:
        return []
    return [os.path.join(root, n) for n in sorted(names)]


class RunNotFound(Exception):
    pass


def resolve(root: str | os.PathLike[str], ref: str) -> str:
    """A run by folder path, id, unique id prefix or suffix, or `last`."""
    as_path = os.path.expanduser(ref)
    if os.path.isdir(as_path) and os.path.exists(os.path.join(as_path, "meta.json")):
        return as_path
    root = os.fspath(root)
    runs = run_dirs(root)
    if ref == "last":
        if not runs:
            raise RunNotFound(f"No runs recorded under {root}.")
        return runs[-1]
    by_name = {os.path.basename(p): p for p in runs}
    hits = [by_name[ref]] if ref in by_name else [p for n, p in by_name.items() if n.startswith(ref) or n.endswith(ref)]
    if len(hits) == 1:
        return hits[0]
    if not hits:
        raise RunNotFound(f"No run {ref!r} under {root}.")
    raise RunNotFound(f"{ref!r} matches {len(hits)} runs under {root}; give more of the id.")


@dataclass(slots=True)
class RunRecord:
    path: str
    meta: dict[str, Any]
    result: dict[str, Any] | None

    @property
    def state(self) -> str:
        """finished, running, or interrupted (the shim died before writing its result)."""
        if self.result is not None:
            return "finished"
        return "running" if owner_alive(self.meta.get("pid"), self.meta.get("host")) else "interrupted"


def load(path: str | os.PathLike[str]) -> RunRecord:
    """A run as far as it can be read: a damaged meta.json or result.json reads as missing."""
    path = os.fspath(path)
    meta, result = _read_json(os.path.join(path, "meta.json")), _read_json(os.path.join(path, "result.json"))
    return RunRecord(path, meta if isinstance(meta, dict) else {}, result if isinstance(result, dict) else None)


def prune(root: str | os.PathLike[str], keep_runs: int, keep_bytes: int, *, room_for: int = 1) -> list[str]:
    """Remove the oldest runs until at most `keep_runs - room_for` remain and the rest fit in
    `keep_bytes`. Runs still in progress are never removed. Returns what was removed.

    Finished runs' sizes come from the sizes file (record_size); only the others (running,
    interrupted, from before the file) are measured file by file. It runs at every start:
    measuring 500 runs took ~13 ms."""
    root = os.fspath(root)
    runs = run_dirs(root)
    known = _recorded_sizes(root)
    sizes = {p: known.get(os.path.basename(p)) for p in runs}
    for p, size in sizes.items():
        if size is None:
            sizes[p] = _size(p)
    total = sum(sizes.values())
    removed: list[str] = []
    for p in runs:
        if len(runs) - len(removed) <= max(keep_runs - room_for, 0) and total <= keep_bytes:
            break
        if load(p).state == "running":
            continue
        remove_tree(p)
        removed.append(p)
        total -= sizes[p]
    if len(known) > 2 * len(runs) + 64:
        _rewrite_sizes(root, {name: size for name, size in known.items() if os.path.join(root, name) in sizes
                              and os.path.join(root, name) not in removed})
    return removed


SIZES_NAME = ".sizes.ndjson"  # `["<run id>", bytes]` per finished run, appended; hidden beside the runs


def record_size(run_path: str) -> None:
    """Note a finished run's size in its root's sizes file, for prune. An append of one short
    line (O_APPEND) needs no lock among shims finishing at once. Best effort: a run missing
    from the file is measured instead."""
    line = orjson.dumps([os.path.basename(run_path), _size(run_path)]) + b"\n"
    try:
        fd = open_private(os.path.join(os.path.dirname(run_path), SIZES_NAME), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    except OSError:
        return
    try:
        os.write(fd, line)
    except OSError:
        pass
    finally:
        os.close(fd)


def _recorded_sizes(root: str) -> dict[str, int]:
    try:
        with open(os.path.join(root, SIZES_NAME), "rb") as f:
            data = f.read()
    except OSError:
        return {}
    sizes: dict[str, int] = {}
    for line in data.splitlines():
        try:
            name, size = orjson.loads(line)
        except (orjson.JSONDecodeError, ValueError, TypeError):
            continue  # a torn or damaged line: that run is measured instead
        if isinstance(name, str) and isinstance(size, int) and not isinstance(size, bool) and size >= 0:
            sizes[name] = size
    return sizes


def _rewrite_sizes(root: str, sizes: dict[str, int]) -> None:
    """Drop the lines of runs that are gone. A line appended meanwhile by another shim may be
    lost: that run is then measured, nothing worse."""
    try:
        replace_private_file(os.path.join(root, SIZES_NAME),
                             b"".join(orjson.dumps([n, b]) + b"\n" for n, b in sizes.items()))
    except OSError:
        pass  # the old record stays: runs are measured where it is wrong


def _size(path: str) -> int:
    total = 0
    try:
        for e in os.scandir(path):
            try:
                total += e.stat(follow_symlinks=False).st_size
            except OSError:
                pass
    except OSError:
        pass
    return total


def _read_json(path: str) -> Any:
    try:
        with open(path, "rb") as f:
            return orjson.loads(f.read())
    except (OSError, orjson.JSONDecodeError):
        return None
