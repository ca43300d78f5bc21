"""Every option of a shim run, declared once (CONTRACT §1).

RUN_OPTIONS is the single source: the `shim-<vendor>` command line (shims.cli.commands, with its help
texts), the run path's parser (shims.cli.entry), ShimOptions, the config file's `[defaults]` and
`[<vendor>]` keys with their built-in defaults and validation (shims.run.config), `shims config
show` and the options' schema (`options_schema`) are all derived from it. NORMALIZE_OPTIONS
does the same for `shims normalize`. Plain data, cheap to import: the run path reads it on
every start.
"""

from __future__ import annotations

from dataclasses import dataclass, field, make_dataclass
from typing import Any

# kind -> (Python type, JSON Schema type). "file": an existing file, not a folder.
KINDS: dict[str, tuple[type, str]] = {
    "text": (str, "string"), "path": (str, "string"), "file": (str, "string"), "choice": (str, "string"),
    "number": (float, "number"), "integer": (int, "integer"), "switch": (bool, "boolean"),
}


@dataclass(frozen=True, slots=True)
class Option:
    """One option of a command line. Its flag is `--` + name with dashes; a run option's
    config key is its name."""

    name: str
    kind: str  # a key of KINDS
    help: str
    choices: tuple[str, ...] = ()
    minimum: float | None = None  # the smallest value taken
    exclusive: bool = False  # minimum itself is refused too (config, schema)
    # The command line leaves the bound to the run, which refuses it as a bad_request naming
    # the flag (and also refuses inf and NaN, which a bound alone would not).
    bound_checked_by_run: bool = False
    # The value when the option is not given. A run's options are None then, and the config
    # file fills them in (this is the built-in value of its key); other commands take it as is.
    default: Any = None
    required: bool = False
    config: bool = True  # a run option that is a key of the config file's [defaults] and [<vendor>]
    request: str | None = None  # the request field that sets the same thing (CONTRACT §2)
    # The request's value comes before the config file's (the run resolves it: shims.run.resolve).
    request_first: bool = False
    negative: bool = False  # a switch with a --no- form: True, False, or None when not given

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def negative_flag(self) -> str | None:
        return "--no-" + self.name.replace("_", "-") if self.negative else None

    @property
    def python_type(self) -> Any:
        base = KINDS[self.kind][0]
        return bool if self.kind == "switch" and not self.negative else base | None


RUN_OPTIONS: tuple[Option, ...] = (
    Option("prompt", "text", "The task text (same as PROMPT).", config=False, request="message"),
    Option("mode", "choice", "Sandbox policy mapped onto the vendor's permission flags.",
           choices=("read-only", "write", "full"), request="mode", request_first=True),
    Option("model", "text", "Vendor model name; default: the vendor's own default.",
           request="model", request_first=True),
    Option("cwd", "path", "Working directory (default: the request's cwd, else the current directory).",
           config=False, request="cwd"),
    Option("emit", "choice", "auto (default): protocol 1 for a protocol_version 1 request, pretty on a terminal "
           "without a request, else ndjson.", choices=("auto", "ndjson", "codex-lab-v1", "pretty"), default="auto"),
    # The earlier of this and the request's deadline_ms wins (shims.run.resolve).
    Option("timeout", "number", "Whole-run deadline in seconds (the request's deadline_ms also applies; the "
           "earlier wins).", minimum=0.001, request="deadline_ms"),
    Option("idle_timeout", "number", "Seconds without vendor output after which the run counts as stalled; "
           "0 = never. Default 600.", minimum=0, default=600.0),
    Option("cancel_grace", "number", "Seconds between the signals of the cancel ladder (SIGINT, SIGTERM, "
           "SIGKILL). Default 3.", minimum=0, default=3.0),
    Option("resume", "text", "Continue this vendor session id; `last` = the latest session of this provider in "
           "the same folder.", config=False, request="resume.session_id"),
    Option("worktree", "switch", "Run in a fresh git worktree of the repository (branch from HEAD); kept when "
           "changed, removed when clean.", negative=True, request="worktree", request_first=True),
    Option("fallback", "text", "Providers to try, in order, when this one is missing, signed out, out of quota "
           "or unavailable before it changed anything, e.g. gemini,agy."),
    Option("max_cost_usd", "number", "Stop a run whose cost passes this many dollars (Claude: its own budget "
           "flag; others: the shim's estimate from streamed usage).", minimum=0, exclusive=True,
           bound_checked_by_run=True),
    Option("vendor_bin", "text", "The vendor CLI to run: a path (a relative one is from the folder the shim "
           "starts in), or a name looked up on PATH."),
    Option("pty", "choice", "Run the vendor under a pseudo-terminal: always, never (default), or auto (when "
           "the vendor needs one).", choices=("auto", "always", "never"), default="never"),
    Option("journal", "text", "Journal root for this run (default: [journal] root in the config, else "
           "$XDG_STATE_HOME/codex-shims/runs)."),
    Option("no_journal", "switch", "Do not record the run's transcript (the usage ledger and quota memory are "
           "still kept).", config=False),
    Option("ignore_quota_state", "switch", "Launch even when a recorded quota or rate limit for this provider "
           "is still in force.", config=False),
)

