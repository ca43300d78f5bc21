"""The vendor registry: which vendors exist, and where their command and parser live.

Vendor packages are imported only when used, so a shim pays for one vendor, not three.
Every vendor package has the same modules: `command` (argv, env, modes), `parse` (pure
translation) and `errors` (classification).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType


@dataclass(slots=True, frozen=True)
class VendorInfo:
    name: str
    program: str  # the CLI's name on PATH
    formats: tuple[str, ...]  # native output formats `shims normalize --format` accepts
    title: str  # what the CLI is called in a sentence


VENDORS: dict[str, VendorInfo] = {
    "claude": VendorInfo("claude", "claude", ("stream-json", "json", "text"), "Claude Code"),
    "gemini": VendorInfo("gemini", "gemini", ("stream-json", "json", "text"), "Gemini CLI"),
    "agy": VendorInfo("agy", "agy", ("stream-json", "json", "text"), "agy"),
    # The fake vendor (tests/fakes/fake_vendor.py): tests, demos, the README quick start.
    "fake": VendorInfo("fake", "fake-vendor", ("stream-json",), "The fake vendor CLI"),
}


NAMES: tuple[str, ...] = tuple(VENDORS)
# The real vendor CLIs (`shims doctor`, `shims config show`): all but the test stand-in.
PROVIDERS: tuple[str, ...] = tuple(name for name in NAMES if name != "fake")


def info(name: str) -> VendorInfo:
    try:
        return VENDORS[name]
    except KeyError:
        raise KeyError(f"unknown vendor {name!r}; known: {', '.join(VENDORS)}") from None


def _module(name: str, part: str) -> ModuleType:
    info(name)
    return importlib.import_module(f"shims.{name}.{part}")


def command_module(name: str) -> ModuleType:
    return _module(name, "command")


def output_schema_problem(name: str) -> str | None:
    """Why this vendor cannot hold its answer to a JSON schema (a request's output_schema,
    `exec --output-schema`), or None when it can: each command module declares OUTPUT_SCHEMA.
    (A vendor that can may still refuse in its build_launch: agy before 1.1.8.)"""
    if getattr(command_module(name), "OUTPUT_SCHEMA", False):
        return None
    able = [n for n in PROVIDERS if getattr(command_module(n), "OUTPUT_SCHEMA", False)]
    return (f"{info(name).title} cannot constrain its answer to a JSON schema (it has no structured-output option), "
            f"so the output schema cannot be honoured; run without one (output_schema, --output-schema), "
            f"or use {' or '.join(able) or 'another vendor'}, which can.")


def recorded_version(name: str, text: object) -> str | None:
    """A recorded `--version` answer (a golden case's meta.json) as a live run reports the
    version: agy's `1.2.16 (simulator)` is 1.2.16."""
    return command_module(name).parse_version(text) if isinstance(text, str) and text else None


def price_table(name: str, overrides: dict | None = None) -> dict[str, dict[str, float]]:
    """The vendor's packaged price table (none for agy) with the user's overrides over it."""
    try:
        base = importlib.import_module(f"shims.{name}.prices").PRICES
    except ModuleNotFoundError:
        base = {}
    return {**base, **(overrides or {})}


def new_parser(name: str, fmt: str = "stream-json", prices: dict | None = None):
    """`prices`: the user's price overrides (config file) over the vendor's packaged table."""
    vi = info(name)
    if fmt not in vi.formats:
        raise ValueError(f"{name} has no parser for --format {fmt}; it has: {', '.join(vi.formats)}")
    module = _module(name, "parse")
    if prices:
        return module.new_parser(fmt, prices=price_table(name, prices))
    return module.new_parser(fmt)
