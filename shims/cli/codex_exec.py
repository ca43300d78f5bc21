"""`shim-<vendor> exec`: a drop-in for `codex exec`, as the Codex SDKs launch it (CONTRACT §15;
reference/codex.md §2.1, §2.6).

The SDKs run `<codex path> exec --experimental-json [--model M] [--sandbox S] [--cd DIR]
[--add-dir D]... [--skip-git-repo-check] [--output-schema FILE] [--config k=v]...
[resume THREAD_ID] [--image F]...` and write the prompt to stdin. EXEC_OPTIONS declares every
`codex exec` option this drop-in takes, with what it does here; the parser and `--help` are
made from it. An option with no meaning for the vendor is taken and named on stderr, never
silently changing what runs; one the vendor cannot honour (an image) fails the turn with
`unsupported_mode`.

`parse_exec_argv` is pure (argv in, an ExecCall or a UsageError out); `exec_main` reads the
prompt and the schema file and hands the run to shims.run.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Any

# --sandbox -> the shim's --mode (CONTRACT §9 names Codex's sandboxes).
SANDBOX_MODES = {"read-only": "read-only", "workspace-write": "write", "danger-full-access": "full"}
CODEX_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")


@dataclass(frozen=True, slots=True)
class ExecOption:
    flags: tuple[str, ...]
    dest: str
    # "switch", "value", "repeat" (one value per use), "values" (one or more, comma lists too)
    kind: str
    help: str
    # "honoured": it changes what runs; "noted": taken, named on stderr, nothing changes;
    # "display": only how Codex's own terminal output looks, which the shim does not draw.
    effect: str = "honoured"
    choices: tuple[str, ...] = ()


EXEC_OPTIONS: tuple[ExecOption, ...] = (
    ExecOption(("--json", "--experimental-json"), "json", "switch",
               "Print Codex's `exec --json` events on stdout, one JSON object per line."),
    ExecOption(("-m", "--model"), "model", "value", "The vendor's model."),
    ExecOption(("-s", "--sandbox"), "sandbox", "value",
               "read-only | workspace-write | danger-full-access: the shim's --mode read-only | write | full.",
               choices=tuple(SANDBOX_MODES)),
    ExecOption(("--full-auto",), "full_auto", "switch", "As --sandbox workspace-write."),
    ExecOption(("--dangerously-bypass-approvals-and-sandbox", "--yolo"), "bypass", "switch",
               "As --sandbox danger-full-access."),
    ExecOption(("-C", "--cd"), "cd", "value", "The working directory."),
    ExecOption(("--add-dir",), "add_dir", "repeat", "Another folder the agent may use (where the vendor can)."),
    ExecOption(("--skip-git-repo-check",), "skip_git_repo_check", "switch",
               "Taken: the shims never require a git repository."),
    ExecOption(("--output-schema",), "output_schema", "value",
               "A JSON Schema file the final answer must satisfy (where the vendor can constrain it)."),
    ExecOption(("-o", "--output-last-message"), "output_last_message", "value",
               "Also write the final agent message to this file."),
    ExecOption(("-c", "--config"), "config", "repeat",
               "key=value (TOML value). model, sandbox_mode and model_reasoning_effort are honoured; "
               "other keys are noted on stderr."),
    ExecOption(("-i", "--image"), "image", "values", "Images to attach: refused with unsupported_mode "
               "(no vendor CLI here takes an image on its command line)."),
    ExecOption(("-p", "--profile"), "profile", "value", "A Codex config profile: noted, no meaning here.", "noted"),
    ExecOption(("--enable",), "enable", "repeat", "A Codex feature: noted, no meaning here.", "noted"),
    ExecOption(("--disable",), "disable", "repeat", "A Codex feature: noted, no meaning here.", "noted"),
    ExecOption(("--oss",), "oss", "switch", "Codex's local model provider: noted, no meaning here.", "noted"),
    ExecOption(("--local-provider",), "local_provider", "value", "Noted, no meaning here.", "noted"),
    ExecOption(("--ephemeral",), "ephemeral", "switch",
               "Codex keeps no session files: noted; the vendor keeps its session and the shim its journal.",
               "noted"),
    ExecOption(("--ignore-user-config",), "ignore_user_config", "switch", "Noted, no meaning here.", "noted"),
    ExecOption(("--ignore-rules",), "ignore_rules", "switch", "Noted, no meaning here.", "noted"),
    ExecOption(("--strict-config",), "strict_config", "switch", "Noted, no meaning here.", "noted"),
    ExecOption(("--thread-source",), "thread_source", "value", "Noted, no meaning here.", "noted"),
    ExecOption(("--color",), "color", "value", "Codex's terminal colours: the shim prints none.", "display",
               choices=("always", "never", "auto")),
    ExecOption(("--last",), "last", "switch", "With resume: the last session of this vendor in this folder."),
    ExecOption(("--all",), "all", "switch", "With resume --last: noted, the shims look in this folder only.",
               "noted"),
)

# The shim's own run options `exec` also takes (shims.run.options, declared there): not Codex
# flags, for a host or a wrapper script that wants them (`shim-claude exec --fallback gemini "$@"`).
# Codex's own flags say the prompt, mode, model, folder and session.
SHIM_OPTIONS = ("timeout", "idle_timeout", "cancel_grace", "worktree", "fallback", "max_cost_usd", "vendor_bin",
                "pty", "journal", "no_journal", "ignore_quota_state")

# -c keys that change what runs; any other is noted.
CONFIG_KEYS = frozenset(("model", "sandbox_mode", "model_reasoning_effort"))


class UsageError(Exception):
    """A command line `codex exec` would refuse: exit 2, the message on stderr, nothing run."""


@dataclass(slots=True)
class ExecCall:
    """What a `codex exec` command line asks for, in the shim's terms."""

    json: bool = False
    prompt: str | None = None  # None or "-": read stdin
    model: str | None = None
    mode: str | None = None
    cwd: str | None = None
    add_dirs: list[str] = field(default_factory=list)
    output_schema_path: str | None = None
    last_message_path: str | None = None
    effort: str | None = None
    images: list[str] = field(default_factory=list)
    resume: str | None = None  # a session id, or "last"
    notes: list[str] = field(default_factory=list)  # options taken that change nothing
    prompt_problem: str | None = None  # stdin that could not be read as text
    shim: dict[str, Any] = field(default_factory=dict)  # SHIM_OPTIONS given (None/False: not given)

    def spec_fields(self) -> dict[str, Any]:
        """What these options add to the run's RunSpec, or BadRequest (answered in the stream,
        as the SDK reads a failed turn)."""
        from normalize.request import BadRequest, check_text, folder_problem

        if self.prompt_problem:
            raise BadRequest(self.prompt_problem)
        from normalize.assembler import DELTA_KEEP_BYTES

        # Codex cuts no answer: the agent messages go out whole, and the final message (the -o
        # file, plain stdout) up to what the assembler keeps of a streamed text.
        fields: dict[str, Any] = {"whole_messages": True, "max_final_message_bytes": DELTA_KEEP_BYTES}
        dirs = []
        for d in self.add_dirs:
            check_text("--add-dir", d)
            path = os.path.abspath(d)
            problem = folder_problem(path)
            if problem:
                raise BadRequest(f"--add-dir {problem}: {path}")
            dirs.append(path)
        if dirs:
            fields["add_dirs"] = tuple(dirs)
        if self.images:
            fields["images"] = tuple(os.path.abspath(i) for i in self.images)
        if self.effort:
            fields["effort"] = self.effort
        if self.output_schema_path is not None:
            fields["output_schema"] = _schema(self.output_schema_path)
        return fields


