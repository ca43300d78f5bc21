"""The config file: defaults for every flag of CONTRACT §1, for all shims or one vendor,
extra vendor arguments and environment, the run journal, and price overrides.

Where: `$CODEX_SHIMS_CONFIG`, else `$XDG_CONFIG_HOME/codex-shims/config.toml` (XDG default
`~/.config`; a relative value is ignored, as XDG says). Precedence for a flag: the flag, then the request, then `[<vendor>]`, then
`[defaults]`, then the built-in default. `shims config show` (shims.run.config_show) prints what applies and why.

    [defaults]
    idle_timeout = 300
    cancel_grace = 3
    args = ["--verbose"]               # appended to every vendor CLI's argv
    env = { HTTPS_PROXY = "http://proxy:3128" }

    [claude]
    vendor_bin = "/opt/claude/bin/claude"
    model = "claude-sonnet-4-6"
    args = ["--add-dir", "/srv/shared"]  # after [defaults] args
    env = { ANTHROPIC_BASE_URL = "http://gateway:8080" }  # wins over [defaults] env

    [journal]
    root = "~/runs"          # ~ and $VARS expanded; relative = next to this file.
                             # Default: $XDG_STATE_HOME/codex-shims/runs
    keep_runs = 500          # newest runs kept
    keep_bytes = "2GiB"      # or a number of bytes; KB/MB/GB = 1000^n, KiB/MiB/GiB = 1024^n
    enabled = true
    redact_env = ["MY_GATEWAY_TOKEN"]  # env values never written to the journal
    max_line_bytes = "64MiB" # a longer vendor stdout line is journaled, not read (an error item)

    [prices.gemini."gemini-2.5-pro"]   # USD per million tokens
    input = 1.25
    cached_input = 0.31
    output = 10.0

Any other table is an error naming the closest of these (`[cluade]` would be read by no one),
as an unknown key in a table is.

Paths are `str` (functions also take `os.PathLike`), as the run path hands them on. The flag
keys, their built-in defaults and their bounds come from the option table (shims.run.options).
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, Literal

from shims.run.options import BUILTIN, CONFIG_OPTIONS, Option
from shims.runtime.lines import DEFAULT_MAX_LINE_BYTES
from shims.state.folder import APP, state_dir

if TYPE_CHECKING:
    from shims.state.redact import Redactor
    from shims.state.store.base import StateSettings

KEEP_RUNS = 500
KEEP_BYTES = 2 * 1024**3
MIN_LINE_CAP = 64 * 1024  # a cap below what real records need would only lose them

_EXTRA_KEYS = ("args", "env")


class ConfigError(Exception):
    pass


@dataclass(slots=True)
class VendorSettings:
    """`args` go after the shim's own vendor argv; `env` is laid over the shim's environment."""

    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class JournalSettings:
    root: str
    keep_runs: int = KEEP_RUNS
    keep_bytes: int = KEEP_BYTES
    enabled: bool = True
    redact_env: list[str] = field(default_factory=list)
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES




def config_path() -> str:
    explicit = os.environ.get("CODEX_SHIMS_CONFIG")
    if explicit:
        return _as_path_text(explicit)
    # Imported here, not with the module: platformdirs brings pathlib, tempfile and shutil
    # (~12 ms of start-up), which a run whose config is named does not need for it.
    import platformdirs

    return _as_path_text(os.path.join(platformdirs.user_config_dir(APP), "config.toml"))




def _as_path_text(path: str) -> str:
    """The path as pathlib writes it (no `.` parts, no trailing slash; `..` kept)."""
    return str(PurePath(path))


def _same_path(a: str, b: str) -> bool:
    """One file named two ways (`./x` and `x`): what comparing Paths used to allow for."""
    return os.path.normpath(a) == os.path.normpath(b)


# ------------------------------------------------------------------------- reading the file

_cache: dict[str, tuple[tuple[int, int], dict[str, Any]]] = {}


def _read(path: str | os.PathLike[str] | None, *, missing_ok: bool = False) -> tuple[str, dict[str, Any] | None]:
    """The parsed file, or None when there is none. Parsed once per (path, mtime, size): a run
    asks for defaults, vendor settings, journal settings and prices, all from the same file.
    Callers must not mutate the returned data."""
    path = os.fspath(path) if path else config_path()
    try:
        st = os.stat(path)
    except FileNotFoundError:
        explicit = os.environ.get("CODEX_SHIMS_CONFIG")
        if not missing_ok and explicit and _same_path(explicit, path):
            raise ConfigError(f"CODEX_SHIMS_CONFIG names a file that does not exist: {path}") from None
        return path, None
    except OSError as exc:
        raise ConfigError(f"Cannot read the config file {path}: {exc}") from None
    stamp = (st.st_mtime_ns, st.st_size)
    hit = _cache.get(path)
    if hit is not None and hit[0] == stamp:
        return path, hit[1]
    import tomllib  # here: most runs have no config file, and start-up time counts

    try:
        with open(path, encoding="utf-8") as f:
            data = tomllib.loads(f.read())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"Cannot read the config file {path}: {exc}") from None
    _check_tables(data, path)
    _cache[path] = (stamp, data)
    return path, data


def _check_tables(data: dict[str, Any], path: str) -> None:
    """A misspelt table (`[cluade]`) would otherwise be read by no one, silently: it is an error
    naming the closest table the shims read."""
    from shims.run import vendors

    known = ["defaults", *vendors.NAMES, "journal", "prices", "state"]
    prices = data.get("prices")
    named = [*data, *(f"prices.{v}" for v in (prices if isinstance(prices, dict) else ()))]
    known += [f"prices.{v}" for v in vendors.NAMES]
    for name in named:
        if name in known:
            continue
        import difflib

        close = difflib.get_close_matches(name, known, n=1)
        shown = [k for k in known if k.startswith("prices.") == name.startswith("prices.")]
        hint = f"did you mean [{close[0]}]?" if close else f"known tables: {', '.join(f'[{k}]' for k in shown)}"
        raise ConfigError(f"unknown table [{name}] in {path}; {hint}")


def _table(data: dict[str, Any] | None, name: str, path: str) -> dict[str, Any]:
    section = (data or {}).get(name, {})
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [{name}] must be a table")
    return section


def _section(data: dict[str, Any] | None, name: str, path: str) -> dict[str, Any]:
    """A validated `[defaults]` or `[<vendor>]` table: only the keys it sets."""
    return _validated(_table(data, name, path), f"{path} [{name}]")


# ------------------------------------------------------------------------- the loaders


def load_defaults(vendor: str, path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Built-in defaults overlaid with the file's `[defaults]` and `[<vendor>]` tables.
    Only flag names (the keys of BUILTIN): `args`/`env` are in load_vendor_settings."""
    path, data = _read(path)
    values = dict(BUILTIN)
    if data is None:
        return values
    for table in ("defaults", vendor):
        section = _section(data, table, path)
        values.update({k: v for k, v in section.items() if k not in _EXTRA_KEYS})
    return values


