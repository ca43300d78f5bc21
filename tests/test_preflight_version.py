"""The vendor's `--version`, as preflight and `shims doctor` ask it: a CLI that is slow to
answer (Gemini's takes 5 s on a busy machine) is still usable, and the answer is remembered per
binary file, so later preflights do not start the CLI again.

Regression: `test_preflight` and `test_doctor_with_one_vendor_missing` failed in a full run on a
loaded machine, because `gemini --version` took just over the old 5 s limit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import shim_path


def _slow_cli(tmp_path, delay_s: float):
    """A fake vendor CLI whose --version takes `delay_s` and notes every time it is asked."""
    asked = tmp_path / "asked"
    cli = tmp_path / "slow-cli"
    cli.write_text(
        f"#!{sys.executable}\n"
        "import sys, time\n"
        "if sys.argv[1:] == ['--version']:\n"
        f"    open({str(asked)!r}, 'a').write('x')\n"
        f"    time.sleep({delay_s})\n"
        "    print('fake-cli 4.5.6')\n"
    )
    cli.chmod(0o755)
    return cli, asked


def _preflight(cli, env):
    proc = subprocess.run([shim_path("fake"), "--vendor-bin", str(cli), "--preflight"], capture_output=True,
                          env={**os.environ, **env}, timeout=60)
    return proc.returncode, json.loads(proc.stdout)


@pytest.mark.slow
def test_a_cli_slow_to_print_its_version_is_still_ready(tmp_path, fake_env):
    cli, asked = _slow_cli(tmp_path, 6.0)
    code, answer = _preflight(cli, fake_env)
    assert code == 0 and answer["ready"] is True and answer["cli_version"] == "4.5.6", answer


def test_the_version_is_asked_once_per_binary_file(tmp_path, fake_env):
    cli, asked = _slow_cli(tmp_path, 0.0)
    assert _preflight(cli, fake_env)[1]["cli_version"] == "4.5.6"
    assert _preflight(cli, fake_env)[1]["cli_version"] == "4.5.6"
    assert asked.read_text() == "x"  # the second preflight did not start the CLI
    # an updated binary is another file: asked again
    cli.write_text(cli.read_text().replace("4.5.6", "4.5.7"))
    assert _preflight(cli, fake_env)[1]["cli_version"] == "4.5.7"
    assert asked.read_text() == "xx"


def test_preflight_command_answers_as_the_typer_command_line_does(tmp_path, fake_env, monkeypatch, capsys):
    """shims.run.preflight.preflight_command is the whole of `shim-X --preflight` for a parser that
    is not typer (typer costs ~140 ms of the preflight's ~200): the same answer and exit status,
    the config file's vendor_bin when none is given, exit 2 on a broken config file."""
    from shims.run import preflight
    cli, asked = _slow_cli(tmp_path, 0.0)
    for name, value in fake_env.items():
        monkeypatch.setenv(name, value)
    code, answer = _preflight(cli, fake_env)
    assert preflight.preflight_command("fake", str(cli)) == code == 0
    assert json.loads(capsys.readouterr().out) == answer

    config = tmp_path / "config.toml"
    config.write_text(f'[fake]\nvendor_bin = "{cli}"\n')
    monkeypatch.setenv("CODEX_SHIMS_CONFIG", str(config))
    assert preflight.preflight_command("fake") == 0
    assert json.loads(capsys.readouterr().out) == answer
    config.write_text('[fake]\nvendor_bin = 3\n')
    assert preflight.preflight_command("fake") == 2
    assert "shim-fake:" in capsys.readouterr().err
    assert asked.read_text() == "x"  # asked once, by the first preflight
