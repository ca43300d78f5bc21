"""One shim run, start to finish: request -> vendor command -> runtime -> parser -> assembler -> emitter.

This is the only place that wires the layers together; each layer stays ignorant of the others.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import orjson

from normalize import observe as o
from normalize.assembler import fail_before_launch, full_quota
from normalize.emit import make_emitter
from normalize.failures import FailureKind
from normalize.limits import encode_line
from normalize.observe import new_uuid
from normalize.request import BadRequest, RunSpec, parse_request
from shims import vendors
from shims.options import TEXT_OPTIONS, ShimOptions
from shims.runtime.lines import DEFAULT_MAX_LINE_BYTES

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: importing typing costs start-up time
    from typing import Any

_NOT_LOOKED = object()  # the workspace has not been compared with its snapshot yet


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


def resolve_program(vendor: str, vendor_bin: str | None) -> str | None:
    """The vendor CLI's path: --vendor-bin (a path or a name on PATH), else the vendor's
    program name on PATH."""
    wanted = vendor_bin or vendors.info(vendor).program
    if os.sep in wanted:
        # Absolute now: the vendor starts in the run's cwd, where a relative path would name
        # another file (or none).
        path = os.path.abspath(os.path.expanduser(wanted))
        return path if os.path.isfile(path) and os.access(path, os.X_OK) else None
    return _which(wanted)


def program_problem(vendor: str, vendor_bin: str | None, env: dict[str, str] | None = None) -> str:
    """Why resolve_program found nothing, naming the path tried."""
    wanted = vendor_bin or vendors.info(vendor).program
    if os.sep not in wanted:
        return f"{wanted!r} was not found on PATH"
    path = os.path.abspath(os.path.expanduser(wanted))
    if not os.path.lexists(path):
        return f"{path} does not exist" + (" (a broken symlink)" if os.path.islink(path) else "")
    if os.path.isdir(path):
        return f"{path} is a folder, not a program"
    if not os.path.isfile(path):
        return f"{path} is not a regular file"
    return f"{path} is not executable"


def interpreter_problem(program: str, env: dict[str, str]) -> str | None:
    """A script whose `#!` line names an interpreter that is missing or not executable: the
    kernel's ENOENT would otherwise read as if the script itself were missing."""
    try:
        with open(program, "rb") as f:
            head = f.read(256)
    except OSError:
        return None
    if not head.startswith(b"#!"):
        return None
    words = head[2:].split(b"\n", 1)[0].decode("utf-8", "replace").split()
    if not words:
        return f"{program}: its first line `#!` names no interpreter"
    interp = words[0]
    if not os.path.isfile(interp) or not os.access(interp, os.X_OK):
        state = "is missing" if not os.path.lexists(interp) else "is not executable"
        return f"{program}: the interpreter named in its first line, {interp}, {state}"
    if os.path.basename(interp) == "env" and len(words) > 1 and not words[1].startswith("-") and "=" not in words[1]:
        name = words[1]
        if os.sep not in name and _which(name, env.get("PATH")) is None:
            return f"{program}: the interpreter named in its first line, {name} (through {interp}), was not found on PATH"
    return None


def _which(name: str, path: str | None = None) -> str | None:
    """shutil.which(name) on POSIX, without importing shutil (and the compression modules it
    loads) on every run: an empty PATH finds nothing, an unset one is the system's. The answer
    is absolute (a relative PATH entry would name another file in the vendor's cwd)."""
    if path is None:
        path = os.environ.get("PATH")
    if path is None:
        try:
            path = os.confstr("CS_PATH") or os.defpath
        except (AttributeError, ValueError):
            path = os.defpath
    seen: set[str] = set()
    for folder in path.split(os.pathsep) if path else ():
        if folder in seen:
            continue
        seen.add(folder)
        candidate = os.path.join(folder, name)
        if os.path.exists(candidate) and os.access(candidate, os.X_OK) and not os.path.isdir(candidate):
            return os.path.abspath(candidate)
    return None


# Gemini CLI loads its whole bundle to print its version: ~1.8 s of CPU, over 5 s of wall time on
# a busy 2-core machine.
VERSION_TIMEOUT_S = 15.0


def vendor_version(program: str, vendor: str, timeout: float = VERSION_TIMEOUT_S) -> str | None:
    """The vendor CLI's version, asked once per binary file (shims.version_cache): a preflight or
    `shims doctor` then answers without starting a node process each time."""
    from shims import version_cache
    from shims.config import state_dir

    text = version_cache.remembered(state_dir(), program, lambda p: _ask_version(p, timeout))
    return vendors.command_module(vendor).parse_version(text) if text else None


