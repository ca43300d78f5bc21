"""The agy simulator (tests/fakes/agy/agy) against what agy.md documents.

Every run is a subprocess with its own HOME (a signed-in token file unless a test removes it),
its own workspace, a closed pipe as stdin (agy.md §4.1) and the test's process mark.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import time
from pathlib import Path

import procs
import pytest

SIM = Path(__file__).resolve().parent / "fakes" / "agy" / "agy"
PLAIN = "Hello from the agy simulator.\n"
ZERO = {"input_tokens": 0, "output_tokens": 0, "thinking_tokens": 0, "cache_read_tokens": 0, "total_tokens": 0}
BUBBLETEA = ("CLI error: bubbletea: error opening TTY: bubbletea: could not open TTY: "
             "open /dev/tty: no such device or address")
QUOTA = "Individual quota reached. Please upgrade your subscription to increase your limits. Resets in {}."


def call_usage(k: int) -> dict:
    """README: one model call of the k-th turn of a conversation."""
    return {"input_tokens": 2000 + 100 * k, "output_tokens": 300 + k, "thinking_tokens": 200,
            "cache_read_tokens": 8000, "total_tokens": 2300 + 101 * k}


def summed(*usages: dict) -> dict:
    return {key: sum(u[key] for u in usages) for key in ZERO}


class Agy:
    """Runs the simulator with a temp HOME and workspace."""

    def __init__(self, home: Path, cwd: Path, mark: str):
        self.home, self.cwd, self.mark = home, cwd, mark

    def env(self, version: str | None = None, **extra: str) -> dict:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("AGY_") and k != "GEMINI_API_KEY"}
        env.update(HOME=str(self.home), AGY_CLI_DISABLE_AUTO_UPDATE="true", PYTHONUNBUFFERED="1")
        env[procs.MARK_ENV] = self.mark
        if version:
            env["AGY_SIM_VERSION"] = version
        env.update(extra)
        return env

    def run(self, *args: str, version: str | None = None, timeout: float = 20, stdin="closed", **extra: str):
        r, w = os.pipe()
        os.close(w)  # a closed pipe, as the reference recommends
        try:
            return subprocess.run([str(SIM), *args], stdin=r if stdin == "closed" else stdin,
                                  capture_output=True, cwd=self.cwd, env=self.env(version, **extra),
                                  timeout=timeout)
        finally:
            os.close(r)

    def popen(self, *args: str, version: str | None = None, **extra: str) -> subprocess.Popen:
        r, w = os.pipe()
        os.close(w)
        try:
            return subprocess.Popen([str(SIM), *args], stdin=r, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    cwd=self.cwd, env=self.env(version, **extra), start_new_session=True)
        finally:
            os.close(r)

    def pty(self, *args: str, version: str | None = None, **extra: str) -> tuple[bytes, bytes, int]:
        """stdin and stdout on a PTY slave; read the master until EIO."""
        master, slave = os.openpty()
        p = subprocess.Popen([str(SIM), *args], stdin=slave, stdout=slave, stderr=subprocess.PIPE, cwd=self.cwd,
                             env=self.env(version, **extra), start_new_session=True)
        os.close(slave)
        buf = b""
        deadline = time.monotonic() + 20
        try:
            while time.monotonic() < deadline:
                r, _, _ = select.select([master], [], [], 0.5)
                if not r:
                    continue
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the slave side is closed
                    break
                if not chunk:
                    break
                buf += chunk
        finally:
            os.close(master)
        rc = p.wait(timeout=10)
        err = p.stderr.read()
        p.stderr.close()
        return buf, err, rc


@pytest.fixture
def agy(tmp_path, mark) -> Agy:
    home = tmp_path / "home"
    state = home / ".gemini" / "antigravity-cli"
    state.mkdir(parents=True)
    (state / "antigravity-oauth-token").write_text('{"access_token": "simulated"}')
    ws = tmp_path / "ws"
    ws.mkdir()
    return Agy(home, ws, mark)


def lines(stdout: bytes) -> list[dict]:
    """NDJSON split on \\n only (agy.md §4.4: raw U+2028/U+0085 inside strings)."""
    return [json.loads(x) for x in stdout.split(b"\n") if x.strip()]


def steps(events: list[dict]) -> list[dict]:
    return [e["step_update"] for e in events if e["event"] == "step_update"]


def result_of(events: list[dict]) -> dict:
    results = [e["result"] for e in events if e["event"] == "result"]
    assert len(results) == 1, events
    return results[0]


def err_lines(p) -> list[str]:
    return p.stderr.decode().splitlines()


def agy_error(p) -> dict | None:
    found = [ln[len("AGY_ERROR: "):] for ln in err_lines(p) if ln.startswith("AGY_ERROR: ")]
    assert len(found) <= 1
    return json.loads(found[0]) if found else None


# ------------------------------------------------------------------------------------------ flags


def test_version_flag(agy):
    for flag in ("--version", "-v"):
        p = agy.run(flag)
        assert p.returncode == 0 and p.stdout == b"agy version 1.2.16\n"
    assert agy.run("--version", version="1.1.7").stdout == b"agy version 1.1.7\n"


def test_help_lists_output_format_only_from_1_1_8(agy):
    assert "--output-format" in agy.run("--help").stdout.decode()
    assert "(default 0s)" in agy.run("--help").stdout.decode()
    old = agy.run("--help", version="1.1.7").stdout.decode()
    assert "--output-format" not in old and "(default 5m0s)" in old


@pytest.mark.parametrize("version", ["1.1.7", "1.0.0"])
def test_output_format_refused_before_1_1_8(agy, version):
    p = agy.run("-p", "hi", "--output-format", "json", version=version)
    assert p.returncode == 2
    assert p.stdout == b""
    assert err_lines(p)[0] == "flag provided but not defined: -output-format"
    assert agy.run("-p", "hi", "--output-format", "json", version="1.1.8").returncode == 0


def test_unknown_flag_is_a_go_flag_error(agy):
    p = agy.run("-p", "hi", "--yolo")
    assert p.returncode == 2 and p.stdout == b""
    assert err_lines(p)[0] == "flag provided but not defined: -yolo"


def test_print_followed_by_a_flag(agy):
    p = agy.run("-p", "--output-format", "json")
    assert p.returncode == 2 and err_lines(p)[0].startswith('Error: --print took "--output-format" as its prompt')
    # before 1.1.18 the flag became the prompt
    old = agy.run("-p", "--output-format", "json", version="1.1.17")
    assert old.returncode == 0 and old.stdout == PLAIN.encode()
    assert agy.run("-p").returncode == 2


def test_bad_print_timeout_is_a_flag_error(agy):
    p = agy.run("-p", "hi", "--print-timeout", "5")
    assert p.returncode == 2
    assert err_lines(p)[0] == 'invalid value "5" for flag -print-timeout: parse error'


def test_print_equals_form_and_scenario_env_override(agy):
    p = agy.run("--print=say hi [scenario:quota-5h]", "--output-format=json", AGY_SIM_SCENARIO="plain")
    assert p.returncode == 0 and lines(p.stdout)[0]["response"] == PLAIN


# ------------------------------------------------------------------------------------------ formats


def test_plain_stream_json(agy):
    p = agy.run("-p", "hello", "--output-format", "stream-json")
    assert p.returncode == 0, p.stderr
    events = lines(p.stdout)
    assert [e["event"] for e in events][0] == "init" and events[-1]["event"] == "result"
    init = events[0]
    cid = init["conversation_id"]
    assert init["init"]["permission_mode"] == "request-review"
    assert init["init"]["cwd"] == str(agy.cwd) and "run_command" in init["init"]["tools"]
    ss = steps(events)
    assert ss[0]["step_type"] == "user_input" and ss[0]["state"] == "DONE"
    resp = [s for s in ss if s["step_type"] == "agent_response"]
    assert [s["state"] for s in resp] == ["ACTIVE", "ACTIVE", "ACTIVE", "DONE"]
    assert len({s["step_index"] for s in resp}) == 1 and resp[0]["step_index"] > ss[0]["step_index"]
    assert all(s["conversation_id"] == cid for s in ss)
    assert "".join(s["text_delta"] for s in resp) == PLAIN
    assert "usage" not in resp[0] and resp[-1]["usage"] == call_usage(1)
    res = result_of(events)
    assert res["status"] == "SUCCESS" and res["response"] == PLAIN and res["num_turns"] == 1
    assert res["usage"] == call_usage(1)
    u = res["usage"]
    assert u["total_tokens"] == u["input_tokens"] + u["output_tokens"]
    assert u["thinking_tokens"] <= u["output_tokens"]
    assert "error" not in res


def test_plain_json_and_text(agy):
    p = agy.run("-p", "hello", "--output-format", "json")
    assert p.returncode == 0 and p.stdout.count(b"\n") == 1
    assert lines(p.stdout)[0]["response"] == PLAIN
    t = agy.run("-p", "hello")
    assert t.returncode == 0 and t.stdout == PLAIN.encode() and t.stderr == b""


def test_raw_line_separators_inside_json(agy):
    p = agy.run("-p", "[scenario:unicode]", "--output-format", "stream-json")
    assert "\u2028".encode() in p.stdout and "\u0085".encode() in p.stdout
    res = result_of(lines(p.stdout))
    assert "\u2028" in res["response"] and "\u0085" in res["response"]


# ------------------------------------------------------------------------------------------ versions


@pytest.mark.parametrize(("version", "code", "marker", "agy_err"), [
    ("1.2.16", 3, True, True),
    ("1.2.6", 3, True, True),
    ("1.2.5", 1, True, False),
    ("1.1.28", 1, True, False),
    ("1.1.27", 1, False, False),
    ("1.1.8", 1, False, False),
])
def test_model_error_exit_codes_by_version(agy, version, code, marker, agy_err):
    p = agy.run("-p", "[scenario:overloaded]", "--output-format", "json", version=version)
    assert p.returncode == code
    assert ("error: The model API is currently overloaded" in err_lines(p)) is marker
    assert (agy_error(p) is not None) is agy_err
    res = lines(p.stdout)[0]
    assert res["status"] == "ERROR" and res["error"] == "The model API is currently overloaded"


@pytest.mark.parametrize("version", ["1.0.0", "1.1.0"])
def test_issue_76_pipe_prints_nothing(agy, version):
    for prompt in ("hello", "[scenario:quota-5h]", "[scenario:tool]"):
        p = agy.run("-p", prompt, version=version)
        assert (p.returncode, p.stdout, p.stderr) == (0, b"", b"")
    assert agy.run("-p", "hello", version="1.1.1").stdout == PLAIN.encode()


def test_issue_76_tty_still_shows_text(agy):
    out, _err, rc = agy.pty("-p", "hello", version="1.0.9")
    assert rc == 0 and b"Hello from the agy simulator.\r\n" in out and "⠋".encode() in out


# ------------------------------------------------------------------------------------------ conversations


def test_usage_is_cumulative_across_conversation_resumes(agy):
    first = lines(agy.run("-p", "one", "--output-format", "stream-json").stdout)
    cid = first[0]["conversation_id"]
    assert result_of(first)["usage"] == call_usage(1)
    second = agy.run("-p", "two", "--conversation", cid, "--output-format", "stream-json")
    assert second.returncode == 0 and second.stderr == b""
    ev = lines(second.stdout)
    assert ev[0]["conversation_id"] == cid
    res = result_of(ev)
    assert res["conversation_id"] == cid and res["num_turns"] == 2
    assert res["usage"] == summed(call_usage(1), call_usage(2))
    assert res["duration_seconds"] >= result_of(first)["duration_seconds"]
    # the turn's own usage is in its steps; step indexes keep growing across processes
    turn2 = [s["usage"] for s in steps(ev) if "usage" in s]
    assert turn2 == [call_usage(2)]
    assert min(s["step_index"] for s in steps(ev)) > max(s["step_index"] for s in steps(first))
    assert any(s["step_type"] == "system_message" for s in steps(ev))
    # -c resumes the workspace's latest conversation
    third = lines(agy.run("-p", "three", "-c", "--output-format", "json").stdout)[0]
    assert third["conversation_id"] == cid and third["num_turns"] == 3
    assert third["usage"] == summed(call_usage(1), call_usage(2), call_usage(3))
    state = agy.home / ".gemini" / "antigravity-cli"
    assert json.loads((state / "cache" / "last_conversations.json").read_text())[os.path.realpath(agy.cwd)] == cid
    assert json.loads((state / "conversations" / f"{cid}.json").read_text())["num_turns"] == 3


def test_unknown_conversation_starts_a_new_one(agy):
    p = agy.run("-p", "hi", "--conversation", "no-such-id", "--output-format", "json")
    assert p.returncode == 0
    assert err_lines(p) == ['warning: conversation "no-such-id" not found']
    res = lines(p.stdout)[0]
    assert res["conversation_id"] not in ("", "no-such-id") and res["num_turns"] == 1


# ------------------------------------------------------------------------------------------ permissions


def test_shell_tool_soft_denied_by_default(agy):
    p = agy.run("-p", "[scenario:tool]", "--output-format", "stream-json")
    assert p.returncode == 0
    jetski = [ln for ln in err_lines(p) if ln.startswith("jetski: ")]
    assert len(jetski) == 1 and jetski[0].startswith(
        'jetski: no output produced — a tool required the "run_command" permission that headless mode '
        "cannot prompt for, so it was auto-denied.")
    ev = lines(p.stdout)
    res = result_of(ev)
    assert res["status"] == "SUCCESS" and res["response"] == ""
    assert res["denied_actions"] == [{"action": "run_command", "display_name": "Run command"}]
    tool = [s for s in steps(ev) if s["step_type"] == "tool"]
    assert tool[-1]["state"] == "ERROR" and tool[-1]["tool_name"] == "run_command"
    # no denied_actions field before 1.1.27, no jetski line before 1.1.3
    old = agy.run("-p", "[scenario:tool]", "--output-format", "json", version="1.1.26")
    assert "denied_actions" not in lines(old.stdout)[0]
    assert not any(ln.startswith("jetski:") for ln in err_lines(agy.run("-p", "[scenario:tool]", version="1.1.2")))


def test_shell_tool_allowed_with_skip_permissions(agy):
    p = agy.run("-p", "[scenario:tool]", "--output-format", "stream-json", "--dangerously-skip-permissions")
    assert p.returncode == 0 and p.stderr == b""
    ev = lines(p.stdout)
    assert ev[0]["init"]["permission_mode"] == "always-proceed"
    tool = [s for s in steps(ev) if s["step_type"] == "tool"]
    assert [s["state"] for s in tool] == ["ACTIVE", "DONE"]
    assert tool[0]["tool_info"]["parameters"] == {"CommandLine": "echo hi"}
    assert tool[1]["tool_info"]["output"] == "hi\r\n"
    res = result_of(ev)
    assert res["response"].endswith("The command printed hi.\n") and "denied_actions" not in res
    assert res["usage"] == summed(call_usage(1), call_usage(1))


@pytest.mark.parametrize(("flags", "allowed"), [
    ((), False),
    (("--mode", "accept-edits"), True),
    (("--dangerously-skip-permissions",), True),
    (("--mode", "plan", "--dangerously-skip-permissions"), False),
])
def test_write_permissions(agy, flags, allowed):
    p = agy.run("-p", "[scenario:write]", "--output-format", "stream-json", *flags)
    assert p.returncode == 0
    target = agy.cwd / "created-by-agy.txt"
    assert target.exists() is allowed
    res = result_of(lines(p.stdout))
    tool = [s for s in steps(lines(p.stdout)) if s["step_type"] == "tool"]
    assert tool[0]["tool_info"]["parameters"] == {"TargetFile": str(target)}
    if allowed:
        assert target.read_text() == "hello\n" and res["response"] and "denied_actions" not in res
    else:
        assert res["response"] == "" and res["denied_actions"][0]["action"] == "write_file"


def test_mode_ignored_in_print_before_1_1_12(agy):
    p = agy.run("-p", "[scenario:write]", "--mode", "accept-edits", version="1.1.11")
    assert p.returncode == 0 and not (agy.cwd / "created-by-agy.txt").exists()


def test_read_allowed_and_not_found(agy):
    p = agy.run("-p", "[scenario:read]", "--output-format", "stream-json")
    tool = [s for s in steps(lines(p.stdout)) if s["step_type"] == "tool"]
    assert tool[-1]["state"] == "ERROR"
    assert tool[-1]["tool_info"]["error"] == {"type": "NOT_FOUND", "message": "file does not exist"}
    assert tool[0]["tool_info"]["parameters"] == {"AbsolutePath": str(agy.cwd / "README.md")}
    assert p.returncode == 0 and result_of(lines(p.stdout))["status"] == "SUCCESS"
    (agy.cwd / "README.md").write_text("# Demo\n")
    p = agy.run("-p", "[scenario:read]", "--output-format", "stream-json")
    tool = [s for s in steps(lines(p.stdout)) if s["step_type"] == "tool"]
    assert tool[-1]["state"] == "DONE" and tool[-1]["tool_info"]["output"] == "# Demo\n"
    # the function-call turn: agent_response DONE without text, still with usage
    fc = [s for s in steps(lines(p.stdout)) if s["step_type"] == "agent_response" and s["state"] == "DONE"][0]
    assert "text_delta" not in fc and fc["usage"] == call_usage(1)


def test_mcp_only_with_skip_permissions(agy):
    denied = agy.run("-p", "[scenario:mcp]", "--output-format", "json", "--mode", "accept-edits")
    assert lines(denied.stdout)[0]["denied_actions"][0]["action"] == "mcp"
    ok = agy.run("-p", "[scenario:mcp]", "--output-format", "stream-json", "--dangerously-skip-permissions")
    tool = [s for s in steps(lines(ok.stdout)) if s["step_type"] == "tool"]
    assert tool[-1]["state"] == "DONE" and tool[-1]["tool_name"] == "mcp_github_create_issue"


# ------------------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(("scenario", "reset"), [("quota-5h", "34m13s"), ("quota-weekly", "167h51m3s")])
def test_quota_lines(agy, scenario, reset):
    p = agy.run("-p", f"[scenario:{scenario}]", "--output-format", "stream-json")
    assert p.returncode == 3
    msg = QUOTA.format(reset)
    assert f"error: {msg}" in err_lines(p)
    e = agy_error(p)
    assert e["short_error"] == f"RESOURCE_EXHAUSTED (code 429): {msg}"
    assert (e["status"], e["error_code"], e["code_kind"], e["retryable"]) == ("RESOURCE_EXHAUSTED", 429, "http", True)
    ev = lines(p.stdout)
    err_step = [s for s in steps(ev) if s["step_type"] == "error_message"]
    assert len(err_step) == 1 and err_step[0]["state"] == "DONE"
    assert re.fullmatch(r"[0-9a-f-]{36}-(\d+)", e["error_id"]).group(1) == str(err_step[0]["step_index"])
    res = result_of(ev)
    assert res["status"] == "ERROR" and res["error"] == msg and res["usage"] == ZERO
    old = agy.run("-p", f"[scenario:{scenario}]", "--output-format", "json", version="1.2.5")
    assert old.returncode == 1 and agy_error(old) is None and f"error: {msg}" in err_lines(old)


@pytest.mark.parametrize(("scenario", "status", "code", "retryable", "text"), [
    ("credits", "RESOURCE_EXHAUSTED", 429, False, "Your AI credits balance is too low to continue."),
    ("overloaded", "UNAVAILABLE", 503, True, "The model API is currently overloaded"),
    ("bad-key", "INVALID_ARGUMENT", 400, False,
     "agent executor error: generating and executing: Error 400, Message: API key not valid. "
     "Please pass a valid API key."),
])
def test_other_model_errors(agy, scenario, status, code, retryable, text):
    p = agy.run("-p", f"[scenario:{scenario}]", "--output-format", "json")
    assert p.returncode == 3
    e = agy_error(p)
    assert (e["status"], e["error_code"], e["retryable"]) == (status, code, retryable)
    assert text in e["short_error"]
    assert f"error: {text}" in err_lines(p)
    assert lines(p.stdout)[0]["error"] == text


def test_unknown_model(agy):
    for args in (("-p", "[scenario:unknown-model]"), ("-p", "hi", "--model", "no-such-model-9")):
        p = agy.run(*args, "--output-format", "stream-json")
        assert p.returncode == 1
        err = err_lines(p)
        assert err[0].startswith('invalid model selection (--model "') and "is not recognized as a known model" in err[0]
        assert "Available models:" in err
        ev = lines(p.stdout)
        assert [e["event"] for e in ev] == ["result"]
        assert ev[0]["result"]["conversation_id"] == "" and ev[0]["result"]["status"] == "ERROR"
    # before 1.1.2 an unknown model falls back silently
    assert agy.run("-p", "hi", "--model", "no-such-model", version="1.1.1").returncode == 0


@pytest.mark.parametrize(("version", "code"), [("1.2.16", 3), ("1.2.10", 3), ("1.2.9", 0), ("1.1.8", 0)])
def test_partial_then_error(agy, version, code):
    p = agy.run("-p", "[scenario:partial-error]", "--output-format", "json", version=version)
    assert p.returncode == code
    res = lines(p.stdout)[0]
    assert res["status"] == "ERROR" and res["response"] == "Here is the first part of the answer."


# ------------------------------------------------------------------------------------------ timeouts, signals


def test_print_timeout_returns_partial_output(agy):
    t0 = time.monotonic()
    p = agy.run("-p", "[scenario:slow]", "--output-format", "stream-json", "--print-timeout", "700ms")
    assert time.monotonic() - t0 < 3
    assert p.returncode == 0
    assert ("[agy] print timeout after 700ms with turn in progress; returning partial output"
            in err_lines(p))
    ev = lines(p.stdout)
    res = result_of(ev)
    deltas = "".join(s.get("text_delta", "") for s in steps(ev) if s["step_type"] == "agent_response")
    assert res["status"] == "SUCCESS" and res["response"] and res["response"] == deltas
    assert res["usage"] == ZERO
    assert not any(s["state"] == "DONE" for s in steps(ev) if s["step_type"] == "agent_response")
    text = agy.run("-p", "[scenario:slow]", "--print-timeout", "1.5s")
    assert text.returncode == 0 and text.stdout.startswith(b"chunk 01 ")
    assert "[agy] print timeout after 1.5s" in text.stderr.decode()


def test_print_timeout_before_1_1_28(agy):
    p = agy.run("-p", "[scenario:slow]", "--output-format", "json", "--print-timeout", "500ms", version="1.1.27")
    assert p.returncode != 0
    assert "Error: timed out waiting for response" in err_lines(p)
    res = lines(p.stdout)[0]
    assert res["status"] == "ERROR" and res["response"] == ""


def read_until(proc: subprocess.Popen, pred, timeout: float = 10.0) -> list[dict]:
    """Read stdout events until pred(events) holds."""
    events: list[dict] = []
    buf = b""
    end = time.monotonic() + timeout
    fd = proc.stdout.fileno()
    while time.monotonic() < end:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            buf += chunk
            *done, buf = buf.split(b"\n")
            events += [json.loads(x) for x in done if x.strip()]
            if pred(events):
                return events
    raise AssertionError(f"condition not met; got {events}")


def finish(proc: subprocess.Popen, events: list[dict]) -> tuple[list[dict], float]:
    t0 = time.monotonic()
    rest, _ = proc.communicate(timeout=10)
    return events + lines(rest), time.monotonic() - t0


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_gives_interrupted_result(agy, sig):
    proc = agy.popen("-p", "[scenario:slow]", "--output-format", "stream-json")
    try:
        events = read_until(proc, lambda ev: sum(1 for e in ev if e.get("step_update", {}).get("text_delta")) >= 2)
        os.killpg(proc.pid, sig)
        events, took = finish(proc, events)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1 and took < 1.0
    res = result_of(events)
    deltas = "".join(s.get("text_delta", "") for s in steps(events) if s["step_type"] == "agent_response")
    assert res["status"] == "ERROR" and res["error"] == "interrupted" and res["response"] == deltas
    assert deltas.startswith("chunk 01 chunk 02 ")
    assert not any(s["state"] == "DONE" for s in steps(events) if s["step_type"] == "agent_response")


def test_sigint_kills_the_tool_process_group(agy):
    proc = agy.popen("-p", "[scenario:slowtool]", "--output-format", "stream-json", "--dangerously-skip-permissions")
    try:
        events = read_until(proc, lambda ev: any(e.get("step_update", {}).get("step_type") == "tool" for e in ev))
        time.sleep(0.2)
        tools = [(pid, cmd) for pid, cmd in procs.processes_with_mark(agy.mark) if cmd.startswith("sleep")]
        assert len(tools) == 1
        assert os.getsid(tools[0][0]) != os.getsid(proc.pid)  # the tool runs in its own session
        os.killpg(proc.pid, signal.SIGINT)
        events, took = finish(proc, events)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1 and took < 1.0
    res = result_of(events)
    assert res["error"] == "interrupted" and res["response"] == "Let me run a long command."
    tool = [s for s in steps(events) if s["step_type"] == "tool"]
    assert [s["state"] for s in tool] == ["ACTIVE"]  # no DONE/ERROR for the interrupted step
    assert procs.wait_no_processes(agy.mark, timeout_s=2.0) == []


# ------------------------------------------------------------------------------------------ /usage, auth, TTY


def test_usage_slash_command(agy):
    p = agy.run("-p", "/usage", "--output-format", "json")
    assert p.returncode == 0
    res = lines(p.stdout)[0]
    assert res["num_turns"] == 0 and res["usage"] == ZERO and res["status"] == "SUCCESS"
    assert res["command"]["name"] == "usage"
    gemini = res["command"]["data"]["groups"][0]
    assert gemini["name"] == "Gemini Models"
    buckets = {b["id"]: b for b in gemini["buckets"]}
    assert buckets["gemini-5h"]["window"] == "5h" and buckets["gemini-5h"]["remaining_fraction"] == 0.8
    assert buckets["gemini-weekly"]["window"] == "weekly"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", buckets["gemini-5h"]["reset_time"])
    assert not (agy.home / ".gemini" / "antigravity-cli" / "conversations").exists()
    text = agy.run("-p", "/usage")
    rows = text.stdout.decode().splitlines()
    assert rows and all(re.fullmatch(r"[^\t]+\t[^\t]+\t\d+%\t\S+Z", r) for r in rows)
    assert rows[0].startswith("Gemini Models\t5 hour\t80%\t")
    # before 1.1.11 the prompt goes to the model
    assert agy.run("-p", "/usage", version="1.1.10").stdout == PLAIN.encode()


def test_signed_out_fast_path(agy):
    (agy.home / ".gemini" / "antigravity-cli" / "antigravity-oauth-token").unlink()
    p = agy.run("-p", "hi", "--output-format", "stream-json")
    assert p.returncode == 1
    assert err_lines(p) == ["Error: authentication required. Run 'agy' to log in, then retry.",
                            "error: authentication failed or timed out"]
    ev = lines(p.stdout)
    assert [e["event"] for e in ev] == ["result"]  # no init
    assert ev[0]["result"]["status"] == "ERROR"
    assert ev[0]["result"]["error"] == "authentication failed or timed out"
    text = agy.run("-p", "hi")
    assert text.returncode == 1 and text.stdout == b""
    old = agy.run("-p", "hi", "--output-format", "json", version="1.1.27")
    assert "error: authentication failed or timed out" not in err_lines(old) and old.returncode == 1
    # an API key signs in; the signed-out scenario signs out whatever is set
    assert agy.run("-p", "hi", GEMINI_API_KEY="k").returncode == 0
    (agy.home / ".gemini" / "antigravity-cli" / "antigravity-oauth-token").write_text("{}")
    assert agy.run("-p", "[scenario:signed-out]", "--output-format", "json").returncode == 1


def test_signed_out_slow_path_with_dev_null(agy):
    p = agy.run("-p", "[scenario:signed-out]", stdin=subprocess.DEVNULL, AGY_SIM_AUTH_WAIT_S="0.1")
    assert p.returncode == 1
    err = err_lines(p)
    assert err[0].startswith("Authentication required. Please visit the URL to log in: https://accounts.google.com/")
    assert "Waiting for authentication (timeout 30s)..." in err and "Error: authentication failed or timed out" in err


def test_needs_tty(agy):
    p = agy.run("-p", "[scenario:needs-tty]", "--output-format", "stream-json")
    assert p.returncode == 0 and p.stdout == b""
    assert err_lines(p) == [BUBBLETEA]
    t0 = time.monotonic()
    out, _err, rc = agy.pty("-p", "[scenario:needs-tty]")
    assert rc == 1 and time.monotonic() - t0 >= 0.5
    assert b"Do you trust the contents of this project?" in out
    bare = agy.run()
    assert bare.returncode == 0 and err_lines(bare) == [BUBBLETEA]


def clean_screen(raw: bytes) -> list[str]:
    """agy.md §10's cleaning: strip escapes, keep the last \\r segment, drop spinner/box lines."""
    text = raw.decode("utf-8", "replace")
    text = re.sub(r"\x1b\][^\x07\x1b]*(\x07|\x1b\\)", "", text)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
    out = []
    for line in text.split("\n"):
        line = line.rstrip("\r").split("\r")[-1].strip()
        if line and not re.fullmatch(r"[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏╭─╮│╰╯\s]*", line) and "Generating" not in line:
            out.append(line)
    return out


