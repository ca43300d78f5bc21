"""Chaos: the vendor dies at every point of a recorded run, is SIGKILLed, closes its stdout and
lives on, leaves a daemon holding the pipes; the journal's disk fills up. Every run must still
end with a correct stream (result last), the right failure kind, and no process left (the
`mark` fixture checks that after each test)."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import FAKE_VENDOR, ROOT, shim_path
from streamcheck import check_replay, check_stream, parse_stream

RECORDING = ROOT / "golden" / "fake" / "tools" / "native.stdout"
LINES = RECORDING.read_bytes().count(b"\n")


def run(env, *args, timeout=60, preexec=None):
    proc = subprocess.run([shim_path("fake"), "--vendor-bin", FAKE_VENDOR, "--emit", "ndjson", "--cancel-grace", "1",
                           *args, "go"], capture_output=True, env={**os.environ, **env}, timeout=timeout,
                          preexec_fn=preexec)
    events = parse_stream(proc.stdout)
    return proc, events, check_stream(events, proc.returncode)


@pytest.mark.slow
def test_a_vendor_dying_at_every_line_boundary(fake_env):
    """SIGKILL right after line N, and a crash in the middle of line N, for every N."""
    assert LINES >= 8
    outcomes = set()
    for n in range(LINES):
        for how in ({"FAKE_VENDOR_KILL_AFTER": str(n + 1)},
                    {"FAKE_VENDOR_MISBEHAVE": "crash-mid-line", "FAKE_VENDOR_CRASH_AFTER": str(n)}):
            env = {**fake_env, "FAKE_VENDOR_SCRIPT": str(RECORDING), **how}
            proc, events, result = run(env)
            killed = "FAKE_VENDOR_KILL_AFTER" in how
            complete = killed and n + 1 == LINES  # killed after its last line: the answer was all there
            if complete:
                assert result["status"] == "completed", (n, how, result["error"])
            else:
                assert result["status"] == "failed", (n, how, result)
                assert result["failure_kind"] in ("provider_failed", "malformed_output"), (n, how, result)
                if killed:
                    assert "signal 9" in result["error"] or result["failure_kind"] == "provider_failed"
            check_replay(result)
            outcomes.add((result["status"], result["failure_kind"]))
    assert ("failed", "provider_failed") in outcomes


def test_sigkill_of_the_vendor_mid_run(fake_env, tmp_path):
    pids = tmp_path / "pids"
    env = {**os.environ, **fake_env, "FAKE_VENDOR_SCRIPT": str(RECORDING), "FAKE_VENDOR_PACE": "0.2",
           "FAKE_VENDOR_PIDFILE": str(pids)}
    proc = subprocess.Popen([shim_path("fake"), "--vendor-bin", FAKE_VENDOR, "--emit", "ndjson", "go"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    while not pids.exists() or not pids.read_text().strip():
        time.sleep(0.05)
    time.sleep(0.5)
    os.kill(int(pids.read_text().split()[0]), signal.SIGKILL)
    out, _ = proc.communicate(timeout=30)
    result = check_stream(parse_stream(out), proc.returncode)
    assert result["failure_kind"] == "provider_failed" and "signal 9" in result["error"]
    assert result["vendor"]["signal"] == 9
    check_replay(result)


def test_a_vendor_that_closes_stdout_and_lives_on(fake_env):
    env = {**fake_env, "FAKE_VENDOR_SCRIPT": str(RECORDING), "FAKE_VENDOR_MISBEHAVE": "close-stdout"}
    t0 = time.monotonic()
    proc, events, result = run(env, "--idle-timeout", "1")
    assert result["failure_kind"] == "timed_out" and "--idle-timeout" in result["error"]
    assert time.monotonic() - t0 < 20
    # what it said before closing is kept
    assert any(e["type"] == "item.completed" and e["item"]["type"] == "command_execution" for e in events)


def test_a_daemon_holding_the_pipes_does_not_hold_the_run(fake_env):
    env = {**fake_env, "FAKE_VENDOR_SCRIPT": str(RECORDING), "FAKE_VENDOR_MISBEHAVE": "grandchild"}
    t0 = time.monotonic()
    proc, _, result = run(env)
    assert result["status"] == "completed" and time.monotonic() - t0 < 20


def _small_files(limit: int):
    def setup() -> None:
        # Writes past `limit` bytes fail with EFBIG, as a full disk fails with ENOSPC (pipes are
        # not files: the stream is unaffected). SIGXFSZ would kill the shim: ignore it.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return setup


def test_a_full_disk_for_the_journal_does_not_cost_the_run(fake_env):
    env = {**fake_env, "FAKE_VENDOR_SCRIPT": str(ROOT / "golden" / "fake" / "big-output" / "native.stdout")}
    proc, events, result = run(env, preexec=_small_files(4096))
    assert proc.returncode == 0 and result["status"] == "completed"
    assert "journal" in result["vendor"]["journal_error"].lower()
    run_dir = Path(result["journal"])
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["provider"] == "fake"  # what fitted is readable
    assert max(p.stat().st_size for p in run_dir.iterdir()) <= 4096