# An --output-schema file is read whole before launch; a vendor takes at most 64 KiB of schema
# on its command line, so a file far over that is a mistake (or /dev/zero), not a schema.
SCHEMA_FILE_MAX = 1024 * 1024


def _schema(path: str) -> dict[str, Any]:
    import orjson

    from normalize.request import BadRequest

    try:
        data = _read_regular(path, SCHEMA_FILE_MAX)
    except OSError as exc:
        raise BadRequest(f"--output-schema {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise BadRequest(f"--output-schema {path} {exc}") from None
    try:
        schema = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"--output-schema {path} is not JSON: {exc}") from None
    if not isinstance(schema, dict):
        raise BadRequest(f"--output-schema {path} must hold a JSON Schema object, not {type(schema).__name__}")
    return schema


def _read_regular(path: str, limit: int) -> bytes:
    """The bytes of the regular file at `path`, at most `limit`, else ValueError saying why. Opened
    without blocking: a FIFO with no writer would hold the run (and SIGTERM with it, which the
    shim defers while it reads its input) for ever, a device may never end."""
    import stat

    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("is not a file (a FIFO, a device or a folder)")
        if info.st_size > limit:
            raise ValueError(f"is {info.st_size} bytes: at most {limit} are read")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(limit + 1)
        if len(data) > limit:
            raise ValueError(f"is over {limit} bytes: at most {limit} are read")
        return data
    finally:
        os.close(fd)


