"""Command lines: `shim-claude`, `shim-gemini`, `shim-agy` (and `shim-fake`), and `shims`.

Heavy modules (pydantic, the runtime, vendor packages) are imported inside commands, so
`--help` and a run only pay for what they use.
"""

from __future__ import annotations

import inspect
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from shims import __version__
from shims.run.options import (
    ACTION_OPTIONS,
    DOCTOR_HELP,
    DOCTOR_OPTIONS,
    MCP_HELP,
    MCP_OPTIONS,
    NORMALIZE_OPTIONS,
    NORMALIZE_VENDOR_HELP,
    PROMPT_ARGUMENT_HELP,
    RUN_OPTIONS,
    Option,
)

_SHIM_HELP = """Run the {vendor} CLI as a Codex worker and print one normalized event stream.

Defaults for every option can be set in $CODEX_SHIMS_CONFIG or
$XDG_CONFIG_HOME/codex-shims/config.toml, in [defaults] or [{vendor}].

The request comes from PROMPT, --prompt, or stdin: one JSON request object (protocol 1 or 2),
or plain text taken as the prompt. Stdin that opens like a JSON object (`{{"`) must be valid
JSON; a JSON object with neither protocol_version nor a request field is prompt text. Model
names and session ids may not start with "-". Output is NDJSON (protocol 2) whose last line is the
`result` envelope, or the single codex-lab object (protocol 1), or for people (pretty) a live
view on a terminal and plain appended lines elsewhere.
Exit status: 0 completed, 1 provider_failed, 2 bad_request, 3 command_missing,
4 authentication_required, 5 quota_or_rate_limited, 6 provider_unavailable,
7 unsupported_mode, 8 malformed_output, 9 empty_output, 124 timed_out, 130/143 cancelled;
always 0 under codex-lab-v1 once its object is written.

`shim-{vendor} exec [OPTIONS] [PROMPT]` is a drop-in for `codex exec`, for the Codex SDKs: it
prints Codex's `exec --json` stream (see `shim-{vendor} exec --help`).
"""


def _typer_parameter(option: Option, *, defaulted: bool = True) -> inspect.Parameter:
    """An option as typer reads a parameter of the command's function. Not `defaulted`: None
    (False for a plain switch) when not given, for the config file to fill in (a run)."""
    if option.kind == "choice":
        kind: Any = Enum(option.name.title().replace("_", ""), {c: c for c in option.choices}, type=str)
    else:
        kind = {"text": str, "path": Path, "file": Path, "number": float, "integer": int, "switch": bool}[option.kind]
    details: dict[str, Any] = {"help": option.help}
    if option.minimum is not None and not option.bound_checked_by_run:
        details["min"] = option.minimum  # inclusive: the one exclusive bound is left to the run
    if option.kind == "file":
        details.update(exists=True, dir_okay=False)
    if option.python_type is bool:  # a plain switch
        default: Any = bool(option.default)
    elif option.required:
        default = inspect.Parameter.empty
    else:
        default = kind(option.default) if defaulted and option.default is not None else None
        kind = kind | None
    flag = f"{option.flag}/{option.negative_flag}" if option.negative else option.flag
    return inspect.Parameter(option.name, inspect.Parameter.KEYWORD_ONLY, default=default,
                             annotation=Annotated[kind, typer.Option(flag, **details)])


def _plain(value: Any) -> Any:
    """A value as the run takes it: an enum's text, a path as str."""
    if isinstance(value, Enum):
        return value.value
    return str(value) if isinstance(value, Path) else value


# Every app of ours: no shell-completion commands, plain tracebacks and help text (no rich
# markup: help texts quote vendor flags), and -h for --help as most tools take it. (`shim-X
# exec` is argparse's, which takes -h too, as `codex exec` does.)
_APP: dict[str, Any] = {"add_completion": False, "pretty_exceptions_enable": False, "rich_markup_mode": None,
                        "context_settings": {"help_option_names": ["-h", "--help"]}}


