"""The version of the npm package a vendor binary belongs to, read from its package.json.

Claude Code and Gemini CLI are npm packages: `node_modules/.bin/<name>` links into the package,
whose package.json names the version. Reading it costs a few stat calls, where `--version`
starts node and loads the CLI (about a second for Gemini), so a run can afford it every time.
"""

from __future__ import annotations

import json
import os

MAX_LEVELS = 4  # bin/claude.exe, bundle/gemini.js: the package root is a level or two up
MAX_BYTES = 1 << 20


def package_version(program: str, package: str) -> str | None:
    """The `version` of the package.json named `package` in the folders above the binary the
    `program` path resolves to; None when there is none (a wrapper script, another install)."""
    try:
        folder = os.path.dirname(os.path.realpath(program))
    except (OSError, ValueError):
        return None
    for _ in range(MAX_LEVELS):
        found = _read(os.path.join(folder, "package.json"))
        if found is not None and found.get("name") == package:
            version = found.get("version")
            return version if isinstance(version, str) and 0 < len(version) <= 64 else None
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return None


def _read(path: str) -> dict | None:
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read(MAX_BYTES))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