def secrets_redactor(redact_env: Iterable[str] = ()) -> Redactor:
    """What the shims mask, in one rule for a run and for the answer to a bad command line:
    secret-looking environment variables, every vendor's `env` table in the config file (their
    values reach the vendor too), the `redact_env` names, and known credential shapes."""
    from shims.run import vendors
    from shims.state.redact import Redactor

    env = dict(os.environ)
    for name in vendors.NAMES:
        try:
            env.update(load_vendor_settings(name).env)
        except ConfigError:
            pass
    env.update(_state_password())
    return Redactor.from_env(env, redact_env)


def _state_password() -> dict[str, str]:
    """The shared database's password, under a name the redactor masks: a vendor or a server
    that echoes the URL must not print it."""
    from shims.state.store.base import STATE_URL_ENV, url_password

    try:
        url = load_state_settings().url
    except ConfigError:
        url = os.environ.get(STATE_URL_ENV)
    password = url_password(url)
    return {"CODEX_SHIMS_STATE_PASSWORD": password} if password else {}


def load_vendor_settings(vendor: str, path: str | os.PathLike[str] | None = None) -> VendorSettings:
    """`args` and `env` of `[defaults]` then `[<vendor>]`: args appended in that order, env
    merged with the vendor's value winning."""
    path, data = _read(path)
    settings = VendorSettings()
    if data is None:
        return settings
    for table in ("defaults", vendor):
        section = _section(data, table, path)
        settings.args.extend(section.get("args") or [])
        settings.env.update(section.get("env") or {})
    return settings


