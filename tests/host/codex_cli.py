"""The real Codex CLI 0.169.0 as an MCP host, offline: `codex exec --json` against the loopback
fake Responses API (tests/fakes/fake_responses.py), with an MCP server block of the test's own.

    with FakeResponses(script) as api:
        home = make_codex_home(tmp_path / "codex", api.base_url, mcp_toml=README_BLOCK)
        run = run_exec("Go", home=home, cwd=tmp_path / "ws", env=env)
        run.returncode, run.events, run.items("mcp_tool_call"), run.stderr

`start_exec` gives the same run as a Popen (its own process group, stdout/stderr piped) for tests
that signal codex mid-run; `finish(proc)` collects it as a CodexRun.

FINDINGS (codex-cli 0.169.0, real runs against a logging stand-in MCP server, strace -f)
------------------------------------------------------------------------------------------
Tools in the request: a server `shims` appears as ONE `tools` entry {"type": "namespace",
  "name": "mcp__shims", "description": "Tools in the mcp__shims namespace.", "tools": [{"type":
  "function", "name": "spawn", "description": <MCP description>, "strict": false, "parameters":
  <MCP inputSchema as given>}, ...]} (tools sorted by name; outputSchema not sent). The model calls
  it with function_call {"name": "spawn", "namespace": "mcp__shims", ...}.
What the model gets: function_call_output "output" = "Wall time: 0.0055 seconds\nOutput:\n" +
  the structuredContent as compact JSON when the result has one; the text content is NOT sent
  (without structuredContent the text is). The exec stream's mcp_tool_call item has both:
  result {"content": [...], "structured_content": {...}}.
Startup: Codex >= 0.147 gives optional MCP servers ~1 s, then sends the turn without their tools
  (the mcp SDK's import alone takes 0.5-3 s here); `required = true` does not change that. The
  top-level `mcp_optional_startup_grace_ms = 0` makes it wait (up to startup_timeout_sec).
Approval: with approval_policy = "never" an MCP call fails "MCP tool call requires approval, but
  approval policy is never" unless the server block has default_tools_approval_mode = "approve".
Config keys: required, env_vars, startup_timeout_sec, tool_timeout_sec and
  default_tools_approval_mode are accepted silently. An unknown key in the block is ignored with
  an `error` item "Codex is ignoring 1 unrecognized configuration setting ... `mcp_servers.shims.
  bogus_key` is ignored." (exit 0). A duplicate top-level key is fatal: "Error loading config.toml".
Environment of the server: only HOME, LANG, PATH, SHELL, TERM and the CA-bundle variables
  (CURL_CA_BUNDLE, GIT_SSL_CAINFO, NODE_EXTRA_CA_CERTS, PIP_CERT, REQUESTS_CA_BUNDLE,
  SSL_CERT_FILE) plus the names in env_vars (tested: named ones arrive, an unnamed one does not).
  cwd = codex's cwd. The server is the leader of its OWN process group (pgid = its pid), in
  codex's session: a killpg of codex's group does not reach it.
tools/call params._meta: progressToken (1, 2, ... per call), callId, itemId, threadId, sessionId,
  windowId, and x-codex-turn-metadata {thread_id, turn_id, model, sandbox_mode, codex_version...}.
Progress: notifications/progress sent with that token show nowhere in `exec --json` (only
  item.started, then item.completed).
isError=true: the item is completed with status "failed", error null, result kept (content and
  structured_content); the model gets the structuredContent JSON (else the text), same wrapper.
tool_timeout_sec exceeded: item.completed status "failed", result null, error.message "tool call
  error: tool call failed for `shims/slow`\n\nCaused by:\n    timed out awaiting tools/call after
  3s\n\nStack backtrace: ..."; the model gets [input_text "Wall time: 3.03 seconds\nOutput:",
  input_text <that message>]; the turn goes on (exit 0). The server is not signalled; its call runs on.
Ending: normal end (and a failed turn): kill(-pgid, SIGTERM) to the server's group, stdin closed
  ~5 ms later, kill(pid, SIGKILL) to the server alone ~35 ms after the SIGTERM, then codex exits
  (children of the server in its group get only the SIGTERM). SIGINT mid tool call: the same
  SIGTERM to the group + stdin EOF, codex exits 1 within ~60 ms without sending the SIGKILL, the
  stream stops after item.started (no item.completed, no turn.failed). SIGTERM or SIGKILL to codex
  mid tool call: codex dies at once (-15 / -9), sends the server nothing; the server learns only
  from stdin EOF / EPIPE on stdout (orphaned, in its own group) and must exit by itself.
Network: with the config below strace -f -e trace=connect shows only connects to 127.0.0.1:<fake>.
  Without [features] plugins = false / remote_plugin = false, codex runs `git ls-remote
  https://github.com/openai/plugins.git` at startup (a DNS lookup and a github.com connect).
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from host.codex_bin import codex_bin

MODEL = "fake-model"
API_KEY_ENV = "FAKE_API_KEY"

# Everything that keeps codex on 127.0.0.1: the one model provider is the fake, with no retries
# (a failure shows at once); no analytics, feedback, update checks or web search.
CONFIG_TEMPLATE = """\
model = "{model}"
model_provider = "fake"
approval_policy = "never"
sandbox_mode = "read-only"
check_for_update_on_startup = false
web_search = "disabled"

[model_providers.fake]
name = "Fake loopback"
base_url = "{base_url}"
wire_api = "responses"
env_key = "{api_key_env}"
request_max_retries = 0
stream_max_retries = 0

