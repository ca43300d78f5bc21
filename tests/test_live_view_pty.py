"""Issue 17, the live view end to end: `shim-claude --emit pretty` around the REAL pinned Claude
CLI against the fake Anthropic API, in a pseudo-terminal (pexpect), its screen rendered by pyte
(100x40) and read row by row, as a person would; and the same run into a pipe."""

from __future__ import annotations

import subprocess
import time

import pexpect
import procs
import pyte
import pytest
from conftest import BIN, shim_path
from fakes.claude_env import CLAUDE_BIN, claude_env
from fakes.fake_anthropic import FakeAnthropic

pytestmark = [pytest.mark.realcli, pytest.mark.slow]

if not CLAUDE_BIN.exists():  # pragma: no cover - make test installs it first
    pytest.fail("the pinned Claude CLI is missing: run `make vendor-clis`", pytrace=False)

COLS, ROWS = 100, 40
PROMPT = "[scenario:live] Run a slow command"  # tests/fakes/fake_anthropic.py `_live`
COMMAND = "$ sleep 1.5; echo live-one; echo live-two"


@pytest.fixture(scope="module")
def api():
    with FakeAnthropic() as server:
        yield server


@pytest.fixture
def env(api, mark, private_state, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    return {**claude_env(api.base_url, home, extra={"TERM": "xterm-256color"}), procs.MARK_ENV: mark,
            **private_state}


def argv() -> list[str]:
    return ["--vendor-bin", str(CLAUDE_BIN), "--mode", "write", "--emit", "pretty", PROMPT]


def rows_of(screen: pyte.Screen) -> list[str]:
    return [row.rstrip() for row in screen.display]


def launched_argv(env) -> str:
    """The argv line `shims runs show last` gives for the run just made (its journal)."""
    shown = subprocess.run([str(BIN / "shims"), "runs", "show", "last"], env=env, capture_output=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    return next(line for line in shown.stdout.decode().splitlines() if line.startswith("argv"))


def test_live_view_on_a_terminal(env, tmp_path):
    """Partial text on screen before the answer's item completes, the tool line running then
    updated in place (one line on the final screen, ✓ exit 0), then the usage table."""
    screen = pyte.Screen(COLS, ROWS)
    stream = pyte.ByteStream(screen)
    child = pexpect.spawn(shim_path("claude"), argv(), env=env, cwd=str(tmp_path), dimensions=(ROWS, COLS))
    snapshots: list[list[str]] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                stream.feed(child.read_nonblocking(65536, timeout=0.2))
            except pexpect.TIMEOUT:
                pass
            except pexpect.EOF:
                break
            snapshots.append(rows_of(screen))
        child.close()
    finally:
        if child.isalive():
            child.terminate(force=True)
    assert child.exitstatus == 0, "\n".join(rows_of(screen))

    def seen(test) -> list[list[str]]:
        return [rows for rows in snapshots if test("\n".join(rows))]

    # The intro streams in six paced deltas: a screen shows its start while its end is unwritten.
    partial = seen(lambda s: "Intro part 2 of 6." in s and "Intro part 6 of 6." not in s)
    assert partial, "no screen showed the answer while it was being written"
    assert any("tokens" in rows[-1] or any("tokens" in r for r in rows) for rows in partial)  # the status line
    running = seen(lambda s: f"{COMMAND}  …" in s)
    assert running, "no screen showed the command running"
    assert any(r.endswith(f"· {COMMAND}") for rows in running for r in rows)  # the current tool, in the status line
    final = rows_of(screen)
    tool_rows = [r for r in final if r.startswith("$ sleep")]
    assert len(tool_rows) == 1, final
    assert tool_rows[0].startswith(f"{COMMAND}  ✓ exit 0  ") and tool_rows[0].endswith("s")
    under = final[final.index(tool_rows[0]) + 1:][:2]
    assert under == ["  live-one", "  live-two"]
    answer = "".join(f"Answer part {i + 1} of 8. " for i in range(8)).strip()
    text = " ".join(final)  # the answers wrap at 100 columns
    assert answer in text and "Intro part 5 of 6. Intro part 6 of 6." in text
    table = final[next(i for i, r in enumerate(final) if r.startswith("── completed · claude")):]
    names = [r.split()[0] for r in table[1:7]]
    assert names == ["input", "cache", "cache", "output", "total", "cost"]
    assert table[6].endswith("vendor") and "$0.0000" not in table[6]
    assert "--include-partial-messages" in launched_argv(env)  # asked for the live view only
    assert not any(r.startswith(("⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏")) for r in final)  # the status line gave way


def test_pretty_into_a_pipe_is_plain_lines(env, tmp_path):
    proc = subprocess.run([shim_path("claude"), *argv()], env=env, cwd=str(tmp_path), capture_output=True,
                          stdin=subprocess.DEVNULL, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    out = proc.stdout.decode()
    assert "\x1b" not in out and "\r" not in out
    lines = [line.rstrip() for line in out.splitlines()]  # the model's text ends with a space
    assert [line for line in lines if "sleep 1.5" in line] == [next(ln for ln in lines if ln.startswith(COMMAND))]
    assert next(ln for ln in lines if ln.startswith(COMMAND)).startswith(f"{COMMAND}  ✓ exit 0  ")
    assert "Intro part 1 of 6. Intro part 2 of 6. Intro part 3 of 6. Intro part 4 of 6. Intro part 5 of 6. " \
           "Intro part 6 of 6." in lines  # the answer whole, once its item completed, not wrapped
    assert any(line.startswith("── completed · claude") for line in lines)
    assert "--include-partial-messages" not in launched_argv(env)  # nothing streams into a pipe


def test_a_failure_is_said_once_on_the_terminal(full_env, tmp_path):
    """The live view's ✗ line says why the run failed; with stderr on the same terminal the
    `shim:` line a host reads would say it a second time, and is left out there."""
    from conftest import FAKE_VENDOR

    env = {**full_env, "FAKE_VENDOR_MISBEHAVE": "crash-mid-line", "FAKE_VENDOR_EXIT": "3",
           "FAKE_VENDOR_STDERR": "the-vendor-broke"}
    child = pexpect.spawn(shim_path("fake"), ["--vendor-bin", FAKE_VENDOR, "--emit", "pretty", "hi"], env=env,
                          cwd=str(tmp_path), dimensions=(ROWS, COLS), timeout=60)
    out = child.read().decode()
    child.close()
    assert child.exitstatus not in (0, None), out
    assert out.count("the-vendor-broke") == 1, out
    assert "shim: " not in out, out
    piped = subprocess.run([shim_path("fake"), "--vendor-bin", FAKE_VENDOR, "--emit", "pretty", "hi"], env=env,
                           cwd=str(tmp_path), capture_output=True, timeout=60)
    assert b"shim: " in piped.stderr and b"the-vendor-broke" in piped.stderr  # a log still gets it