# Flags of the shim programs that print or check something rather than run. The typer command
# line takes them (and click adds --help); the scanner takes `--preflight` in its own forms.
ACTION_OPTIONS: tuple[Option, ...] = (
    Option("preflight", "switch", "Check readiness (binary, version, credentials, remembered quota) and exit; "
           "prints one JSON object.", config=False),
    Option("version", "switch", "Print the shim version and the vendor CLI version.", config=False),
)

PROMPT_ARGUMENT_HELP = "The task; without it the request is read from stdin."

CONFIG_OPTIONS: tuple[Option, ...] = tuple(o for o in RUN_OPTIONS if o.config)
# The config keys' built-in defaults (`shims config show` prints them as "built-in").
BUILTIN: dict[str, Any] = {o.name: o.default for o in CONFIG_OPTIONS}
# Values handed on as text (journaled, put on the vendor's argv): each must be UTF-8.
TEXT_OPTIONS: tuple[str, ...] = tuple(o.name for o in RUN_OPTIONS if o.kind in ("text", "path"))


# `shims normalize VENDOR --stdout FILE ...` (CONTRACT §13).
NORMALIZE_OPTIONS: tuple[Option, ...] = (
    Option("stdout", "file", "The vendor's recorded stdout.", required=True),
    Option("stderr", "file", "The vendor's recorded stderr."),
    Option("exit_code", "integer", "The vendor's exit status (omit when it was killed by a signal)."),
    Option("signal", "choice", "The shim was cancelled by this signal during the recording.", choices=("INT", "TERM")),
    Option("format", "choice", "The vendor's output format.", choices=("stream-json", "json", "text"),
           default="stream-json"),
    Option("emit", "choice", "ndjson (protocol 2), codex-lab-v1 (protocol 1) or pretty.",
           choices=("ndjson", "codex-lab-v1", "pretty"), default="ndjson"),
    Option("max_final_message_bytes", "integer", "As the request field.", minimum=1, default=8192),
    Option("ended_at", "number", "When the vendor ended (epoch seconds), for relative reset times."),
    Option("resumed", "switch", "The recording continued an earlier session: its earlier running total is "
           "unknown (else it starts at zero).", default=False),
    Option("max_line_bytes", "integer", "Longer stdout lines are not read, as in the run ([journal] "
           "max_line_bytes; default 64 MiB).", minimum=1),
    Option("cli_version", "text", "The vendor CLI's version, as the run found it before launch (the result's "
           "provider.cli_version unless the vendor's output names one)."),
)
NORMALIZE_VENDOR_HELP = "claude, gemini, agy or fake."

