"""`shims doctor` as a person reads it (issue 17): snapshots of the view for fixed check results,
`--modes` within 100 columns, and the real command against the pinned vendor CLIs.

The snapshots are tests/snapshots/doctor_*.txt. After a deliberate change of the view,
regenerate them with `make snapshots` (UPDATE_SNAPSHOTS=1) and read the diff before committing.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import ROOT
from snapshot import assert_snapshot

from shims.run import vendors
from shims.run.doctor_checks import Setup, report
from shims.run.preflight import mode_support
from shims.views.doctor import doctor_view, modes_view
from shims.views.terminal import show

SHIMS = str(Path(sys.executable).parent / "shims")
AGY = ROOT / "tests" / "fakes" / "agy" / "agy"
CONFIG = "/home/ada/.config/codex-shims/config.toml"
NOW = datetime(2026, 12, 4, 19, 0, tzinfo=UTC).timestamp()  # 13 h before the quota resets
ALL_MODES = {"read-only": None, "write": None, "full": None}
AS_ROOT = {**ALL_MODES, "full": "Claude Code refuses --dangerously-skip-permissions as root, so --mode full cannot "
                               "be honoured; run the shim as an ordinary user or use --mode write."}
GEMINI_SCHEMA = vendors.output_schema_problem("gemini")


def _answer(provider, *, ready=True, version="1.0.0", auth="api_key", quota=None, failure_kind=None, error=None):
    return {"ready": ready, "provider": provider, "cli_version": version, "auth": auth, "quota": quota,
            "failure_kind": failure_kind, "error": error}


def _report(answer, *, program="/usr/local/bin/x", remembered=False, modes=ALL_MODES, schema=None, configured=None):
    command = vendors.command_module(answer["provider"])
    setup = Setup(answer["provider"], CONFIG, configured, command.INSTALL, command.SIGN_IN)
    return report(answer, program=program, remembered_quota=remembered, modes=modes, output_schema=schema,
                  setup=setup, now=NOW)


def _claude(**kw):
    return _report(_answer("claude", version="2.1.331"), program="/usr/local/bin/claude", modes=AS_ROOT, **kw)


def _gemini():
    return _report(_answer("gemini", version="0.61.0"), program="/usr/local/bin/gemini", schema=GEMINI_SCHEMA)


def _agy():
    quota = {"state": "ok", "resets_at": "2026-12-05T08:00:00Z", "retry_after_s": None, "window": "daily",
             "message": "Gemini 3 Pro daily: 62% left"}
    return _report(_answer("agy", version="1.2.16", auth="login", quota=quota), program="/home/ada/.local/bin/agy")


SCENARIOS = {
    "all_ready": lambda: [_claude(), _gemini(), _agy()],
    "one_missing": lambda: [
        _claude(), _gemini(),
        _report(_answer("agy", ready=False, version=None, auth="unknown", failure_kind="command_missing",
                        error="The agy CLI (agy) was not found; install it, pass --vendor-bin, or set vendor_bin "
                              f"under [agy] in {CONFIG}."), program=None, modes={})],
    "signed_out": lambda: [
        _claude(),
        _report(_answer("gemini", ready=False, version="0.61.0", auth="none", failure_kind="authentication_required",
                        error="Gemini has no credentials: set GEMINI_API_KEY or sign in with `gemini`."),
                program="/usr/local/bin/gemini", schema=GEMINI_SCHEMA),
        _agy()],
    "remembered_quota": lambda: [
        _claude(), _gemini(),
        _report(_answer("agy", ready=False, version="1.2.16", auth="login", failure_kind="quota_or_rate_limited",
                        quota={"state": "exhausted", "resets_at": "2026-12-05T08:00:00Z", "retry_after_s": 46800,
                               "window": "daily", "message": "daily limit reached"},
                        error="agy: a recorded exhausted limit is in force until 2026-12-05T08:00:00Z; runs fail "
                              "fast until then (--ignore-quota-state to try anyway)."),
                program="/home/ada/.local/bin/agy", remembered=True)],
}


def _rendered(renderable, width=100) -> str:
    out = io.StringIO()
    show(renderable, out, width=width, terminal=False)
    return out.getvalue()


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_doctor_view_matches_its_snapshot(name):
    text = _rendered(doctor_view(SCENARIOS[name]()))
    assert_snapshot(f"doctor_{name}.txt", text)
    assert max(map(len, text.splitlines())) <= 100


def test_each_problem_says_what_to_do_and_the_summary_counts_the_ready():
    """What a user acts on: every ✗ check has a → line naming a command or the config key."""
    signed_out = _rendered(doctor_view(SCENARIOS["signed_out"]()))
    assert "[✗] gemini: not ready\n" in signed_out and "✗ credentials: none found\n" in signed_out
    assert "→ run `gemini` and sign in, or set GEMINI_API_KEY\n" in signed_out
    assert signed_out.rstrip().endswith("2 of 3 providers ready.")
    missing = _rendered(doctor_view(SCENARIOS["one_missing"]()), width=200)
    assert ("→ install it: curl -fsSL https://antigravity.google/cli/install.sh | bash, or add "
            f'vendor_bin = "/path/to/agy" under [agy] in {CONFIG}\n') in missing
    quota = _rendered(doctor_view(SCENARIOS["remembered_quota"]()), width=200)
    assert "✗ quota: daily limit recorded by an earlier run (exhausted), in force until 2026-12-05 08:00 UTC (in 13 h)\n" in quota
    assert "shim-agy --ignore-quota-state" in quota and quota.rstrip().endswith("2 of 3 providers ready.")


def test_a_configured_binary_that_is_missing_names_its_config_key():
    r = _report(_answer("claude", ready=False, version=None, auth="unknown", failure_kind="command_missing"),
                program=None, modes={}, configured="/opt/claude/bin/claude")
    (binary,) = r.checks
    assert binary.state == "problem" and "/opt/claude/bin/claude" in binary.detail
    assert f"correct vendor_bin under [claude] in {CONFIG}" in binary.what_to_do


def test_the_view_marks_with_colour_on_a_terminal_only():
    reports = SCENARIOS["one_missing"]()
    coloured = io.StringIO()
    show(doctor_view(reports), coloured, width=100, terminal=True)
    assert "\x1b[" in coloured.getvalue() and "\x1b[" not in _rendered(doctor_view(reports))


def test_modes_fit_100_columns_with_arguments_unbroken():
    rows = []
    for name in vendors.PROVIDERS:
        command = vendors.command_module(name)
        support = {**mode_support(name, None), "full": AS_ROOT["full"]}  # the longest reason there is
        rows += [{"provider": name, "mode": m, "args": list(a), "meaning": command.MODE_NOTES[m],
                  "supported": support[m] is None, "why_not": support[m]} for m, a in command.MODES.items()]
    text = _rendered(modes_view(rows))
    assert max(map(len, text.splitlines())) <= 100
    for r in rows:
        assert " ".join(r["args"]) in text
    assert "✗ not here: Claude Code refuses" in text


# ------------------------------------------------------------------------- the real command


def _doctor(tmp_path, *args, config="", path="/usr/bin:/bin", **env):
    (tmp_path / "config" / "codex-shims").mkdir(parents=True, exist_ok=True)
    (tmp_path / "config" / "codex-shims" / "config.toml").write_text(config)
    full = {k: v for k, v in os.environ.items()
            if k not in ("ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "CODEX_SHIMS_CONFIG")}
    full.update({"PATH": path, "HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "config"),
                 "XDG_STATE_HOME": str(tmp_path / "state"),
                 "COLUMNS": "300", **env})  # rich's width off a terminal: each line whole
    return subprocess.run([SHIMS, "doctor", *args], capture_output=True, env=full, timeout=120, text=True)


@pytest.mark.realcli
def test_doctor_against_the_pinned_clis_with_agy_missing(tmp_path):
    claude = ROOT / "vendor-clis" / "claude" / "node_modules" / ".bin" / "claude"
    gemini = ROOT / "vendor-clis" / "gemini" / "node_modules" / ".bin" / "gemini"
    config = f'[claude]\nvendor_bin = "{claude}"\n\n[gemini]\nvendor_bin = "{gemini}"\n'
    out = _doctor(tmp_path, config=config, path=f"{Path(shutil.which('node')).parent}:/usr/bin:/bin",
                  ANTHROPIC_API_KEY="k", GEMINI_API_KEY="k")
    assert out.returncode == 0, out.stderr
    assert "[✓] claude: ready" in out.stdout and "✓ version: 2.1.331" in out.stdout
    assert "[✓] gemini: ready" in out.stdout and "✓ version: 0.61.0" in out.stdout
    assert out.stdout.rstrip().endswith("2 of 3 providers ready.")
    fix = next(line for line in out.stdout.splitlines() if "→" in line and "[agy]" in line)
    command = fix.split("install it: ", 1)[1].split()[0]
    assert shutil.which(command), fix  # a command that exists here (curl)
    assert fix.endswith(f'under [agy] in {tmp_path / "config" / "codex-shims" / "config.toml"}'), fix


def test_doctor_shows_a_remembered_quota_and_how_to_override_it(tmp_path):
    from shims.run.programs import account_for
    from shims.state.store.sqlite import SqliteStore

    (tmp_path / "state" / "codex-shims").mkdir(parents=True)
    env = {"GEMINI_API_KEY": "k", "HOME": str(tmp_path / "home")}  # agy's account: its key and HOME
    now = time.time()
    store = SqliteStore(tmp_path / "state" / "codex-shims")
    store.remember_quota(
        "agy", account_for("agy", env), {"state": "exhausted", "resets_at": None, "retry_after_s": 7200,
                                         "window": "daily"}, ended_at=now, run_id=None)
    store.close()
    config = f'[agy]\nvendor_bin = "{AGY}"\n'
    out = _doctor(tmp_path, config=config, **env)
    assert out.returncode == 1, out.stderr  # no claude or gemini here, and agy is held back
    assert "[✗] agy: not ready" in out.stdout, out.stdout
    assert "✗ quota: daily limit recorded by an earlier run (exhausted), in force until " in out.stdout
    assert "(in 2 h" in out.stdout and "shim-agy --ignore-quota-state" in out.stdout
    rows = {r["provider"]: r for r in json.loads(_doctor(tmp_path, "--json", config=config, **env).stdout)}
    assert rows["agy"]["failure_kind"] == "quota_or_rate_limited" and rows["agy"]["quota"]["state"] == "exhausted"
    assert set(rows["agy"]) >= {"provider", "ready", "cli_version", "auth", "quota", "failure_kind", "error",
                                "modes", "output_schema", "checks"}


def test_a_path_longer_than_the_line_folds_instead_of_being_cut():
    deep = "/srv/" + "/".join(["a-rather-long-folder-name"] * 6) + "/bin/claude"
    text = _rendered(doctor_view([_claude(), _report(_answer("gemini", ready=False, version=None, auth="unknown",
                                                             failure_kind="command_missing"),
                                                     program=None, modes={}, configured=deep)]))
    assert "…" not in text and deep in "".join(line.strip() for line in text.splitlines())


def test_preflight_of_a_missing_cli_names_the_flag_and_the_config_key(tmp_path):
    """`shim-X --preflight` has --vendor-bin, so its advice keeps it, and names the config key
    in the file a run would read, as the doctor does."""
    (tmp_path / "config").mkdir()
    env = {**os.environ, "PATH": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "XDG_STATE_HOME": str(tmp_path / "state")}
    env.pop("CODEX_SHIMS_CONFIG", None)
    out = subprocess.run([str(Path(SHIMS).with_name("shim-claude")), "--preflight"], capture_output=True, env=env,
                         timeout=60)
    answer = json.loads(out.stdout)
    assert out.returncode != 0 and answer["failure_kind"] == "command_missing"
    assert "pass --vendor-bin" in answer["error"]
    assert f"vendor_bin under [claude] in {tmp_path / 'config' / 'codex-shims' / 'config.toml'}" in answer["error"]


def test_warnings_leave_a_provider_ready_and_say_what_to_watch():
    low = {"state": "warning", "resets_at": "2026-12-04T19:40:00Z", "retry_after_s": None, "window": "5h",
           "message": "Gemini Models 5 hour: 4% left"}
    r = _report(_answer("agy", version="1.2.16", auth="unknown", quota=low), program="/home/ada/.local/bin/agy")
    text = _rendered(doctor_view([r]), width=200)
    assert "[!] agy: ready, with warnings\n" in text and text.rstrip().endswith("1 of 1 provider ready.")
    assert "! quota: Gemini Models 5 hour: 4% left; resets 2026-12-04 19:40 UTC (in 40 min)\n" in text
    assert "! credentials: no key or saved sign-in found" in text
    assert "→ if runs fail with authentication_required: run `agy` once in a terminal and sign in" in text


def test_a_vendor_limitation_is_a_note_not_a_warning():
    """Gemini CLI has no structured output: nothing to fix, so gemini stays plainly ready."""
    text = _rendered(doctor_view([_gemini()]), width=200)
    assert "[✓] gemini: ready\n" in text and "• output schema: not supported: " in text
    assert "→" not in text and text.rstrip().endswith("1 of 1 provider ready.")


def test_a_broken_config_file_is_the_first_problem_and_no_provider_is_ready(tmp_path):
    """Every run refuses to start over a config it cannot read, so the doctor must not call
    anything ready past it."""
    on_path = tmp_path / "bin"
    on_path.mkdir()
    (on_path / "claude").symlink_to(ROOT / "vendor-clis" / "claude" / "node_modules" / ".bin" / "claude")
    out = _doctor(tmp_path, config='[claude]\nmodel = "sonnet"\n[cluade]\nmodel = "x"\n',
                  path=f"{on_path}:{Path(shutil.which('node')).parent}:/usr/bin:/bin", ANTHROPIC_API_KEY="k")
    assert out.returncode == 1, out.stdout
    first = out.stdout.splitlines()[0]
    assert first == "[✗] config file: unreadable, no run starts", out.stdout
    assert "unknown table [cluade]" in out.stdout and "did you mean [claude]?" in out.stdout
    assert out.stdout.rstrip().endswith("0 of 3 providers ready: fix the config file first.")
    assert "[✓]" not in out.stdout and "[✗] claude: not ready" in out.stdout, out.stdout  # no headline says ready
    rows = json.loads(_doctor(tmp_path, "--json", config='[cluade]\nmodel = "x"\n').stdout)
    assert all(r["ready"] is False and "[cluade]" in r["config_error"] for r in rows)