def _ask_version(program: str, timeout: float) -> str | None:
    from shims.runtime.signals import child_defaults

    try:
        out = subprocess.run(  # the shim's blocked cancel signals are not the probe's
            [program, "--version"], capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False,
            preexec_fn=child_defaults,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = out.stdout.decode("utf-8", "replace").strip() or out.stderr.decode("utf-8", "replace").strip()
    return text if out.returncode == 0 and text else None


def run(vendor: str, opts: ShimOptions) -> int:
    return _Run(vendor, opts).go()


class _Run:
    """One shim run: a request, a chain of providers (the first, then --fallback), one stream.
    The journal, the usage ledger and quota memory see every outcome, refusals included; none
    of them can fail the run."""

    def __init__(self, vendor: str, opts: ShimOptions) -> None:
        self.vendor = vendor  # the provider being tried now
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
        self.settings = None
        self.max_line_bytes = DEFAULT_MAX_LINE_BYTES  # [journal] max_line_bytes
        self.snapshot = None
        self.worktree = None
        self.worktree_owner = ""
        self.replay_attempts: list[dict[str, Any]] = []
        self.redactor = None
        self.spent = 0.0  # dollars spent by the attempts a fallback moved on from
        self.cancels = None  # shims.runtime.signals.Cancels, made in go()

    # ------------------------------------------------------------------ the run

    def go(self) -> int:
        """SIGINT/SIGTERM/SIGHUP/SIGQUIT stay blocked for the whole run (shims/__init__.py blocks
        them first thing) and are taken with their sender: outside the vendor's lifetime at the
        checkpoints (`cancel_signal`), while it runs by the runtime's loop. None can kill the shim
        before its result, and one sent by the run's own processes is not a cancel (CONTRACT §14)."""
        from shims.runtime.signals import Cancels, hold

        hold()  # again: a library caller (tests, the toolkit) runs with them unblocked
        self.cancels = Cancels()
        return self._go()

    @property
    def cancel_signal(self) -> str | None:
        """The run's cancel so far (a checkpoint: takes the signals waiting now)."""
        return self.cancels.poll()

    def _go(self) -> int:
        from shims import config

        opts, vendor = self.opts, self.vendor
        unusable = _undecodable_flag(opts)  # before anything records the flags
        self.stdin = None if opts.prompt is not None else read_stdin()
        try:
            spec: RunSpec | None = parse_request(self.stdin, argv_prompt=opts.prompt)
            bad: BadRequest | None = unusable
        except BadRequest as exc:
            spec, bad = None, unusable or exc
        if bad is not None and spec is not None:
            bad.protocol_version = spec.protocol_version
        try:
            defaults = config.load_defaults(vendor)
            journal_settings = config.load_journal_settings()
            self.state_dir = config.state_dir()
        except config.ConfigError as exc:
            defaults, bad = dict(config.BUILTIN), bad or BadRequest(str(exc))
            journal_settings = None
        opts.with_defaults(defaults)
        self.spec = spec
        protocol = spec.protocol_version if spec else (bad.protocol_version if bad else None)
        self.emitter = make_emitter(choose_emit(opts.emit, protocol))
        self.thread_id = (spec.request_thread_id if spec else None) or new_uuid()
        if journal_settings is not None:
            self.max_line_bytes = journal_settings.max_line_bytes
            self._open_journal(journal_settings)
        if bad is not None:
            return self._refuse(FailureKind.BAD_REQUEST, bad.message)
        assert spec is not None
        try:
            self._apply_flags(spec, defaults)
            chain = self._chain()
            self._prepare_workspace(spec)
        except _Refusal as r:
            self._cleanup_workspace()  # a worktree made before the refusal (its owner file failed)
            return self._refuse(r.kind, r.message, r.quota)
        try:
            return self._run_chain(spec, chain)
        finally:
            self._cleanup_workspace()

    def _apply_flags(self, spec: RunSpec, defaults: dict[str, Any]) -> None:
        """Flags win over the request, the request over the config file (CONTRACT §1, §2)."""
        from normalize.request import check_argv_value, folder_problem

        opts = self.opts
        spec.mode = opts.mode or spec.mode or defaults.get("mode")
        spec.model = opts.model or spec.model or defaults.get("model")
        if opts.cwd:
            cwd = os.path.abspath(opts.cwd)
            problem = folder_problem(cwd)
            if problem:
                raise _Refusal(FailureKind.BAD_REQUEST, f"--cwd {problem}: {cwd}")
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
            raise _Refusal(FailureKind.BAD_REQUEST, exc.message) from None
        if opts.worktree is not None:
            spec.worktree = opts.worktree  # --no-worktree also overrides a request's `worktree: true`
        elif "worktree" not in (spec.request or {}) and defaults.get("worktree") is not None:
            spec.worktree = bool(defaults["worktree"])
        cap = opts.max_cost_usd
        if cap is not None and not (cap > 0 and cap != float("inf")):  # also NaN
            raise _Refusal(FailureKind.BAD_REQUEST, f"--max-cost-usd must be a positive amount of dollars, not {cap!r}.")
        spec.max_cost_usd = cap
        if spec.resume_session == "last":
            found = self._ledger().last_session(self.vendor, spec.cwd) if self.state_dir else None
            if not found:
                raise _Refusal(FailureKind.BAD_REQUEST,
                               f"--resume last: no earlier {self.vendor} session was recorded in {spec.cwd}.")
            try:  # a session id a vendor reported: checked like one given on the command line
                check_argv_value(f"--resume last: the session {self.vendor} reported in {spec.cwd}", found)
            except BadRequest as exc:
                raise _Refusal(FailureKind.BAD_REQUEST, exc.message) from None
            spec.resume_session = found

    def _chain(self) -> list[str]:
        """This provider, then the --fallback ones in order (CONTRACT §11)."""
        chain = [self.vendor]
        for name in (self.opts.fallback or "").split(","):
            name = name.strip()
            if not name:
                continue
            if name not in vendors.NAMES:
                raise _Refusal(FailureKind.BAD_REQUEST,
                               f"--fallback: unknown provider {name!r} (known: {', '.join(vendors.NAMES)}).")
            if name not in chain:
                chain.append(name)
        return chain

    # ------------------------------------------------------------------ one provider

    def _setup(self, provider: str, spec: RunSpec, primary: bool):
        """Everything before a launch: config, remembered quota, the binary, the argv."""
        from shims import config

        self.vendor = provider
        try:
            self.settings = config.load_vendor_settings(provider)
            vendor_bin = self.opts.vendor_bin if primary else config.load_defaults(provider)["vendor_bin"]
        except config.ConfigError as exc:
            raise _Refusal(FailureKind.BAD_REQUEST, str(exc)) from None
        if not primary:  # its own configured model (_provider_spec): _apply_flags checked the first one's
            from normalize.request import check_argv_value

            try:
                check_argv_value(f"The config file's `model` for {provider}", spec.model)
            except BadRequest as exc:
                raise _Refusal(FailureKind.BAD_REQUEST, exc.message) from None
        self.account = account_for(provider, {**os.environ, **self.settings.env})
        self._check_quota_memory(provider)
        self._check_spend_cap_support(provider, spec)
        command = vendors.command_module(provider)
        program = resolve_program(provider, vendor_bin)
        if program is None:
            raise _Refusal(
                FailureKind.COMMAND_MISSING,
                f"The {provider} CLI was not found: {program_problem(provider, vendor_bin)}; install it or pass --vendor-bin.",
            )
        shebang = interpreter_problem(program, {**os.environ, **self.settings.env})
        if shebang:
            raise _Refusal(FailureKind.COMMAND_MISSING, f"The {provider} CLI cannot start: {shebang}.")
        auto_pty = getattr(command, "wants_pty", None)
        pty = self.opts.pty == "always" or (self.opts.pty == "auto" and auto_pty is not None and auto_pty(spec, program))
        return self._build(provider, spec, program, pty)

    def _check_quota_memory(self, provider: str) -> None:
        """A remembered limit still in force fails the attempt before anything starts (§8, §11)."""
        if self.opts.ignore_quota_state or self.state_dir is None:
            return
        from shims.journal.quota import QuotaMemory

        try:
            quota = QuotaMemory(self.state_dir).active(provider, self.account)
        except Exception as exc:  # noqa: BLE001 - memory is advice: a broken file must not stop a run
            _stderr_last(f"quota memory unreadable, ignored: {exc}")
            return
        if quota is None:
            return
        run = quota.pop("run_id", None)
        what = "quota is exhausted" if quota["state"] == "exhausted" else "rate limit is in force"
        raise _Refusal(
            FailureKind.QUOTA_OR_RATE_LIMITED,
            f"The {provider} {what} until {quota['resets_at']} (remembered from run {run}); not launched. "
            "Pass --ignore-quota-state to try anyway.",
            quota,
        )

    def _check_spend_cap_support(self, provider: str, spec: RunSpec) -> None:
        if not spec.max_cost_usd:
            return
        from shims.config import ConfigError, load_prices

        command = vendors.command_module(provider)
        try:
            priced = bool(load_prices(provider))
        except ConfigError:
            priced = False
        source = getattr(command, "COST_SOURCE", None)
        if source is None and not priced:
            raise _Refusal(
                FailureKind.UNSUPPORTED_MODE,
                f"{provider} reports no cost, so --max-cost-usd cannot be enforced; add its models' prices under "
                f'[prices.{provider}."<model>"] in the config file.',
            )
        if source != "vendor" and spec.model and spec.model not in _price_table(provider):
            raise _Refusal(
                FailureKind.UNSUPPORTED_MODE,
                f"{spec.model} has no price, so --max-cost-usd cannot be enforced on {provider}; add it under "
                f'[prices.{provider}."{spec.model}"] in the config file.',
            )

    def _build(self, provider: str, spec: RunSpec, program: str, pty: bool):
        command = vendors.command_module(provider)
        try:
            launch = command.build_launch(spec, program, pty=pty)
        except ValueError as exc:  # a mode or option the vendor cannot honour
            raise _Refusal(FailureKind.UNSUPPORTED_MODE, str(exc)) from None
        # The config file's extra arguments and environment for this vendor (shims.config). The
        # arguments are options: before a `--` that ends them (Claude's prompt follows it).
        argv = launch.argv
        cut = argv.index("--") if "--" in argv else len(argv)
        launch.argv = [*argv[:cut], *self.settings.args, *argv[cut:]]
        if self.settings.env:
            launch.env = {**launch.env, **self.settings.env}
            launch.env_names_added = [*launch.env_names_added, *self.settings.env]
        return launch

    def _provider_spec(self, spec: RunSpec, provider: str, primary: bool) -> RunSpec:
        """A fallback provider gets the same task, but not what only meant something to the
        first one: its model name and its session."""
        if primary:
            return spec
        from dataclasses import replace

        from shims.config import ConfigError, load_defaults

        try:
            model = load_defaults(provider).get("model")
        except ConfigError:
            model = None
        cap = spec.max_cost_usd
        remaining = None if cap is None else max(cap - self.spent, 0.000001)  # what the earlier attempts left
        return replace(spec, model=model, resume_session=None, max_cost_usd=remaining)

    # ------------------------------------------------------------------ the chain

    def _run_chain(self, spec: RunSpec, chain: list[str]) -> int:
        from normalize.failures import FALLBACK_KINDS
        from shims.config import ConfigError, load_prices
        from shims.pipeline import Facts, Pipeline

        attempts: list[dict[str, Any]] = []
        note: str | None = None
        exit = o.ExitInfo(launched=False)
        for index, provider in enumerate(chain):
            primary, last = index == 0, index == len(chain) - 1
            pspec = self._provider_spec(spec, provider, primary)
            try:
                prices = load_prices(provider)
            except ConfigError:
                prices = {}  # already reported: load_defaults read the same file first
            facts = Facts(provider=provider, thread_id=self.thread_id, request_thread_id=spec.request_thread_id,
                          model=pspec.model, max_final_message_bytes=spec.max_final_message_bytes, prices=prices,
                          previous_total=self._previous_total(provider, pspec), max_line_bytes=self.max_line_bytes)
            if self.pipe is None:
                self.pipe = Pipeline(facts, self._sink)
            else:
                self.pipe.switch(facts, note or "")
            record: dict[str, Any] = {"facts": facts.to_json(), "prefix": _prefix(index, provider), "note": None}
            self.replay_attempts.append(record)
            if cancel := self.cancel_signal:
                return self._cancelled_before_launch(cancel, provider, record, attempts)
            cap = spec.max_cost_usd
            if not primary and cap and self.spent >= cap:
                message = (f"The earlier attempts spent ${self.spent:.4f}, the whole --max-cost-usd cap of ${_dollars(cap)}; "
                           f"{provider} was not tried.")
                quota = {"state": "exhausted", "message": message}
                record["refusal"] = [FailureKind.QUOTA_OR_RATE_LIMITED.value, message, quota]
                return self._finish(o.ExitInfo(launched=False), attempts,
                                    failure=(FailureKind.QUOTA_OR_RATE_LIMITED.value, message), quota=quota)
            try:
                self.launch = launch = self._setup(provider, pspec, primary)
                if cancel := self.cancel_signal:  # came during the setup (a version probe)
                    return self._cancelled_before_launch(cancel, provider, record, attempts)
                exit = self._launch(spec, pspec, launch, record)
            except _Refusal as r:
                record["refusal"] = [r.kind, r.message, r.quota]
                if r.kind in FALLBACK_KINDS and not last:
                    attempts.append({"provider": provider, "failure_kind": r.kind, "error": r.message})
                    note = record["note"] = _switch_note(provider, r.kind, r.message, chain[index + 1])
                    continue
                return self._finish(o.ExitInfo(launched=False), attempts, failure=(r.kind, r.message), quota=r.quota)
            status, kind, error = self.pipe.end_attempt(exit)
            changes: Any = _NOT_LOOKED
            if (kind in FALLBACK_KINDS and not last and not exit.cancelled
                    and not self.pipe.asm.had_side_effects and not self.pipe.asm.stopped_by_spend_cap(exit)):
                changes = self._changes()  # only a possible fallback pays for this look
                if changes is None:
                    self._settle_attempt(exit, status, kind, error)
                    attempts.append({"provider": provider, "failure_kind": kind, "error": error})
                    note = record["note"] = _switch_note(provider, kind, error or "", chain[index + 1])
                    continue
            return self._finish(exit, attempts, changes=changes)
        raise AssertionError("the chain always ends in _finish")  # pragma: no cover

    def _cancelled_before_launch(self, cancel: str, provider: str, record: dict[str, Any],
                                 attempts: list[dict[str, Any]]) -> int:
        message = f"Cancelled by {cancel} before the {provider} CLI started."
        record["refusal"] = [FailureKind.CANCELLED.value, message, None]
        return self._finish(o.ExitInfo(launched=False, cancelled=cancel), attempts,
                            failure=(FailureKind.CANCELLED.value, message))

    def _launch(self, spec: RunSpec, pspec: RunSpec, launch, record: dict[str, Any]) -> o.ExitInfo:
        from shims.runtime.loop import Limits, run_vendor
        from shims.runtime.spawn import LaunchError

        opts, pipe, provider = self.opts, self.pipe, self.vendor
        command = vendors.command_module(provider)
        # A vendor with a budget flag of its own (Claude) enforces the cap itself, between turns.
        running_cap = None if getattr(command, "NATIVE_SPEND_CAP", False) else self._spend_cap_check(spec)
        timeout = None
        if spec.timeout_s is not None:  # one deadline for the whole run, whatever the fallbacks
            timeout = max(spec.timeout_s - (time.monotonic() - self.started), 0.001)
        limits = Limits(timeout_s=timeout, idle_timeout_s=opts.idle_timeout or None,
                        cancel_grace_s=opts.cancel_grace, stop=running_cap, host_gone=self._host_gone,
                        max_line_bytes=pipe.facts.max_line_bytes)
        while True:
            if launch.output_format != pipe.facts.format:
                pipe.restart_parser(launch.output_format)
            record["facts"] = pipe.facts.to_json()
            recorder = self._record_launch(launch, record["prefix"])
            try:
                exit = run_vendor(launch, limits, pipe.line, recorder=recorder, cancels=self.cancels,
                                  on_started=lambda proc, a=pipe.asm: a.launched())
            except LaunchError as exc:
                kind = FailureKind.COMMAND_MISSING if exc.missing else FailureKind.PROVIDER_FAILED
                raise _Refusal(kind, f"Could not start the {provider} CLI: {exc}") from None
            finally:
                if recorder is not None:
                    recorder.close()
            retry = getattr(command, "should_retry_under_pty", None)
            if (opts.pty == "auto" and not launch.pty and retry is not None and not exit.cancelled and not exit.timed_out
                    and retry(launch.output_format, exit.exit_code, pipe.stdout_bytes)):
                # The vendor printed nothing through a pipe (agy < 1.1.1): run it again under a
                # pseudo-terminal. Nothing was emitted yet: text output is parsed at the end.
                if self.journal:
                    self.journal.set_aside(record["prefix"], record["prefix"] + "-pipe-attempt")
                launch = self.launch = self._build(provider, pspec, launch.argv[0], pty=True)
                continue
            break
        record["exit"] = _exit_json(exit)
        record["vendor_extra"] = {"argv0": launch.argv[0], **({"pty": True} if launch.pty else {})}
        return exit

    def _host_gone(self) -> str | None:
        """Why nobody can read the stream any more (the host closed stdout, a full disk), or
        None: asked by the loop at its wakes, so a vendor is not left to run for no one."""
        from shims.runtime.loop import stdout_reader_gone

        broken = getattr(self.emitter, "broken", None)
        if broken:
            return broken
        return "SIGPIPE" if stdout_reader_gone() else None

    def _spend_cap_check(self, spec: RunSpec, *, ended: bool = False):
        """The shim's own spend cap, from the usage the vendor streams (Claude enforces it itself
        through --max-budget-usd). Gemini reports usage only at its end: checked then."""
        cap = spec.max_cost_usd
        if not cap:
            return None

        def over() -> str | None:
            cost = _cost_of(self.pipe.asm.usage, self.pipe.facts.prices)
            if cost is not None:
                cost += self.spent  # one cap for the whole run, fallback attempts included
            if cost is not None and cost > cap and ended:
                return (f"The run's cost (${cost:.4f}, {self.vendor}) passed the --max-cost-usd cap of ${_dollars(cap)}; "
                        "it was known only when the vendor reported its usage at the end. The answer is kept.")
            if cost is not None and cost > cap:
                return (f"The run was stopped: its cost (${cost:.4f}, {self.vendor}) passed the --max-cost-usd cap of "
                        f"${_dollars(cap)}. Raise the cap to let it continue.")
            return None

        return over

    def _finish(self, exit: o.ExitInfo, attempts: list[dict[str, Any]], *, failure=None, quota=None,
                changes: Any = _NOT_LOOKED) -> int:
        """The last attempt's outcome: the workspace's changes, then the result."""
        pipe = self.pipe
        if failure is None:
            status, kind, error = pipe.end_attempt(exit)
            usage = pipe.asm.usage or {}
            if self.spec.max_cost_usd and usage.get("total_tokens") and _cost_of(usage, pipe.facts.prices) is None:
                pipe.feed([o.Warning(f"The cost of this run is unknown (no price for {usage.get('model') or 'its model'}"
                                     "), so --max-cost-usd could not be enforced.")])
            if status == "completed" and self.spec.max_cost_usd:
                message = self._spend_cap_check(self.spec, ended=True)()
                if message:  # the vendor only said at its end (Gemini): the answer is kept
                    failure, quota = (FailureKind.QUOTA_OR_RATE_LIMITED.value, message), {"state": "exhausted",
                                                                                          "message": message}
        diff, extra = self._collect_changes(changes)
        if diff is not None:
            pipe.feed([o.Item(diff["item"])])
        duration_ms = int((time.monotonic() - self.started) * 1000)
        last = self.replay_attempts[-1] if self.replay_attempts else {}
        extra = {**last.get("vendor_extra", {}), **extra, **self._journal_details()}
        if self.journal:
            self.journal.update_meta(replay={"attempts": self.replay_attempts, "duration_ms": duration_ms,
                                             "vendor_extra": extra, "attempts_list": attempts, "diff": diff,
                                             "failure": list(failure) if failure else None, "quota": quota})
        result, code = pipe.finish(exit, duration_ms=duration_ms, journal=self._journal_path(), vendor_extra=extra,
                                   attempts=attempts, diff=diff["summary"] if diff else None, failure=failure,
                                   quota=quota)
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

    # ------------------------------------------------------------------ workspace (CONTRACT §10)

    def _prepare_workspace(self, spec: RunSpec) -> None:
        from shims.gitdir import may_be_in_work_tree

        if not spec.worktree and not may_be_in_work_tree(spec.cwd):
            return  # nothing to snapshot, and no git module to load
        from shims import workspace

        if spec.worktree:
            if self.state_dir is None:
                raise _Refusal(FailureKind.BAD_REQUEST, "--worktree needs a state folder; the config file is unusable.")
            name = self.journal.run_id if self.journal else _worktree_name(self.vendor)
            parent = os.path.join(self.state_dir, "worktrees")
            try:
                from shims.journal.run import private_dir

                private_dir(parent)  # 0700, and never a planted link
                workspace.sweep_abandoned(parent)
                self.worktree = workspace.create_worktree(spec.cwd, parent, name)
                self.worktree_owner = workspace.claim(self.worktree, parent)
            except (workspace.WorkspaceError, OSError) as exc:
                raise _Refusal(FailureKind.BAD_REQUEST, f"--worktree: {exc}") from None
            spec.cwd = self.worktree.cwd
        try:
            own = [str(self.state_dir)] if self.state_dir else []
            if self.journal:
                own.append(os.path.dirname(self.journal.path))
            self.snapshot = workspace.snapshot(spec.cwd, exclude=tuple(own))
        except (workspace.WorkspaceError, OSError) as exc:
            self.snapshot = None
            _stderr_last(f"changes will not be collected: {exc}")

    def _changes(self):
        """What the run changed in the git workspace so far, or None."""
        if self.snapshot is None:
            return None
        from shims import workspace

        try:
            changes = workspace.changes_since(self.snapshot)
        except (workspace.WorkspaceError, OSError) as exc:
            _stderr_last(f"changes could not be collected: {exc}")
            return None
        return changes if changes.files else None

    def _collect_changes(self, changes: Any) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """The run's changes as one file_change item and result.diff; the patch goes to the
        journal; a worktree is kept when changed, removed when clean."""
        extra: dict[str, Any] = {}
        if changes is _NOT_LOOKED:  # the fallback decision looked already when it could have
            changes = self._changes()
        if self.worktree is not None:
            from shims import workspace

            try:
                kept = workspace.finish_worktree(self.worktree, changed=changes is not None)
            except (workspace.WorkspaceError, OSError) as exc:
                kept = self.worktree.path  # not removed: kept, and said why
                extra["worktree_error"] = str(exc)
            extra["worktree"] = {"path": self.worktree.path, "branch": self.worktree.branch, "kept": bool(kept)}
            self.worktree = None
            workspace.release(self.worktree_owner)
        if changes is None:
            return None, extra
        patch_path = None
        if self.journal:
            patch_path = self.journal.write_patch(changes.patch)
        item = changes.item()
        _fit_diffs(item["changes"])
        if extra.get("worktree", {}).get("kept"):
            item["worktree"] = extra["worktree"]["path"]
        return {"item": item, "summary": changes.summary(patch_path)}, extra

    def _cleanup_workspace(self) -> None:
        if self.worktree is not None:  # the run ended before its changes were looked at
            from shims import workspace

            try:
                workspace.finish_worktree(self.worktree, changed=self._changes() is not None)
                workspace.release(self.worktree_owner)
            except (workspace.WorkspaceError, OSError):
                pass

    # ------------------------------------------------------------------ journal, ledger, quota

    def _open_journal(self, settings) -> None:
        from shims.config import secrets_redactor
        from shims.journal.redact import use

        # One redactor per run, journal or not: the stream, the `shim:` lines and every state
        # file are masked with it (README, "Secrets").
        self.redactor = use(secrets_redactor(settings.redact_env))
        # An explicit --journal wins over `[journal] enabled = false`; --no-journal over both.
        if self.opts.no_journal or not (settings.enabled or self.opts.journal):
            return
        from shims.journal.run import RunJournal
        from shims.journal.store import new_run_id, prune

        root = _journal_root(os.path.expanduser(self.opts.journal) if self.opts.journal else settings.root)
        try:
            prune(root, settings.keep_runs, settings.keep_bytes)
        except Exception as exc:  # noqa: BLE001 - retention is housekeeping; the run goes on
            _stderr_last(f"journal retention skipped: {exc}")
        redactor = self.redactor
        try:
            self.journal = RunJournal.create(root, new_run_id(self.vendor), redactor)
            self.journal.write_request(self.stdin, self.opts.prompt)
            self.journal.update_meta(
                run_id=self.journal.run_id, journal_path=str(self.journal.path), provider=self.vendor,
                started_at=_iso(time.time()), pid=os.getpid(), host=os.uname().nodename, status="running",
                cwd=self.spec.cwd if self.spec else os.getcwd(), redacted_env=redactor.names,
            )
        except OSError as exc:
            self.journal = None
            self.journal_problem = f"The run is not journaled: {exc.strerror or exc} ({root})."
            _stderr_last(self.journal_problem)

    def _record_launch(self, launch, prefix: str):
        if not self.journal:
            return None
        spec = self.spec
        self.journal.update_meta(
            provider=self.vendor, argv=launch.argv, env_names=sorted(launch.env),
            env_added=sorted(set(launch.env_names_added)), cwd=launch.cwd, pty=launch.pty, mode=spec.mode,
            model=spec.model, resume=spec.resume_session, account=self.account, attempts=self.replay_attempts,
        )
        return self.journal.vendor_recorder(prefix)

    def _journal_path(self) -> str | None:
        return str(self.journal.path) if self.journal else None

    def _journal_details(self) -> dict[str, Any]:
        if self.journal_problem:
            return {"journal_error": self.journal_problem}
        return {}

    def _sink(self, event: dict[str, Any], line: bytes) -> None:
        """Every event goes to the journal, then out. The result is journaled, and the ledger
        and quota memory updated, *before* it is written: a host may kill the shim's group as
        soon as it reads the result line. Secrets are masked in what is printed (hosts forward
        streams to logs, UIs and other models), so events.ndjson is exactly the printed bytes."""
        if event["type"] == "result" and self.journal and self.journal.error:
            event["vendor"]["journal_error"] = f"The journal is incomplete: {self.journal.error}"
            line = encode_line(event)
        masked = self._redactor().redact(line)
        if masked is not line and masked != line:
            line, clean = masked, orjson.loads(masked)  # masks keep the JSON valid
            if event["type"] == "result":  # the same dict goes to the emitter's close (protocol 1)
                event.clear()
                event.update(clean)
            else:
                event = clean
        if self.journal:
            self.journal.event(event, line, redacted=True)
        if event["type"] == "result":
            self._on_result(event)
        self.emitter(event, line)

    def _on_result(self, result: dict[str, Any]) -> None:
        if self.journal:
            self.journal.finish(result)
        if self.state_dir is None:
            return
        try:
            self._ledger_append(result["status"], result["failure_kind"], result["usage"], result["session_id"],
                                result["duration_ms"], result["provider"]["model"])
            self._update_quota_memory(result["status"], result["failure_kind"], result["quota"])
        except Exception as exc:  # noqa: BLE001 - bookkeeping never costs the result line
            _stderr_last(f"could not update the usage ledger or quota memory: {exc}")

    def _settle_attempt(self, exit: o.ExitInfo, status: str, kind: str | None, error: str | None) -> None:
        """A provider the chain moves on from still spent what it spent, and its quota failure
        is remembered like any other."""
        if self.state_dir is None:
            return
        from normalize.usage import empty_usage

        asm = self.pipe.asm
        self.spent += _cost_of(asm.usage, self.pipe.facts.prices) or 0.0
        try:
            self._ledger_append(status, kind, asm.usage or empty_usage(), asm.session_id,
                                int((time.monotonic() - self.started) * 1000), self.pipe.facts.model)
            quota = asm.failure_quota(exit, kind)
            self._update_quota_memory(status, kind, full_quota(quota) if quota else None)
        except Exception as exc:  # noqa: BLE001 - bookkeeping never costs the run
            _stderr_last(f"could not update the usage ledger or quota memory: {exc}")

    def _ledger_append(self, status, kind, usage, session_id, duration_ms, model) -> None:
        spec = self.spec
        request = (spec.request if spec else None) or {}
        self._ledger().append({
            "run_id": self.journal.run_id if self.journal else None,
            "at": _iso(time.time()),
            "provider": self.vendor,
            "account": self.account,
            "model": model or usage.get("model"),
            "session_id": session_id,
            "thread_id": self.thread_id,
            "cwd": spec.cwd if spec else None,
            "role": request.get("role") if isinstance(request.get("role"), str) else None,
            "task_name": request.get("task_name") if isinstance(request.get("task_name"), str) else None,
            "status": status,
            "failure_kind": kind,
            "duration_ms": duration_ms,
            "usage": usage,
            "session_total": self.pipe.asm.session_total if self.pipe is not None else None,
            "journal": self._journal_path(),
        })

    def _update_quota_memory(self, status: str, kind: str | None, quota: dict[str, Any] | None) -> None:
        from shims.journal.quota import QuotaMemory

        memory = QuotaMemory(self.state_dir)  # masks what it writes (the message is the vendor's)
        if status == "completed":
            memory.clear(self.vendor, self.account)
        elif kind == FailureKind.QUOTA_OR_RATE_LIMITED and quota and self.launch is not None:
            memory.remember(self.vendor, self.account, quota, ended_at=time.time(),
                            run_id=self.journal.run_id if self.journal else None)

    def _redactor(self):
        """The run's redactor; the environment's when the config could not be read."""
        if self.redactor is None:
            from shims.journal.redact import current

            self.redactor = current()
        return self.redactor

    def _previous_total(self, provider: str, spec: RunSpec) -> dict[str, Any] | None:
        from normalize.reconcile import zero_total

        if not spec.resume_session:
            return zero_total()
        return self._ledger().last_total(provider, spec.resume_session) if self.state_dir else None

    def _ledger(self):
        from shims.journal.ledger import Ledger

        return Ledger(self.state_dir)


def _undecodable_flag(opts: ShimOptions) -> BadRequest | None:
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
    keys = ("exit_code", "signal", "launched", "cancelled", "timed_out", "timeout_s", "ended_at", "stopped")
    return {k: getattr(exit, k) for k in keys}


def _price_table(provider: str) -> dict[str, Any]:
    """The prices a run of this provider is costed with: the packaged table and the config's."""
    from shims.config import ConfigError, load_prices

    try:
        return vendors.price_table(provider, load_prices(provider))
    except ConfigError:
        return vendors.price_table(provider)


def _dollars(amount: float) -> str:
    return f"{amount:.6f}".rstrip("0").rstrip(".")


def _journal_root(given: str) -> str:
    """Absolute, with links resolved as Path.resolve() did, except from the state folder down:
    a link planted there is refused when the root is made (shims.journal.run.private_dir), never
    written through. A root elsewhere (--journal, `[journal] root`) is the user's, links and all."""
    from shims.config import state_dir

    given = os.path.abspath(given)
    state = os.path.abspath(state_dir())
    if given == state or given.startswith(state + os.sep):
        return os.path.join(os.path.realpath(os.path.dirname(state)), os.path.relpath(given, os.path.dirname(state)))
    return os.path.realpath(given)


def _prefix(index: int, provider: str) -> str:
    """The journal's file prefix for an attempt's vendor bytes."""
    return "vendor" if index == 0 else f"vendor-{index}-{provider}"


def _switch_note(provider: str, kind: str, error: str, to: str) -> str:
    return f"{provider} could not serve ({kind}: {error.rstrip('.')}); falling back to {to}."


def _worktree_name(provider: str) -> str:
    from shims.journal.store import new_run_id

    return new_run_id(provider)


# A file_change item lists every changed path; the per-file diffs share what is left of the
# 16 KiB line (the journal's patch.diff has them whole).
_DIFF_BUDGET = 12 * 1024


def _fit_diffs(changes: list[dict[str, Any]]) -> None:
    from normalize.limits import tail_bytes

    per_file = _DIFF_BUDGET // max(len(changes), 1)
    for change in changes:
        diff = change.get("diff")
        if diff is None:
            continue
        if per_file < 256:
            change.pop("diff")
        elif len(diff.encode()) > per_file:
            change["diff"] = tail_bytes(diff, per_file)


def _cost_of(usage: dict[str, Any] | None, prices: dict[str, dict[str, float]]) -> float | None:
    """The usage's cost as reported, else estimated from the price table."""
    if not usage:
        return None
    if usage.get("cost_usd") is not None:
        return float(usage["cost_usd"])
    from normalize.usage import price_estimate

    return price_estimate(usage, prices)


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _stderr_last(message: str) -> None:
    """Hosts keep only a tail of stderr: the line that explains a failure goes last. It may quote
    a vendor: masked, and with control characters shown as visible escapes (one line)."""
    from normalize.emit import visible
    from shims.journal.redact import current

    message = visible(current().redact_text(message), keep="\t")
    try:
        sys.stderr.write(f"shim: {message}\n")
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):  # AttributeError: started with stderr closed
        pass
