"""agy invocation: version probe, argv, environment, the mode table (CONTRACT §9).

Notes: ../shared/reference/agy.md §3, §4, §10, §16. Structured output needs agy ≥ 1.1.8;
older builds get text output, and below 1.1.1 they print nothing without a terminal (#76), so
`--pty auto` runs them under one.
"""

from __future__ import annotations

import os
import re
import subprocess

import orjson

from normalize.request import RunSpec
from shims.runtime.signals import child_defaults  # the shim blocks its cancel signals; its probes must not
from shims.runtime.spawn import Launch

STRUCTURED_SINCE = (1, 1, 8)
# `--input-format stream-json`: user turns as NDJSON on stdin (agy.md §3, §4.1). agy has no
# prompt file, so it is the only way in for a prompt too long for argv.
STREAM_INPUT_SINCE = (1, 1, 15)
# Beyond this the prompt goes through stdin: Linux caps one argv string at 128 KiB.
ARGV_PROMPT_MAX = 64 * 1024
MODES_SINCE = (1, 1, 0)
PIPES_WORK_SINCE = (1, 1, 1)
# Without a shim deadline agy still gets one: since 1.2.6 its own default is unlimited and it
# retries an exhausted quota in-process until the print timeout (antigravity-cli#1018).
DEFAULT_PRINT_TIMEOUT_S = 3600
# agy cleans up its tools' sessions on SIGINT and writes its last result within about 1.3 s
# (agy.md §12): it must not be SIGKILLed before that.
SIGINT_GRACE_S = 2.0
PTY_SIZE = (50, 2000)  # rows, cols: 200 columns split words (agy-headless-bridge)

MODES: dict[str, list[str]] = {
    # default (request-review): reads in the workspace; shell, writes, fetches and MCP are
    # soft-denied (agy.md §8)
    "read-only": [],
    "write": ["--mode", "accept-edits"],
    "full": ["--dangerously-skip-permissions"],
}

# How to get the CLI and sign in, for `shims doctor`'s what-to-do lines: agy is not on npm or
# PyPI, only the official installer (agy.md §1); a first sign-in needs a terminal (agy.md §6, §10).
INSTALL = "curl -fsSL https://antigravity.google/cli/install.sh | bash"
SIGN_IN = "run `agy` once in a terminal and sign in, or set GEMINI_API_KEY"

# What each mode means with this vendor, for `shims doctor --modes` (CONTRACT §9).
MODE_NOTES: dict[str, str] = {
    "read-only": "agy's default mode: reads in the workspace; shell, writes, fetches and MCP soft-denied",
    "write": "edits accepted (--mode exists from agy 1.1.0; refused before launch on older agy)",
    "full": "no permission checks",
}

_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)")




# Where a run's cost comes from, for the spend cap: nowhere; agy reports tokens only, so a cap
# needs [prices.agy."<model>"] in the config.
COST_SOURCE = None

# A request's output_schema (CONTRACT §2) becomes `--json-schema=<the schema as JSON>` (agy.md
# §3: inline, a file or a primitive; since 1.1.8, with structured output): agy then adds
# `structured_output` to its result. Refused before launch on older agy and under a terminal.
OUTPUT_SCHEMA = True
# Inline, one argv word next to a prompt of up to ARGV_PROMPT_MAX (Linux: 128 KiB per argument).
ARGV_SCHEMA_MAX = 64 * 1024

_probed: dict[tuple[object, ...], tuple[int, int, int] | None] = {}


