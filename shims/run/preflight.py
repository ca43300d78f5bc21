"""Readiness checks (CONTRACT §8): `shim-X --preflight` and `shims doctor`.

The binary runs and reports a version, the vendor's translation exists, and credentials are
present (each vendor package's `auth_status`), and no quota or rate limit recorded by an earlier
run (shims.state.quota) is still in force. No model call, no quota spent.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import orjson

from normalize.failures import EXIT_CODES, FailureKind
from shims.run import vendors
from shims.run.programs import VERSION_TIMEOUT_S, resolve_program, vendor_version


def check(vendor: str, vendor_bin: str | None = None, *, ignore_quota_state: bool = False) -> dict:
    """The preflight answer (CONTRACT §8). `vendor_bin` None: the config file's, else PATH."""
    if vendor_bin is None:
        vendor_bin = _configured_bin(vendor)  # a broken config file is reported by every run; PATH still helps
    return probe(vendor, vendor_bin, ignore_quota_state=ignore_quota_state).answer


@dataclass(frozen=True, slots=True)
class Probe:
    """What one readiness check found: the contract's answer, plus what `shims doctor` shows
    beside it (the program that was asked, and whether the quota is a remembered one)."""

    answer: dict
    program: str | None
    remembered_quota: bool = False


def probe(vendor: str, vendor_bin: str | None, *, ignore_quota_state: bool = False) -> Probe:
    """check() with `vendor_bin` as given (None: PATH only)."""
    vi = vendors.info(vendor)
    answer = {"ready": False, "provider": vendor, "cli_version": None, "auth": "unknown", "quota": None,
              "failure_kind": None, "error": None}
    program = resolve_program(vendor, vendor_bin)
    if program is None:
        answer["failure_kind"] = FailureKind.COMMAND_MISSING.value
        answer["error"] = (f"The {vendor} CLI ({vendor_bin or vi.program}) was not found; install it, pass --vendor-bin, "
                           f"or set vendor_bin under [{vendor}] in {_config_path()}.")
        return Probe(answer, None)
    answer["cli_version"] = vendor_version(program, vendor)
    if answer["cli_version"] is None:
        answer["failure_kind"] = FailureKind.COMMAND_MISSING.value
        answer["error"] = (f"`{program} --version` failed or gave no version within {VERSION_TIMEOUT_S:.0f} s; "
                           f"the {vendor} CLI is not usable.")
        return Probe(answer, program)
    command = vendors.command_module(vendor)
    env = _vendor_env(vendor)  # what a run would give the vendor: the config file's env included
    auth_status = getattr(command, "auth_status", None)
    if auth_status is not None:
        ok, how, problem = auth_status(env)
        answer["auth"] = how
        if not ok:
            answer["failure_kind"] = FailureKind.AUTHENTICATION_REQUIRED.value
            answer["error"] = problem
            return Probe(answer, program)
    remembered = None if ignore_quota_state else remembered_quota(vendor)
    if remembered is not None:
        answer["quota"] = remembered
        answer["failure_kind"] = FailureKind.QUOTA_OR_RATE_LIMITED.value
        answer["error"] = (f"{vendor}: a recorded {remembered['state'].replace('_', ' ')} limit is in force until "
                           f"{remembered['resets_at']}; runs fail fast until then (--ignore-quota-state to try anyway).")
        return Probe(answer, program, remembered_quota=True)
    quota_status = getattr(command, "quota_status", None)
    if quota_status is not None:
        quota = quota_status(program, env)
        answer["quota"] = quota
        if quota and quota["state"] == "exhausted":
            answer["failure_kind"] = FailureKind.QUOTA_OR_RATE_LIMITED.value
            answer["error"] = f"{vendor} quota exhausted ({quota['message']}); resets {quota['resets_at']}."
            return Probe(answer, program)
    answer["ready"] = True
    return Probe(answer, program)


def _config_path() -> str:
    from shims.run.config import config_path

    return config_path()


