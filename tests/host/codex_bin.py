"""Where the pinned real Codex CLI's native binary is (hosts/codex-cli, `make codex-cli`).

@openai/codex 0.169.0 ships a node launcher (bin/codex.js) and, as the optional dependency
@openai/codex-linux-x64 (an alias of @openai/codex@0.169.0-linux-x64), the native binary at
vendor/<target triple>/bin/codex (x86_64-unknown-linux-musl). The tests run the binary itself,
so no node process sits between them and codex (signals reach codex directly).
"""

from __future__ import annotations

import platform
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLI_DIR = ROOT / "hosts" / "codex-cli"
VERSION = "0.169.0"
PACKAGES = {"x86_64": "codex-linux-x64", "aarch64": "codex-linux-arm64"}


def codex_bin() -> Path | None:
    """The native codex binary of hosts/codex-cli, or None when `make codex-cli` has not run."""
    package = PACKAGES.get(platform.machine())
    if package is None:
        return None
    found = sorted((CLI_DIR / "node_modules" / "@openai" / package / "vendor").glob("*/bin/codex"))
    return found[0] if found else None


if __name__ == "__main__":
    print(codex_bin() or "not installed: run `make codex-cli`")