def _parser(vendor: str = "<vendor>") -> Any:
    import argparse

    parser = argparse.ArgumentParser(
        prog=f"shim-{vendor} exec", add_help=True, allow_abbrev=False,
        description="A drop-in for `codex exec` (CONTRACT §15): runs the vendor CLI and prints Codex's "
                    "`exec --json` events. Usage: exec [OPTIONS] [PROMPT] | exec [OPTIONS] resume "
                    "[OPTIONS] [SESSION_ID] [PROMPT]; the prompt is read from stdin when omitted or `-`.")
    for o in EXEC_OPTIONS:
        kwargs: dict[str, Any] = {"dest": o.dest, "help": o.help}
        if o.kind == "switch":
            kwargs["action"] = "store_true"
        elif o.kind == "repeat":
            kwargs["action"] = "append"
        elif o.kind == "values":
            kwargs.update(action="extend", nargs="+")
        if o.choices:
            kwargs["choices"] = o.choices
        elif o.kind != "switch":
            kwargs["metavar"] = {"output_schema": "FILE", "output_last_message": "FILE", "config": "KEY=VALUE",
                                 "cd": "DIR", "add_dir": "DIR", "image": "FILE"}.get(o.dest, o.dest.upper())
        parser.add_argument(*o.flags, **kwargs)
    from shims.run.options import RUN_OPTIONS

    shim = parser.add_argument_group("the shim's own options (not codex exec's; see shim-<vendor> --help)")
    for option in RUN_OPTIONS:
        if option.name in SHIM_OPTIONS:
            kind = _argparse_kind(option)
            if "action" not in kind and "choices" not in kind:
                kind["metavar"] = option.name.upper()
            shim.add_argument(option.flag, dest="shim_" + option.name, help=option.help, **kind)
    parser.add_argument("words", nargs="*", help=argparse.SUPPRESS)
    return parser


def _argparse_kind(option: Any) -> dict[str, Any]:
    import argparse

    if option.kind == "switch":
        return {"action": argparse.BooleanOptionalAction if option.negative else "store_true",
                "default": None if option.negative else False}
    if option.kind == "choice":
        return {"choices": option.choices}
    if option.kind in ("number", "integer"):
        kind = float if option.kind == "number" else int

        def number(raw: str) -> Any:
            value = kind(raw)
            low = None if option.bound_checked_by_run else option.minimum
            if value != value or (low is not None and (value < low or (option.exclusive and value == low))):
                raise ValueError(raw)
            return value

        number.__name__ = option.kind
        return {"type": number}
    return {}


class _Refused(Exception):
    pass


def parse_exec_argv(argv: list[str]) -> ExecCall:
    """The ExecCall of `exec`'s arguments (after the word `exec`), or UsageError."""
    import argparse

    parser = _parser()

    def refuse(message: str) -> None:
        raise _Refused(message)

    parser.error = refuse  # type: ignore[method-assign]  # an exception, not sys.exit, so the caller decides
    # After `--` every word is positional (argparse's intermixed parsing mishandles `--`).
    cut = argv.index("--") if "--" in argv else len(argv)
    try:
        ns, extra = parser.parse_known_intermixed_args(argv[:cut])
    except _Refused as exc:
        raise UsageError(str(exc)) from None
    except argparse.ArgumentError as exc:  # pragma: no cover - parser.error covers these
        raise UsageError(str(exc)) from None
    if extra:
        raise UsageError(f"unexpected argument '{extra[0]}' found")
    call = ExecCall(json=ns.json, model=ns.model, cwd=ns.cd, add_dirs=list(ns.add_dir or ()),
                    output_schema_path=ns.output_schema, last_message_path=ns.output_last_message,
                    shim={name: getattr(ns, "shim_" + name) for name in SHIM_OPTIONS})
    call.mode = _mode(ns)
    for image in ns.image or ():
        call.images += [part for part in image.split(",") if part]
    words = [*ns.words, *argv[cut + 1:]]
    # Only a word before `--` can be the subcommand: after it, `resume` is a prompt (as for clap).
    if ns.words[:1] == ["resume"]:
        words.pop(0)
        if ns.last:
            call.resume = "last"
        elif words:
            call.resume = words.pop(0)
        else:
            raise UsageError("resume needs a SESSION_ID (or --last)")
    elif ns.last or ns.all:
        raise UsageError("--last and --all are options of `exec resume`")
    if len(words) > 1:
        raise UsageError(f"unexpected argument '{words[1]}' found")
    call.prompt = words[0] if words else None
    for o in EXEC_OPTIONS:
        value = getattr(ns, o.dest)
        if o.effect == "noted" and value:
            shown = ", ".join(value) if isinstance(value, list) else (value if isinstance(value, str) else "")
            call.notes.append(f"{o.flags[-1]}{' ' + shown if shown else ''}")
    configured: dict[str, str] = {}
    for entry in ns.config or ():
        _config(call, entry, configured)
    # As Codex reads them: the last -c of a key wins, and -m/--sandbox (and its shorthands) win
    # over any -c.
    call.model = call.model or configured.get("model")
    call.mode = call.mode or configured.get("sandbox_mode")
    call.effort = configured.get("model_reasoning_effort")
    return call


