"""Gemini CLI invocation: argv, environment, per-run settings and the mode table (CONTRACT §9).

Notes: ../shared/reference/gemini.md §2, §3, §10, §15.

Paths are `str`: pathlib and tempfile would add milliseconds of start-up to every run.
"""

from __future__ import annotations

import json
import os

from normalize.request import RunSpec
from shims.runtime.npm import package_version
from shims.runtime.scratch import make_private_dir
from shims.runtime.spawn import Launch
from shims.state.private_files import private_dir, replace_private_file, state_bytes

ARGV_PROMPT_MAX = 64 * 1024
PROMPT_PIPE_SIZE = 1 << 20

# Settings every run imposes: no telemetry, no usage statistics, no update checks, and at most
# 2 API attempts instead of 10 (about four silent minutes of retries), so the shim's deadline
# governs. The CLI ignores a system-overrides settings file below a world-writable folder such
# as /tmp, so the shim gives Gemini a home of its own instead (GEMINI_CLI_HOME): persistent, so
# sessions survive for --resume, with the user's settings and login carried over.
RUN_SETTINGS = {
    "privacy": {"usageStatisticsEnabled": False},
    "telemetry": {"enabled": False},
    "general": {"enableAutoUpdate": False, "enableAutoUpdateNotification": False, "maxAttempts": 2},
}
# Files of the user's ~/.gemini the shim's Gemini home links to: the login.
CREDENTIAL_FILES = ("oauth_creds.json", "google_accounts.json", "installation_id")


# Where a run's cost comes from, for the spend cap: the packaged price table (shims.gemini.prices).
COST_SOURCE = "price_table"
NPM_PACKAGE = "@google/gemini-cli"

# Gemini CLI 0.61.0 has no structured-output flag (`gemini --help`, gemini.md §2), so a
# request's output_schema is refused before launch (shims.run.vendors.output_schema_problem).
OUTPUT_SCHEMA = False


def gemini_home(env: dict[str, str]) -> str:
    """In the state folder of `env`, the environment Gemini is launched with (tests give their
    own): platformdirs would read os.environ instead, so the XDG rule is spelled out here."""
    state = env.get("XDG_STATE_HOME") or os.path.join(env.get("HOME") or os.path.expanduser("~"), ".local", "state")
    return os.path.join(state, "codex-shims", "gemini-home")


def user_gemini_dir(env: dict[str, str]) -> str:
    return os.path.join(env.get("GEMINI_CLI_HOME") or env.get("HOME") or os.path.expanduser("~"), ".gemini")


def prepare_home(env: dict[str, str]) -> str:
    """The shim's Gemini home, with settings = the user's settings + RUN_SETTINGS."""
    home = gemini_home(env)
    dot = os.path.join(home, ".gemini")
    private_dir(dot, within=os.path.dirname(home))  # 0700 whatever the umask; never a planted link
    user = user_gemini_dir(env)
    settings: dict = {}
    try:
        with open(os.path.join(user, "settings.json"), encoding="utf-8") as f:
            loaded = json.loads(f.read())
        settings = loaded if isinstance(loaded, dict) else {}
    except (OSError, ValueError):
        pass  # none, or not plain JSON: the run's own settings still apply
    _merge(settings, RUN_SETTINGS)
    if env.get("GEMINI_API_KEY") or env.get("GOOGLE_API_KEY"):
        # Needed whenever GOOGLE_GEMINI_BASE_URL is set (else exit 41, gemini-cli#27550); right
        # whenever a key is what the user gave.
        _merge(settings, {"security": {"auth": {"selectedType": "gemini-api-key"}}})
    # Atomic: concurrent runs never read half a file. The user's settings may hold keys (MCP
    # server headers and env): masked like every state file, so such settings should name the
    # key as "$VAR" (the CLI expands variables) rather than hold it.
    replace_private_file(os.path.join(dot, "settings.json"), state_bytes(json.dumps(settings, indent=2).encode()))
    for name in CREDENTIAL_FILES:
        src, dst = os.path.join(user, name), os.path.join(dot, name)
        if os.path.exists(src) and not os.path.lexists(dst) and os.path.realpath(user) != os.path.realpath(dot):
            try:
                os.symlink(src, dst)
            except OSError:
                pass
    return home


def _merge(into: dict, over: dict) -> None:
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            _merge(into[k], v)
        else:
            into[k] = json.loads(json.dumps(v))


# Tools headless Gemini offers per approval mode (gemini.md §2): `default` declares only
# read-only tools; `auto_edit` adds file edits; `yolo` adds shell commands and everything else.
MODES: dict[str, list[str]] = {
    "read-only": ["--approval-mode", "default"],
    "write": ["--approval-mode", "auto_edit"],
    "full": ["--approval-mode", "yolo"],
}