def load_journal_settings(path: str | os.PathLike[str] | None = None) -> JournalSettings:
    """The `[journal]` table over the defaults: root `state_dir()/runs`, 500 runs, 2 GiB."""
    path, data = _read(path)
    section = _journal_section(data, path)
    root = section.pop("root", None)
    return JournalSettings(root=_journal_root(root, path) if root is not None else os.path.join(state_dir(), "runs"),
                           **section)


def load_state_settings(path: str | os.PathLike[str] | None = None) -> StateSettings:
    """Where fleet state lives: the `[state]` table's `url` (a shared PostgreSQL database) under
    CODEX_SHIMS_STATE_URL, else the embedded store in the state folder."""
    from shims.state.store.base import state_settings

    path, data = _read(path)
    table = _table(data, "state", path)
    for key, value in table.items():
        if key != "url":
            raise ConfigError(f"{path} [state]: unknown key {key!r}; the known key is 'url'")
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f'{path} [state] url: must be a postgresql:// URL, as url = "postgresql://host/db"')
    return state_settings(state_dir(), table.get("url"))


def load_prices(vendor: str, path: str | os.PathLike[str] | None = None) -> dict[str, dict[str, float]]:
    """`[prices.<vendor>."<model>"]` tables: USD per million tokens (input, cached_input,
    output), over the vendor's packaged price table."""
    path, data = _read(path, missing_ok=True)
    prices = _table(data, "prices", path)
    table = prices.get(vendor) or {}
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [prices.{vendor}] must be a table of models")
    out: dict[str, dict[str, float]] = {}
    for model, p in table.items():
        if not isinstance(p, dict) or not all(_is_number(p.get(k)) for k in ("input", "output")) \
                or ("cached_input" in p and not _is_number(p["cached_input"])):
            raise ConfigError(f"{path}: [prices.{vendor}.\"{model}\"] needs numbers `input` and `output` "
                              "(and optionally `cached_input`), USD per million tokens")
        out[model] = {k: float(v) for k, v in p.items() if k in ("input", "cached_input", "output")}
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b|[kmgt]|b)?\s*", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4}