def _mode(ns: Any) -> str | None:
    if ns.bypass:
        return "full"
    if ns.sandbox:
        return SANDBOX_MODES[ns.sandbox]
    if ns.full_auto:
        return "write"
    return None


def _config(call: ExecCall, entry: str, configured: dict[str, str]) -> None:
    """One `-c key=value`: the value is TOML, else a plain string (as Codex reads it). A key
    that changes what runs goes into `configured` (the shim's value: a mode for sandbox_mode)."""
    key, eq, raw = entry.partition("=")
    key = key.strip()
    if not eq or not key:
        raise UsageError(f"invalid --config '{entry}': expected key=value")
    try:
        value = _toml_value(raw.strip())
    except RecursionError:  # tomllib recurses per level: `[[[[…` thousands deep
        raise UsageError(f"invalid --config {key[:64]}: the value is nested too deeply") from None
    if key not in CONFIG_KEYS:
        call.notes.append(f"--config {key}")
        return
    if not isinstance(value, str):
        raise UsageError(f"invalid --config {key}: expected a string")
    if key == "sandbox_mode":
        if value not in SANDBOX_MODES:
            raise UsageError(f"invalid --config sandbox_mode '{value}': expected one of {', '.join(SANDBOX_MODES)}")
        value = SANDBOX_MODES[value]
    elif key == "model_reasoning_effort" and value not in CODEX_EFFORTS:
        raise UsageError(f"invalid --config model_reasoning_effort '{value}': expected one of "
                         f"{', '.join(CODEX_EFFORTS)}")
    configured[key] = value


def _toml_value(raw: str) -> Any:
    import tomllib

    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def read_prompt(call: ExecCall, stdin: bytes | None) -> str:
    """The prompt as `codex exec` takes it: the argument, else stdin; with both, stdin follows
    the argument in a <stdin> block."""
    from normalize.request import decode_stdin

    piped = decode_stdin(stdin) if stdin else ""
    if call.prompt is None or call.prompt == "-":
        return piped
    if piped.strip():
        return f"{call.prompt}\n\n<stdin>\n{piped}\n</stdin>"
    return call.prompt


def vendor_notes(vendor: str, call: ExecCall) -> list[str]:
    """The options this vendor's CLI has no flag for (shims/<vendor>/command.py says)."""
    from shims.run.vendors import command_module

    command = command_module(vendor)
    notes = []
    if call.add_dirs and command.ADD_DIR_FLAG is None:
        notes.append("--add-dir (one workspace only)")
    if call.effort and call.effort not in command.EFFORTS:
        notes.append(f"--config model_reasoning_effort={call.effort} (no such effort)")
    return notes


def exec_main(vendor: str, argv: list[str]) -> int:
    """`shim-<vendor> exec ARGV`: its exit status (0 completed, 1 failed, 2 a refused command line)."""
    from shims.run.resolve import read_stdin

    options = argv[:argv.index("--")] if "--" in argv else argv  # after `--`, `--help` is a prompt
    if "-h" in options or "--help" in options:
        _parser(vendor).print_help(sys.stdout)
        return 0
    try:
        call = parse_exec_argv(argv)
    except UsageError as exc:
        sys.stderr.write(f"error: {exc}\n\nUsage: shim-{vendor} exec [OPTIONS] [PROMPT]  (see --help)\n")
        return 2
    from normalize.request import BadRequest

    stdin = read_stdin() if call.prompt in (None, "-") or not os.isatty(0) else None
    try:
        prompt = read_prompt(call, stdin)
    except BadRequest as exc:
        prompt, call.prompt_problem = "", exc.message
    if not prompt.strip() and call.prompt_problem is None:
        call.prompt_problem = "No prompt: give PROMPT or write the prompt to stdin (the Codex SDKs write it there)."
    notes = call.notes + vendor_notes(vendor, call)
    if notes:
        sys.stderr.write(f"shim-{vendor} exec: taken, no effect with {vendor}: {'; '.join(notes)}\n")
    from shims import run

    opts = run.ShimOptions(prompt=prompt if prompt.strip() else None, model=call.model, mode=call.mode,
                           cwd=call.cwd, resume=call.resume, emit="ndjson", **call.shim)
    return run.run(vendor, opts, exec_call=call)
