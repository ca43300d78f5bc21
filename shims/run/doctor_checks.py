"""What `shims doctor` found, as data: per provider a list of checks (binary, version,
credentials, quota, modes, output schema), each ok, a warning or a problem, with one line of
what to do about it that names a real command or config key.

Pure: built from a readiness probe's answer (shims.run.preflight) and the mode and schema
support already asked; the view (shims.views.doctor) and `shims doctor --json` both read it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Literal

from normalize.failures import FailureKind

# A note is a fact about the installation that nothing can change (Gemini CLI has no structured
# output): shown, but it makes no provider "ready, with warnings".
State = Literal["ok", "note", "warning", "problem"]


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    state: State
    detail: str
    what_to_do: str | None = None


@dataclass(frozen=True, slots=True)
class Setup:
    """Where a provider comes from, for the what-to-do lines."""

    program_name: str  # the CLI's name on PATH
    config_path: str  # the config file a run would read
    configured_bin: str | None  # its vendor_bin for this provider
    install: str | None  # the vendor's install command
    sign_in: str | None  # how to sign in to the vendor


@dataclass(frozen=True, slots=True)
class Report:
    provider: str
    ready: bool
    checks: tuple[Check, ...]

    @property
    def state(self) -> State:
        if not self.ready:
            return "problem"
        return "warning" if any(c.state in ("warning", "problem") for c in self.checks) else "ok"

    def refused_by_config(self) -> Report:
        """The same checks, not ready: every run refuses to start over a config file it cannot
        read, whatever the provider's own state."""
        check = Check("config", "problem", "runs refuse to start until the config file is fixed (above)")
        return Report(self.provider, False, (check, *self.checks))

    def json_checks(self) -> list[dict]:
        return [asdict(c) for c in self.checks]


# The preflight's `auth` values (each vendor's auth_status), as a person reads them.
AUTH_WORDS = {
    "api_key": "an API key in the environment",
    "token": "an auth token in the environment",
    "oauth_token": "an OAuth token in the environment",
    "login": "a saved sign-in",
    "vertex": "Vertex AI (project or credentials file)",
}


def report(answer: dict, *, program: str | None, remembered_quota: bool, modes: dict[str, str | None],
           output_schema: str | None, setup: Setup, now: float) -> Report:
    """One provider's checks from its preflight answer; checks after the first blocking
    problem are not shown (the probe stopped there too)."""
    checks = [_binary(answer, program, setup)]
    if program is not None:
        checks.append(_version(answer, program, setup))
    if answer["cli_version"] is not None:
        checks.append(_credentials(answer, setup))
        if answer["failure_kind"] != FailureKind.AUTHENTICATION_REQUIRED.value:
            checks.append(_quota(answer, remembered_quota, now))
        checks.append(_modes(modes))
        checks.append(_output_schema(output_schema))
    return Report(answer["provider"], bool(answer["ready"]), tuple(checks))


def _binary(answer: dict, program: str | None, setup: Setup) -> Check:
    provider = answer["provider"]
    if program is not None:
        return Check("binary", "ok", program)
    install = f"install it: {setup.install}, or " if setup.install else ""
    if setup.configured_bin:
        return Check("binary", "problem",
                     f"{setup.configured_bin} (vendor_bin under [{provider}] in {setup.config_path}) was not found",
                     f"{install}correct vendor_bin under [{provider}] in {setup.config_path}, or remove it to use PATH")
    return Check("binary", "problem", f"{setup.program_name} CLI not on PATH",
                 f'{install}add vendor_bin = "/path/to/{setup.program_name}" under [{provider}] in {setup.config_path}')


def _version(answer: dict, program: str, setup: Setup) -> Check:
    if answer["cli_version"] is not None:
        return Check("version", "ok", answer["cli_version"])
    reinstall = f"; reinstall: {setup.install}" if setup.install else ""
    return Check("version", "problem", answer["error"], f"run `{program} --version` to see why{reinstall}")


def _credentials(answer: dict, setup: Setup) -> Check:
    how = answer["auth"]
    if answer["failure_kind"] == FailureKind.AUTHENTICATION_REQUIRED.value:
        return Check("credentials", "problem", "none found", setup.sign_in or answer["error"])
    if how == "unknown":
        return Check("credentials", "warning",
                     "no key or saved sign-in found; a sign-in kept in the OS keyring only shows in a run",
                     f"if runs fail with authentication_required: {setup.sign_in}" if setup.sign_in else None)
    return Check("credentials", "ok", AUTH_WORDS.get(how, how))


def _quota(answer: dict, remembered: bool, now: float) -> Check:
    quota = answer["quota"]
    if not quota:
        return Check("quota", "ok", "no limit recorded or reported")
    provider = answer["provider"]
    until = _when(quota.get("resets_at"), now)
    window = f"{quota['window']} " if quota.get("window") else ""
    if remembered:
        return Check("quota", "problem",
                     f"{window}limit recorded by an earlier run ({quota['state'].replace('_', ' ')}), "
                     f"in force until {until}",
                     f"runs fail fast until then; it clears by itself then, or when a run succeeds; "
                     f"to try anyway: shim-{provider} --ignore-quota-state")
    message = quota.get("message") or quota["state"]
    if quota["state"] == "exhausted":
        return Check("quota", "problem", f"exhausted ({message}); resets {until}",
                     f"runs fail with quota_or_rate_limited until {until}; wait, or use another provider")
    if quota["state"] == "warning":
        return Check("quota", "warning", f"{message}; resets {until}",
                     f"little quota left: long runs may stop with quota_or_rate_limited before {until}")
    return Check("quota", "ok", message)


def _modes(modes: dict[str, str | None]) -> Check:
    honoured = [m for m, why in modes.items() if why is None]
    refused = [m for m, why in modes.items() if why is not None]
    detail = ", ".join(honoured) or "none"
    if refused:
        detail += f"; not {', '.join(refused)} here"
    if not honoured:
        return Check("modes", "problem", detail, "shims doctor --modes says why")
    return Check("modes", "ok", detail + (" (shims doctor --modes says why)" if refused else ""))


def _output_schema(problem: str | None) -> Check:
    if problem is None:
        return Check("output schema", "ok", "answers can follow a JSON schema (--output-schema)")
    return Check("output schema", "note", f"not supported: {problem}")


def _when(resets_at: str | None, now: float) -> str:
    """`2026-12-05 08:00 UTC (in 13 h)`, or `an unknown time`."""
    from shims.state.quota import parse_time

    epoch = parse_time(resets_at)
    if epoch is None:
        return resets_at or "an unknown time"
    at = datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"{at} (in {_duration(epoch - now)})"


def _duration(seconds: float) -> str:
    minutes = max(int(seconds + 59) // 60, 1)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes and hours < 3 else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"
