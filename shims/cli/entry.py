"""Entry points of the programs. The hot paths parse argv here with a small scanner generated
from the option table (shims.run.options) rather than with typer: typer, with the pydantic it
validates through, is ~50 ms of imports, and parsing a run's command line with it made a
trivial `shim-fake` run ~75 ms slower (median wall time, 20 interleaved runs) and 14 MiB
bigger. The scanner reads a run's options, `--preflight` with the two options it uses (a host
asks before every worker), `shims doctor` and `shims normalize`. Anything it does not take for
certain — --help or -h, --version, an unknown flag, a bad value, a value that looks like a flag —
goes to the typer command line (shims.cli.commands), built from the same table, which has the
help texts and the error messages. tests/test_entry.py checks that both read a command line
the same way.
"""

from __future__ import annotations

import sys
from typing import Any

from shims.run.options import DOCTOR_OPTIONS, NORMALIZE_OPTIONS, RUN_OPTIONS, Option


def _flags(options: tuple[Option, ...]) -> tuple[dict[str, Option], dict[str, tuple[str, bool]]]:
    """The scanner's tables: value flags -> option, switches -> (option name, value)."""
    values = {o.flag: o for o in options if o.kind != "switch"}
    switches = {o.flag: (o.name, True) for o in options if o.kind == "switch"}
    switches.update({o.negative_flag: (o.name, False) for o in options if o.negative_flag})
    return values, switches


VALUE_FLAGS, SWITCH_FLAGS = _flags(RUN_OPTIONS)
NORMALIZE_FLAGS, NORMALIZE_SWITCHES = _flags(NORMALIZE_OPTIONS)
DOCTOR_FLAGS, DOCTOR_SWITCHES = _flags(DOCTOR_OPTIONS)


def parse_run_args(argv: list[str]) -> dict[str, Any] | None:
    """ShimOptions fields for a run, or None when typer must parse this command line."""
    scanned = _scan(argv, VALUE_FLAGS, SWITCH_FLAGS)
    if scanned is None:
        return None
    out, positional = scanned
    if len(positional) > 1 or (positional and "prompt" in out):
        return None
    if positional:
        out["prompt"] = positional[0]
    return out


# What `--preflight` reads besides itself; with anything else the typer command line decides.
_PREFLIGHT_READS = frozenset({"vendor_bin", "ignore_quota_state"})


def parse_preflight_args(argv: list[str]) -> dict[str, Any] | None:
    """preflight_command's arguments for `--preflight [--vendor-bin B] [--ignore-quota-state]`,
    or None. Through typer the same check costs ~140 ms more (typer loads pydantic): a host
    asks before every worker it starts (CONTRACT §8, "well under a second")."""
    scanned = _scan(argv, VALUE_FLAGS, {**SWITCH_FLAGS, "--preflight": ("preflight", True)})
    if scanned is None:
        return None
    out, positional = scanned
    if positional or out.pop("preflight", None) is not True or not _PREFLIGHT_READS.issuperset(out):
        return None
    return out


def _scan(argv: list[str], values: dict[str, Option],
          switches: dict[str, tuple[str, bool]]) -> tuple[dict[str, Any], list[str]] | None:
    """({option name: value}, positional arguments) of a command line, as click reads it:
    `--flag value`, `--flag=value`, switches, `--` ending the flags. None when anything is not
    certain (a flag it does not know, a value it does not take): typer must parse it (and
    explain)."""
    out: dict[str, Any] = {}
    positional: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            positional += argv[i:]
            break
        if not arg.startswith("-") or arg == "-":
            positional.append(arg)
            continue
        name, eq, inline = arg.partition("=")
        if name in switches and not eq:
            field, value = switches[name]
            out[field] = value
            continue
        if name not in values:
            return None
        if eq:
            raw = inline
        else:
            if i >= len(argv) or argv[i].startswith("--"):
                return None
            raw = argv[i]
            i += 1
        value = _value(values[name], raw)
        if value is None:
            return None
        out[values[name].name] = value
    return out, positional


def _value(option: Option, raw: str) -> Any:
    """The value of `option` in `raw` as the typer command line reads it, or None."""
    if option.kind == "text":
        return raw
    if option.kind == "path":  # as typer hands it on: a Path, written back as text ("" is ".")
        from pathlib import PurePath

        return str(PurePath(raw))
    if option.kind == "file":  # typer's exists=True, dir_okay=False
        import os

        return raw if os.path.exists(raw) and not os.path.isdir(raw) else None
    if option.kind == "choice":
        return raw if raw in option.choices else None
    number = _number(raw, int if option.kind == "integer" else float)
    if number is None or number != number:  # NaN
        return None
    low = None if option.bound_checked_by_run else option.minimum
    if low is not None and (number < low or (option.exclusive and number == low)):
        return None
    return number


def _number(raw: str, kind: type) -> Any:
    """What click makes of the text as `kind` (int or float), or None. ASCII only: int() and
    float() also take other scripts' digits, click does not."""
    if not raw.isascii():
        return None
    try:
        return kind(raw)
    except ValueError:
        return None