# How to get the CLI and sign in, for `shims doctor`'s what-to-do lines (gemini.md: the package, the key, the sign-in).
INSTALL = "npm install -g @google/gemini-cli"
SIGN_IN = "run `gemini` and sign in, or set GEMINI_API_KEY"

# What each mode means with this vendor, for `shims doctor --modes` (CONTRACT §9).
MODE_NOTES: dict[str, str] = {
    "read-only": "only read-only tools are declared to the model (no edits, no shell)",
    "write": "file edits auto-approved; shell commands not available",
    "full": "every tool auto-approved, shell included",
}


# What `shim-gemini exec` can pass on (CONTRACT §15): Codex's --add-dir as Gemini's
# --include-directories. Gemini CLI has no reasoning-effort flag, and takes no image on its
# command line.
ADD_DIR_FLAG = "--include-directories"
EFFORTS: frozenset[str] = frozenset()
IMAGE_INPUT = False


def include_directories(dirs: tuple[str, ...]) -> list[str]:
    """`--include-directories=D` per folder. Gemini splits each value at commas and trims the
    parts (its coerceCommaSeparated), so a folder named `x,/home` would include `/home` too:
    such a folder is refused rather than widened."""
    for d in dirs:
        if "," in d or d != d.strip():
            raise ValueError(f"Gemini CLI reads --include-directories as a comma-separated list and trims each part, "
                             f"so it cannot be given the folder {d!r}; rename it or leave it out.")
    return [f"{ADD_DIR_FLAG}={d}" for d in dirs]


def build_launch(spec: RunSpec, program: str, *, pty: bool = False) -> Launch:
    included = include_directories(spec.add_dirs)  # before any folder is made
    env = dict(os.environ)
    home = prepare_home(env)
    scratch = make_private_dir("shim-gemini-", env)

    argv = [program, "-o", "stream-json", "--skip-trust"]
    # `--flag=value`, one argv word: yargs reads a separate word that starts with "-" as an
    # option (`-m --yolo` would be a model-less -m and yolo mode). The shim also refuses such
    # values before launch (normalize.request).
    if spec.model:
        argv.append(f"--model={spec.model}")
    if spec.resume_session:
        argv.append(f"--resume={spec.resume_session}")
    if spec.mode:
        argv += MODES[spec.mode]
    argv += included
    stdin_data = None
    pipe_size = 0
    if len(spec.prompt.encode()) <= ARGV_PROMPT_MAX:
        argv.append(f"--prompt={spec.prompt}")  # one argument: a prompt starting with "-" stays a prompt
    else:
        # Piped stdin becomes the prompt, followed by "\n\n" and the -p text (gemini.md §2).
        stdin_data = spec.prompt.encode()
        argv.append("--prompt=")
        # Gemini echoes the prompt as one stream-json line and exits without waiting for its
        # stdout to drain: behind a 64 KiB pipe the rest of that line and the result were lost
        # (tests/test_argv_injection.py). 1 MiB is the unprivileged maximum.
        pipe_size = PROMPT_PIPE_SIZE
    env.update(
        {
            "GEMINI_CLI_HOME": home,
            # The CLI writes the whole conversation to $TMPDIR on every API error: keep it in
            # this run's scratch folder, removed after the run.
            "TMPDIR": scratch,
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
        stdout_pipe_size=pipe_size,
        scratch_dir=scratch,
        env_names_added=["GEMINI_CLI_HOME", "TMPDIR", "TERM", "NO_COLOR", "GEMINI_CLI_NO_RELAUNCH"],
        cli_version=package_version(program, NPM_PACKAGE),  # its stream never says (gemini.md §4)
    )


def parse_version(text: str) -> str | None:
    parts = text.strip().split()
    return parts[-1] if parts else None


# What identifies the account whose quota a run spends (quota memory keys on a fingerprint).
ACCOUNT_ENV = ("GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_GEMINI_BASE_URL", "GOOGLE_CLOUD_PROJECT")


def auth_status(env: dict[str, str]) -> tuple[bool, str, str | None]:
    """A key or a login present, without a model call (CONTRACT §8)."""
    for name in ("GEMINI_API_KEY", "GOOGLE_API_KEY"):
        if env.get(name):
            return True, "api_key", None
    if env.get("GOOGLE_GENAI_USE_VERTEXAI") and (env.get("GOOGLE_CLOUD_PROJECT") or env.get("GOOGLE_APPLICATION_CREDENTIALS")):
        return True, "vertex", None
    if os.path.isfile(os.path.join(user_gemini_dir(env), "oauth_creds.json")):
        return True, "login", None
    return False, "none", "Gemini has no credentials: set GEMINI_API_KEY or sign in with `gemini`."
