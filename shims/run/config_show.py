"""`shims config show`: every setting that applies to a run, with where it came from, masked
as everything the shims print is. Read off the config file's loaders (shims.run.config)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from shims.run.config import (
    BUILTIN,
    _read,
    _same_path,
    _section,
    _table,
    config_path,
    load_journal_settings,
    load_prices,
    load_state_settings,
)

_SECRET_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "AUTH")

@dataclass(slots=True)
class ConfigValue:
    key: str
    value: Any
    source: str


def _state_from_environment() -> bool:
    """Whether state_dir() comes from $XDG_STATE_HOME (for `shims config show`)."""
    return os.path.isabs(os.environ.get("XDG_STATE_HOME", ""))


def is_secret_name(name: str, also: list[str] | tuple[str, ...] = ()) -> bool:
    from shims.state.redact import is_secret_env_name

    upper = name.upper()
    return any(word in upper for word in _SECRET_WORDS) or is_secret_env_name(name) or name in also


def effective_config(vendor: str | None = None, path: str | os.PathLike[str] | None = None) -> list[ConfigValue]:
    """Every setting that applies, with where it came from: per vendor (all three, or the one
    given) its flag defaults, args, env and price overrides; then the journal, the state store
    (`state.url`); then the file.
    Without a vendor, `defaults.*` first shows what a vendor with no table of its own gets."""
    given = path is not None and not _same_path(os.fspath(path), config_path())
    path, data = _read(path)
    where = lambda table: f"{path} [{table}]"  # noqa: E731
    journal = load_journal_settings(path)
    out: list[ConfigValue] = []

    def layers(tables: tuple[str, ...], prefix: str) -> None:
        sections = [(t, _section(data, t, path)) for t in tables]
        for key, builtin in BUILTIN.items():
            value, source = builtin, "built-in"
            for table, section in sections:
                if key in section:
                    value, source = section[key], where(table)
            out.append(ConfigValue(f"{prefix}.{key}", value, source))
        args, arg_tables = [], []
        for table, section in sections:
            if section.get("args"):
                args.extend(section["args"])
                arg_tables.append(f"[{table}]")
        out.append(ConfigValue(f"{prefix}.args", args, f"{path} {' + '.join(arg_tables)}" if arg_tables else "built-in"))
        env: dict[str, tuple[str, str]] = {}
        for table, section in sections:
            for name, value in (section.get("env") or {}).items():
                env[name] = (value, where(table))
        if not env:
            out.append(ConfigValue(f"{prefix}.env", {}, "built-in"))
        for name, (value, source) in env.items():
            shown = "***" if is_secret_name(name, journal.redact_env) else value
            out.append(ConfigValue(f"{prefix}.env.{name}", shown, source))

    from shims.run import vendors

    if vendor is None:
        layers(("defaults",), "defaults")
    for v in (vendor,) if vendor else vendors.PROVIDERS:
        layers(("defaults", v), v)
        for model, prices in load_prices(v, path).items():
            for field_name, price in prices.items():
                out.append(ConfigValue(f'prices.{v}."{model}".{field_name}', price, where(f"prices.{v}")))

    section = _table(data, "journal", path)
    for name in ("root", "keep_runs", "keep_bytes", "enabled", "redact_env", "max_line_bytes"):
        value = getattr(journal, name)
        if name in section:
            source = where("journal")
        elif name == "root" and _state_from_environment():
            source = "environment (XDG_STATE_HOME)"
        else:
            source = "built-in"
        out.append(ConfigValue(f"journal.{name}", str(value) if name == "root" else value, source))

    out.append(_state_row(load_state_settings(path), _table(data, "state", path), where("state")))

    if given:
        source = "argument"
    elif os.environ.get("CODEX_SHIMS_CONFIG"):
        source = "environment (CODEX_SHIMS_CONFIG)"
    elif os.path.isabs(os.environ.get("XDG_CONFIG_HOME", "")):  # a relative one is ignored (XDG spec)
        source = "environment (XDG_CONFIG_HOME)"
    else:
        source = "built-in"
    out.append(ConfigValue("config.path", str(path), source))
    out.append(ConfigValue("config.exists", data is not None, "filesystem"))
    return _masked(out, data, path, journal.redact_env)


def _state_row(settings: Any, table: dict[str, Any], in_file: str) -> ConfigValue:
    """`state.url`: the shared database (its password never shown), or the embedded store's file."""
    from shims.state.store.base import STATE_URL_ENV, public_url

    if settings.url is None:  # null: state.sqlite3 in the state folder
        return ConfigValue("state.url", None, "built-in")
    shown = public_url(settings.url)  # the password (user part or parameter) left out
    source = f"environment ({STATE_URL_ENV})" if os.environ.get(STATE_URL_ENV) else in_file
    return ConfigValue("state.url", shown, source)


def _masked(rows: list[ConfigValue], data: dict[str, Any] | None, path: str, names: list[str]) -> list[ConfigValue]:
    """Values as `shims config show` may print them: a key in an argument, a URL or a path
    is masked like everything the shims write (the secret-named env values are `***` already)."""
    from shims.run import vendors
    from shims.state.redact import Redactor

    env = dict(os.environ)
    for table in (*vendors.PROVIDERS, "defaults"):
        env.update({k: v for k, v in (_section(data, table, path).get("env") or {}).items() if isinstance(v, str)})
    redactor = Redactor.from_env(env, names)

    def mask(value: Any) -> Any:
        if isinstance(value, str):
            return redactor.redact_text(value)
        if isinstance(value, list):
            return [mask(v) for v in value]
        return value

    return [ConfigValue(r.key, mask(r.value), r.source) for r in rows]