def probe_version(program: str, timeout: float = 10.0) -> tuple[int, int, int] | None:
    """The installed agy's version. agy replaces its own binary when it updates, so the answer
    is remembered per binary file (shims.state.version_cache), across runs."""
    from shims.state import version_cache
    from shims.state.folder import state_dir

    key = tuple(version_cache.fingerprint(program) or (program,))
    if key not in _probed:
        text = version_cache.remembered(state_dir(), program, lambda p: _run_version(p, timeout))
        m = _VERSION.search(text or "")  # `shims doctor` may have cached the whole --version text
        _probed[key] = (int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else None
    return _probed[key]


def _run_version(program: str, timeout: float) -> str | None:
    try:
        out = subprocess.run([program, "--version"], capture_output=True, timeout=timeout,
                             stdin=subprocess.DEVNULL, check=False, preexec_fn=child_defaults)
    except (OSError, subprocess.TimeoutExpired):
        return None
    # Decoded with replacement: a strict decode raised UnicodeDecodeError, a ValueError, which
    # the launch took for a mode agy cannot honour (unsupported_mode, issue 13).
    m = _VERSION.search((out.stdout + out.stderr).decode("utf-8", "replace"))
    return m.group(0) if m else None


def print_timeout(spec: RunSpec) -> str:
    """A little below the shim's own deadline, so agy can flush partial output first."""
    if spec.timeout_s:
        margin = min(max(spec.timeout_s * 0.1, 2.0), 30.0)
        return f"{max(spec.timeout_s - margin, 1.0):.0f}s"
    return f"{DEFAULT_PRINT_TIMEOUT_S}s"


# What `shim-agy exec` can pass on (CONTRACT §15): Codex's --add-dir, and
# model_reasoning_effort for the efforts agy's --effort documents (agy.md §2). agy takes no
# image on its command line.
ADD_DIR_FLAG = "--add-dir"
EFFORTS = frozenset(("low", "medium", "high", "xhigh"))
IMAGE_INPUT = False


def schema_args(schema: dict | None, structured: bool, version: tuple[int, int, int] | None) -> list[str]:
    """`--json-schema=<json>`, one word: the value is never read as a flag of its own."""
    if schema is None:
        return []
    if not structured:
        have = f"agy {'.'.join(map(str, version))}" if version is not None and version < STRUCTURED_SINCE else None
        raise ValueError(
            (f"{have} has no --json-schema (added in 1.1.8), so it cannot constrain its answer to a JSON schema; "
             "update agy or run without an output schema.") if have else
            "Under a pseudo-terminal agy's answer is read off its screen, so it cannot be held to a JSON schema; "
            "run with --pty never (or auto), or without an output schema."
        )
    text = orjson.dumps(schema).decode()
    if len(text.encode()) > ARGV_SCHEMA_MAX:
        raise ValueError(
            f"The output schema is {len(text.encode())} bytes as JSON: the shim passes at most "
            f"{ARGV_SCHEMA_MAX // 1024} KiB on agy's command line (--json-schema); shorten the schema."
        )
    return [f"--json-schema={text}"]


def build_launch(spec: RunSpec, program: str, *, pty: bool = False, version: tuple[int, int, int] | None = None) -> Launch:
    version = version or probe_version(program)
    # Under a pseudo-terminal agy is read as a screen: text output (it draws its TUI only there).
    structured = not pty and (version is None or version >= STRUCTURED_SINCE)
    fmt = "stream-json" if structured else "text"
    stdin_data = b""  # a closed pipe: /dev/null made some builds wait for an OAuth answer
    if len(spec.prompt.encode()) <= ARGV_PROMPT_MAX:
        argv = [program, f"--prompt={spec.prompt}"]  # one word: a prompt starting with "-" stays a prompt
    else:
        if not structured or (version is not None and version < STREAM_INPUT_SINCE):
            have = f"agy {'.'.join(map(str, version))}" if version is not None else "agy"
            raise ValueError(
                f"The prompt is {len(spec.prompt.encode())} bytes: too long for agy's command line (Linux takes "
                f"128 KiB per argument), and {have}{' under a pseudo-terminal' if pty else ''} cannot read it from "
                "stdin (--input-format stream-json needs agy 1.1.15 and a pipe); shorten the prompt or update agy."
            )
        # One user turn on stdin, then EOF: agy runs that turn and exits (agy.md §4.1).
        turn = {"event": "user", "message": {"role": "user", "content": spec.prompt}}
        stdin_data = orjson.dumps(turn) + b"\n"
        argv = [program, "--prompt=", "--input-format=stream-json"]
    if structured:
        argv += ["--output-format", "stream-json"]
    argv += [f"--print-timeout={print_timeout(spec)}"]
    # `--flag=value`, one argv word each: a value is never read as a flag of its own.
    if spec.model:
        argv.append(f"--model={spec.model}")
    if spec.resume_session:
        argv.append(f"--conversation={spec.resume_session}")
    argv.append(f"{ADD_DIR_FLAG}={spec.cwd}")
    argv += [f"{ADD_DIR_FLAG}={d}" for d in spec.add_dirs]
    if spec.effort:
        argv.append(f"--effort={spec.effort}")
    if spec.mode:
        if spec.mode == "write" and version is not None and version < MODES_SINCE:
            raise ValueError(
                f"agy {'.'.join(map(str, version))} has no --mode (added in 1.1.0), so --mode write cannot be honoured "
                "without granting more; update agy, or use --mode read-only or --mode full."
            )
        argv += MODES[spec.mode]
    argv += schema_args(spec.output_schema, structured, version)
    env = dict(os.environ)
    env["AGY_CLI_DISABLE_AUTO_UPDATE"] = "true"  # exactly lowercase `true` (agy.md §1)
    return Launch(
        argv=argv,
        env=env,
        cwd=spec.cwd,
        pty=pty,
        stdin_data=stdin_data,
        output_format=fmt,
        pty_size=PTY_SIZE,
        min_sigint_grace_s=SIGINT_GRACE_S,
        env_names_added=["AGY_CLI_DISABLE_AUTO_UPDATE"],
        cli_version=".".join(map(str, version)) if version else None,  # probed above, remembered per binary
    )


def wants_pty(spec: RunSpec, program: str) -> bool:
    """`--pty auto`: builds older than 1.1.1 print nothing through pipes (#76)."""
    version = probe_version(program)
    return version is not None and version < PIPES_WORK_SINCE


def should_retry_under_pty(output_format: str, exit_code: int | None, stdout_bytes: int) -> bool:
    """`--pty auto`: a piped text-mode run that exits 0 with empty stdout met the #76 bug."""
    return output_format == "text" and exit_code == 0 and stdout_bytes == 0


def parse_version(text: str) -> str | None:
    m = _VERSION.search(text)
    return m.group(0) if m else None


# What identifies the account whose quota a run spends (quota memory keys on a fingerprint);
# an OAuth login in the keyring is one account per user.
ACCOUNT_ENV = ("GEMINI_API_KEY", "HOME")


def auth_status(env: dict[str, str]) -> tuple[bool, str, str | None]:
    if env.get("GEMINI_API_KEY"):
        return True, "api_key", None
    home = env.get("HOME") or os.path.expanduser("~")
    if os.path.isfile(os.path.join(home, ".gemini", "antigravity-cli", "antigravity-oauth-token")):
        return True, "login", None
    # The OS keyring may hold the login too; only a run can tell without a TTY.
    return True, "unknown", None


def quota_status(program: str, env: dict[str, str], timeout: float = 10.0) -> dict | None:
    """`agy -p /usage --output-format json`: the plan's quota buckets, without a model call or
    any quota spent (agy.md §13). The most constrained bucket decides."""
    try:
        out = subprocess.run([program, "--prompt=/usage", "--output-format", "json"], capture_output=True, text=True,
                             timeout=timeout, env={**env, "AGY_CLI_DISABLE_AUTO_UPDATE": "true"}, input="", check=False,
                             preexec_fn=child_defaults)
        import json

        doc = json.loads(out.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.TimeoutExpired, ValueError, IndexError):
        return None
    groups = (((doc.get("command") or {}).get("data") or {}).get("groups")) or []
    buckets = [(g.get("name"), b) for g in groups if isinstance(g, dict) for b in g.get("buckets") or [] if isinstance(b, dict)]
    if not buckets:
        return None
    group, worst = min(buckets, key=lambda gb: float(gb[1].get("remaining_fraction", 1.0)))
    left = float(worst.get("remaining_fraction", 1.0))
    summary = "; ".join(f"{g} {b.get('name')}: {float(b.get('remaining_fraction', 0)) * 100:.0f}% left" for g, b in buckets)
    return {
        "state": "exhausted" if left <= 0 else ("warning" if left < 0.1 else "ok"),
        "resets_at": worst.get("reset_time"),
        "retry_after_s": None,
        "window": worst.get("window") if worst.get("window") in ("5h", "weekly", "daily", "minute") else None,
        "message": summary,
    }
