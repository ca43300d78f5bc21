"""Everything before an attempt's launch: the config's settings for the vendor, its account
and remembered quota, the spend cap's support, the binary, and the argv."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from normalize.failures import FailureKind
from normalize.request import BadRequest, RunSpec
from shims.run import spend, vendors
from shims.run.bookkeeping import Bookkeeping
from shims.run.options import ShimOptions
from shims.run.outcome import Refusal
from shims.run.programs import account_for, interpreter_problem, program_problem, resolve_program
from shims.state.store.base import STATE_URL_ENV


def set_up(opts: ShimOptions, books: Bookkeeping, provider: str, task: RunSpec, primary: bool) -> tuple[Any, Any]:
    """Everything before a launch: the launch (shims.runtime.spawn.Launch) and the config's
    settings for this vendor, or the Refusal of the first thing missing."""
    from shims.run import config
    books.attempt_started(provider)
    try:
        settings = config.load_vendor_settings(provider)
        vendor_bin = opts.vendor_bin if primary else config.load_defaults(provider)["vendor_bin"]
    except config.ConfigError as exc:
        raise Refusal(FailureKind.BAD_REQUEST, str(exc)) from None
    if not primary:  # its own configured model (chain.fallback_spec): resolve_spec checked the first one's
        from normalize.request import check_argv_value

        try:
            check_argv_value(f"The config file's `model` for {provider}", task.model)
        except BadRequest as exc:
            raise Refusal(FailureKind.BAD_REQUEST, exc.message) from None
    env = {**os.environ, **settings.env}
    account = account_for(provider, env)
    books.attempt_started(provider, account)
    if not opts.ignore_quota_state:
        books.check_quota(provider, account)
    if task.max_cost_usd:
        spend.check_support(provider, task.model)
    command = vendors.command_module(provider)
    program = resolve_program(provider, vendor_bin)
    if program is None:
        raise Refusal(
            FailureKind.COMMAND_MISSING,
            f"The {provider} CLI was not found: {program_problem(provider, vendor_bin)}; install it or pass --vendor-bin.",
        )
    shebang = interpreter_problem(program, env)
    if shebang:
        raise Refusal(FailureKind.COMMAND_MISSING, f"The {provider} CLI cannot start: {shebang}.")
    auto_pty = getattr(command, "wants_pty", None)
    pty = opts.pty == "always" or (opts.pty == "auto" and auto_pty is not None and auto_pty(task, program))
    return build(provider, task, program, pty, settings), settings


def build(provider: str, task: RunSpec, program: str, pty: bool, settings: Any) -> Any:
    command = vendors.command_module(provider)
    if task.output_schema is not None:
        problem = vendors.output_schema_problem(provider)
        if problem:
            raise Refusal(FailureKind.UNSUPPORTED_MODE, problem)
    # What `codex exec` options ask that a vendor's package declares it cannot take (CONTRACT §15).
    if task.images and not command.IMAGE_INPUT:
        raise Refusal(FailureKind.UNSUPPORTED_MODE,
                      f"The {provider} CLI takes no image input, so --image cannot be honoured; "
                      "leave the image out or describe it in the prompt.")
    if task.effort and task.effort not in command.EFFORTS:  # named on stderr by `exec`
        task = dataclasses.replace(task, effort=None)
    if task.add_dirs and command.ADD_DIR_FLAG is None:
        task = dataclasses.replace(task, add_dirs=())
    try:
        launch = command.build_launch(task, program, pty=pty)
    except ValueError as exc:  # a mode or option the vendor cannot honour
        raise Refusal(FailureKind.UNSUPPORTED_MODE, str(exc)) from None
    # The config file's extra arguments and environment for this vendor (shims.run.config). The
    # arguments are options: before a `--` that ends them (Claude's prompt follows it).
    argv = launch.argv
    cut = argv.index("--") if "--" in argv else len(argv)
    launch.argv = [*argv[:cut], *settings.args, *argv[cut:]]
    if settings.env:
        launch.env = {**launch.env, **settings.env}
        launch.env_names_added = [*launch.env_names_added, *settings.env]
    # The shared database's URL (it may hold its password) is the shims' own: the vendor, and
    # whatever it runs, has no use for it.
    launch.env.pop(STATE_URL_ENV, None)
    return launch
