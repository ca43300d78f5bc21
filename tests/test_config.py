"""The config file (shims.run.config) and `shims config show`, on real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FAKE_VENDOR
from hypothesis import example, given, settings
from hypothesis import strategies as st

from shims.run import config
from shims.run.config import (
    BUILTIN,
    ConfigError,
    load_defaults,
    load_journal_settings,
    load_prices,
    load_state_settings,
    load_vendor_settings,
    parse_size,
)
from shims.run.config_show import ConfigValue, effective_config
from shims.state.folder import state_dir

SHIMS = str(Path(sys.executable).parent / "shims")

FULL = """\
[defaults]
idle_timeout = 300
args = ["--verbose"]
env = { HTTPS_PROXY = "http://proxy:3128", SHARED = "from-defaults" }

[claude]
vendor_bin = "/opt/claude/bin/claude"
args = ["--add-dir", "/srv/shared"]
env = { SHARED = "from-claude", ANTHROPIC_API_KEY = "sk-very-secret", MY_GATEWAY = "hidden-too" }

[journal]
keep_runs = 20
keep_bytes = "500MB"
redact_env = ["MY_GATEWAY"]

[prices.gemini."gemini-2.5-pro"]
input = 1.25
cached_input = 0.31
output = 10
"""


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def by_key(rows) -> dict[str, ConfigValue]:
    return {r.key: r for r in rows}


# ---------------------------------------------------------------------- args and env


def test_args_and_env_merge_defaults_then_vendor(tmp_path):
    path = write(tmp_path, FULL)
    claude = load_vendor_settings("claude", path)
    assert claude.args == ["--verbose", "--add-dir", "/srv/shared"]
    assert claude.env == {"HTTPS_PROXY": "http://proxy:3128", "SHARED": "from-claude",
                          "ANTHROPIC_API_KEY": "sk-very-secret", "MY_GATEWAY": "hidden-too"}
    gemini = load_vendor_settings("gemini", path)
    assert gemini.args == ["--verbose"]
    assert gemini.env == {"HTTPS_PROXY": "http://proxy:3128", "SHARED": "from-defaults"}


def test_args_and_env_stay_out_of_the_flag_defaults(tmp_path):
    path = write(tmp_path, FULL)
    defaults = load_defaults("claude", path)
    assert set(defaults) == set(BUILTIN)
    assert defaults["idle_timeout"] == 300 and defaults["vendor_bin"] == "/opt/claude/bin/claude"


def test_no_file_means_no_extras(tmp_path):
    missing = tmp_path / "absent.toml"
    assert load_vendor_settings("claude", missing) == config.VendorSettings()
    assert load_defaults("claude", missing) == BUILTIN


def test_returned_settings_do_not_share_state_with_the_cache(tmp_path):
    path = write(tmp_path, FULL)
    load_vendor_settings("claude", path).args.append("--mutated")
    load_vendor_settings("claude", path).env["NEW"] = "x"
    again = load_vendor_settings("claude", path)
    assert "--mutated" not in again.args and "NEW" not in again.env


@pytest.mark.parametrize(("text", "expected"), [
    ('[claude]\nargs = "--foo"\n', "[claude]: `args`: Input should be a valid list"),
    ('[claude]\nargs = ["--foo", 3]\n', "[claude]: `args[1]`: Input should be a valid string"),
    ('[defaults]\nenv = ["A=1"]\n', "[defaults]: `env`: Input should be a valid dictionary"),
    ('[gemini]\nenv = { PORT = 8080 }\n', "[gemini]: `env.PORT`: Input should be a valid string"),
    ('[gemini]\nenv = { DEBUG = true }\n', "[gemini]: `env.DEBUG`: Input should be a valid string"),
    ('[claude]\nenv = { "A=B" = "x" }\n', "[claude]: `env`: 'A=B' is not a usable environment variable name"),
    ('[claude]\nargz = ["--foo"]\n', "[claude]: `argz`: unknown key (did you mean `args`?)"),
])
def test_args_env_type_errors_name_file_table_and_key(tmp_path, text, expected):
    path = write(tmp_path, text)
    vendor = "gemini" if "[gemini]" in text else "claude"
    with pytest.raises(ConfigError) as err:
        load_vendor_settings(vendor, path)
    assert str(err.value) == f"{path} {expected}"
    with pytest.raises(ConfigError):  # the same file is as bad for the flag defaults
        load_defaults(vendor, path)


def test_a_vendor_table_that_is_not_a_table(tmp_path):
    path = write(tmp_path, 'claude = "yes"\n')
    with pytest.raises(ConfigError, match=r"\[claude\] must be a table"):
        load_vendor_settings("claude", path)


# ---------------------------------------------------------------------- the journal


def test_journal_defaults_live_under_xdg_state_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert state_dir() == str(tmp_path / "state" / "codex-shims")
    settings = load_journal_settings(tmp_path / "absent.toml")
    assert settings == config.JournalSettings(root=str(tmp_path / "state" / "codex-shims" / "runs"), keep_runs=500,
                                              keep_bytes=2 * 1024**3, enabled=True, redact_env=[])


def test_state_dir_without_xdg_state_home(monkeypatch, tmp_path):
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert state_dir() == str(tmp_path / ".local" / "state" / "codex-shims")
    monkeypatch.setenv("XDG_STATE_HOME", "relative/path")  # XDG: a relative value is ignored
    assert state_dir() == str(tmp_path / ".local" / "state" / "codex-shims")


def test_journal_table_is_read(tmp_path, monkeypatch):
    monkeypatch.setenv("RUNS_BASE", str(tmp_path / "base"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    path = write(tmp_path, '[journal]\nroot = "$RUNS_BASE/runs"\nkeep_runs = 7\nkeep_bytes = 4096\n'
                           'enabled = false\nredact_env = ["GATEWAY_PW"]\n')
    assert load_journal_settings(path) == config.JournalSettings(
        root=str(tmp_path / "base" / "runs"), keep_runs=7, keep_bytes=4096, enabled=False, redact_env=["GATEWAY_PW"])
    path.write_text('[journal]\nroot = "~/journal"\n')
    assert load_journal_settings(path).root == str(tmp_path / "home" / "journal")
    path.write_text('[journal]\nroot = "runs-here"\n')  # relative: next to the config file
    assert load_journal_settings(path).root == str(tmp_path / "runs-here")


@pytest.mark.parametrize(("text", "size"), [
    ("500MB", 500 * 1000**2), ("2GiB", 2 * 1024**3), ("1.5 GB", 1_500_000_000), ("4096", 4096),
    ("10KiB", 10 * 1024), ("3 kb", 3000), ("1TB", 1000**4), ("7b", 7), ("512m", 512 * 1000**2),
])
def test_size_strings(tmp_path, text, size):
    assert parse_size(text) == size
    path = write(tmp_path, f'[journal]\nkeep_bytes = "{text}"\n')
    assert load_journal_settings(path).keep_bytes == size


@pytest.mark.parametrize(("line", "expected"), [
    ('keep_runs = 0', "`keep_runs`: Input should be greater than or equal to 1"),
    ('keep_runs = "many"', "`keep_runs`: Input should be a valid integer"),
    ('keep_bytes = 0', "`keep_bytes`: must be at least 1 byte"),
    ('keep_bytes = "lots"', "`keep_bytes`: not a size: 'lots'"),
    ('keep_bytes = true', "`keep_bytes`: must be a number of bytes"),
    ('enabled = "yes"', "`enabled`: Input should be a valid boolean"),
    ('redact_env = "TOKEN"', "`redact_env`: Input should be a valid list"),
    ('root = ""', "`root`: must not be empty"),
    ('keep_run = 3', "`keep_run`: unknown key (did you mean `keep_runs`?)"),
    ('colour = "blue"', "`colour`: unknown key (known: root, keep_runs, keep_bytes, enabled, redact_env, max_line_bytes)"),
])
def test_journal_errors(tmp_path, line, expected):
    path = write(tmp_path, f"[journal]\n{line}\n")
    with pytest.raises(ConfigError) as err:
        load_journal_settings(path)
    assert str(err.value).startswith(f"{path} [journal]: {expected}")


# ---------------------------------------------------------------------- reading the file


def test_missing_file_named_by_the_environment_is_an_error(tmp_path, monkeypatch):
    missing = tmp_path / "nope.toml"
    monkeypatch.setenv("CODEX_SHIMS_CONFIG", str(missing))
    for load in (lambda: load_defaults("claude"), lambda: load_vendor_settings("claude"), load_journal_settings,
                 lambda: effective_config("claude")):
        with pytest.raises(ConfigError, match="CODEX_SHIMS_CONFIG names a file that does not exist"):
            load()
    assert load_prices("claude") == {}  # as before: prices never complain about a missing file
    monkeypatch.setenv("CODEX_SHIMS_CONFIG", f"{tmp_path}//./nope.toml")
    with pytest.raises(ConfigError, match=f"does not exist: {tmp_path}/nope.toml$"):
        load_journal_settings()  # the path as written, tidied as pathlib tidied it


def test_missing_default_location_is_fine(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "empty"))
    assert config.config_path() == str(tmp_path / "empty" / "codex-shims" / "config.toml")
    assert load_defaults("claude") == BUILTIN
    assert load_vendor_settings("gemini") == config.VendorSettings()
    assert load_journal_settings().keep_runs == 500
    rows = by_key(effective_config("claude"))
    assert rows["config.exists"].value is False
    assert rows["config.path"].source == "environment (XDG_CONFIG_HOME)"


def test_the_file_is_parsed_once_and_reread_when_it_changes(tmp_path, monkeypatch):
    path = write(tmp_path, FULL)
    calls = []
    import tomllib

    real_loads = tomllib.loads
    monkeypatch.setattr(tomllib, "loads", lambda text: calls.append(1) or real_loads(text))
    load_defaults("claude", path)
    load_vendor_settings("claude", path)
    load_journal_settings(path)
    load_prices("gemini", path)
    effective_config(None, path)
    assert len(calls) == 1
    path.write_text('[claude]\nvendor_bin = "/elsewhere/claude"\nargs = ["--new"]\n')
    assert load_defaults("claude", path)["vendor_bin"] == "/elsewhere/claude"
    assert load_vendor_settings("claude", path).args == ["--new"]
    assert len(calls) == 2


def test_a_same_size_rewrite_is_seen_through_mtime(tmp_path):
    path = write(tmp_path, '[claude]\nmodel = "aaaa"\n')
    assert load_defaults("claude", path)["model"] == "aaaa"
    st = path.stat()
    path.write_text('[claude]\nmodel = "bbbb"\n')
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert load_defaults("claude", path)["model"] == "bbbb"


def test_a_broken_file_stays_an_error(tmp_path):
    path = write(tmp_path, "[claude\n")
    for _ in range(2):
        with pytest.raises(ConfigError, match=f"Cannot read the config file {path}"):
            load_defaults("claude", path)


def test_prices_validation(tmp_path):
    path = write(tmp_path, FULL)
    assert load_prices("gemini", path) == {"gemini-2.5-pro": {"input": 1.25, "cached_input": 0.31, "output": 10.0}}
    path.write_text('[prices.gemini."x"]\ninput = 1\noutput = "ten"\n')
    with pytest.raises(ConfigError, match=r'\[prices.gemini."x"\] needs numbers'):
        load_prices("gemini", path)


# ---------------------------------------------------------------------- effective_config


def test_effective_config_sources(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    path = write(tmp_path, FULL)
    rows = by_key(effective_config(None, path))
    where = lambda table: f"{path} [{table}]"  # noqa: E731
    assert (rows["claude.idle_timeout"].value, rows["claude.idle_timeout"].source) == (300, where("defaults"))
    assert (rows["claude.vendor_bin"].value, rows["claude.vendor_bin"].source) == ("/opt/claude/bin/claude", where("claude"))
    assert (rows["claude.cancel_grace"].value, rows["claude.cancel_grace"].source) == (3.0, "built-in")
    assert (rows["gemini.vendor_bin"].value, rows["gemini.vendor_bin"].source) == (None, "built-in")
    assert rows["defaults.idle_timeout"].source == where("defaults")
    for vendor in ("claude", "gemini", "agy"):
        assert all(f"{vendor}.{key}" in rows for key in BUILTIN)
    assert rows["claude.args"].value == ["--verbose", "--add-dir", "/srv/shared"]
    assert rows["claude.args"].source == f"{path} [defaults] + [claude]"
    assert (rows["gemini.args"].value, rows["gemini.args"].source) == (["--verbose"], where("defaults"))
    assert (rows["claude.env.SHARED"].value, rows["claude.env.SHARED"].source) == ("from-claude", where("claude"))
    assert rows["claude.env.HTTPS_PROXY"].source == where("defaults")
    assert rows['prices.gemini."gemini-2.5-pro".input'].value == 1.25
    assert rows['prices.gemini."gemini-2.5-pro".input'].source == where("prices.gemini")
    assert rows["journal.root"].value == str(tmp_path / "state" / "codex-shims" / "runs")
    assert rows["journal.root"].source == "environment (XDG_STATE_HOME)"
    assert (rows["journal.keep_runs"].value, rows["journal.keep_runs"].source) == (20, where("journal"))
    assert (rows["journal.keep_bytes"].value, rows["journal.keep_bytes"].source) == (500_000_000, where("journal"))
    assert rows["journal.enabled"].source == "built-in"
    assert (rows["config.path"].value, rows["config.exists"].value) == (str(path), True)
    assert [r.key for r in effective_config(None, path)][-2:] == ["config.path", "config.exists"]


def test_effective_config_masks_secret_env_values(tmp_path):
    path = write(tmp_path, FULL)
    rows = by_key(effective_config("claude", path))
    assert rows["claude.env.ANTHROPIC_API_KEY"].value == "***"
    assert rows["claude.env.MY_GATEWAY"].value == "***"  # listed in [journal] redact_env
    assert rows["claude.env.HTTPS_PROXY"].value == "http://proxy:3128"
    assert not any(r.value in ("sk-very-secret", "hidden-too") for r in rows.values())


def test_effective_config_for_one_vendor(tmp_path):
    path = write(tmp_path, FULL)
    keys = [r.key for r in effective_config("gemini", path)]
    assert not any(k.startswith(("claude.", "agy.", "defaults.")) for k in keys)
    assert "gemini.vendor_bin" in keys and 'prices.gemini."gemini-2.5-pro".output' in keys


def test_effective_config_without_a_file(tmp_path, monkeypatch):
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    rows = by_key(effective_config("agy", tmp_path / "absent.toml"))
    assert all(r.source == "built-in" for k, r in rows.items() if not k.startswith("config."))
    assert (rows["config.path"].source, rows["config.exists"].value) == ("argument", False)
    assert rows["agy.env"].value == {} and rows["agy.args"].value == []
    assert rows["journal.root"].value == str(tmp_path / ".local" / "state" / "codex-shims" / "runs")


# ---------------------------------------------------------------------- shims config show


def show(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CODEX_SHIMS_CONFIG": str(cfg)}
    return subprocess.run([SHIMS, "config", "show", *args], capture_output=True, text=True, env=env, timeout=60)


def test_show_prints_an_aligned_table(tmp_path):
    path = write(tmp_path, FULL)
    proc = show(path, "--vendor", "claude")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["key", "value", "source"]
    value_col, source_col = lines[0].index("value"), lines[0].index("source")
    rows = {line.split()[0]: line for line in lines[1:]}
    assert rows["claude.vendor_bin"][value_col:].startswith("/opt/claude/bin/claude ")
    assert rows["claude.vendor_bin"][source_col:] == f"{path} [claude]"
    assert rows["claude.idle_timeout"][source_col:] == f"{path} [defaults]"
    assert rows["claude.cancel_grace"][source_col:] == "built-in"
    assert rows["claude.timeout"][value_col:].startswith("null ")
    assert rows["claude.env.ANTHROPIC_API_KEY"][value_col:].startswith("*** ")
    assert "sk-very-secret" not in proc.stdout
    assert not any(key.startswith("gemini.") for key in rows)


def test_show_json(tmp_path):
    path = write(tmp_path, FULL)
    proc = show(path, "--json")
    assert proc.returncode == 0, proc.stderr
    rows = {r["key"]: r for r in json.loads(proc.stdout)}
    assert rows["claude.vendor_bin"] == {"key": "claude.vendor_bin", "value": "/opt/claude/bin/claude",
                                         "source": f"{path} [claude]"}
    assert rows["agy.idle_timeout"] == {"key": "agy.idle_timeout", "value": 300.0, "source": f"{path} [defaults]"}
    assert rows["claude.env.ANTHROPIC_API_KEY"]["value"] == "***"
    assert rows["journal.keep_bytes"]["value"] == 500_000_000
    assert rows["config.exists"]["value"] is True


def test_show_names_the_state_store_without_its_password(tmp_path, monkeypatch):
    path = write(tmp_path, '[state]\nurl = "postgresql://shims:s3cret-pw@db.example/fleet"\n')
    monkeypatch.delenv("CODEX_SHIMS_STATE_URL", raising=False)
    proc = show(path, "--json")
    assert proc.returncode == 0, proc.stderr
    rows = {r["key"]: r for r in json.loads(proc.stdout)}
    assert rows["state.url"] == {"key": "state.url", "value": "postgresql://shims@db.example/fleet",
                                 "source": f"{path} [state]"}
    assert "s3cret-pw" not in proc.stdout
    path = write(tmp_path, '[state]\nurl = "postgresql://shims@db.example/fleet?password=s3cret-pw-2&sslmode=require"\n')
    proc = show(path, "--json")
    assert "s3cret-pw-2" not in proc.stdout and "sslmode=require" in proc.stdout
    monkeypatch.setenv("CODEX_SHIMS_STATE_URL", "postgresql://db2/x")
    rows = {r["key"]: r for r in json.loads(show(path, "--json").stdout)}
    assert rows["state.url"] == {"key": "state.url", "value": "postgresql://db2/x",
                                 "source": "environment (CODEX_SHIMS_STATE_URL)"}


def test_show_a_broken_file_exits_2(tmp_path):
    path = write(tmp_path, '[claude]\nargs = "--one-string"\n')
    proc = show(path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip() == f"shims config: {path} [claude]: `args`: Input should be a valid list"
    proc = show(tmp_path / "missing.toml", "--json")
    assert proc.returncode == 2
    assert proc.stderr.startswith("shims config: CODEX_SHIMS_CONFIG names a file that does not exist")


# ---------------------------------------------------------------------- read without pydantic

# Mostly values a table could plainly hold (so the plain readers take many), and the odd ones.
_VALUES = st.one_of(
    st.integers(0, 1000), st.floats(0, 1000), st.booleans(),
    st.sampled_from(["read-only", "write", "full", "auto", "ndjson", "never", "/opt/x", "8MiB", "2GiB", "64KiB"]),
    st.lists(st.sampled_from(["--a", "b"]), max_size=2), st.dictionaries(st.sampled_from(["A", "B"]), st.just("1")),
    st.none(), st.integers(-5, 10**10), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", " ", "lots", "a\0b"]), st.lists(st.sampled_from(["\0", 3]), max_size=2),
    st.dictionaries(st.sampled_from(["", "A=B", "N\0"]), st.sampled_from(["1", "x\0", 2]), max_size=2),
)


def _pydantic_section(section):
    try:
        return config._models()[0].model_validate(section).model_dump(exclude_unset=True)
    except Exception:
        return "refused"


def _pydantic_journal(table):
    try:
        return config._models()[1].model_validate(table).model_dump()
    except Exception:
        return "refused"


def _plausible(key):
    """Values a table could hold under `key`: mostly of the right type, sometimes not."""
    option = next((o for o in config.CONFIG_OPTIONS if o.name == key), None)
    if key == "args":
        right = st.lists(st.sampled_from(["--a", "b", "a\0b"]), max_size=2)
    elif key == "env":
        right = st.dictionaries(st.sampled_from(["A", "B", "", "A=B", "N\0"]), st.sampled_from(["1", "x\0"]), max_size=2)
    elif option is None:
        right = _VALUES
    elif option.choices:
        right = st.sampled_from([*option.choices, option.choices[0].upper()])
    elif option.kind == "switch":
        right = st.booleans()
    elif option.kind == "number":
        right = st.one_of(st.integers(-1, 10**6), st.floats(-1, 10**6), st.sampled_from([0, 0.0, 0.001, 0.0005]))
    else:
        right = st.text(max_size=5)
    return st.one_of(right, right, right, _VALUES)


_RUN_TABLES = st.lists(st.sampled_from([*BUILTIN, "args", "env", "argz"]), max_size=3, unique=True).flatmap(
    lambda keys: st.fixed_dictionaries({k: _plausible(k) for k in keys}))


@settings(max_examples=400, deadline=None)
@given(_RUN_TABLES)
@example({"idle_timeout": 300, "worktree": False}).via("an int read as a float")
def test_a_run_table_read_without_pydantic_is_what_pydantic_reads(section):
    """The plain reader takes only what pydantic takes, with the same values; the rest goes to
    pydantic, which explains."""
    plain = config._plain_section(section)
    if plain is not None:
        assert plain == _pydantic_section(section)
        assert {k: type(v) for k, v in plain.items()} == {k: type(v) for k, v in _pydantic_section(section).items()}


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from(["root", "keep_runs", "keep_bytes", "enabled", "redact_env",
                                        "max_line_bytes", "keep_run"]), _VALUES, max_size=3))
@example({"root": " "}).via("a blank root")
@example({"keep_bytes": "2GiB", "max_line_bytes": 1000}).via("a line cap below its least")
def test_a_journal_table_read_without_pydantic_is_what_pydantic_reads(table):
    plain = config._plain_journal(table)
    if plain is not None:
        assert plain == _pydantic_journal(table)


def test_a_run_with_a_valid_config_file_does_not_import_pydantic(tmp_path):
    """Building the pydantic models cost ~60 ms of every run's start with a config file; the
    file's run and journal tables here are plainly valid, so they are read without them."""
    path = tmp_path / "config.toml"
    path.write_text(FULL + '\n[fake]\nmode = "write"\ncancel_grace = 2\nworktree = false\n')
    code = ("import sys; from shims.run import config; p = sys.argv[1]; config.load_defaults('fake', p); "
            "config.load_vendor_settings('claude', p); config.load_journal_settings(p); "
            "print('pydantic' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr


def test_a_huge_integer_in_the_config_is_a_config_error(tmp_path):
    """Found in review: an integer too large for a float made the plain reader raise
    OverflowError (a traceback, no result line); pydantic's answer is a config error."""
    path = tmp_path / "config.toml"
    path.write_text("[defaults]\nidle_timeout = 1" + "0" * 309 + "\n")
    with pytest.raises(ConfigError, match="idle_timeout"):
        load_defaults("claude", path)


def test_config_show_names_the_source_of_the_path_it_shows(tmp_path, monkeypatch):
    """A relative XDG_CONFIG_HOME is ignored (the XDG spec): the path shown is ~/.config's, and
    its source is not the environment."""
    monkeypatch.delenv("CODEX_SHIMS_CONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/dir")
    rows = {r.key: r for r in effective_config()}
    assert rows["config.path"].value == str(tmp_path / ".config" / "codex-shims" / "config.toml")
    assert rows["config.path"].source == "built-in"


def test_a_size_with_a_fraction_is_read_exactly_at_any_length():
    """Found in review: a long size with a fraction went through a float and overflowed (an
    OverflowError traceback from the [journal] table); read exactly, it is just large."""
    assert parse_size("1.5KiB") == 1536 and parse_size("2.25 GB") == 2_250_000_000
    assert parse_size("9" * 400 + ".5TB") == int("9" * 400) * 1000**4 + 500 * 1000**3


# ---------------------------------------------------------------------- unknown tables


@pytest.mark.parametrize(("text", "expected"), [
    ('[cluade]\nmodel = "m"\n', "unknown table [cluade] in {path}; did you mean [claude]?"),
    ('[default]\nidle_timeout = 3\n', "unknown table [default] in {path}; did you mean [defaults]?"),
    ('[price.gemini."m"]\ninput = 1\noutput = 2\n', "unknown table [price] in {path}; did you mean [prices]?"),
    ('[codex]\nmodel = "m"\n',
     "unknown table [codex] in {path}; known tables: [defaults], [claude], [gemini], [agy], [fake], [journal], "
     "[prices], [state]"),
    ('[prices.gemni."gemini-2.5-pro"]\ninput = 1\noutput = 2\n',
     "unknown table [prices.gemni] in {path}; did you mean [prices.gemini]?"),
    ('idle_timeout = 3\n', "unknown table [idle_timeout] in {path}; known tables: [defaults], [claude], [gemini], "
     "[agy], [fake], [journal], [prices], [state]"),
])
def test_an_unknown_table_is_an_error_with_the_closest_known_one(tmp_path, text, expected):
    """Was: read by no one, so `[cluade] model = ...` silently did nothing."""
    path = write(tmp_path, text)
    for load in (lambda: load_defaults("claude", path), lambda: load_vendor_settings("gemini", path),
                 lambda: load_journal_settings(path), lambda: load_prices("gemini", path),
                 lambda: load_state_settings(path)):
        with pytest.raises(ConfigError) as err:
            load()
        assert str(err.value) == expected.format(path=path)


def test_an_unknown_table_stops_a_run_with_the_message(tmp_path, fake_env):
    path = write(tmp_path, '[fkae]\nmodel = "m"\n')
    done = subprocess.run([str(Path(sys.executable).parent / "shim-fake"), "--vendor-bin", FAKE_VENDOR, "--emit",
                           "ndjson", "hi"], capture_output=True, timeout=60,
                          env={**os.environ, **fake_env, "CODEX_SHIMS_CONFIG": str(path)})
    result = json.loads(done.stdout.splitlines()[-1])
    assert done.returncode == 2 and result["failure_kind"] == "bad_request"
    assert result["error"] == f"unknown table [fkae] in {path}; did you mean [fake]?"
