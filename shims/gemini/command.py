"""Gemini CLI invocation: argv, environment, per-run settings and the mode table (CONTRACT §9).

Notes: ../shared/reference/gemini.md §2, §3, §10, §15.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from normalize.request import RunSpec
from shims.runtime.spawn import Launch

ARGV_PROMPT_MAX = 64 * 1024

# Settings the run imposes, written per run and given to the CLI as its system-overrides file
# (GEMINI_CLI_SYSTEM_SETTINGS_PATH), so the user's own ~/.gemini (login, sessions for --resume)
# stays in use: no telemetry, no usage statistics, no update checks, and at most 2 API attempts
# instead of 10 (about four silent minutes of retries), so the shim's deadline governs.
RUN_SETTINGS = {
    "privacy": {"usageStatisticsEnabled": False},
    "telemetry": {"enabled": False},
    "general": {"enableAutoUpdate": False, "enableAutoUpdateNotification": False, "maxAttempts": 2},
}

# Tools headless Gemini offers per approval mode (gemini.md §2): `default` declares only
# read-only tools; `auto_edit` adds file edits; `yolo` adds shell commands and everything else.
MODES: dict[str, list[str]] = {
    "read-only": ["--approval-mode", "default"],
    "write": ["--approval-mode", "auto_edit"],
    "full": ["--approval-mode", "yolo"],
}


def build_launch(spec: RunSpec, program: str, *, pty: bool = False) -> Launch:
    scratch = Path(tempfile.mkdtemp(prefix="shim-gemini-"))
    (scratch / "tmp").mkdir()
    settings = json.loads(json.dumps(RUN_SETTINGS))
    if os.environ.get("GEMINI_API_KEY") or os.environ.get("GOOGLE_API_KEY"):
        # Needed whenever GOOGLE_GEMINI_BASE_URL is set (else exit 41, gemini-cli#27550); right
        # whenever a key is what the user gave.
        settings["security"] = {"auth": {"selectedType": "gemini-api-key"}}
    (scratch / "settings.json").write_text(json.dumps(settings))

    argv = [program, "-o", "stream-json", "--skip-trust"]
    if spec.model:
        argv += ["-m", spec.model]
    if spec.resume_session:
        argv += ["--resume", spec.resume_session]
    if spec.mode:
        argv += MODES[spec.mode]
    stdin_data = None
    if len(spec.prompt.encode()) <= ARGV_PROMPT_MAX:
        argv.append(f"--prompt={spec.prompt}")  # one argument: a prompt starting with "-" stays a prompt
    else:
        # Piped stdin becomes the prompt, followed by "\n\n" and the -p text (gemini.md §2).
        stdin_data = spec.prompt.encode()
        argv.append("--prompt=")
    env = dict(os.environ)
    env.update(
        {
            "GEMINI_CLI_SYSTEM_SETTINGS_PATH": str(scratch / "settings.json"),
            # The CLI writes the whole conversation to $TMPDIR on every API error: keep it in
            # this run's scratch folder, removed after the run.
            "TMPDIR": str(scratch / "tmp"),
            "TERM": "dumb",
            "NO_COLOR": "1",
        }
    )
    # One process that handles signals itself instead of a bootstrap that ignores them and a
    # relaunched child; also starts about a second faster.
    env.setdefault("GEMINI_CLI_NO_RELAUNCH", "true")
    return Launch(
        argv=argv,
        env=env,
        cwd=spec.cwd,
        pty=pty,
        stdin_data=stdin_data,
        scratch_dir=str(scratch),
        env_names_added=["GEMINI_CLI_SYSTEM_SETTINGS_PATH", "TMPDIR", "TERM", "NO_COLOR", "GEMINI_CLI_NO_RELAUNCH"],
    )


def parse_version(text: str) -> str | None:
    parts = text.strip().split()
    return parts[-1] if parts else None


def auth_status(env: dict[str, str]) -> tuple[bool, str, str | None]:
    """A key or a login present, without a model call (CONTRACT §8)."""
    for name in ("GEMINI_API_KEY", "GOOGLE_API_KEY"):
        if env.get(name):
            return True, "api_key", None
    if env.get("GOOGLE_GENAI_USE_VERTEXAI") and (env.get("GOOGLE_CLOUD_PROJECT") or env.get("GOOGLE_APPLICATION_CREDENTIALS")):
        return True, "vertex", None
    home = env.get("GEMINI_CLI_HOME") or env.get("HOME") or os.path.expanduser("~")
    if os.path.isfile(os.path.join(home, ".gemini", "oauth_creds.json")):
        return True, "login", None
    return False, "none", "Gemini has no credentials: set GEMINI_API_KEY or sign in with `gemini`."
