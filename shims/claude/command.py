"""Claude Code invocation: argv, environment and the mode table (CONTRACT §9).

Notes: ../shared/reference/claude.md §1-3, §9.
"""

from __future__ import annotations

import os

import orjson

from normalize.request import RunSpec
from shims.runtime.npm import package_version
from shims.runtime.spawn import Launch

# Beyond this the prompt goes through stdin: Linux caps one argv string at 128 KiB.
ARGV_PROMPT_MAX = 64 * 1024
NPM_PACKAGE = "@anthropic-ai/claude-code"

# Keeps the CLI offline-quiet: no telemetry, no update checks, no nonessential traffic
# (with these set, 2.1.331 only calls POST /v1/messages, claude.md §2.2).
QUIET_ENV = {
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_ERROR_REPORTING": "1",
}
# The CLI retries API errors up to 10 times (about 3 minutes of silent api_retry lines on a 429
# or 401); a worker should say it is out of quota fast and let the host fall back. The user's
# own setting wins.
DEFAULT_MAX_RETRIES = "2"

EDIT_TOOLS = ("Edit", "Write", "MultiEdit", "NotebookEdit")

# mode -> extra argv. `full` would be --dangerously-skip-permissions, which the CLI refuses
# as root (claude.md §3); see mode_args().
MODES: dict[str, list[str]] = {
    # Under -p a permission prompt is denied at once; Claude's own classifier lets read-only
    # shell commands through. Edits are also disallowed outright so no setting can allow them.
    "read-only": ["--permission-mode", "default", "--disallowedTools", *EDIT_TOOLS],
    # Codex workspace-write: edits accepted, shell commands allowed (Claude has no OS sandbox
    # confining them to the workspace).
    "write": ["--permission-mode", "acceptEdits", "--allowedTools", "Bash"],
    "full": ["--dangerously-skip-permissions"],
}


# How to get the CLI and sign in, for `shims doctor`'s what-to-do lines (claude.md §2 and §7; the sign-in
# is auth_status's own advice when it finds no credentials).
INSTALL = "npm install -g @anthropic-ai/claude-code"
SIGN_IN = "run `claude /login`, or set ANTHROPIC_API_KEY"

# What each mode means with this vendor, for `shims doctor --modes` (CONTRACT §9).
MODE_NOTES: dict[str, str] = {
    "read-only": "reads and read-only shell commands; Edit/Write/MultiEdit/NotebookEdit disallowed",
    "write": "edits accepted; shell commands allowed (no OS sandbox confines them to the workspace)",
    "full": "no permission checks; refused as root (the CLI rejects the flag for root)",
}


# What `shim-claude exec` can pass on (CONTRACT §15): Codex's --add-dir, and
# model_reasoning_effort for the efforts both know (Claude's `max` has no Codex name, Codex's
# `minimal` and `none` no Claude one). Claude Code takes no image on its command line.
ADD_DIR_FLAG = "--add-dir"
EFFORTS = frozenset(("low", "medium", "high", "xhigh"))
IMAGE_INPUT = False

# --max-cost-usd becomes the CLI's own --max-budget-usd (checked between turns).
NATIVE_SPEND_CAP = True

# Where a run's cost comes from, for the spend cap: the CLI reports it (total_cost_usd, costUSD).
COST_SOURCE = "vendor"

# A request's output_schema (CONTRACT §2) becomes `--json-schema=<the schema as JSON>`: the CLI
# (2.1.331) takes it inline only (a file name is "not valid JSON"), declares a tool
# `StructuredOutput` whose input_schema is the schema, checks the model's call against it (up
# to 5 tries) and ends the turn with the call's input as `result.structured_output`.
OUTPUT_SCHEMA = True
# The schema as one argv word, next to a prompt of up to ARGV_PROMPT_MAX: Linux caps one
# argument at 128 KiB, and the CLI has no schema file.
ARGV_SCHEMA_MAX = 64 * 1024


def mode_args(mode: str | None) -> list[str]:
    if mode is None:
        return []
    if mode == "full" and os.geteuid() == 0:
        raise ValueError(
            "Claude Code refuses --dangerously-skip-permissions as root, so --mode full cannot be honoured; "
            "run the shim as an ordinary user or use --mode write."
        )
    return list(MODES[mode])


