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
from normalize.assembler import fail_before_launch
from normalize.emit import make_emitter
from normalize.failures import FailureKind
from normalize.limits import encode_line
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
    ignore_quota_state: bool = False

    def with_defaults(self, defaults: dict[str, Any]) -> ShimOptions:
        """Flags given on the command line win; the rest come from the config file or the
        built-in defaults. Mode and model are left to the request first (see _apply_flags)."""
        for name, value in defaults.items():
            if name in ("mode", "model"):
                continue
            if getattr(self, name) is None:
                setattr(self, name, value)
        return self


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
    return _Run(vendor, opts).go()


class _Run:
    """One shim run. The journal, the usage ledger and quota memory see every outcome,
    refusals included; none of them can fail the run."""

    def __init__(self, vendor: str, opts: ShimOptions) -> None:
        self.vendor = vendor
        self.opts = opts
        self.started = time.monotonic()
        self.journal = None
        self.journal_problem: str | None = None
        self.state_dir = None
        self.account = "default"
        self.spec: RunSpec | None = None
        self.emitter = None
        self.launch = None
        self.pipe = None

    # ------------------------------------------------------------------ the run

    def go(self) -> int:
        from shims import config

        opts, vendor = self.opts, self.vendor
        self.stdin = None if opts.prompt is not None else read_stdin()
        try:
            spec: RunSpec | None = parse_request(self.stdin, argv_prompt=opts.prompt)
            bad: BadRequest | None = None
        except BadRequest as exc:
            spec, bad = None, exc
        try:
            defaults = config.load_defaults(vendor)
            self.settings = config.load_vendor_settings(vendor)
            journal_settings = config.load_journal_settings()
            self.state_dir = config.state_dir()
        except config.ConfigError as exc:
            defaults, bad = dict(config.BUILTIN), bad or BadRequest(str(exc))
            self.settings, journal_settings = None, None
        opts.with_defaults(defaults)
        self.spec = spec
        protocol = spec.protocol_version if spec else (bad.protocol_version if bad else None)
        self.emitter = make_emitter(choose_emit(opts.emit, protocol))
        self.thread_id = (spec.request_thread_id if spec else None) or str(uuid.uuid4())
        if journal_settings is not None:
            self._open_journal(journal_settings)
        if bad is not None:
            return self._refuse(FailureKind.BAD_REQUEST, bad.message)
        assert spec is not None
        try:
            self._apply_flags(spec, defaults)
            self.account = account_for(vendor, {**os.environ, **self.settings.env})
            self._check_quota_memory()
            self.launch = self._prepare(spec)
        except _Refusal as r:
            return self._refuse(r.kind, r.message, r.quota)
        return self._run_launched(spec)

    def _apply_flags(self, spec: RunSpec, defaults: dict[str, Any]) -> None:
        """Flags win over the request, the request over the config file (CONTRACT §1, §2)."""
        opts = self.opts
        for flag, value in (
            ("--worktree", opts.worktree or spec.worktree),
            ("--fallback", opts.fallback),
            ("--max-cost-usd", opts.max_cost_usd),
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
        if spec.resume_session == "last":
            found = self._ledger().last_session(self.vendor, spec.cwd) if self.state_dir else None
            if not found:
                raise _Refusal(FailureKind.BAD_REQUEST,
                               f"--resume last: no earlier {self.vendor} session was recorded in {spec.cwd}.")
            spec.resume_session = found

    def _check_quota_memory(self) -> None:
        """A remembered limit still in force fails the run before anything starts (CONTRACT §8)."""
        if self.opts.ignore_quota_state or self.state_dir is None:
            return
        from shims.journal.quota import QuotaMemory

        quota = QuotaMemory(self.state_dir).active(self.vendor, self.account)
        if quota is None:
            return
        run = quota.pop("run_id", None)
        what = "quota is exhausted" if quota["state"] == "exhausted" else "rate limit is in force"
        raise _Refusal(
            FailureKind.QUOTA_OR_RATE_LIMITED,
            f"The {self.vendor} {what} until {quota['resets_at']} (remembered from run {run}); not launched. "
            "Pass --ignore-quota-state to try anyway.",
            quota,
        )

    def _prepare(self, spec: RunSpec):
        vendor, opts = self.vendor, self.opts
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
        return self._build(spec, program, wants_pty)

    def _build(self, spec: RunSpec, program: str, pty: bool):
        command = vendors.command_module(self.vendor)
        try:
            launch = command.build_launch(spec, program, pty=pty)
        except ValueError as exc:  # a mode or option the vendor cannot honour
            raise _Refusal(FailureKind.UNSUPPORTED_MODE, str(exc)) from None
        # The config file's extra arguments and environment for this vendor (shims.config).
        launch.argv = [*launch.argv, *self.settings.args]
        if self.settings.env:
            launch.env = {**launch.env, **self.settings.env}
            launch.env_names_added = [*launch.env_names_added, *self.settings.env]
        return launch

    def _run_launched(self, spec: RunSpec) -> int:
        from shims.config import ConfigError, load_prices
        from shims.pipeline import Facts, Pipeline
        from shims.runtime.loop import Limits, run_vendor
        from shims.runtime.spawn import LaunchError

        vendor, opts, launch = self.vendor, self.opts, self.launch
        try:
            prices = load_prices(vendor)
        except ConfigError:
            prices = {}  # already reported: load_defaults read the same file first
        limits = Limits(timeout_s=spec.timeout_s, idle_timeout_s=opts.idle_timeout or None, cancel_grace_s=opts.cancel_grace)
        command = vendors.command_module(vendor)
        previous = self._previous_total(spec)
        while True:
            facts = Facts(
                provider=vendor,
                format=launch.output_format,
                thread_id=self.thread_id,
                request_thread_id=spec.request_thread_id,
                model=spec.model,
                max_final_message_bytes=spec.max_final_message_bytes,
                prices=prices,
                previous_total=previous,
            )
            pipe = self.pipe = Pipeline(facts, self._sink)
            recorder = self._record_launch(launch, facts)
            try:
                exit = run_vendor(launch, limits, pipe.line, recorder=recorder, on_started=lambda proc, a=pipe.asm: a.launched())
            except LaunchError as exc:
                kind = FailureKind.COMMAND_MISSING if exc.missing else FailureKind.PROVIDER_FAILED
                result, code = pipe.asm.finish(
                    o.ExitInfo(launched=False), journal=self._journal_path(), vendor=self._journal_details(),
                    failure=(kind, f"Could not start the {vendor} CLI: {exc}"),
                )
                _stderr_last(result["error"])
                return self.emitter.close(result, code)
            finally:
                if recorder is not None:
                    recorder.close()
            retry = getattr(command, "should_retry_under_pty", None)
            if (opts.pty == "auto" and not launch.pty and retry is not None and not exit.cancelled and not exit.timed_out
                    and retry(launch.output_format, exit.exit_code, pipe.stdout_bytes)):
                # The vendor printed nothing through a pipe (agy < 1.1.1): run it again under a
                # pseudo-terminal. Nothing was emitted yet: text output is parsed at the end.
                if self.journal:
                    self.journal.set_aside("vendor", "vendor-pipe-attempt")
                launch = self.launch = self._build(spec, launch.argv[0], pty=True)
                continue
            break
        vendor_extra: dict[str, Any] = {"argv0": launch.argv[0]}
        if launch.pty:
            vendor_extra["pty"] = True
        vendor_extra.update(self._journal_details())
        duration_ms = int((time.monotonic() - self.started) * 1000)
        if self.journal:
            self.journal.update_meta(replay={"exit": _exit_json(exit), "duration_ms": duration_ms, "vendor_extra": vendor_extra})
        result, code = pipe.finish(exit, duration_ms=duration_ms, journal=self._journal_path(), vendor_extra=vendor_extra)
        if result["error"]:
            _stderr_last(result["error"])
        return self.emitter.close(result, code)

    def _refuse(self, kind: str, message: str, quota: dict[str, Any] | None = None) -> int:
        result, code = fail_before_launch(
            self._sink,
            provider=self.vendor,
            thread_id=self.thread_id,
            kind=kind,
            message=message,
            quota=quota,
            duration_ms=int((time.monotonic() - self.started) * 1000),
            journal=self._journal_path(),
            vendor=self._journal_details(),
        )
        _stderr_last(message)
        return self.emitter.close(result, code)

    # ------------------------------------------------------------------ journal, ledger, quota

    def _open_journal(self, settings) -> None:
        if self.opts.no_journal or not settings.enabled:
            return
        from pathlib import Path

        from shims.journal.redact import Redactor
        from shims.journal.run import RunJournal
        from shims.journal.store import new_run_id, prune

        root = Path(self.opts.journal).expanduser() if self.opts.journal else Path(settings.root)
        self.redact_env = list(settings.redact_env)
        try:
            prune(root, settings.keep_runs, settings.keep_bytes)
            redactor = Redactor.from_env(os.environ, settings.redact_env)
            self.journal = RunJournal.create(root, new_run_id(self.vendor), redactor)
            self.journal.write_request(self.stdin, self.opts.prompt)
            self.journal.update_meta(
                run_id=self.journal.run_id, journal_path=str(self.journal.path), provider=self.vendor, started_at=_iso(time.time()), pid=os.getpid(),
                host=os.uname().nodename, status="running", cwd=self.spec.cwd if self.spec else os.getcwd(),
                redacted_env=redactor.names,
            )
        except OSError as exc:
            self.journal = None
            self.journal_problem = f"The run is not journaled: {exc.strerror or exc} ({root})."
            _stderr_last(self.journal_problem)

    def _record_launch(self, launch, facts):
        if not self.journal:
            return None
        spec = self.spec
        self.journal.update_meta(
            argv=launch.argv, env_names=sorted(launch.env), env_added=sorted(set(launch.env_names_added)),
            cwd=launch.cwd, pty=launch.pty, mode=spec.mode, model=spec.model, resume=spec.resume_session,
            account=self.account, facts=facts.to_json(),
        )
        return self.journal.vendor_recorder()

    def _journal_path(self) -> str | None:
        return str(self.journal.path) if self.journal else None

    def _journal_details(self) -> dict[str, Any]:
        if self.journal_problem:
            return {"journal_error": self.journal_problem}
        return {}

    def _sink(self, event: dict[str, Any], line: bytes) -> None:
        """Every event goes to the journal, then out. The result is journaled, and the ledger
        and quota memory updated, *before* it is written: a host may kill the shim's group as
        soon as it reads the result line."""
        if event["type"] == "result" and self.journal and self.journal.error:
            event["vendor"]["journal_error"] = f"The journal is incomplete: {self.journal.error}"
            line = encode_line(event)
        if self.journal:
            self.journal.event(event, line)
        if event["type"] == "result":
            self._on_result(event)
        self.emitter(event, line)

    def _on_result(self, result: dict[str, Any]) -> None:
        if self.journal:
            self.journal.finish(result)
        if self.state_dir is None:
            return
        try:
            self._ledger_entry(result)
            self._update_quota_memory(result)
        except OSError as exc:
            _stderr_last(f"could not update the usage ledger or quota memory: {exc.strerror or exc}")

    def _ledger_entry(self, result: dict[str, Any]) -> None:
        spec = self.spec
        request = (spec.request if spec else None) or {}
        usage = result["usage"]
        self._ledger().append({
            "run_id": self.journal.run_id if self.journal else None,
            "at": _iso(time.time()),
            "provider": self.vendor,
            "account": self.account,
            "model": result["provider"]["model"] or usage.get("model"),
            "session_id": result["session_id"],
            "thread_id": result["thread_id"],
            "cwd": spec.cwd if spec else None,
            "role": request.get("role") if isinstance(request.get("role"), str) else None,
            "task_name": request.get("task_name") if isinstance(request.get("task_name"), str) else None,
            "status": result["status"],
            "failure_kind": result["failure_kind"],
            "duration_ms": result["duration_ms"],
            "usage": usage,
            "session_total": self._session_total(),
            "journal": result["journal"],
        })

    def _session_total(self) -> dict[str, Any] | None:
        return self.pipe.asm.session_total if self.pipe is not None else None

    def _update_quota_memory(self, result: dict[str, Any]) -> None:
        from shims.journal.quota import QuotaMemory

        memory = QuotaMemory(self.state_dir)
        if result["status"] == "completed":
            memory.clear(self.vendor, self.account)
        elif result["failure_kind"] == FailureKind.QUOTA_OR_RATE_LIMITED and result["quota"] and self.launch is not None:
            memory.remember(self.vendor, self.account, result["quota"], ended_at=time.time(),
                            run_id=self.journal.run_id if self.journal else None)

    def _previous_total(self, spec: RunSpec) -> dict[str, Any] | None:
        from normalize.reconcile import zero_total

        if not spec.resume_session:
            return zero_total()
        return self._ledger().last_total(self.vendor, spec.resume_session) if self.state_dir else None

    def _ledger(self):
        from shims.journal.ledger import Ledger

        return Ledger(self.state_dir)


class _Refusal(Exception):
    def __init__(self, kind: str, message: str, quota: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.quota = quota


def account_for(vendor: str, env: dict[str, str]) -> str:
    from shims.journal.quota import account_key

    return account_key(env, getattr(vendors.command_module(vendor), "ACCOUNT_ENV", ()))


def _exit_json(exit: o.ExitInfo) -> dict[str, Any]:
    return {k: getattr(exit, k) for k in ("exit_code", "signal", "launched", "cancelled", "timed_out", "timeout_s", "ended_at")}


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _stderr_last(message: str) -> None:
    """Hosts keep only a tail of stderr: the line that explains a failure goes last."""
    try:
        sys.stderr.write(f"shim: {message}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
