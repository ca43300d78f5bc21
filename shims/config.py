"""The config file: defaults for every flag of CONTRACT §1, for all shims or one vendor.

Where: `$CODEX_SHIMS_CONFIG`, else `$XDG_CONFIG_HOME/codex-shims/config.toml` (XDG default
`~/.config`). Precedence: a flag, then the request, then `[<vendor>]`, then `[defaults]`,
then the built-in default.

    [defaults]
    idle_timeout = 300
    cancel_grace = 3

    [claude]
    vendor_bin = "/opt/claude/bin/claude"
    model = "claude-sonnet-4-6"
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

BUILTIN: dict[str, Any] = {
    "mode": None,
    "model": None,
    "emit": "auto",
    "timeout": None,
    "idle_timeout": 600.0,
    "cancel_grace": 3.0,
    "vendor_bin": None,
    "pty": "never",
    "fallback": None,
    "max_cost_usd": None,
    "journal": None,
    "worktree": None,
}


class ConfigError(Exception):
    pass


def config_path() -> Path:
    explicit = os.environ.get("CODEX_SHIMS_CONFIG")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "codex-shims" / "config.toml"


def load_defaults(vendor: str, path: Path | None = None) -> dict[str, Any]:
    """Built-in defaults overlaid with the file's `[defaults]` and `[<vendor>]` tables."""
    path = path or config_path()
    values = dict(BUILTIN)
    if not path.exists():
        if os.environ.get("CODEX_SHIMS_CONFIG"):
            raise ConfigError(f"CODEX_SHIMS_CONFIG names a file that does not exist: {path}")
        return values
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"Cannot read the config file {path}: {exc}") from None
    for table in ("defaults", vendor):
        section = data.get(table, {})
        if not isinstance(section, dict):
            raise ConfigError(f"{path}: [{table}] must be a table")
        values.update(_validated(section, f"{path} [{table}]"))
    return values


def load_prices(vendor: str, path: Path | None = None) -> dict[str, dict[str, float]]:
    """`[prices.<vendor>."<model>"]` tables: USD per million tokens (input, cached_input,
    output), over the vendor's packaged price table."""
    path = path or config_path()
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"Cannot read the config file {path}: {exc}") from None
    table = (data.get("prices") or {}).get(vendor) or {}
    out: dict[str, dict[str, float]] = {}
    for model, p in table.items():
        if not isinstance(p, dict) or not all(isinstance(p.get(k), int | float) for k in ("input", "output")):
            raise ConfigError(f"{path}: [prices.{vendor}.\"{model}\"] needs numbers `input` and `output` (USD per million tokens)")
        out[model] = {k: float(v) for k, v in p.items() if k in ("input", "cached_input", "output")}
    return out


def _validated(section: dict[str, Any], where: str) -> dict[str, Any]:
    from pydantic import BaseModel, ConfigDict, Field, ValidationError

    class Section(BaseModel):
        model_config = ConfigDict(extra="forbid")
        mode: Literal["read-only", "write", "full"] | None = None
        model: str | None = None
        emit: Literal["auto", "ndjson", "codex-lab-v1", "pretty"] | None = None
        timeout: float | None = Field(default=None, gt=0)
        idle_timeout: float | None = Field(default=None, ge=0)
        cancel_grace: float | None = Field(default=None, ge=0)
        vendor_bin: str | None = None
        pty: Literal["auto", "always", "never"] | None = None
        fallback: str | None = None
        max_cost_usd: float | None = Field(default=None, gt=0)
        journal: str | None = None
        worktree: bool | None = None

    try:
        parsed = Section.model_validate(section)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{where}: `{key}`: {first['msg']}") from None
    return parsed.model_dump(exclude_unset=True)