def test_pty_text_mode_noise(agy):
    out, err, rc = agy.pty("-p", "hello")
    assert rc == 0 and err == b""
    assert out.startswith(b"\x1b]0;agy\x07")  # OSC window title
    assert b"\x1b[?25l" in out and out.endswith(b"\x1b[?25h")  # cursor hide/show
    assert re.search(rb"\x1b\[[0-9;]*m", out)  # SGR
    for glyph in "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏╭─╮│╰╯":
        assert glyph.encode() in out
    assert b"\r\x1b[2K" in out  # spinner redraws
    assert b"Hello from the agy simulator.\r\n" in out
    assert out.index(b"Hello from") > out.rindex("⠏".encode())
    assert clean_screen(out)[-1] == "Hello from the agy simulator."
    # json output under a TTY is plain JSON
    jout, _, rc = agy.pty("-p", "hello", "--output-format", "json")
    assert rc == 0 and json.loads(jout.decode().strip())["response"] == PLAIN


def test_auto_update_line_only_in_the_log(agy, tmp_path):
    log = tmp_path / "agy.log"
    p = agy.run("-p", "hi", "--log-file", str(log), AGY_CLI_DISABLE_AUTO_UPDATE="TRUE")
    assert p.returncode == 0 and p.stderr == b""
    text = log.read_text()
    assert "updater" in text and re.search(r"^I\d{4} \d\d:\d\d:\d\d\.\d{6} +\d+ \S+\.go:\d+\] ", text, re.M)
    log.unlink()
    agy.run("-p", "hi", "--log-file", str(log))
    assert "updater" not in log.read_text() and "Print mode: conversation=" in log.read_text()


