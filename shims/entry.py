"""Entry points of the programs. The shim programs' hot path parses argv here, by hand, for the
flags a host passes on every run: typer (with the pydantic it imports) costs ~60 ms of start-up,
more than the whole budget of a worker's start (`make bench`). Anything this parser does not
take for certain — --help, --version, --preflight, an unknown flag, a bad value, a value that
looks like a flag — goes to the typer command line (shims.cli), which has the help texts and the
error messages. tests/test_entry.py keeps the two in step.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: importing typing costs start-up time
    from typing import Any

_CHOICES = {
    "--mode": ("read-only", "write", "full"),
    "--emit": ("auto", "ndjson", "codex-lab-v1", "pretty"),
    "--pty": ("auto", "always", "never"),
}
# flag -> (ShimOptions field, kind, minimum)
VALUE_FLAGS: dict[str, tuple[str, str, float | None]] = {
    "--prompt": ("prompt", "str", None),
    "--mode": ("mode", "choice", None),
    "--model": ("model", "str", None),
    "--cwd": ("cwd", "str", None),
    "--emit": ("emit", "choice", None),
    "--timeout": ("timeout", "float", 0.001),
    "--idle-timeout": ("idle_timeout", "float", 0.0),
    "--cancel-grace": ("cancel_grace", "float", 0.0),
    "--resume": ("resume", "str", None),
    "--fallback": ("fallback", "str", None),
    "--max-cost-usd": ("max_cost_usd", "float", None),
    "--vendor-bin": ("vendor_bin", "str", None),
    "--pty": ("pty", "choice", None),
    "--journal": ("journal", "str", None),
}
SWITCH_FLAGS: dict[str, tuple[str, bool]] = {
    "--worktree": ("worktree", True),
    "--no-worktree": ("worktree", False),
    "--no-journal": ("no_journal", True),
    "--ignore-quota-state": ("ignore_quota_state", True),
}
# Left to typer on purpose: they print or check something rather than run.
TYPER_ONLY = ("--help", "--version", "--preflight")


def parse_run_args(argv: list[str]) -> dict[str, Any] | None:
    """ShimOptions fields for a run, or None when typer must parse this command line."""
    scanned = _scan(argv, SWITCH_FLAGS,
                    lambda name, raw: (VALUE_FLAGS[name][0], _value(name, *VALUE_FLAGS[name][1:], raw))
                    if name in VALUE_FLAGS else None)
    if scanned is None:
        return None
    out, positional = scanned
    if len(positional) > 1 or (positional and "prompt" in out):
        return None
    if positional:
        out["prompt"] = positional[0]
    return out


def _scan(argv: list[str], switches: dict[str, tuple[str, Any]],
          take: Callable[[str, str], tuple[str, Any] | None]) -> tuple[dict[str, Any], list[str]] | None:
    """(fields, positional arguments) of a command line, as click reads it: `--flag value`,
    `--flag=value`, switches, `--` ending the flags. `take(flag, text)` gives (field, value),
    None for a flag it does not know; a value of None is a text it does not take. None when
    anything is not certain: typer must parse it (and explain)."""
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
        if eq:
            raw = inline
        else:
            if i >= len(argv) or argv[i].startswith("--"):
                return None
            raw = argv[i]
            i += 1
        taken = take(name, raw)
        if taken is None or taken[1] is None:
            return None
        out[taken[0]] = taken[1]
    return out, positional


def _value(name: str, kind: str, minimum: float | None, raw: str) -> Any:
    if kind == "str":
        return raw
    if kind == "choice":
        return raw if raw in _CHOICES[name] else None
    number = _number(raw, float)
    if number is None or number != number or (minimum is not None and number < minimum):  # NaN, or too small
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
    fields = parse_run_args(sys.argv[1:])
    if fields is None:
        # The cancel signals stay blocked through typer's parsing: a bad command line is still
        # answered under a host's SIGTERM (shims.cli). --version and --preflight unblock them.
        from shims.cli import shim_command_line

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


# `shims normalize`: flag -> (normalize_recording argument, kind). Same rule as the shims: a
# command line this does not take for certain goes to typer (help, errors, other commands).
NORMALIZE_FLAGS: dict[str, tuple[str, str]] = {
    "--stdout": ("stdout_path", "file"),
    "--stderr": ("stderr_path", "file"),
    "--exit-code": ("exit_code", "int"),
    "--signal": ("cancelled", "signal"),
    "--format": ("fmt", "format"),
    "--emit": ("emit", "emit"),
    "--max-final-message-bytes": ("max_final_message_bytes", "count"),
    "--ended-at": ("ended_at", "float"),
    "--max-line-bytes": ("max_line_bytes", "count"),
}
NORMALIZE_SWITCHES = {"--resumed": "resumed"}
_NORMALIZE_CHOICES = {
    "signal": {"INT": "SIGINT", "TERM": "SIGTERM"},
    "format": {v: v for v in ("stream-json", "json", "text")},
    "emit": {v: v for v in ("ndjson", "codex-lab-v1", "pretty")},
}


def parse_normalize_args(argv: list[str]) -> dict[str, Any] | None:
    """normalize_recording's arguments for `shims normalize ARGV`, or None for typer."""
    scanned = _scan(argv, {k: (v, True) for k, v in NORMALIZE_SWITCHES.items()},
                    lambda name, raw: (NORMALIZE_FLAGS[name][0], _normalize_value(NORMALIZE_FLAGS[name][1], raw))
                    if name in NORMALIZE_FLAGS else None)
    if scanned is None:
        return None
    fields, positional = scanned
    if len(positional) != 1 or "stdout_path" not in fields:
        return None
    return {"stderr_path": None, "exit_code": None, "cancelled": None, "fmt": "stream-json", "emit": "ndjson",
            "max_final_message_bytes": 8192, "ended_at": None, "resumed": False, "max_line_bytes": None, **fields,
            "vendor": positional[0]}


def _normalize_value(kind: str, raw: str) -> Any:
    import os

    if kind == "file":  # typer's exists=True, dir_okay=False
        return raw if os.path.exists(raw) and not os.path.isdir(raw) else None
    if kind in _NORMALIZE_CHOICES:
        return _NORMALIZE_CHOICES[kind].get(raw)
    number = _number(raw, float if kind == "float" else int)
    return None if number is None or (kind == "count" and number < 1) else number


def _normalize_main(fields: dict[str, Any]) -> int:
    from shims.recording import normalize_recording

    try:
        code = normalize_recording(fields.pop("vendor"), fields.pop("stdout_path"), fields.pop("stderr_path"), **fields)
    except (KeyError, ValueError) as exc:
        sys.stderr.write(f"shims normalize: {exc.args[0] if exc.args else exc}\n")
        return 2
    return code if fields["emit"] == "ndjson" else 0


def toolkit_main() -> None:
    if sys.argv[1:2] == ["normalize"]:
        # typer and pydantic are ~100 ms of start-up: a third of normalizing 100 MB
        fields = parse_normalize_args(sys.argv[2:])
        if fields is not None:
            _leave(_normalize_main(fields))
    from shims.cli import toolkit_main as main

    main()