def _byte_size(value: Any, minimum: int, least: str, example: str) -> int:
    """A config value in bytes: a number, or a size text parse_size reads."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"must be a number of bytes or a size such as {example}")
    size = parse_size(value) if isinstance(value, str) else value
    if size < minimum:
        raise ValueError(f"must be at least {least}")
    return size


def parse_size(text: str) -> int:
    """Bytes in "500MB", "2GiB", "1.5 GB", "4096": KB/MB/GB/TB are powers of 1000, KiB/MiB/
    GiB/TiB powers of 1024."""
    m = _SIZE.fullmatch(text)
    if not m:
        raise ValueError(f"not a size: {text!r} (use bytes, or e.g. \"500MB\", \"2GiB\")")
    number, unit = m.group(1), (m.group(2) or "").lower()
    if unit.endswith("ib"):
        factor = 1024 ** ("kmgt".index(unit[0]) + 1)
    else:
        factor = _UNITS[unit.rstrip("b") if unit != "b" else "b"]
    whole, _, fraction = number.partition(".")  # in integers: a float would overflow on a long one
    return int(whole) * factor + (int(fraction) * factor // 10 ** len(fraction) if fraction else 0)


def _journal_root(root: str, path: str) -> str:
    expanded = os.path.expanduser(os.path.expandvars(root))
    # A relative root would otherwise depend on the directory each run starts in.
    return _as_path_text(expanded if os.path.isabs(expanded) else os.path.join(os.path.dirname(path), expanded))


# ------------------------------------------------------------------------- validation


def _first_error(exc: Any, where: str, known: list[str]) -> ConfigError:
    first = exc.errors()[0]
    key = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"]).lstrip(".")
    if first["type"] == "extra_forbidden":
        import difflib

        close = difflib.get_close_matches(key, known, n=1)
        hint = f" (did you mean `{close[0]}`?)" if close else f" (known: {', '.join(known)})"
        return ConfigError(f"{where}: `{key}`: unknown key{hint}")
    msg = first["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    return ConfigError(f"{where}: `{key}`: {msg}")


@functools.cache
def _models() -> tuple[Any, Any]:
    """Built on first use: pydantic costs tens of milliseconds to import."""
    from pydantic import (
        BaseModel,
        ConfigDict,
        Field,
        StrictBool,
        StrictInt,
        StrictStr,
        create_model,
        field_validator,
    )

    def run_key(option: Option) -> tuple[Any, Any]:
        """A flag's key as the command line takes it (lax types: `idle_timeout = 300` is 300.0)."""
        kind = Literal[option.choices] | None if option.choices else option.python_type
        bound = {} if option.minimum is None else {"gt" if option.exclusive else "ge": option.minimum}
        return kind, Field(default=None, **bound)

    def check_args(cls: Any, v: list[str] | None) -> list[str] | None:
        if v and any("\0" in a for a in v):
            raise ValueError("an argument contains a NUL character")
        return v

    def check_env(cls: Any, v: dict[str, str] | None) -> dict[str, str] | None:
        for name, value in (v or {}).items():
            if not name or "=" in name or "\0" in name:
                raise ValueError(f"{name!r} is not a usable environment variable name")
            if "\0" in value:
                raise ValueError(f"the value of {name} contains a NUL character")
        return v

    # [defaults] and [<vendor>]: every config key of the option table, then args and env.
    section = create_model(
        "Section",
        __config__=ConfigDict(extra="forbid"),
        __validators__={"_args": field_validator("args")(check_args), "_env": field_validator("env")(check_env)},
        **{o.name: run_key(o) for o in CONFIG_OPTIONS},
        args=(list[StrictStr] | None, None),
        env=(dict[StrictStr, StrictStr] | None, None),
    )

    class Journal(BaseModel):
        model_config = ConfigDict(extra="forbid")
        root: StrictStr | None = None
        keep_runs: StrictInt = Field(default=KEEP_RUNS, ge=1)
        keep_bytes: Any = KEEP_BYTES  # checked below: a plain union would report per member
        enabled: StrictBool = True
        redact_env: list[StrictStr] = Field(default_factory=list)
        max_line_bytes: Any = DEFAULT_MAX_LINE_BYTES

        @field_validator("root")
        @classmethod
        def _root(cls, v: str | None) -> str | None:
            if v is not None and not v.strip():
                raise ValueError("must not be empty")
            return v

        @field_validator("keep_bytes")
        @classmethod
        def _size(cls, v: Any) -> int:
            return _byte_size(v, 1, "1 byte", '"500MB" or "2GiB"')

        @field_validator("max_line_bytes")
        @classmethod
        def _line_cap(cls, v: Any) -> int:
            return _byte_size(v, MIN_LINE_CAP, f"{MIN_LINE_CAP} bytes (64KiB)", '"8MiB"')

    return section, Journal


