"""Where the shims keep their state: `$XDG_STATE_HOME/codex-shims`, from platformdirs (which
ignores a relative value, as the XDG spec says). The journal's default root, the ledger, quota
memory, the version cache, worktrees and the Gemini home live under it."""

from __future__ import annotations

from pathlib import PurePath

APP = "codex-shims"


def state_dir() -> str:
    import platformdirs  # ~4 ms with the pathlib it loads: not for a program that never asks

    return str(PurePath(platformdirs.user_state_dir(APP)))