def make_shim_app(vendor: str) -> typer.Typer:
    app = typer.Typer(**_APP)

    def main(**given: Any) -> None:
        from shims import run as shim_app

        prompt_arg, preflight, version = given.pop("prompt_arg"), given.pop("preflight"), given.pop("version")
        values = {name: _plain(value) for name, value in given.items()}
        vendor_bin = values["vendor_bin"]
        if preflight and not version:
            from shims.run.preflight import preflight_command

            raise typer.Exit(preflight_command(vendor, vendor_bin, ignore_quota_state=values["ignore_quota_state"]))
        if version:  # not a run: Ctrl-C works there as always (a run keeps them blocked)
            from shims.runtime.signals import release

            release()
        if version and vendor_bin is None:
            from shims.run.config import ConfigError, load_defaults

            try:
                vendor_bin = load_defaults(vendor)["vendor_bin"]
            except ConfigError as exc:
                typer.echo(f"shim-{vendor}: {exc}", err=True)
                raise typer.Exit(2) from None
        if version:
            _print_version(vendor, vendor_bin)
            raise typer.Exit(0)
        if prompt_arg is not None and values["prompt"] is not None:
            raise typer.BadParameter("give the prompt once: PROMPT or --prompt")
        if values["prompt"] is None:
            values["prompt"] = prompt_arg
        global _answered
        _answered = True
        raise typer.Exit(shim_app.run(vendor, shim_app.ShimOptions(**values)))

    # The command's parameters, in --help's order: PROMPT, the run options, then the actions.
    prompt = inspect.Parameter("prompt_arg", inspect.Parameter.KEYWORD_ONLY, default=None,
                               annotation=Annotated[str | None, typer.Argument(metavar="PROMPT",
                                                                               help=PROMPT_ARGUMENT_HELP)])
    main.__signature__ = inspect.Signature([prompt, *(_typer_parameter(o, defaulted=False) for o in RUN_OPTIONS),
                                            *map(_typer_parameter, ACTION_OPTIONS)])
    app.command(help=_SHIM_HELP.format(vendor=vendor))(main)
    return app


def _print_version(vendor: str, vendor_bin: str | None) -> None:
    from shims.run.programs import resolve_program, vendor_version

    program = resolve_program(vendor, vendor_bin)
    cli = vendor_version(program, vendor) if program else None
    typer.echo(f"shim-{vendor} {__version__}")
    typer.echo(f"{vendor} CLI: {cli or 'not found'}" + (f" ({program})" if program else ""))


# ---------------------------------------------------------------------------- shims toolkit

toolkit = typer.Typer(
    **_APP,
    no_args_is_help=True,
    help="codex-shims toolkit: schema, normalize, replay, doctor, runs, top, usage, config, mcp.",
)


def _toolkit_version(value: bool) -> None:
    if value:
        typer.echo(f"shims {__version__}")
        raise typer.Exit(0)


@toolkit.callback()
def _toolkit_options(
    version: Annotated[bool, typer.Option(
        "--version", is_eager=True, callback=_toolkit_version,
        help="Print the version of codex-shims and exit (the vendor CLIs' versions: shims doctor).")] = False,
) -> None:
    """The toolkit's own options; a command does the work. (`shim-<vendor> --version` also
    names the vendor CLI's version: it knows which CLI it runs.)"""


