"""A shim run end to end: the real shim program, the fake vendor CLI, and the codex-lab test host."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import FAKE_VENDOR, shim_path
from host.codex_lab_host import run_external
from streamcheck import check_stream, parse_stream


def run_shim(args, *, stdin=b"", env=None, timeout=60, vendor="fake"):
    argv = [shim_path(vendor)]
    if vendor == "fake":
        argv += ["--vendor-bin", FAKE_VENDOR]
    proc = subprocess.run(
        argv + list(args), input=stdin, capture_output=True, env={**os.environ, **(env or {})}, timeout=timeout
    )
    return proc.returncode, proc.stdout, proc.stderr


def fake_argv(*extra):
    return [shim_path("fake"), "--vendor-bin", FAKE_VENDOR, *extra]


# ----------------------------------------------------------------- normal runs


def test_argv_prompt_gives_a_complete_stream(fake_env):
    code, out, _ = run_shim(["--emit", "ndjson", "Say hello"], env=fake_env)
    events = parse_stream(out)
    result = check_stream(events, code)
    assert code == 0
    assert result["status"] == "completed"
    assert result["final_message"] == "Hello! You said: Say hello"
    assert result["session_id"].startswith("fake-session-")
    assert events[0]["thread_id"] == result["session_id"]
    cmd = [e["item"] for e in events if e["type"] == "item.completed" and e["item"]["type"] == "command_execution"]
    assert cmd == [{"id": "item_1", "type": "command_execution", "command": "echo hello",
                    "aggregated_output": "hello\n", "exit_code": 0, "status": "completed"}]
    # usage in Codex semantics: input includes cache reads and writes, output includes reasoning
    assert events[-2]["usage"] == {"input_tokens": 125, "cached_input_tokens": 20, "cache_write_input_tokens": 5,
                                   "output_tokens": 50, "reasoning_output_tokens": 10}
    assert result["usage"]["cost_usd"] == 0.0012 and result["usage"]["cost_source"] == "vendor"


def test_protocol1_through_codex_lab_host(fake_env, tmp_path):
    request = {"protocol_version": 1, "thread_id": "0199-host-thread", "parent_thread_id": "p", "author": "/root",
               "recipient": "/root/worker", "role": "worker", "task_name": "worker", "cwd": str(tmp_path),
               "message": "Fix the tests"}
    outcome = run_external(fake_argv(), request, protocol=1, env=fake_env, timeout_s=30)
    assert outcome.exit_code == 0
    assert outcome.state == "completed", outcome.message
    assert outcome.final_message == "Hello! You said: Fix the tests"
    last = outcome.stderr.decode().strip().splitlines()[-1]
    assert last.startswith("shim-result: ")
    envelope = json.loads(last[len("shim-result: "):])
    assert envelope["status"] == "completed" and envelope["usage"]["total_tokens"] == 175


def test_protocol2_through_codex_lab_host(fake_env, tmp_path):
    request = {"protocol_version": 2, "cwd": str(tmp_path), "message": "hi", "model": "fake-model-9",
               "mode": "read-only", "thread_id": "host-thread"}
    outcome = run_external(fake_argv(), request, protocol=2, env=fake_env, timeout_s=30)
    assert outcome.state == "completed", outcome.message
    result = check_stream(outcome.events, outcome.exit_code)
    assert result["provider"]["model"] == "fake-model-9"


def test_plain_text_stdin_is_the_prompt(fake_env):
    code, out, _ = run_shim(["--emit", "ndjson"], stdin=b"just some words\n", env=fake_env)
    assert code == 0
    assert parse_stream(out)[-1]["final_message"] == "Hello! You said: just some words\n"


def test_vendor_runs_in_the_requested_cwd(fake_env, tmp_path):
    vendor = tmp_path / "pwd-vendor"
    vendor.write_text(textwrap.dedent(f"""\
        #!{sys.executable}
        import json, os
        print(json.dumps({{"type": "result", "ok": True, "text": os.getcwd()}}))
    """))
    vendor.chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    argv = [shim_path("fake"), "--vendor-bin", str(vendor), "--emit", "ndjson"]
    req = json.dumps({"protocol_version": 2, "cwd": str(work), "message": "where?"}).encode()
    proc = subprocess.run(argv, input=req, capture_output=True, env={**os.environ, **fake_env}, timeout=30)
    assert parse_stream(proc.stdout)[-1]["final_message"] == str(work)


# ----------------------------------------------------------------- requests the shim refuses


@pytest.mark.parametrize(
    ("stdin", "needle"),
    [
        (b"", "No prompt"),
        (b'{"protocol_version": 7, "message": "x"}', "protocol_version"),
        (b'{"protocol_version": 2, "message": "x", "cwd": "/does/not/exist"}', "cwd does not exist"),
        (b'{"protocol_version": 2, "message": "x", "mode": "yolo"}', "mode"),
        (b'{"protocol_version": 2, "message": "   "}', "empty"),
    ],
)
def test_bad_requests_fail_without_launching(stdin, needle, fake_env, tmp_path):
    pidfile = tmp_path / "pids"
    code, out, err = run_shim(["--emit", "ndjson"], stdin=stdin, env={**fake_env, "FAKE_VENDOR_PIDFILE": str(pidfile)})
    events = parse_stream(out)
    result = check_stream(events, code)
    assert code == 2
    assert result["failure_kind"] == "bad_request"
    assert needle in result["error"]
    assert "turn.started" not in [e["type"] for e in events]
    assert not pidfile.exists(), "the vendor must not be launched for a bad request"
    assert err.decode().strip().splitlines()[-1].startswith("shim:")


def test_protocol1_bad_request_is_still_one_strict_object(fake_env):
    outcome = run_external(fake_argv(), {"protocol_version": 1, "cwd": "/"}, protocol=1, env=fake_env)
    assert outcome.exit_code == 0
    # codex-lab has no bad_request kind of its own: the message names it for the parent model
    assert outcome.state == "errored"
    assert outcome.message == "bad_request: The request is missing `message`."


def test_missing_vendor_binary_is_command_missing(fake_env):
    code, _, _ = run_shim(["--emit", "ndjson", "--vendor-bin", "/nonexistent/fake", "hi"], env=fake_env)
    assert code == 3


def test_missing_vendor_binary_result(fake_env):
    proc = subprocess.run([shim_path("fake"), "--vendor-bin", "no-such-program-xyz", "--emit", "ndjson", "hi"],
                          capture_output=True, env={**os.environ, **fake_env}, timeout=30)
    result = check_stream(parse_stream(proc.stdout), proc.returncode)
    assert result["failure_kind"] == "command_missing"
    assert "--vendor-bin" in result["error"]


def test_unknown_flag_is_a_bad_request(fake_env):
    code, out, err = run_shim(["--no-such-flag", "hi"], env=fake_env)
    assert code == 2
    assert b"no-such-flag" in err
    result = check_stream(parse_stream(out), code)
    assert result["failure_kind"] == "bad_request"


@pytest.mark.parametrize("vendor", ["claude", "gemini", "agy"])
def test_every_shim_answers_the_host_strictly(vendor, fake_env, tmp_path):
    """Without its vendor CLI each shim still answers in a form codex-lab accepts. codex-lab has
    no text class for a missing vendor (its command_missing is its own spawn failing): it reads
    the answer as a generic provider failure whose message names the kind."""
    request = {"protocol_version": 1, "cwd": str(tmp_path), "message": "hi"}
    argv = [shim_path(vendor), "--vendor-bin", f"/nonexistent/{vendor}"]
    outcome = run_external(argv, request, protocol=1, env=fake_env, timeout_s=30)
    assert outcome.exit_code == 0 and outcome.failure_kind == "provider_failed", outcome.message
    assert outcome.message.startswith("command_missing: ")
    outcome = run_external(argv, {**request, "protocol_version": 2}, protocol=2, env=fake_env)
    assert check_stream(outcome.events, outcome.exit_code)["failure_kind"] == "command_missing"


def test_version_and_preflight(fake_env):
    code, out, _ = run_shim(["--version"], env=fake_env)
    assert code == 0
    assert b"shim-fake 0.1.0" in out and b"1.2.3" in out
    code, out, _ = run_shim(["--preflight"], env=fake_env)
    answer = json.loads(out)
    assert code == 0 and answer["ready"] is True and answer["cli_version"] == "1.2.3"
    code, out, _ = run_shim(["--preflight", "--vendor-bin", "/nope"], env=fake_env)
    assert code == 3 and json.loads(out)["failure_kind"] == "command_missing"


# ----------------------------------------------------------------- misbehaving vendors


@pytest.mark.parametrize(
    ("misbehave", "extra_env", "status", "kind"),
    [
        ("garbage", {}, "completed", None),
        ("crash-mid-line", {"FAKE_VENDOR_STDERR": "fatal: lost connection"}, "failed", "provider_failed"),
        ("exit0-empty", {}, "failed", "empty_output"),
        ("no-newline", {}, "completed", None),
        ("invalid-utf8", {}, "completed", None),
    ],
)
def test_stream_rules_hold_under_misbehaviour(misbehave, extra_env, status, kind, fake_env):
    code, out, err = run_shim(["--emit", "ndjson", "hi"], env={**fake_env, "FAKE_VENDOR_MISBEHAVE": misbehave, **extra_env})
    result = check_stream(parse_stream(out), code)
    assert (result["status"], result["failure_kind"]) == (status, kind), result["error"]
    assert b"Traceback" not in err
    if misbehave == "crash-mid-line":
        assert "lost connection" in result["error"]


def test_all_garbage_is_malformed_output(fake_env, tmp_path):
    script = tmp_path / "noise.txt"
    script.write_bytes(b"Segmentation fault\n\xff\xfe\n<html>502</html>\n")
    code, out, _ = run_shim(["--emit", "ndjson", "hi"], env={**fake_env, "FAKE_VENDOR_SCRIPT": str(script)})
    result = check_stream(parse_stream(out), code)
    assert result["failure_kind"] == "malformed_output" and code == 8


def test_idle_timeout_stops_a_hung_vendor(fake_env):
    code, out, _ = run_shim(["--emit", "ndjson", "--idle-timeout", "1", "--cancel-grace", "0.5", "hi"],
                            env={**fake_env, "FAKE_VENDOR_MISBEHAVE": "hang,grandchild"})
    result = check_stream(parse_stream(out), code)
    assert code == 124 and result["failure_kind"] == "timed_out"
    assert "--idle-timeout" in result["error"]
    assert result["final_message"] == "Hello! You said: hi"  # what was said before the hang is kept


def test_whole_run_timeout(fake_env):
    code, out, _ = run_shim(["--emit", "ndjson", "--timeout", "1", "--cancel-grace", "0.5", "hi"],
                            env={**fake_env, "FAKE_VENDOR_MISBEHAVE": "slow", "FAKE_VENDOR_PACE": "0.4"})
    result = check_stream(parse_stream(out), code)
    assert code == 124 and "--timeout" in result["error"]


def test_request_deadline_is_a_timeout(fake_env):
    req = json.dumps({"protocol_version": 2, "message": "hi", "deadline_ms": 800}).encode()
    code, out, _ = run_shim(["--emit", "ndjson", "--cancel-grace", "0.5"], stdin=req,
                            env={**fake_env, "FAKE_VENDOR_MISBEHAVE": "hang-before"})
    assert code == 124 and check_stream(parse_stream(out), code)["failure_kind"] == "timed_out"


def test_pty_mode_gives_the_vendor_a_terminal(fake_env, tmp_path):
    vendor = tmp_path / "tty-vendor"
    vendor.write_text(textwrap.dedent(f"""\
        #!{sys.executable}
        import json, os, sys
        cols = os.get_terminal_size(1).columns if os.isatty(1) else 0
        print(json.dumps({{"type": "result", "ok": True, "text": f"tty={{os.isatty(1)}} stdin={{os.isatty(0)}} cols={{cols}}"}}))
        print("to stderr", file=sys.stderr)
    """))
    vendor.chmod(0o755)
    for pty, expected in (("always", "tty=True stdin=True cols=250"), ("never", "tty=False stdin=False cols=0")):
        proc = subprocess.run([shim_path("fake"), "--vendor-bin", str(vendor), "--pty", pty, "--emit", "ndjson", "hi"],
                              capture_output=True, env={**os.environ, **fake_env}, timeout=30)
        result = check_stream(parse_stream(proc.stdout), proc.returncode)
        assert result["final_message"] == expected


# ----------------------------------------------------------------- size and memory


def _run_measured(argv, env, timeout=300):
    """Run `argv` through tests/rss_probe.py; return (exit code, stdout, peak RSS in MB of the
    shim and of whatever it waited for)."""
    probe = [sys.executable, str(Path(__file__).with_name("rss_probe.py"))]
    proc = subprocess.run(probe + argv, stdin=subprocess.DEVNULL, capture_output=True, env={**os.environ, **env},
                          timeout=timeout)
    kib = int(proc.stderr.decode().strip().splitlines()[-1].split()[1])
    return proc.returncode, proc.stdout, kib / 1024


def _big_run(misbehave: str, env: dict) -> list[dict]:
    """A run whose vendor writes a lot; the stream must hold and the shim's memory stay flat."""
    code, out, peak = _run_measured(fake_argv("--emit", "ndjson", "hi"), {**env, "FAKE_VENDOR_MISBEHAVE": misbehave})
    events = parse_stream(out)
    assert check_stream(events, code)["status"] == "completed"
    assert peak < 100, f"peak RSS {peak:.0f} MB"
    return [e["item"] for e in events if e["type"] == "item.completed"]


