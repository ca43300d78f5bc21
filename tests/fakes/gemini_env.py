"""The environment that runs the real Gemini CLI offline against the fake Gemini API
(gemini.md §3, §14): a clean env, a fresh HOME with settings that select API-key auth and turn
off telemetry, usage statistics and updates, a per-run TMPDIR, loopback base URL."""

from __future__ import annotations

import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GEMINI_BIN = ROOT / "vendor-clis" / "gemini" / "node_modules" / ".bin" / "gemini"

SETTINGS = {
    "security": {"auth": {"selectedType": "gemini-api-key"}},
    "privacy": {"usageStatisticsEnabled": False},
    "telemetry": {"enabled": False},
    "general": {"enableAutoUpdate": False, "enableAutoUpdateNotification": False, "maxAttempts": 2},
}


def gemini_env(base_url: str, home: str | os.PathLike, *, key: str | None = "fake-gemini-key",
               settings: bool = True, extra: dict[str, str] | None = None) -> dict[str, str]:
    """`home` gets .gemini/settings.json (unless settings=False) and a tmp/ for TMPDIR."""
    home = Path(home)
    (home / ".gemini").mkdir(parents=True, exist_ok=True)
    (home / "tmp").mkdir(exist_ok=True)
    if settings:
        (home / ".gemini" / "settings.json").write_text(json.dumps(SETTINGS))
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "TERM": "dumb",
        "NO_COLOR": "1",
        "HOME": str(home),
        "TMPDIR": str(home / "tmp"),
        "GOOGLE_GEMINI_BASE_URL": base_url,
    }
    if key:
        env["GEMINI_API_KEY"] = key
    env.update(extra or {})
    return env