def schema_args(schema: dict | None) -> list[str]:
    """`--json-schema=<json>`, one word: the value can never be read as an option."""
    if schema is None:
        return []
    # The schema becomes a tool's input schema, and the API takes only an object root (the
    # CLI's own lint says so, and then lets every request fail).
    if schema.get("type") != "object":
        raise ValueError(
            'Claude Code can only constrain its answer to a JSON schema whose root is an object ("type": "object"): '
            "it hands the schema to the model as a tool's input schema; wrap the value in an object property."
        )
    text = orjson.dumps(schema).decode()
    if len(text.encode()) > ARGV_SCHEMA_MAX:
        raise ValueError(
            f"The output schema is {len(text.encode())} bytes as JSON: Claude Code takes it only on its command line "
            f"(--json-schema), and the shim passes at most {ARGV_SCHEMA_MAX // 1024} KiB there; shorten the schema."
        )
    return [f"--json-schema={text}"]


def build_launch(spec: RunSpec, program: str, *, pty: bool = False) -> Launch:
    argv = [program, "-p", "--output-format", "stream-json", "--verbose"]
    if spec.live_text:
        # Only for the live view: it adds a line per SSE event (claude.md §4.4), which the
        # parser turns into live-only observations.
        argv.append("--include-partial-messages")
    # `--flag=value`, one argv word: commander reads a separate word that starts with "-" as an
    # option after --resume (its value is optional), so `--resume --allowedTools=Bash` would
    # grant Bash. The shim also refuses such values before launch (normalize.request).
    if spec.model:
        argv.append(f"--model={spec.model}")
    if spec.resume_session:
        argv.append(f"--resume={spec.resume_session}")
    argv += mode_args(spec.mode)
    argv += [f"{ADD_DIR_FLAG}={d}" for d in spec.add_dirs]  # one word each: --add-dir is variadic
    if spec.effort:
        argv.append(f"--effort={spec.effort}")
    if spec.max_cost_usd:
        argv += ["--max-budget-usd", f"{spec.max_cost_usd:g}"]
    argv += schema_args(spec.output_schema)
    stdin_data = None
    if len(spec.prompt.encode()) <= ARGV_PROMPT_MAX:
        # After `--`: a prompt starting with "-" stays a prompt, and variadic flags such as
        # --disallowedTools cannot swallow it.
        argv += ["--", spec.prompt]
    else:
        stdin_data = spec.prompt.encode()
    env = dict(os.environ)
    env.update(QUIET_ENV)
    env.setdefault("CLAUDE_CODE_MAX_RETRIES", DEFAULT_MAX_RETRIES)
    return Launch(
        argv=argv,
        env=env,
        cwd=spec.cwd,
        pty=pty,
        stdin_data=stdin_data,
        env_names_added=[*QUIET_ENV, "CLAUDE_CODE_MAX_RETRIES"],
        # Its init line says it too; this covers a run that fails before that line.
        cli_version=package_version(program, NPM_PACKAGE),
    )


def parse_version(text: str) -> str | None:
    """`2.1.331 (Claude Code)` -> `2.1.331`."""
    parts = text.strip().split()
    return parts[0] if parts else None


# What identifies the account whose quota a run spends: quota memory is kept per fingerprint of
# these values (never the values themselves), so two keys or two endpoints are remembered apart.
ACCOUNT_ENV = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN", "ANTHROPIC_BASE_URL", "CLAUDE_CONFIG_DIR")


def auth_status(env: dict[str, str]) -> tuple[bool, str, str | None]:
    """Credentials present, without a model call (CONTRACT §8): (ready, how, problem)."""
    for name, how in (("ANTHROPIC_API_KEY", "api_key"), ("ANTHROPIC_AUTH_TOKEN", "token"),
                      ("CLAUDE_CODE_OAUTH_TOKEN", "oauth_token")):
        if env.get(name):
            return True, how, None
    config = env.get("CLAUDE_CONFIG_DIR") or os.path.join(env.get("HOME") or os.path.expanduser("~"), ".claude")
    if os.path.isfile(os.path.join(config, ".credentials.json")):
        return True, "login", None
    return False, "none", "Claude has no credentials: set ANTHROPIC_API_KEY or run `claude /login`."