@pytest.mark.slow
def test_twenty_megabyte_line(fake_env):
    commands = [i for i in _big_run("huge-line", fake_env) if i["type"] == "command_execution"]
    big = max(commands, key=lambda item: len(item["aggregated_output"]))
    assert big["aggregated_output"].startswith("[… ")
    cut = int(big["aggregated_output"].split(" ")[1])
    assert cut + len(big["aggregated_output"].split("\n", 1)[1].encode()) == 20_000_000


@pytest.mark.slow
def test_two_hundred_megabytes_of_output_in_flat_memory(fake_env):
    texts = [i["text"] for i in _big_run("flood", fake_env) if i["type"] == "agent_message"]
    assert any(t.startswith("[… ") for t in texts)


def _claude_writes(path: Path, rounds: int) -> None:
    """A Claude stream-json recording of `rounds` assistant messages, each a distinct Write
    of ~100 KB (the golden run's init and result lines around them)."""
    golden = (Path(__file__).parent.parent / "golden" / "claude" / "tool-bash" / "native.stdout").read_bytes()
    lines = golden.splitlines()
    content = "".join(f"line {i:05d} of a generated file\n" for i in range(3500))
    with open(path, "wb") as f:
        f.write(lines[0] + b"\n")
        for n in range(rounds):
            block = {"type": "tool_use", "id": f"toolu_w{n:06d}", "name": "Write",
                     "input": {"file_path": f"/work/gen_{n}.txt", "content": f"{n}\n" + content}}
            msg = {"type": "assistant", "message": {"id": f"msg_w{n:06d}", "type": "message", "role": "assistant",
                                                    "model": "claude-opus-5-5", "content": [block]}}
            f.write(json.dumps(msg).encode() + b"\n")
        f.write(lines[-1] + b"\n")