@toolkit.command(help="Write the contract's JSON Schema files (request, event, result, ...) to a folder; --check compares instead.")
def schema(
    out: Annotated[Path, typer.Option(help="Folder for the *.schema.json files.")] = Path("schema"),
    check: Annotated[bool, typer.Option("--check", help="Exit 1 if a file is missing or differs from the models.")] = False,
) -> None:
    from normalize.schema import schema_problems, write_schema

    if check and not out.is_dir():
        typer.echo(f"shims schema: the schema files are missing: no folder {out.absolute()} (run it in a "
                   "codex-shims checkout, or give --out FOLDER)", err=True)
        raise typer.Exit(1)
    try:
        if check:
            problems = schema_problems(out)
            for name, problem in problems:
                typer.echo(f"schema {problem}: {name}", err=True)
            raise typer.Exit(1 if problems else 0)
        written = write_schema(out)
    except OSError as exc:
        typer.echo(f"shims schema: cannot {'read' if check else 'write'} {exc.filename or out}: "
                   f"{exc.strerror or exc}", err=True)
        raise typer.Exit(2) from None
    for path in written:
        typer.echo(str(path))


def normalize(vendor: str, **given: Any) -> None:
    from shims.cli.entry import normalize_main, recording_arguments

    values = {name: _plain(value) for name, value in given.items()}
    raise typer.Exit(normalize_main(recording_arguments(vendor, values)))


normalize.__signature__ = inspect.Signature([
    inspect.Parameter("vendor", inspect.Parameter.KEYWORD_ONLY,
                      annotation=Annotated[str, typer.Argument(help=NORMALIZE_VENDOR_HELP)]),
    *map(_typer_parameter, NORMALIZE_OPTIONS),
])
toolkit.command(help="Print the stream a live run would have printed for recorded vendor output (CONTRACT §13).")(
    normalize)


def doctor(**given: bool) -> None:
    from shims.run.preflight import doctor as run_doctor

    raise typer.Exit(run_doctor(given["json"], modes=given["modes"]))


doctor.__signature__ = inspect.Signature(list(map(_typer_parameter, DOCTOR_OPTIONS)))
toolkit.command(help=DOCTOR_HELP)(doctor)


def mcp(**given: Any) -> None:
    from shims.mcp.arguments import Limits
    from shims.mcp.server import main as serve
    from shims.run.vendors import NAMES

    providers = tuple(p.strip() for p in given.pop("providers").split(",") if p.strip())
    unknown = [p for p in providers if p not in NAMES]
    if unknown or not providers:
        typer.echo(f"shims mcp: --providers: unknown provider {', '.join(unknown) or '(none given)'}; "
                   f"known: {', '.join(NAMES)}", err=True)
        raise typer.Exit(2)
    serve(Limits(providers=providers, **given))


mcp.__signature__ = inspect.Signature(list(map(_typer_parameter, MCP_OPTIONS)))
toolkit.command(help=MCP_HELP)(mcp)


def _journal_root(root: Path | None) -> Path:
    from shims.run.config import ConfigError, load_journal_settings

    if root is not None:
        return root.expanduser()
    try:
        return Path(load_journal_settings().root)
    except ConfigError as exc:
        typer.echo(f"shims: {exc}", err=True)
        raise typer.Exit(2) from None


def _find_run(root: Path, ref: str) -> Path:
    from shims.state.journal.store import RunNotFound, resolve

    try:
        return Path(resolve(root, ref))
    except RunNotFound as exc:
        typer.echo(f"shims: {exc}", err=True)
        raise typer.Exit(2) from None


_ROOT_HELP = "Journal root (default: [journal] root in the config, else $XDG_STATE_HOME/codex-shims/runs)."


@toolkit.command(help="Normalize a journaled run's vendor output again with the current code and compare with the "
                      "events it printed. RUN: an id, a unique part of one, a folder, or `last`.")