# `shims doctor` (CONTRACT §8).
DOCTOR_HELP = ("Each provider, marked [✓] ready, [!] ready with warnings or [✗] not ready: binary, version, "
               "credentials, remembered or reported quota with its reset time, the modes it can honour and whether "
               "it takes an output schema, with what to do about each problem; then how many providers are ready. "
               "Exit 1 when none is.")
DOCTOR_OPTIONS: tuple[Option, ...] = (
    Option("json", "switch", "One JSON object per provider (or per mode), as a list; a provider's `checks` are "
           "the view's lines (name, state ok|note|warning|problem, detail, what_to_do).", default=False),
    Option("modes", "switch", "The mode table: how read-only, write and full map onto each vendor's flags, and "
           "whether this installation can honour them.", default=False),
)


# `shims mcp` (CONTRACT §16): the server's own limits. The spawn tool's arguments come from
# RUN_OPTIONS (shims.mcp.arguments); these bound what a model may ask for.
MCP_HELP = ("A stdio MCP server (for Codex, Claude Code, Gemini CLI or any MCP host) with tools spawn, wait, cancel "
            "and list, each worker one shim run. Closing stdin, SIGTERM or SIGINT cancels every worker.")
MCP_OPTIONS: tuple[Option, ...] = (
    Option("providers", "text", "The providers spawn offers, comma-separated.", default="claude,gemini,agy"),
    Option("max_workers", "integer", "Workers running at once; a spawn past it is refused.", minimum=1, default=8),
    Option("wait_limit", "number", "Longest a wait call blocks, in seconds: keep it below the host's tool timeout "
           "(Codex's tool_timeout_sec, default 60).", minimum=0, default=50.0),
    Option("worker_timeout", "number", "A worker's deadline in seconds when spawn names none.", minimum=1,
           default=1800.0),
    Option("max_task_bytes", "integer", "Longest task a spawn takes, in UTF-8 bytes.", minimum=1, default=65536),
    Option("max_answer_bytes", "integer", "Longest final message returned, in UTF-8 bytes: a longer one keeps its "
           "tail after a [… N bytes cut] marker (the journal has it whole).", minimum=1, default=65536),
)


def _with_defaults(self: Any, defaults: dict[str, Any]) -> Any:
    """Flags given on the command line win; the rest come from the config file or the
    built-in defaults. Options whose request field comes first are left to the run."""
    for name, value in defaults.items():
        if name not in _REQUEST_FIRST and getattr(self, name) is None:
            setattr(self, name, value)
    return self


_REQUEST_FIRST = frozenset(o.name for o in RUN_OPTIONS if o.request_first)

ShimOptions = make_dataclass(
    "ShimOptions",
    [(o.name, o.python_type, field(default=False if o.python_type is bool else None)) for o in RUN_OPTIONS],
    namespace={"with_defaults": _with_defaults, "__module__": __name__,
               "__doc__": "What the command line gave a run: None (False for a plain switch) where it gave nothing."},
    slots=True,
)


def options_schema(options: tuple[Option, ...] = RUN_OPTIONS) -> dict[str, Any]:
    """The options as a JSON Schema object (name, type, enum, minimum, default, description):
    what a host may pass, e.g. as an MCP tool's input schema or to map Codex `exec` flags."""
    properties: dict[str, Any] = {}
    for o in options:
        prop: dict[str, Any] = {"type": KINDS[o.kind][1], "description": o.help}
        if o.choices:
            prop["enum"] = list(o.choices)
        if o.minimum is not None:
            prop["exclusiveMinimum" if o.exclusive else "minimum"] = o.minimum
        if o.default is not None:
            prop["default"] = o.default
        properties[o.name] = prop
    schema = {"type": "object", "properties": properties, "additionalProperties": False}
    required = [o.name for o in options if o.required]
    return {**schema, "required": required} if required else schema