def _vendor_env(vendor: str) -> dict[str, str]:
    from shims.run.config import ConfigError, load_vendor_settings

    try:
        return {**os.environ, **load_vendor_settings(vendor).env}
    except ConfigError:
        return dict(os.environ)


def remembered_quota(vendor: str) -> dict | None:
    """The limit an earlier run recorded for this provider and account, if still in force (in
    the state store the config file names: a fleet's shared one sees every machine's limits)."""
    from shims.run.config import ConfigError, load_state_settings, load_vendor_settings
    from shims.run.programs import account_for
    from shims.state.store.base import StateError, open_store

    try:
        env = {**os.environ, **load_vendor_settings(vendor).env}
        store = open_store(load_state_settings())
    except (ConfigError, StateError, OSError, ValueError, TypeError, ImportError):  # advice: none then
        return None
    try:
        quota = store.active_quota(vendor, account_for(vendor, env))
    except (StateError, OSError, ValueError, TypeError):
        return None
    finally:
        store.close()
    if quota is not None:
        quota.pop("run_id", None)
    return quota


def preflight(vendor: str, vendor_bin: str | None = None, *, ignore_quota_state: bool = False) -> int:
    answer = check(vendor, vendor_bin, ignore_quota_state=ignore_quota_state)
    print(_masked(orjson.dumps(answer).decode()))
    return 0 if answer["ready"] else EXIT_CODES[answer["failure_kind"]]


def preflight_command(vendor: str, vendor_bin: str | None = None, *, ignore_quota_state: bool = False) -> int:
    """`shim-X --preflight [--vendor-bin B] [--ignore-quota-state]`, whichever parser read it:
    the exit status. Not a run, so the cancel signals a run keeps blocked are let through; the
    CLI is --vendor-bin, else the config file's (a broken file: exit 2, said on stderr), else PATH.

    Meant to be called without typer: the preflight itself takes ~57 ms, typer 0.29 (which loads
    pydantic for its own parameter checks) ~140 ms more (`make bench`, preflight.*)."""
    import sys

    from normalize.request import BadRequest, check_text
    from shims.run.config import ConfigError, load_defaults
    from shims.runtime.signals import release

    release()
    try:
        if vendor_bin is None:
            vendor_bin = load_defaults(vendor)["vendor_bin"]
        else:  # not UTF-8 (Python holds its bytes as lone surrogates): no JSON can carry it
            check_text("--vendor-bin", vendor_bin)
    except (ConfigError, BadRequest) as exc:
        print(f"shim-{vendor}: {exc.message if isinstance(exc, BadRequest) else exc}", file=sys.stderr)
        return 2
    return preflight(vendor, vendor_bin, ignore_quota_state=ignore_quota_state)


def mode_support(vendor: str, program: str | None) -> dict[str, str | None]:
    """mode -> None when this installation can honour it, else why not: asks the vendor
    package to build a launch for each mode (its refusals are the truth, e.g. Claude's full
    mode as root, write mode on an agy without --mode)."""
    import shutil  # doctor only: shutil loads bz2 and lzma, ~8 ms of a preflight's start

    from normalize.request import RunSpec

    command = vendors.command_module(vendor)
    out: dict[str, str | None] = {}
    for mode in command.MODES:
        try:
            launch = command.build_launch(RunSpec(prompt="-", mode=mode, cwd=os.getcwd()),
                                          program or vendors.info(vendor).program)
        except ValueError as exc:
            out[mode] = str(exc)
            continue
        out[mode] = None
        if launch.scratch_dir:  # a per-run folder the launch prepared and nothing will run in
            shutil.rmtree(launch.scratch_dir, ignore_errors=True)
    return out


