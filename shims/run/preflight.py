"""Readiness checks (CONTRACT §8): `shim-X --preflight` and `shims doctor`.

The binary runs and reports a version, the vendor's translation exists, and credentials are
present (each vendor package's `auth_status`), and no quota or rate limit recorded by an earlier
run (shims.state.quota) is still in force. No model call, no quota spent.
"""

from __future__ import annotations

import os

import orjson

from normalize.failures import EXIT_CODES, FailureKind
from shims.run import vendors
from shims.run.programs import VERSION_TIMEOUT_S, resolve_program, vendor_version


def check(vendor: str, vendor_bin: str | None = None, *, ignore_quota_state: bool = False) -> dict:
    from shims.run.config import ConfigError, load_defaults

    vi = vendors.info(vendor)
    if vendor_bin is None:
        try:
            vendor_bin = load_defaults(vendor)["vendor_bin"]
        except ConfigError:
            pass  # a broken config file is reported by every run; here the PATH lookup still helps
    answer = {"ready": False, "provider": vendor, "cli_version": None, "auth": "unknown", "quota": None,
              "failure_kind": None, "error": None}
    program = resolve_program(vendor, vendor_bin)
    if program is None:
        answer["failure_kind"] = FailureKind.COMMAND_MISSING.value
        answer["error"] = f"The {vendor} CLI ({vendor_bin or vi.program}) was not found; install it or pass --vendor-bin."
        return answer
    answer["cli_version"] = vendor_version(program, vendor)
    if answer["cli_version"] is None:
        answer["failure_kind"] = FailureKind.COMMAND_MISSING.value
        answer["error"] = (f"`{program} --version` failed or gave no version within {VERSION_TIMEOUT_S:.0f} s; "
                           f"the {vendor} CLI is not usable.")
        return answer
    command = vendors.command_module(vendor)
    env = _vendor_env(vendor)  # what a run would give the vendor: the config file's env included
    auth_status = getattr(command, "auth_status", None)
    if auth_status is not None:
        ok, how, problem = auth_status(env)
        answer["auth"] = how
        if not ok:
            answer["failure_kind"] = FailureKind.AUTHENTICATION_REQUIRED.value
            answer["error"] = problem
            return answer
    remembered = None if ignore_quota_state else remembered_quota(vendor)
    if remembered is not None:
        answer["quota"] = remembered
        answer["failure_kind"] = FailureKind.QUOTA_OR_RATE_LIMITED.value
        answer["error"] = (f"{vendor}: a recorded {remembered['state'].replace('_', ' ')} limit is in force until "
                           f"{remembered['resets_at']}; runs fail fast until then (--ignore-quota-state to try anyway).")
        return answer
    quota_status = getattr(command, "quota_status", None)
    if quota_status is not None:
        quota = quota_status(program, env)
        answer["quota"] = quota
        if quota and quota["state"] == "exhausted":
            answer["failure_kind"] = FailureKind.QUOTA_OR_RATE_LIMITED.value
            answer["error"] = f"{vendor} quota exhausted ({quota['message']}); resets {quota['resets_at']}."
            return answer
    answer["ready"] = True
    return answer


def _vendor_env(vendor: str) -> dict[str, str]:
    from shims.run.config import ConfigError, load_vendor_settings

    try:
        return {**os.environ, **load_vendor_settings(vendor).env}
    except ConfigError:
        return dict(os.environ)


def remembered_quota(vendor: str) -> dict | None:
    """The limit an earlier run recorded for this provider and account, if still in force."""
    from shims.run.config import ConfigError, load_vendor_settings
    from shims.run.programs import account_for
    from shims.state.folder import state_dir
    from shims.state.quota import QuotaMemory

    try:
        env = {**os.environ, **load_vendor_settings(vendor).env}
        quota = QuotaMemory(state_dir()).active(vendor, account_for(vendor, env))
    except (ConfigError, OSError, ValueError, TypeError):
        return None
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
    if modes:
        return _modes_table(json_out)
    rows = []
    for name in vendors.PROVIDERS:
        row = check(name)
        program = resolve_program(name, _configured_bin(name))
        row["modes"] = mode_support(name, program) if program else {}
        row["output_schema"] = schema_support(name, program)
        rows.append(row)
    if json_out:
        print(_masked(orjson.dumps(rows).decode()))
    else:
        head = ("provider", "ready", "cli version", "auth", "quota", "modes", "output schema", "problem")
        body = []
        for r in rows:
            q = r["quota"] or {}
            quota = q.get("state") or "-"
            if q.get("resets_at"):
                quota += f" until {q['resets_at']}"
            modes = " ".join(m if why is None else f"({m})" for m, why in r["modes"].items()) or "-"
            body.append((r["provider"], "yes" if r["ready"] else "no", r["cli_version"] or "-", r["auth"], quota,
                         modes, "yes" if r["output_schema"] is None else "no", r["error"] or ""))
        _print_table(head, body)
        print("(mode) = this installation cannot honour that mode; `shims doctor --modes` says why.")
    return 0 if any(r["ready"] for r in rows) else 1


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
        print(orjson.dumps(rows).decode())
        return 0
    body = [(r["provider"], r["mode"], " ".join(r["args"]) or "(none: the default)", r["meaning"],
             "yes" if r["supported"] else f"no: {r['why_not']}") for r in rows]
    _print_table(("provider", "mode", "vendor arguments", "meaning", "here"), body)
    return 0


def _configured_bin(vendor: str) -> str | None:
    from shims.run.config import ConfigError, load_defaults

    try:
        return load_defaults(vendor)["vendor_bin"]
    except ConfigError:
        return None


def _print_table(head: tuple[str, ...], body: list[tuple[str, ...]]) -> None:
    from normalize.emit import visible

    # Cells quote vendors (versions, errors, quota messages): masked and shown visibly.
    body = [tuple(visible(_masked(str(c)), keep="") for c in r) for r in body]
    widths = [max(len(str(r[i])) for r in (head, *body)) for i in range(len(head))]
    for r in (head, *body):
        print("  ".join(str(c).ljust(widths[i]) for i, c in enumerate(r)).rstrip())


def _masked(text: str) -> str:
    from shims.state.redact import current

    return current().redact_text(text)
