"""Readiness checks (CONTRACT §8): `shim-X --preflight` and `shims doctor`.

This version checks what is vendor-independent: the binary runs and reports a version, and
the vendor's translation exists. Credential and quota checks belong to each vendor package.
"""

from __future__ import annotations

import orjson

from normalize.failures import EXIT_CODES, FailureKind
from shims import vendors
from shims.app import resolve_program, vendor_version


def check(vendor: str, vendor_bin: str | None = None) -> dict:
    vi = vendors.info(vendor)
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
    if not vi.built:
        answer["failure_kind"] = FailureKind.UNSUPPORTED_MODE.value
        answer["error"] = f"The {vendor} translation is not available yet in this version of codex-shims."
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
        print(f"{'provider':<10}{'ready':<7}{'cli version':<22}{'auth':<9}problem")
        for r in rows:
            print(f"{r['provider']:<10}{'yes' if r['ready'] else 'no':<7}{(r['cli_version'] or '-'):<22}{r['auth']:<9}{r['error'] or ''}")
    return 0 if any(r["ready"] for r in rows) else 1