def _hold_standard_fds() -> None:
    """A host may start us with stdin, stdout or stderr closed (`>&-`). The next file we open
    would then take that number, and the stream meant for stdout would land in it (a journal
    file, the vendor's pipe): /dev/null holds the place instead."""
    import os

    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)


def _shim_main(vendor: str) -> None:
    _hold_standard_fds()
    if sys.argv[1:2] == ["exec"]:  # the `codex exec` drop-in (CONTRACT §15); `-- exec` is a prompt
        from shims.cli.codex_exec import exec_main

        _leave(exec_main(vendor, sys.argv[2:]))
    fields = parse_run_args(sys.argv[1:])
    if fields is None and (check := parse_preflight_args(sys.argv[1:])) is not None:
        from shims.run.preflight import preflight_command

        _leave(preflight_command(vendor, **check))
    if fields is None:
        # The cancel signals stay blocked through typer's parsing: a bad command line is still
        # answered under a host's SIGTERM (shims.cli.commands). --version and --preflight unblock them.
        from shims.cli.commands import shim_command_line

        shim_command_line(vendor)
        return
    from shims import run

    _leave(run.run(vendor, run.ShimOptions(**fields)))


def _leave(code: int) -> None:
    """Exit without tearing the interpreter down. The run is over: its result is written, its
    files closed, its processes ended. Freeing every module's objects one by one would add
    ~8 ms to every task a host starts (nothing is registered with atexit on this path)."""
    import os

    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:  # None: started with that fd closed
                stream.flush()
        except (OSError, ValueError):  # the host closed our stdout: nothing more can reach it
            pass
    os._exit(code)


def claude_main() -> None:
    _shim_main("claude")


def gemini_main() -> None:
    _shim_main("gemini")


def agy_main() -> None:
    _shim_main("agy")


def fake_main() -> None:
    _shim_main("fake")


def parse_normalize_args(argv: list[str]) -> dict[str, Any] | None:
    """normalize_recording's arguments for `shims normalize ARGV`, or None for typer (help,
    errors, other commands)."""
    scanned = _scan(argv, NORMALIZE_FLAGS, NORMALIZE_SWITCHES)
    if scanned is None:
        return None
    given, positional = scanned
    if len(positional) != 1 or any(o.required and o.name not in given for o in NORMALIZE_OPTIONS):
        return None
    return recording_arguments(positional[0], {**{o.name: o.default for o in NORMALIZE_OPTIONS}, **given})


def recording_arguments(vendor: str, values: dict[str, Any]) -> dict[str, Any]:
    """normalize_recording's arguments for the values of NORMALIZE_OPTIONS (either parser's)."""
    signal = values["signal"]
    return {"vendor": vendor, "stdout_path": values["stdout"], "stderr_path": values["stderr"],
            "exit_code": values["exit_code"], "cancelled": f"SIG{signal}" if signal else None,
            "fmt": values["format"], "emit": values["emit"],
            "max_final_message_bytes": values["max_final_message_bytes"], "ended_at": values["ended_at"],
            "resumed": values["resumed"], "max_line_bytes": values["max_line_bytes"],
            "cli_version": values["cli_version"]}


def normalize_main(arguments: dict[str, Any]) -> int:
    """`shims normalize` with recording_arguments: its exit status (2: unusable arguments)."""
    from shims.run.recording import normalize_recording

    arguments = dict(arguments)
    try:
        code = normalize_recording(arguments.pop("vendor"), arguments.pop("stdout_path"),
                                   arguments.pop("stderr_path"), **arguments)
    except (KeyError, ValueError) as exc:
        sys.stderr.write(f"shims normalize: {exc.args[0] if exc.args else exc}\n")
        return 2
    return code if arguments["emit"] == "ndjson" else 0


def parse_doctor_args(argv: list[str]) -> dict[str, bool] | None:
    """`shims doctor`'s switches, or None for typer (help, errors)."""
    scanned = _scan(argv, DOCTOR_FLAGS, DOCTOR_SWITCHES)
    if scanned is None or scanned[1]:
        return None
    return {**{o.name: o.default for o in DOCTOR_OPTIONS}, **scanned[0]}


def toolkit_main() -> None:
    # typer and pydantic are ~100 ms of start-up: a third of normalizing 100 MB, and most of
    # a doctor's answer (CONTRACT §8: readiness "well under a second"; `make bench`: doctor)
    if sys.argv[1:2] == ["normalize"]:
        fields = parse_normalize_args(sys.argv[2:])
        if fields is not None:
            _leave(normalize_main(fields))
    if sys.argv[1:2] == ["doctor"] and (switches := parse_doctor_args(sys.argv[2:])) is not None:
        from shims.run.preflight import doctor

        _leave(doctor(switches["json"], modes=switches["modes"]))
    from shims.cli.commands import toolkit_main as main

    main()
