"""One shim run, start to finish, as the data flows: the request, resolved against the flags
and the config file; the workspace; the chain of providers, one attempt each until one serves;
the result (shims.run.result). Each part is a module of shims.run; this is the only place
that wires them."""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any

from normalize.failures import FailureKind
from normalize.observe import new_uuid
from normalize.request import BadRequest, RunSpec, parse_request
from shims.run import chain, spend
from shims.run.attempt import RunContext, attempt
from shims.run.bookkeeping import Bookkeeping
from shims.run.changes import NOT_LOOKED, Workspace, open_workspace
from shims.run.journaling import Opened, open_journal
from shims.run.options import ShimOptions
from shims.run.outcome import Outcome, Refusal
from shims.run.output import Output
from shims.run.resolve import choose_emit, emitter_for, read_stdin, resolve_spec, undecodable_flag
from shims.run.result import finish
from shims.runtime.lines import DEFAULT_MAX_LINE_BYTES


def run(vendor: str, opts: ShimOptions, exec_call: Any = None) -> int:
    """SIGINT/SIGTERM/SIGHUP/SIGQUIT stay blocked for the whole run (shims/__init__.py blocks
    them first thing) and are taken with their sender: outside the vendor's lifetime at the
    checkpoints (`cancels.poll()`), while it runs by the runtime's loop. None can kill the shim
    before its result, and one sent by the run's own processes is not a cancel (CONTRACT §14).

    `exec_call`: the shims.cli.codex_exec.ExecCall of a `shim-<vendor> exec` run (its stream is
    Codex's; its `spec_fields()` add what `codex exec` options ask of the run)."""
    from shims.run import config
    from shims.runtime.signals import Cancels, hold
    from shims.state import folder

    hold()  # again: a library caller (tests, the toolkit) runs with them unblocked
    cancels = Cancels()
    started = time.monotonic()
    unusable = undecodable_flag(opts)  # before anything records the flags
    stdin = None if opts.prompt is not None else read_stdin()
    try:
        if exec_call is not None and exec_call.prompt_problem:  # stdin that is not text: say so, not "no prompt"
            raise BadRequest(exec_call.prompt_problem)
        spec: RunSpec | None = parse_request(stdin, argv_prompt=opts.prompt)
        bad: BadRequest | None = unusable
        for name, value in (exec_call.spec_fields() if exec_call is not None and not bad else {}).items():
            setattr(spec, name, value)
    except BadRequest as exc:
        spec, bad = None, unusable or exc
    if bad is not None and spec is not None:
        bad.protocol_version = spec.protocol_version
    state_dir, state_settings = None, None
    try:
        defaults = config.load_defaults(vendor)
        journal_settings = config.load_journal_settings()
        state_settings = config.load_state_settings()
        state_dir = folder.state_dir()
    except config.ConfigError as exc:
        defaults, bad = dict(config.BUILTIN), bad or BadRequest(str(exc))
        journal_settings = None
    opts.with_defaults(defaults)
    protocol = spec.protocol_version if spec else (bad.protocol_version if bad else None)
    if exec_call is not None:
        from normalize.exec_stream import CodexExecEmitter

        emitter: Any = CodexExecEmitter(json=exec_call.json, last_message_path=exec_call.last_message_path)
    else:
        emitter = emitter_for(choose_emit(opts.emit, protocol))
    thread_id = (spec.request_thread_id if spec else None) or new_uuid()
    opened, max_line_bytes = Opened(None), DEFAULT_MAX_LINE_BYTES
    if journal_settings is not None:
        max_line_bytes = journal_settings.max_line_bytes
        opened = open_journal(journal_settings, opts, vendor, stdin, spec.cwd if spec else os.getcwd())
    journal = opened.journal
    store, store_problem = _open_store(state_settings)
    books = Bookkeeping(store, vendor, thread_id=thread_id, spec=spec, run_id=journal.run_id if journal else None,
                        journal_path=str(journal.path) if journal else None, problem=store_problem)
    out = Output(emitter, journal, opened.problem, opened.redactor, books)
    with contextlib.closing(books):  # the store, opened once for the whole run
        return _run_request(vendor, spec, bad, opts, defaults, state_dir, books, out, thread_id, started, cancels,
                            max_line_bytes)


def _open_store(settings: Any) -> tuple[Any, str | None]:
    """The run's state store (shims.state.store); None and why, when it cannot be opened."""
    if settings is None:
        return None, None  # the config file is unusable: the run is refused, nothing to keep
    from shims.state.store.base import StateError, open_store

    try:
        return open_store(settings), None
    except Exception as exc:  # noqa: BLE001 - a store that cannot be opened never costs the run
        told = str(exc) if isinstance(exc, StateError) else f"{type(exc).__name__}: {exc}"
        return None, f"the state store could not be opened, nothing of this run is recorded: {told}"