# A config file is read on every run, and building the pydantic models costs ~60 ms of a
# run's start (a shim-fake run: ~240 ms without a config file, ~300 ms with a three-key one).
# As the command line's scanner does (shims.cli.entry), the plain readers below take what is
# certainly valid, read off the option table, and give the same values pydantic would
# (tests/test_config.py checks that on generated tables); anything else — a wrong type, a
# bound, an unknown key — goes to the pydantic models, which say what is wrong.
_RUN_KEYS = {o.name: o for o in CONFIG_OPTIONS}


def _plain_value(option: Option, value: Any) -> tuple[bool, Any]:
    """(True, the value as the Section model gives it) when it is certainly valid."""
    if option.choices:
        return (isinstance(value, str) and value in option.choices), value
    if option.kind in ("text", "path"):
        return isinstance(value, str), value
    if option.kind == "switch":
        return isinstance(value, bool), value
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value or value in (_INF, -_INF):
        return False, None
    low = option.minimum
    if low is not None and (value < low or (option.exclusive and value == low)):
        return False, None
    if option.kind != "number":
        return True, value
    try:
        return True, float(value)
    except OverflowError:  # an int past float's range: pydantic says what is wrong with it
        return False, None


_INF = float("inf")


def _plain_section(section: dict[str, Any]) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    for key, value in section.items():
        if key == "args":
            if not isinstance(value, list) or not all(isinstance(a, str) and "\0" not in a for a in value):
                return None
            out[key] = list(value)
        elif key == "env":
            if not isinstance(value, dict) or not all(
                    isinstance(n, str) and isinstance(v, str) and n and "=" not in n and "\0" not in n + v
                    for n, v in value.items()):
                return None
            out[key] = dict(value)
        elif key in _RUN_KEYS:
            ok, out[key] = _plain_value(_RUN_KEYS[key], value)
            if not ok:
                return None
        else:
            return None
    return out


def _plain_journal(table: dict[str, Any]) -> dict[str, Any] | None:
    out: dict[str, Any] = {"root": None, "keep_runs": KEEP_RUNS, "keep_bytes": KEEP_BYTES, "enabled": True,
                           "redact_env": [], "max_line_bytes": DEFAULT_MAX_LINE_BYTES}
    for key, value in table.items():
        if key == "root":
            ok = isinstance(value, str) and bool(value.strip())
        elif key == "keep_runs":
            ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
        elif key == "enabled":
            ok = isinstance(value, bool)
        elif key == "redact_env":
            ok = isinstance(value, list) and all(isinstance(n, str) for n in value)
            value = list(value) if ok else value
        elif key in ("keep_bytes", "max_line_bytes"):
            try:
                value = (_byte_size(value, 1, "", "") if key == "keep_bytes"
                         else _byte_size(value, MIN_LINE_CAP, "", ""))
            except ValueError:
                return None
            ok = True
        else:
            return None
        if not ok:
            return None
        out[key] = value
    return out


def _validated(section: dict[str, Any], where: str) -> dict[str, Any]:
    if not section:  # nothing to check: no pydantic import on a run without a config file
        return {}
    plain = _plain_section(section)
    if plain is not None:
        return plain
    from pydantic import ValidationError

    model = _models()[0]
    try:
        parsed = model.model_validate(section)
    except ValidationError as exc:
        raise _first_error(exc, where, list(model.model_fields)) from None
    return parsed.model_dump(exclude_unset=True)


def _journal_section(data: dict[str, Any] | None, path: str) -> dict[str, Any]:
    """The `[journal]` table with every field filled in (root only when the file sets it)."""
    table = _table(data, "journal", path)
    out = _plain_journal(table)  # the defaults when there is no table: no pydantic (start-up time)
    if out is None:
        from pydantic import ValidationError

        model = _models()[1]
        try:
            out = model.model_validate(table).model_dump()
        except ValidationError as exc:
            raise _first_error(exc, f"{path} [journal]", list(model.model_fields)) from None
    if out["root"] is None:
        del out["root"]
    return out