def test_normalize_memory_does_not_grow_with_distinct_tool_inputs(tmp_path):
    """Claude's parser remembers every block it saw (a non-streaming fallback repeats whole
    messages): a digest of each, not the block, or a long session's memory grows with it."""
    peaks = []
    for rounds in (30, 300):
        recording = tmp_path / f"writes-{rounds}.jsonl"
        _claude_writes(recording, rounds)
        code, out, peak = _run_measured([str(Path(sys.executable).parent / "shims"), "normalize", "claude",
                                         "--stdout", str(recording)], {})
        events = parse_stream(out)
        assert code == 0 and check_stream(events, code)["status"] == "completed"
        assert sum(e["type"] == "item.completed" and e["item"]["type"] == "file_change" for e in events) == rounds
        peaks.append(peak)
    assert peaks[1] < peaks[0] + 8, f"peak RSS {peaks[0]:.1f} MB for 3 MB of input, {peaks[1]:.1f} MB for 30 MB"


# ----------------------------------------------------------------- the config file


def test_config_file_sets_defaults_and_flags_win(fake_env, tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[defaults]\nidle_timeout = 1\ncancel_grace = 0.5\n\n[fake]\nvendor_bin = "{FAKE_VENDOR}"\n'
                   'model = "from-config"\n')
    env = {**os.environ, **fake_env, "CODEX_SHIMS_CONFIG": str(cfg)}
    run = lambda *a, stdin=b"": subprocess.run([shim_path("fake"), "--emit", "ndjson", *a], input=stdin,  # noqa: E731
                                               capture_output=True, env=env, timeout=30)
    proc = run("hi")  # no --vendor-bin: the config names the fake
    assert check_stream(parse_stream(proc.stdout), proc.returncode)["provider"]["model"] == "from-config"
    req = json.dumps({"protocol_version": 2, "message": "hi", "model": "from-request"}).encode()
    assert parse_stream(run(stdin=req).stdout)[-1]["provider"]["model"] == "from-request"
    assert parse_stream(run("--model", "from-flag", "hi").stdout)[-1]["provider"]["model"] == "from-flag"
    # idle_timeout = 1 from [defaults] stops a hung vendor quickly
    env["FAKE_VENDOR_MISBEHAVE"] = "hang-before"
    proc = run("hi")
    assert proc.returncode == 124
    assert run("--version").returncode == 0