# ------------------------------------------------------------------------------------ --json-schema

SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}, "n": {"type": "integer", "minimum": 3}},
          "required": ["name", "n"]}


def test_json_schema_adds_json_schema_and_structured_output(agy):
    """agy.md §3, §4.3, §4.4: json_schema in init and result, structured_output in the result."""
    p = agy.run("-p", "hi", "--output-format", "stream-json", f"--json-schema={json.dumps(SCHEMA)}")
    assert p.returncode == 0, p.stderr
    events = lines(p.stdout)
    assert events[0]["init"]["json_schema"] == SCHEMA
    res = result_of(events)
    assert res["status"] == "SUCCESS" and res["json_schema"] == SCHEMA
    assert res["structured_output"] == {"name": "sim name", "n": 3} == json.loads(res["response"])
    assert "".join(s.get("text_delta", "") for s in steps(events) if s["step_type"] == "agent_response") == res["response"]
    plain = result_of(lines(agy.run("-p", "hi", "--output-format", "stream-json").stdout))
    assert "json_schema" not in plain and "structured_output" not in plain


def test_json_schema_from_a_file_a_primitive_and_refusals(agy):
    path = agy.cwd / "schema.json"
    path.write_text(json.dumps(SCHEMA))
    res = lines(agy.run("-p", "hi", "--output-format", "json", "--json-schema", str(path)).stdout)[0]
    assert res["json_schema"] == SCHEMA and res["structured_output"]["n"] == 3
    res = lines(agy.run("-p", "hi", "--output-format", "json", "--json-schema=boolean").stdout)[0]
    assert res["json_schema"] == {"type": "boolean"} and res["structured_output"] is True
    for bad in ("{not json", str(agy.cwd / "missing.json")):
        p = agy.run("-p", "hi", "--output-format", "json", f"--json-schema={bad}")
        assert p.returncode == 2 and p.stdout == b"" and err_lines(p)[0].startswith("Error: invalid --json-schema")
    old = agy.run("-p", "hi", "--json-schema=string", version="1.1.7")
    assert old.returncode == 2 and err_lines(old)[0] == "flag provided but not defined: -json-schema"


def test_json_schema_with_a_prose_turn_has_no_structured_output(agy):
    p = agy.run("-p", "[scenario:tool]", "--output-format", "json", "--dangerously-skip-permissions",
                f"--json-schema={json.dumps(SCHEMA)}")
    res = lines(p.stdout)[0]
    assert res["status"] == "SUCCESS" and res["json_schema"] == SCHEMA and "structured_output" not in res
