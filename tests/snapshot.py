"""Snapshot files of the views (tests/snapshots/*.txt), as ccusage checks its tables: the text a
view prints for fixed data, compared whole. `make snapshots` (UPDATE_SNAPSHOTS=1) rewrites them
after a deliberate change of a view; read the diff before committing it."""

from __future__ import annotations

import os
from pathlib import Path

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"


def assert_snapshot(name: str, text: str) -> None:
    path = SNAPSHOTS / name
    if os.environ.get("UPDATE_SNAPSHOTS"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name} differs; `make snapshots` after a deliberate change"
