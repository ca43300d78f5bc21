"""The environment that runs the real Claude Code CLI offline against the fake Anthropic API
(claude.md §2.2): a clean env, a fresh HOME, loopback base URL, no telemetry or updates."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLAUDE_BIN = ROOT / "vendor-clis" / "claude" / "node_modules" / ".bin" / "claude"


def claude_env(base_url: str, home: str | os.PathLike, *, oauth: bool = False, key: bool = True,
               extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "TERM": "dumb",
        "HOME": str(home),
        "ANTHROPIC_BASE_URL": base_url,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "CLAUDE_CODE_MAX_RETRIES": "1",
    }
    if oauth:
        env["CLAUDE_CODE_OAUTH_TOKEN"] = "sk-ant-oat01-fake"
    elif key:
        env["ANTHROPIC_API_KEY"] = "sk-ant-api03-fake-test-key"
    env.update(extra or {})
    return env