def replay(
    run: Annotated[str, typer.Argument(help="A run id (or unique prefix/suffix), a run folder, or `last`.")],
    check: Annotated[bool, typer.Option("--check", help="Exit 1 when the replay differs from the recorded events, "
                                                           "or when the run cannot be replayed (its vendor never "
                                                           "ran).")] = False,
    root: Annotated[Path | None, typer.Option("--root", help=_ROOT_HELP)] = None,
) -> None:
    from shims.run.replay import replay_run

    outcome = replay_run(_find_run(_journal_root(root), run))
    if not outcome.replayable:  # nothing to compare: --check cannot vouch for the run
        typer.echo(f"{outcome.run.name}: {outcome.note}")
        raise typer.Exit(1 if check else 0)
    suffix = f" ({outcome.note})" if outcome.note else ""
    if outcome.identical:
        typer.echo(f"{outcome.run.name}: identical, {len(outcome.recorded)} events{suffix}")
        raise typer.Exit(0)
    typer.echo(f"{outcome.run.name}: the replay differs from the recorded events{suffix}")
    from normalize.emit import visible

    for line in outcome.diff():  # event lines: JSON leaves C1 controls and DEL raw in vendor text
        typer.echo(visible(line, keep=""))
    raise typer.Exit(1 if check else 0)


runs_app = typer.Typer(**_APP, help="List journaled runs, newest last; `shims runs show RUN` prints one.")
toolkit.add_typer(runs_app, name="runs")


@runs_app.callback(invoke_without_command=True)
def runs(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", "-n", help="Show the newest N runs (0 = all).", min=0)] = 20,
    json_out: Annotated[bool, typer.Option("--json", help="A JSON list instead of a table.")] = False,
    root: Annotated[Path | None, typer.Option("--root", help=_ROOT_HELP)] = None,
) -> None:
    if ctx.invoked_subcommand is not None:
        ctx.obj = root
        return
    import orjson

    from shims.state.journal.report import run_row, runs_table
    from shims.state.journal.store import load, run_dirs

    where = _journal_root(root)
    paths = run_dirs(where)
    rows = [run_row(load(p)) for p in (paths[-limit:] if limit else paths)]
    if json_out:
        typer.echo(orjson.dumps(rows).decode())
    elif rows:
        typer.echo(runs_table(rows))
    else:
        typer.echo(f"No runs recorded under {where}.", err=True)


@runs_app.command("show", help="Print one run as the pretty view's plain lines, with how it was launched.")
def runs_show(
    ctx: typer.Context,
    run: Annotated[str, typer.Argument(help="A run id (or unique prefix/suffix), a run folder, or `last`.")],
    root: Annotated[Path | None, typer.Option("--root", help=_ROOT_HELP)] = None,
) -> None:
    from shims.state.journal.show import show_run
    from shims.views.plain import PlainView

    path = _find_run(_journal_root(root or ctx.obj), run)
    show_run(path, lambda out: PlainView(out, clock=None))  # a replay: its clock would time nothing


@toolkit.command(help="A live table of the workers running now and those that ended in the last --linger "
                      "seconds, from the journal: provider, model, mode, elapsed, tokens, cost, status and what "
                      "each is doing (the command it runs, the MCP tool it calls, or writing its answer; once "
                      "ended, its answer or error). q quits. Off a terminal (or with --once) the table is "
                      "printed once.")
def top(
    root: Annotated[Path | None, typer.Option("--root", help=_ROOT_HELP)] = None,
    linger: Annotated[float, typer.Option("--linger", help="Keep an ended run on the table this many seconds.",
                                          min=0)] = 60.0,
    interval: Annotated[float, typer.Option("--interval", help="Seconds between updates.", min=0.05)] = 1.0,
    once: Annotated[bool, typer.Option("--once", help="Print the table once and exit, even on a terminal.")] = False,
) -> None:
    from shims.cli.top import run_top

    raise typer.Exit(run_top(str(_journal_root(root)), interval_s=interval, linger_s=linger, once=once))


state_app = typer.Typer(**_APP, no_args_is_help=True,
                        help="The state store (usage ledger and quota memory): state.sqlite3 in the state folder, "
                             "or the database of [state] url / CODEX_SHIMS_STATE_URL.")
toolkit.add_typer(state_app, name="state")