def test_bad_config_file_is_a_bad_request(fake_env, tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text("[defaults]\nidle_timout = 5\n")
    env = {**os.environ, **fake_env, "CODEX_SHIMS_CONFIG": str(cfg)}
    proc = subprocess.run([shim_path("fake"), "--vendor-bin", FAKE_VENDOR, "--emit", "ndjson", "hi"],
                          capture_output=True, env=env, timeout=30)
    result = check_stream(parse_stream(proc.stdout), proc.returncode)
    assert proc.returncode == 2 and "idle_timout" in result["error"] and str(cfg) in result["error"]


def test_the_vendor_is_looked_up_on_path_as_which_does(tmp_path, monkeypatch):
    """An empty PATH finds nothing (not the current folder); an empty entry is the current
    folder, as for shutil.which, but the answer is absolute: the vendor starts in the run's cwd."""
    from shims.run.programs import resolve_program

    (tmp_path / "claude").write_text("#!/bin/sh\n")
    (tmp_path / "claude").chmod(0o755)
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "claude").mkdir()  # a folder of that name is not a program
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", "")
    assert resolve_program("claude", None) is None
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:")
    assert resolve_program("claude", None) == str(tmp_path / "claude")
    monkeypatch.setenv("PATH", f"{tmp_path}")
    assert resolve_program("claude", None) == str(tmp_path / "claude")
