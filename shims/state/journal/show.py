"""`shims runs show RUN`: one journaled run for a person — how it was launched, then its events
in the plain lines a run's pretty view prints off a terminal."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import orjson

from normalize.emit import visible
from shims.state.journal.store import load


def show_run(path: Path, view, out=None) -> None:  # noqa: ANN001 - an emitter (normalize.emit)
    """`view(out)` is the emitter the events are printed with: the pretty view's plain lines
    (shims.views.plain, a layer above this one, so the caller hands it in)."""
    out = out or sys.stdout
    rec = load(path)
    meta = rec.meta
    head = [
        ("run", path.name),
        ("provider", meta.get("provider")),
        ("started", meta.get("started_at")),
        ("state", rec.state),
        ("cwd", meta.get("cwd")),
        ("mode", meta.get("mode")),
        ("resume", meta.get("resume")),
        ("argv", shlex.join(meta["argv"]) if isinstance(meta.get("argv"), list) else None),
        ("journal", str(path)),
    ]
    for name, value in head:
        if value:
            out.write(f"{name:<9}{visible(str(value), keep='')}\n")
    out.write("\n")
    pretty = view(out)
    try:
        data = (path / "events.ndjson").read_bytes()
    except OSError:
        data = b""
    for line in data.splitlines():
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(event, dict) and "type" in event:
            pretty(event, line)
    if rec.result is None:
        out.write(f"── no result: the run is {rec.state}\n")
    out.flush()