def _open_state(command: str) -> Any:
    """The store the config file names, or exit 1 saying why (exit 2: an unusable config file)."""
    from shims.run.config import ConfigError, load_state_settings
    from shims.state.store.base import StateError, open_store

    try:
        settings = load_state_settings()
    except ConfigError as exc:
        typer.echo(f"shims state {command}: {exc}", err=True)
        raise typer.Exit(2) from None
    try:
        return open_store(settings)
    except StateError as exc:
        typer.echo(f"shims state {command}: {exc}", err=True)
        raise typer.Exit(1) from None


@state_app.command("migrate", help="Bring the store's schema up to this version (SQLite: and import an old "
                                   "ledger.ndjson and quota.json once), and print what was done; exit 1 when the "
                                   "store cannot be reached. Every run does this by itself "
                                   "when needed; this is for doing it at a time of your choosing.")
def state_migrate() -> None:
    from normalize.emit import visible
    from shims.state.store.schema import SCHEMA_VERSION

    store = _open_state("migrate")
    try:
        facts = store.check()
    finally:
        store.close()
    if facts.get("schema_version") != SCHEMA_VERSION:  # not reached, or refused: nothing was migrated
        problem = facts.get("problem") or f"schema version {facts.get('schema_version')}, expected {SCHEMA_VERSION}"
        typer.echo(visible(f"shims state migrate: {store.where}: {problem}", keep="\t"), err=True)
        raise typer.Exit(1)
    for line in facts.get("applied") or [f"nothing to do: schema version {facts.get('schema_version')}"]:
        typer.echo(visible(f"{store.where}: {line}", keep="\t"))


@state_app.command("check", help="Check the store: schema version, integrity, row counts (PostgreSQL: "
                                 "connectivity and the outbox). Exit status 1 when something is wrong.")
def state_check(
    json_out: Annotated[bool, typer.Option("--json", help="One JSON object instead of lines.")] = False,
) -> None:
    import orjson

    from normalize.emit import visible

    store = _open_state("check")
    try:
        facts = store.check()
    finally:
        store.close()
    if json_out:
        typer.echo(orjson.dumps(facts).decode())
    else:
        for key, value in facts.items():
            if key == "applied":  # what `shims state migrate` says; in --json for programs
                continue
            shown = {True: "yes", False: "no"}.get(value, value) if isinstance(value, bool) else value
            typer.echo(visible(f"{key}: {shown}", keep="\t"))  # a path, a driver's message: never raw
    if not facts.get("ok"):
        raise typer.Exit(1)


@toolkit.command(help="Tokens and cost from the usage ledger, by provider, model and day (or --by ...). "
                       "Input is uncached prompt tokens; cache reads and writes have their own columns; output "
                       "includes reasoning. Costs marked ~ are estimated from a price table, * leave out runs of "
                       "unknown cost. Times are UTC.")