def schema_support(vendor: str, program: str | None) -> str | None:
    """None when this installation can hold an answer to a JSON schema (output_schema), else
    why not: the vendor's declaration, then its launch (agy before 1.1.8 refuses)."""
    from normalize.request import RunSpec

    problem = vendors.output_schema_problem(vendor)
    if problem or program is None:
        return problem
    try:
        launch = vendors.command_module(vendor).build_launch(
            RunSpec(prompt="-", output_schema={"type": "object"}, cwd=os.getcwd()), program)
    except ValueError as exc:
        return str(exc)
    if launch.scratch_dir:
        import shutil

        shutil.rmtree(launch.scratch_dir, ignore_errors=True)
    return None


def doctor(json_out: bool, modes: bool = False) -> int:
    """`shims doctor [--json] [--modes]`: the exit status (0 when any provider is ready)."""
    if modes:
        return _modes_table(json_out)
    import time

    from shims.run.doctor_checks import report

    rows, reports = [], []
    config = _config_path()
    config_problem = _config_problem()
    for name in vendors.PROVIDERS:
        configured = _configured_bin(name)
        found = probe(name, configured)
        row = found.answer
        row["modes"] = mode_support(name, found.program) if found.program else {}
        row["output_schema"] = schema_support(name, found.program)
        row = _masked_tree(row)  # vendor text (versions, errors, quota messages), before any view reads it
        r = report(row, program=found.program and _masked(found.program), remembered_quota=found.remembered_quota,
                   modes=row["modes"], output_schema=row["output_schema"], setup=_setup(name, config, configured),
                   now=time.time())
        if config_problem is not None:  # what each provider's run would answer: bad_request, exit 2
            r = r.refused_by_config()
            row.update(ready=False, config_error=_masked(config_problem))
        row["checks"] = r.json_checks()
        rows.append(row)
        reports.append(r)
    if json_out:
        print(_masked(orjson.dumps(rows).decode()))  # as before: every JSON spelling of a secret
    else:
        from shims.views.doctor import doctor_view
        from shims.views.terminal import show

        show(doctor_view(reports, config_problem and _masked(config_problem)))
    return 0 if any(r["ready"] for r in rows) else 1


def _config_problem() -> str | None:
    """Why the config file cannot be used, if it cannot: a run reads it first and refuses to
    start over it (bad_request), so a doctor that looked past it would call providers ready."""
    from shims.run.config import ConfigError, load_defaults, load_journal_settings, load_vendor_settings

    try:
        load_journal_settings()
        for name in vendors.PROVIDERS:
            load_defaults(name)
            load_vendor_settings(name)
    except ConfigError as exc:
        return str(exc)
    return None


def _setup(vendor: str, config: str, configured: str | None):
    from shims.run.doctor_checks import Setup

    command = vendors.command_module(vendor)
    return Setup(vendors.info(vendor).program, config, configured, getattr(command, "INSTALL", None),
                 getattr(command, "SIGN_IN", None))


def _modes_table(json_out: bool) -> int:
    rows = []
    for name in vendors.PROVIDERS:
        command = vendors.command_module(name)
        program = resolve_program(name, _configured_bin(name))
        support = mode_support(name, program)
        for mode, args in command.MODES.items():
            rows.append({"provider": name, "mode": mode, "args": list(args), "meaning": command.MODE_NOTES[mode],
                         "supported": support[mode] is None, "why_not": support[mode]})
    if json_out:
        print(_masked(orjson.dumps(rows).decode()))  # the reasons quote the vendor (its version)
        return 0
    from shims.views.doctor import modes_view
    from shims.views.terminal import show

    show(modes_view(_masked_tree(rows)))
    return 0


def _configured_bin(vendor: str) -> str | None:
    from shims.run.config import ConfigError, load_defaults

    try:
        return load_defaults(vendor)["vendor_bin"]
    except ConfigError:
        return None


def _masked(text: str) -> str:
    from shims.state.redact import current

    return current().redact_text(text)


def _masked_tree(value):
    """`value` with every string in it masked (dicts and lists walked)."""
    if isinstance(value, str):
        return _masked(value)
    if isinstance(value, dict):
        return {k: _masked_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked_tree(v) for v in value]
    return value