def _run_request(vendor: str, spec: RunSpec | None, bad: BadRequest | None, opts: ShimOptions,
                 defaults: dict[str, Any], state_dir: str | None, books: Bookkeeping, out: Output, thread_id: str,
                 started: float, cancels: Any, max_line_bytes: int) -> int:
    """The request refused, or resolved and run down its chain of providers."""
    journal, emitter = out.journal, out.emitter

    def refuse(kind: str, message: str, quota: dict[str, Any] | None = None) -> int:
        return out.refuse(vendor, thread_id, kind, message, quota, int((time.monotonic() - started) * 1000))

    if bad is not None:
        return refuse(FailureKind.BAD_REQUEST, bad.message)
    assert spec is not None
    # The live view takes the answer as it is written (shims.views.live).
    spec.live_text = getattr(emitter, "live", None) is not None
    try:
        resolve_spec(spec, opts, defaults, vendor, books.last_session if books.store is not None else None)
        providers = chain.providers(vendor, opts.fallback)
        own = ((state_dir,) if state_dir else ()) + ((os.path.dirname(journal.path),) if journal else ())
        workspace = open_workspace(spec.cwd, worktree=spec.worktree, state_dir=state_dir, vendor=vendor, own=own,
                                   name=journal.run_id if journal else None)
    except Refusal as r:
        return refuse(r.kind, r.message, r.quota)
    if workspace.worktree is not None:
        spec.cwd = workspace.worktree.cwd
    ctx = RunContext(opts, spec, thread_id, started, cancels, journal, books, out.host_gone, max_line_bytes, [])
    with workspace:
        return _run_chain(ctx, out, workspace, providers)


def _run_chain(ctx: RunContext, out: Output, workspace: Workspace, providers: list[str]) -> int:
    """One attempt per provider until one serves or cannot be replaced (CONTRACT §11)."""
    spec = ctx.spec
    moved_on: list[dict[str, Any]] = []  # the result's `attempts`
    note: str | None = None
    spent = 0.0  # dollars spent by the attempts the chain moved on from
    for index, provider in enumerate(providers):
        primary, last = index == 0, index == len(providers) - 1
        cap = spend.SpendCap(spec.max_cost_usd, spent) if spec.max_cost_usd else None
        task = spec if primary else chain.fallback_spec(spec, provider, cap)
        facts = _facts(ctx, provider, task)
        pipe = out.stream(facts, note)
        record: dict[str, Any] = {"facts": facts.to_json(), "prefix": chain.journal_prefix(index, provider), "note": None}
        ctx.attempts.append(record)
        outcome = attempt(ctx, pipe, provider, task, record, primary=primary, cap=cap)
        if (r := outcome.refusal) is not None:
            record["refusal"] = [r.kind, r.message, r.quota]
            if not outcome.final and chain.may_fall_back(r.kind, last=last):
                moved_on.append({"provider": provider, "failure_kind": r.kind, "error": r.message})
                note = record["note"] = chain.switch_note(provider, r.kind, r.message, providers[index + 1])
                continue
            return finish(ctx, out, workspace, provider, outcome.exit, moved_on, spent, failure=(r.kind, r.message),
                           quota=r.quota)
        exit, kind = outcome.exit, outcome.kind
        changes: Any = NOT_LOOKED
        if chain.may_fall_back(kind, last=last, cancelled=exit.cancelled, side_effects=pipe.asm.had_side_effects,
                               spend_capped=pipe.asm.stopped_by_spend_cap(exit)):
            changes = workspace.changes()  # only a possible fallback pays for this look
            if changes is None:
                spent += _settle(ctx, pipe, outcome)
                moved_on.append({"provider": provider, "failure_kind": kind, "error": outcome.error})
                note = record["note"] = chain.switch_note(provider, kind, outcome.error or "", providers[index + 1])
                continue
        return finish(ctx, out, workspace, provider, exit, moved_on, spent, changes=changes)
    raise AssertionError("the chain always ends in finish()")  # pragma: no cover


def _facts(ctx: RunContext, provider: str, task: RunSpec) -> Any:
    """What shapes this attempt's stream besides the vendor's bytes (shims.run.pipeline.Facts)."""
    from shims.run.config import ConfigError, load_prices
    from shims.run.pipeline import Facts

    try:
        prices = load_prices(provider)
    except ConfigError:
        prices = {}  # already reported: load_defaults read the same file first
    return Facts(provider=provider, thread_id=ctx.thread_id, request_thread_id=ctx.spec.request_thread_id,
                 model=task.model, max_final_message_bytes=ctx.spec.max_final_message_bytes,
                 whole_messages=ctx.spec.whole_messages, prices=prices,
                 previous_total=ctx.books.previous_total(provider, task.resume_session),
                 max_line_bytes=ctx.max_line_bytes)


def _settle(ctx: RunContext, pipe: Any, outcome: Outcome) -> float:
    """An attempt the chain moves on from: its cost, and its ledger entry and quota failure."""
    from normalize.assembler import full_quota

    asm = pipe.asm
    quota = asm.failure_quota(outcome.exit, outcome.kind)
    ctx.books.attempt_settled(status=outcome.status, kind=outcome.kind, usage=asm.usage, session_id=asm.session_id,
                              session_total=asm.session_total, duration_ms=int((time.monotonic() - ctx.started) * 1000),
                              model=pipe.facts.model, quota=full_quota(quota) if quota else None)
    return spend.cost_of(asm.usage, pipe.facts.prices) or 0.0
