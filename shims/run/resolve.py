"""The run's request: read from stdin, then resolved against the flags and the config file
(CONTRACT §1, §2): flags win over the request, the request over the config file."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from normalize.failures import FailureKind
from normalize.request import BadRequest, RunSpec
from shims.run.options import TEXT_OPTIONS, ShimOptions
from shims.run.outcome import Refusal
from shims.run.spend import checked_cap


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
    except (OSError, ValueError, AttributeError):  # AttributeError: started with stdin closed
        return b""


def choose_emit(flag: str, protocol_version: int | None) -> str:
    if flag != "auto":
        return flag
    if protocol_version == 1:
        return "codex-lab-v1"
    if protocol_version is None and os.isatty(1):
        return "pretty"
    return "ndjson"


def emitter_for(name: str) -> Any:
    """The emitter `--emit NAME` names (normalize.emit.make_emitter). The person-facing views
    (rich and all) are imported only when that is the one asked for: a host's NDJSON run does
    not pay ~16 ms for them."""
    from normalize.emit import make_emitter

    def pretty() -> Any:
        from shims.views.pretty import pretty_view

        return pretty_view()

    return make_emitter(name, pretty=pretty)


def undecodable_flag(opts: ShimOptions) -> BadRequest | None:
    """A command-line value that is not UTF-8 (Python holds its bytes as lone surrogates): it
    could not be journaled or handed on as text. Refused, naming the flag; the value is made
    printable so the refusal itself can be recorded."""
    from normalize.request import check_text

    for name in TEXT_OPTIONS:
        value = getattr(opts, name)
        if not isinstance(value, str):
            continue
        try:
            check_text("The prompt" if name == "prompt" else "--" + name.replace("_", "-"), value)
        except BadRequest as exc:
            setattr(opts, name, os.fsencode(value).decode("utf-8", "replace").replace("\x00", "\ufffd"))
            return exc
    return None


def resolve_spec(spec: RunSpec, opts: ShimOptions, defaults: dict[str, Any], vendor: str,
                 last_session: Callable[[str, str], str | None] | None) -> RunSpec:
    """The request as this run will do it, or the Refusal of the first value that cannot be.
    `spec` is filled in as it goes (what a refusal's ledger entry reports, e.g. a --cwd already
    taken); `last_session(provider, cwd)` answers `--resume last` (None: no state folder)."""
    from normalize.request import check_argv_value, folder_problem

    spec.mode = opts.mode or spec.mode or defaults.get("mode")
    spec.model = opts.model or spec.model or defaults.get("model")
    if opts.cwd:
        cwd = os.path.abspath(opts.cwd)
        problem = folder_problem(cwd)
        if problem:
            raise Refusal(FailureKind.BAD_REQUEST, f"--cwd {problem}: {cwd}")
        spec.cwd = cwd
    if opts.timeout:
        spec.timeout_s = opts.timeout if spec.timeout_s is None else min(opts.timeout, spec.timeout_s)
    if opts.resume:
        spec.resume_session = opts.resume
    # Whatever set them (flag, request, config file), these reach the vendor's argv.
    try:
        requested = spec.request or {}
        check_argv_value("--model" if opts.model else "The request's `model`" if requested.get("model")
                         else "The config file's `model`", spec.model)
        check_argv_value("--resume" if opts.resume else "The request's `resume.session_id`", spec.resume_session)
    except BadRequest as exc:
        raise Refusal(FailureKind.BAD_REQUEST, exc.message) from None
    if opts.worktree is not None:
        spec.worktree = opts.worktree  # --no-worktree also overrides a request's `worktree: true`
    elif "worktree" not in (spec.request or {}) and defaults.get("worktree") is not None:
        spec.worktree = bool(defaults["worktree"])
    spec.max_cost_usd = checked_cap(opts.max_cost_usd)
    if spec.resume_session == "last":
        found = last_session(vendor, spec.cwd) if last_session else None
        if not found:
            raise Refusal(FailureKind.BAD_REQUEST,
                          f"--resume last: no earlier {vendor} session was recorded in {spec.cwd}.")
        try:  # a session id a vendor reported: checked like one given on the command line
            check_argv_value(f"--resume last: the session {vendor} reported in {spec.cwd}", found)
        except BadRequest as exc:
            raise Refusal(FailureKind.BAD_REQUEST, exc.message) from None
        spec.resume_session = found
    return spec
