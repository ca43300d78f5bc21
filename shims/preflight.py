"""Readiness checks (CONTRACT §8): `shim-X --preflight` and `shims doctor`.

The binary runs and reports a version, the vendor's translation exists, and credentials are
present (each vendor package's `auth_status`), and no quota or rate limit recorded by an earlier
run (shims.journal.quota) is still in force. No model call, no quota spent.
"""

from __future__ import annotations

import os

import orjson

from normalize.failures import EXIT_CODES, FailureKind
from shims import vendors
from shims.app import resolve_program, vendor_version


def check(vendor: str, vendor_bin: str | None = None, *, ignore_quota_state: bool = False) -> dict:
    from shims.config import ConfigError, load_defaults

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
        answer["error"] = f"{program} --version failed; the {vendor} CLI is not usable."
        return answer
    command = vendors.command_module(vendor)
    auth_status = getattr(command, "auth_status", None)
    if auth_status is not None:
        ok, how, problem = auth_status(dict(os.environ))
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
        quota = quota_status(program, dict(os.environ))
        answer["quota"] = quota
        if quota and quota["state"] == "exhausted":
            answer["failure_kind"] = FailureKind.QUOTA_OR_RATE_LIMITED.value
            answer["error"] = f"{vendor} quota exhausted ({quota['message']}); resets {quota['resets_at']}."
            return answer
    answer["ready"] = True
    return answer


def remembered_quota(vendor: str) -> dict | None:
    """The limit an earlier run recorded for this provider and account, if still in force."""
    from shims.app import account_for
    from shims.config import ConfigError, load_vendor_settings, state_dir
    from shims.journal.quota import QuotaMemory

    try:
        env = {**os.environ, **load_vendor_settings(vendor).env}
        quota = QuotaMemory(state_dir()).active(vendor, account_for(vendor, env))
    except ConfigError:
        return None
    if quota is not None:
        quota.pop("run_id", None)
    return quota


def preflight(vendor: str, vendor_bin: str | None = None, *, ignore_quota_state: bool = False) -> int:
    answer = check(vendor, vendor_bin, ignore_quota_state=ignore_quota_state)
    print(orjson.dumps(answer).decode())
    return 0 if answer["ready"] else EXIT_CODES[answer["failure_kind"]]


def doctor(json_out: bool) -> int:
    rows = [check(name) for name in ("claude", "gemini", "agy")]
    if json_out:
        print(orjson.dumps(rows).decode())
    else:
        print(f"{'provider':<10}{'ready':<7}{'cli version':<22}{'auth':<13}problem")
        for r in rows:
            print(f"{r['provider']:<10}{'yes' if r['ready'] else 'no':<7}{(r['cli_version'] or '-'):<22}{r['auth']:<13}{r['error'] or ''}")
    return 0 if any(r["ready"] for r in rows) else 1
