"""One shim run, start to finish: request -> vendor command -> runtime -> parser -> assembler -> emitter.

This is the only place that wires the layers together; each layer stays ignorant of the others.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Any

from normalize import observe as o
from normalize.assembler import Assembler, fail_before_launch
from normalize.emit import make_emitter
from normalize.failures import FailureKind
from normalize.request import BadRequest, RunSpec, parse_request
from shims import vendors


@dataclass(slots=True)
class ShimOptions:
    prompt: str | None = None
    mode: str | None = None
    model: str | None = None
    cwd: str | None = None
    emit: str | None = None
    timeout: float | None = None
    idle_timeout: float | None = None
    cancel_grace: float | None = None
    resume: str | None = None
    worktree: bool | None = None
    fallback: str | None = None
    max_cost_usd: float | None = None
    vendor_bin: str | None = None
    pty: str | None = None
    journal: str | None = None
    no_journal: bool = False

    def with_defaults(self, defaults: dict[str, Any]) -> ShimOptions:
        """Flags given on the command line win; the rest come from the config file or the
        built-in defaults. Mode and model are left to the request first (see _apply_flags)."""
        for name, value in defaults.items():
            if name in ("mode", "model"):
                continue
            if getattr(self, name) is None:
                setattr(self, name, value)
        return self


class _Refusal(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def read_stdin() -> bytes | None:
    """The request, read to EOF before anything starts (CONTRACT §2). None when stdin is a
    terminal: a person who gave no prompt gets an error rather than a silent wait."""
    try:
        if os.isatty(0):
            return None
    except OSError:
        return None
    try:
        return sys.stdin.buffer.read()
    except (OSError, ValueError):
        return b""


def choose_emit(flag: str, protocol_version: int | None) -> str:
    if flag != "auto":
        return flag
    if protocol_version == 1:
        return "codex-lab-v1"
    if protocol_version is None and sys.stdout.isatty():
        return "pretty"
    return "ndjson"


def resolve_program(vendor: str, vendor_bin: str | None) -> str | None:
    """The vendor CLI's path: --vendor-bin (a path or a name on PATH), else the vendor's
    program name on PATH."""
    wanted = vendor_bin or vendors.info(vendor).program
    if os.sep in wanted:
        return wanted if os.path.isfile(wanted) and os.access(wanted, os.X_OK) else None
    return shutil.which(wanted)


def vendor_version(program: str, vendor: str, timeout: float = 5.0) -> str | None:
    try:
        out = subprocess.run(
            [program, "--version"], capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = out.stdout.decode("utf-8", "replace").strip() or out.stderr.decode("utf-8", "replace").strip()
    if out.returncode != 0 or not text:
        return None
    return vendors.command_module(vendor).parse_version(text)


def run(vendor: str, opts: ShimOptions) -> int:
    from shims.config import BUILTIN, ConfigError, load_defaults

    started = time.monotonic()
    stdin = None if opts.prompt is not None else read_stdin()
    try:
        spec: RunSpec | None = parse_request(stdin, argv_prompt=opts.prompt)
        bad: BadRequest | None = None
    except BadRequest as exc:
        spec, bad = None, exc
    try:
        defaults = load_defaults(vendor)
    except ConfigError as exc:
        defaults, bad = dict(BUILTIN), bad or BadRequest(str(exc))
    opts.with_defaults(defaults)
    protocol = spec.protocol_version if spec else (bad.protocol_version if bad else None)
    emitter = make_emitter(choose_emit(opts.emit, protocol))
    thread_id = (spec.request_thread_id if spec else None) or str(uuid.uuid4())

    def refuse(kind: str, message: str) -> int:
        result, code = fail_before_launch(
            emitter,
            provider=vendor,
            thread_id=thread_id,
            kind=kind,
            message=message,
            duration_ms=int((time.monotonic() - started) * 1000),
        )
        _stderr_last(message)
        return emitter.close(result, code)

    if bad is not None:
        return refuse(FailureKind.BAD_REQUEST, bad.message)
    assert spec is not None
    try:
        _apply_flags(spec, opts, defaults)
        launch = _prepare(vendor, spec, opts)
    except _Refusal as r:
        return refuse(r.kind, r.message)
    return _run_launched(vendor, spec, opts, launch, emitter, thread_id, started)


def _apply_flags(spec: RunSpec, opts: ShimOptions, defaults: dict[str, Any]) -> None:
    """Flags win over the request, the request over the config file (CONTRACT §1, §2)."""
    for flag, value in (
        ("--worktree", opts.worktree or spec.worktree),
        ("--fallback", opts.fallback),
        ("--max-cost-usd", opts.max_cost_usd),
        ("--journal", opts.journal),
    ):
        if value:
            raise _Refusal(FailureKind.UNSUPPORTED_MODE, f"{flag} is not available yet in this version of codex-shims.")
    spec.mode = opts.mode or spec.mode or defaults.get("mode")
    spec.model = opts.model or spec.model or defaults.get("model")
    if opts.cwd:
        if not os.path.isdir(opts.cwd):
            raise _Refusal(FailureKind.BAD_REQUEST, f"--cwd does not exist: {opts.cwd}")
        spec.cwd = os.path.abspath(opts.cwd)
    if opts.timeout:
        spec.timeout_s = opts.timeout if spec.timeout_s is None else min(opts.timeout, spec.timeout_s)
    if opts.resume:
        spec.resume_session = opts.resume


def _prepare(vendor: str, spec: RunSpec, opts: ShimOptions):
    command = vendors.command_module(vendor)
    program = resolve_program(vendor, opts.vendor_bin)
    if program is None:
        wanted = opts.vendor_bin or vendors.info(vendor).program
        raise _Refusal(
            FailureKind.COMMAND_MISSING,
            f"The {vendor} CLI ({wanted}) was not found or is not executable; install it or pass --vendor-bin.",
        )
    auto_pty = getattr(command, "wants_pty", None)
    wants_pty = opts.pty == "always" or (opts.pty == "auto" and auto_pty is not None and auto_pty(spec, program))
    try:
        return command.build_launch(spec, program, pty=wants_pty)
    except ValueError as exc:  # a mode or option the vendor cannot honour
        raise _Refusal(FailureKind.UNSUPPORTED_MODE, str(exc)) from None


def _run_launched(vendor, spec, opts, launch, emitter, thread_id, started) -> int:
    from shims.config import ConfigError, load_prices
    from shims.runtime.loop import Limits, run_vendor
    from shims.runtime.spawn import LaunchError

    try:
        prices = load_prices(vendor)
    except ConfigError:
        prices = {}  # already reported: load_defaults read the same file first
    limits = Limits(timeout_s=spec.timeout_s, idle_timeout_s=opts.idle_timeout or None, cancel_grace_s=opts.cancel_grace)
    command = vendors.command_module(vendor)
    while True:
        parser = vendors.new_parser(vendor, launch.output_format, prices=prices)
        asm = Assembler(
            emitter,
            provider=vendor,
            fallback_thread_id=thread_id,
            request_thread_id=spec.request_thread_id,
            model=spec.model,
            max_final_message_bytes=spec.max_final_message_bytes,
        )
        parse_errors: list[str] = []
        stdout_bytes = 0

        def on_line(line: bytes, parser=parser, asm=asm, errors=parse_errors) -> None:
            nonlocal stdout_bytes
            stdout_bytes += len(line) + 1
            asm.feed(_safe_feed(parser, line, errors))

        try:
            exit = run_vendor(launch, limits, on_line, on_started=lambda proc, asm=asm: asm.launched())
        except LaunchError as exc:
            kind = FailureKind.COMMAND_MISSING if exc.missing else FailureKind.PROVIDER_FAILED
            result, code = asm.finish(o.ExitInfo(launched=False), failure=(kind, f"Could not start the {vendor} CLI: {exc}"))
            _stderr_last(result["error"])
            return emitter.close(result, code)
        retry = getattr(command, "should_retry_under_pty", None)
        if (opts.pty == "auto" and not launch.pty and retry is not None and not exit.cancelled and not exit.timed_out
                and retry(launch.output_format, exit.exit_code, stdout_bytes)):
            # The vendor printed nothing through a pipe (agy < 1.1.1): run it again under a
            # pseudo-terminal. Nothing was emitted yet: text output is parsed at the end.
            launch = command.build_launch(spec, launch.argv[0], pty=True)
            continue
        break
    asm.feed(parser.finish(exit))
    vendor_extra: dict[str, Any] = {"argv0": launch.argv[0]}
    if launch.pty:
        vendor_extra["pty"] = True
    if parse_errors:
        vendor_extra["parser_errors"] = parse_errors[:5]
    result, code = asm.finish(exit, duration_ms=int((time.monotonic() - started) * 1000), vendor=vendor_extra)
    if result["error"]:
        _stderr_last(result["error"])
    return emitter.close(result, code)


def _safe_feed(parser: Any, line: bytes, errors: list[str]) -> list[o.Observation]:
    """A parser bug on one line must not cost the whole run: the line counts as unparsed."""
    try:
        return parser.feed(line)
    except Exception as exc:  # noqa: BLE001 - deliberately broad, recorded in result.vendor
        errors.append(f"{type(exc).__name__}: {exc}")
        return [o.Unparsed(f"parser error {type(exc).__name__}")]


def _stderr_last(message: str) -> None:
    """Hosts keep only a tail of stderr: the line that explains a failure goes last."""
    try:
        sys.stderr.write(f"shim: {message}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