[analytics]
enabled = false

[feedback]
enabled = false

# Plugins sync the plugin marketplace at startup with `git ls-remote
# https://github.com/openai/plugins.git` (seen with strace): off.
[features]
plugins = false
remote_plugin = false
"""


def config_toml(base_url: str, model: str = MODEL) -> str:
    """The config.toml of an offline CODEX_HOME whose model provider is the fake at base_url."""
    if not base_url.startswith("http://127.0.0.1:"):
        raise ValueError(f"the model provider must be on 127.0.0.1, not {base_url!r}")
    return CONFIG_TEMPLATE.format(model=model, base_url=base_url, api_key_env=API_KEY_ENV)


# Codex >= 0.147 gives an optional MCP server ~1 s to start, then runs the turn without its
# tools (`required = true` on the server does not change that); 0 = wait up to the server's
# startup_timeout_sec. A Python server on the mcp SDK takes 0.5-3 s just to import. A top-level
# key: pass it as make_codex_home's extra_toml (the README's block for `shims mcp` has it).
WAIT_FOR_MCP_SERVERS = "mcp_optional_startup_grace_ms = 0"


def make_codex_home(home: Path, base_url: str, mcp_toml: str = "", extra_toml: str = "") -> Path:
    """A fresh CODEX_HOME at `home`: `extra_toml` (top-level keys must come before any table, so
    it goes first), the offline config, then the MCP server block, both verbatim."""
    home.mkdir(parents=True, exist_ok=True)
    parts = [extra_toml.strip(), config_toml(base_url)] if extra_toml.strip() else [config_toml(base_url)]
    if mcp_toml.strip():
        parts.append(mcp_toml.strip())
    (home / "config.toml").write_text("\n\n".join(parts) + "\n")
    return home


@dataclass
class CodexRun:
    returncode: int | None  # negative: killed by that signal
    events: list[dict[str, Any]]  # every stdout line that parsed as a JSON object
    stdout: str
    stderr: str
    bad_lines: list[str] = field(default_factory=list)  # stdout lines that were not JSON objects

    def items(self, kind: str | None = None, event: str = "item.completed") -> list[dict[str, Any]]:
        """The items of `event` events, of type `kind` if given."""
        return [e["item"] for e in self.events if e.get("type") == event and isinstance(e.get("item"), dict)
                and (kind is None or e["item"].get("type") == kind)]

    def final_message(self) -> str | None:
        messages = self.items("agent_message")
        return messages[-1].get("text") if messages else None


def exec_env(home: Path, env: dict[str, str] | None = None, state: Path | None = None) -> dict[str, str]:
    """The environment of a codex run: `env` (default: this process's), with CODEX_HOME=home, the
    fake's API key, and HOME/XDG dirs under `state` (default: home/"state") so codex's own files
    (sessions, logs, caches) stay in the test's tmp dir."""
    state = state or home / "state"
    out = dict(os.environ if env is None else env)
    out.update({"CODEX_HOME": str(home), API_KEY_ENV: "dummy", "HOME": str(state / "home"),
                "XDG_CACHE_HOME": str(state / "cache"), "XDG_DATA_HOME": str(state / "data")})
    out.setdefault("XDG_STATE_HOME", str(state / "xdg-state"))
    out.setdefault("XDG_CONFIG_HOME", str(state / "xdg-config"))
    for key in ("HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME"):
        Path(out[key]).mkdir(parents=True, exist_ok=True)
    # Nothing may reach a real OpenAI endpoint or a proxy.
    for key in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "CODEX_API_KEY", "HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY",
                "https_proxy", "http_proxy", "all_proxy"):
        out.pop(key, None)
    return out


def exec_argv(prompt: str, extra_args: list[str] | None = None, binary: Path | None = None) -> list[str]:
    binary = binary or codex_bin()
    if binary is None:
        raise FileNotFoundError("the pinned Codex CLI is not installed: run `make codex-cli`")
    return [str(binary), "exec", "--json", "--skip-git-repo-check", *(extra_args or []), prompt]


def start_exec(prompt: str, *, home: Path, cwd: Path, env: dict[str, str] | None = None,
               extra_args: list[str] | None = None) -> subprocess.Popen[str]:
    """`codex exec --json` as the leader of its own process group (so a test can signal it, or
    the group), stdin /dev/null, stdout and stderr piped."""
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(exec_argv(prompt, extra_args), cwd=cwd, env=exec_env(home, env),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, process_group=0)


def parse_events(stdout: str) -> tuple[list[dict[str, Any]], list[str]]:
    events, bad = [], []
    for line in stdout.splitlines():
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            bad.append(line)
            continue
        (events if isinstance(obj, dict) else bad).append(obj if isinstance(obj, dict) else line)
    return events, bad


def finish(proc: subprocess.Popen[str], timeout: float = 120) -> CodexRun:
    """Wait for a started run (SIGKILL to its group on timeout) and parse what it printed."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, 9)
        except ProcessLookupError:
            pass
        out, err = proc.communicate()
    events, bad = parse_events(out)
    return CodexRun(proc.returncode, events, out, err, bad)


def run_exec(prompt: str, *, home: Path, cwd: Path, env: dict[str, str] | None = None,
             extra_args: list[str] | None = None, timeout: float = 120) -> CodexRun:
    """Run `codex exec --json --skip-git-repo-check PROMPT` to its end."""
    return finish(start_exec(prompt, home=home, cwd=cwd, env=env, extra_args=extra_args), timeout)