def usage(
    by: Annotated[str, typer.Option("--by", help="Group by a comma list of provider, model, day, week (ISO, "
                                    "2026-W48), month (2026-11), role, account, session.")] = "provider,model,day",
    since: Annotated[str | None, typer.Option("--since", help="Only runs at or after 7d, 12h, 30m ago or a UTC "
                                              "date (2026-11-01, from its start).")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Only runs before 7d, 12h, 30m ago or up to a UTC "
                                              "date (2026-11-30 includes that whole day).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="A JSON list of the rows instead of a table.")] = False,
    csv_out: Annotated[bool, typer.Option("--csv", help="CSV rows with a header instead of a table.")] = False,
) -> None:
    from datetime import UTC, datetime

    import orjson

    from normalize.emit import visible
    from shims.run.config import ConfigError, load_state_settings
    from shims.state.store.base import StateError, open_store
    from shims.state.usage_report import BadFilter, parse_group, parse_window, usage_report, window_query
    from shims.views.terminal import UNBOUNDED_WIDTH, console, show
    from shims.views.usage import usage_csv, usage_view

    try:
        if json_out and csv_out:
            raise BadFilter("--json and --csv are two different outputs; pass one of them")
        keys = parse_group(by)
        window = parse_window(since, until, now=datetime.now(UTC))
        settings = load_state_settings()
    except (BadFilter, ConfigError) as exc:
        typer.echo(f"shims usage: {exc}", err=True)
        raise typer.Exit(2) from None
    try:
        store = open_store(settings)
        try:
            report = usage_report(store.runs(window_query(window)), keys, window)
            note = store.note  # e.g. the shared database down: only this machine's rows are here
        finally:
            store.close()
    except StateError as exc:
        typer.echo(f"shims usage: {exc}", err=True)
        raise typer.Exit(1) from None
    if note:
        typer.echo(visible(f"shims usage: {note}", keep=""), err=True)
    if json_out:
        typer.echo(orjson.dumps(report.rows).decode())
    elif csv_out:
        sys.stdout.write(usage_csv(report, keys))
    elif report.rows:
        # Off a terminal rich would lay out 80 columns; a file or a pipe is grepped, so it gets
        # every column with exact numbers and every cell whole, however wide that is.
        width = console(sys.stdout).width if sys.stdout.isatty() else UNBOUNDED_WIDTH
        show(usage_view(report, keys, width), sys.stdout, width=width)
    else:
        typer.echo("No usage recorded" + (" in that time." if since or until else "."), err=True)
    if note:
        raise typer.Exit(1)  # what was shown is not the whole ledger


config_app = typer.Typer(**_APP, no_args_is_help=True,
                         help="The config file: what applies to each shim, and where it came from.")
toolkit.add_typer(config_app, name="config")


class ConfigVendor(str, Enum):
    claude = "claude"
    gemini = "gemini"
    agy = "agy"


@config_app.command("show", help="Every setting that applies (flag defaults, vendor args and env, prices, journal, state store) "
                                 "with its source: built-in, a table of the config file, or the environment. "
                                 "Secret-looking env values are shown as ***.")
def config_show(
    vendor: Annotated[ConfigVendor | None, typer.Option("--vendor", help="Only this vendor (default: all, plus [defaults]).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="A JSON list of {key, value, source} instead of a table.")] = False,
) -> None:
    import orjson

    from shims.run.config import ConfigError
    from shims.run.config_show import effective_config

    try:
        rows = effective_config(vendor.value if vendor else None)
    except ConfigError as exc:
        typer.echo(f"shims config: {exc}", err=True)
        raise typer.Exit(2) from None
    if json_out:
        typer.echo(orjson.dumps([{"key": r.key, "value": r.value, "source": r.source} for r in rows]).decode())
        return
    # Strings bare so paths read naturally; anything else as JSON so null, [] and true are unambiguous.
    from normalize.emit import visible

    table = [(r.key, visible(r.value if isinstance(r.value, str) else orjson.dumps(r.value).decode(), keep=""), r.source)
             for r in rows]
    key_w, value_w = (max(len(row[i]) for row in [("key", "value", ""), *table]) for i in (0, 1))
    for key, value, source in [("key", "value", "source"), *table]:
        typer.echo(f"{key:<{key_w}}  {value:<{value_w}}  {source}")


def _main(app: typer.Typer, name: str) -> None:
    app(prog_name=name)


_answered = False  # set once a run has written its own stream


def shim_command_line(vendor: str) -> None:
    """`shim-<vendor>` through typer (shims.cli.entry takes the common run path itself). A shim
    whose flags cannot be used still answers with a protocol stream (bad_request) naming the
    flag, so a host reading stdout learns why, not just an exit status: protocol 1 (one
    `{status, final_message}` object, exit 0) when `--emit codex-lab-v1` is on the command line
    or stdin holds a protocol-1 request (read for that, since the run never will), else NDJSON."""
    try:
        from typer._click.exceptions import ClickException  # typer >= 0.2x carries its own copy of click
    except ImportError:  # older typer runs on click itself
        from click.exceptions import ClickException

    argv = sys.argv[1:]
    try:
        code = make_shim_app(vendor)(args=argv, prog_name=f"shim-{vendor}", standalone_mode=False)
    except ClickException as exc:
        import io

        redactor = _redactor()  # the message may quote a flag value: a secret given as one is masked
        shown = io.StringIO()
        exc.show(file=shown)
        sys.stderr.write(redactor.redact_text(shown.getvalue()))
        if exc.exit_code == 2 and not _answered:
            _answer_bad_command_line(vendor, argv, redactor.redact_text(exc.format_message()))
        sys.exit(exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)


def _redactor():
    """The run's masking (shims.run.config.secrets_redactor), with the config's redact_env names
    when the config can be read."""
    from shims.run.config import ConfigError, load_journal_settings, secrets_redactor

    try:
        names = load_journal_settings().redact_env
    except ConfigError:
        names = ()
    return secrets_redactor(names)


def _answer_bad_command_line(vendor: str, argv: list[str], problem: str) -> None:
    """Protocol 1 exits 0 once its object is written (CONTRACT §7); the NDJSON answer keeps
    exit 2, and a person at a terminal gets the usage error alone."""
    import uuid

    from normalize.assembler import fail_before_launch
    from normalize.emit import make_emitter

    message = f"The command line could not be used: {problem.rstrip('.')}."
    if _wants_protocol_1(argv):
        emitter = make_emitter("codex-lab-v1")
    elif sys.stdout.isatty():
        return
    else:
        emitter = make_emitter("ndjson")
    result, code = fail_before_launch(emitter, provider=vendor, thread_id=str(uuid.uuid4()), kind="bad_request",
                                      message=message)
    if emitter.close(result, code) == 0:
        sys.stdout.flush()
        sys.exit(0)


# A host writes its request as soon as the shim starts; one that leaves stdin open without
# writing (a prompt on the command line) must not make a refusal hang.
_STDIN_WAIT_S = 5.0


def _read_stdin_briefly() -> bytes:
    """What stdin holds within _STDIN_WAIT_S. The cancel signals are still blocked here
    (shims/__init__.py): one that comes ends the wait (read from a signalfd; without one the
    wait runs out), and the refusal is answered at once rather than the shim dying unanswered."""
    import os
    import select
    import time

    from shims.runtime.signals import open_signalfd

    if os.isatty(0):
        return b""
    signals = open_signalfd()
    watched = [0] if signals is None else [0, signals]
    chunks: list[bytes] = []
    try:
        deadline = time.monotonic() + _STDIN_WAIT_S
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select(watched, [], [], left)
            if not ready or signals in ready:
                break
            chunk = os.read(0, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    except (OSError, ValueError):
        return b""
    finally:
        if signals is not None:
            os.close(signals)
    return b"".join(chunks)


def _wants_protocol_1(argv: list[str]) -> bool:
    """`--emit codex-lab-v1` (or `--emit=codex-lab-v1`) anywhere before `--`, or a protocol-1
    request on stdin (a cut-short one included: normalize.request says which it is)."""
    words = argv[: argv.index("--")] if "--" in argv else argv
    for i, word in enumerate(words):
        if word == "--emit=codex-lab-v1" or (word == "--emit" and words[i + 1:i + 2] == ["codex-lab-v1"]):
            return True
    from normalize.request import BadRequest, parse_request

    stdin = _read_stdin_briefly()
    if not stdin:
        return False
    try:
        return parse_request(stdin).protocol_version == 1
    except BadRequest as exc:
        return exc.protocol_version == 1


def toolkit_main() -> None:
    _main(toolkit, "shims")


if __name__ == "__main__":  # pragma: no cover
    toolkit_main()
    sys.exit(0)
