"""Readiness checks (CONTRACT §8): `shim-X --preflight` and `shims doctor`.

The binary runs and reports a version, the vendor's translation exists, and credentials are
present (each vendor package's `auth_status`). No model call, no quota spent. Remembered
quota exhaustion comes with the journal.
"""

from __future__ import annotations

import os

import orjson

from normalize.failures import EXIT_CODES, FailureKind
from shims import vendors
from shims.app import resolve_program, vendor_version


def check(vendor: str, vendor_bin: str | None = None) -> dict:
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


def preflight(vendor: str, vendor_bin: str | None = None) -> int:
    answer = check(vendor, vendor_bin)
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
