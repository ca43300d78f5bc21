"""`shims mcp` driven by the official `mcp` SDK's own client (and, for the lifecycle, by raw
JSON-RPC over its pipes): workers on the fake vendor through shim-fake. The real Codex CLI
as the host is tests/test_mcp_codex.py."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import time
from pathlib import Path

import anyio
import procs
import pytest
from conftest import BIN, FAKE_VENDOR
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

SHIMS = str(BIN / "shims")
pytestmark = pytest.mark.slow


@pytest.fixture
def server_env(full_env, tmp_path):
    config = tmp_path / "shims.toml"
    config.write_text(f'[fake]\nvendor_bin = "{FAKE_VENDOR}"\n')
    return {**full_env, "CODEX_SHIMS_CONFIG": str(config)}


@pytest.fixture
def repo(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    subprocess.run(["git", "init", "-q", str(ws)], check=True)
    (ws / "README").write_text("hello\n")
    subprocess.run(["git", "-C", str(ws), "add", "."], check=True)
    subprocess.run(["git", "-C", str(ws), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"],
                   check=True)
    return ws


def session(env, *args, body):
    """Run `body(client_session)` against a fresh `shims mcp --providers fake ...`."""

    async def main():
        params = StdioServerParameters(command=SHIMS, args=["mcp", "--providers", "fake", *args], env=env)
        async with stdio_client(params) as (r, w), ClientSession(r, w) as s:
            await s.initialize()
            return await body(s)

    return anyio.run(main)


def test_the_tools_schemas_come_from_the_option_table(server_env):
    async def body(s):
        return {t.name: t for t in (await s.list_tools()).tools}

    tools = session(server_env, body=body)
    assert list(tools) == ["spawn", "wait", "cancel", "list"]
    spawn = tools["spawn"].input_schema
    assert spawn["required"] == ["provider", "task"] and spawn["additionalProperties"] is False
    assert spawn["properties"]["provider"]["enum"] == ["fake"]
    assert spawn["properties"]["mode"] == {"default": "read-only", "enum": ["read-only", "write", "full"],
                                           "type": "string", "description": spawn["properties"]["mode"]["description"]}
    # The same words as `shim-<vendor> --help` (RUN_OPTIONS).
    from shims.run.options import RUN_OPTIONS
    help_of = {o.name: o.help for o in RUN_OPTIONS}
    assert spawn["properties"]["worktree"]["description"] == help_of["worktree"]
    assert spawn["properties"]["max_cost_usd"]["exclusiveMinimum"] == 0


def test_spawn_then_wait_returns_the_shims_result_with_progress_for_each_item(server_env, repo):
    progress = []

    async def body(s):
        spawned = await s.call_tool("spawn", {"provider": "fake", "task": "hello there", "cwd": str(repo)})

        async def on_progress(value, total, message):
            progress.append((value, message))

        waited = await s.call_tool("wait", {"agent_id": spawned.structured_content["agent_id"],
                                            "timeout_seconds": 30}, progress_callback=on_progress)
        return spawned, waited

    spawned, waited = session(server_env, body=body)
    assert not spawned.is_error and spawned.structured_content["status"] == "running"
    view = waited.structured_content
    assert view["status"] == "completed" and view["final_message"] == "Hello! You said: hello there"
    # Exactly the envelope the shim wrote to its journal: usage, session, provider.
    recorded = json.loads((Path(view["journal"]) / "result.json").read_text())
    assert view["usage"] == recorded["usage"] and view["usage"]["input_tokens"] == 125
    assert view["session_id"] == recorded["session_id"] and view["failure_kind"] is None
    assert [m for _, m in progress] == ["says: Let me check.", "$ echo hello (exit 0)",
                                        "says: Hello! You said: hello there"]
    assert [v for v, _ in progress] == [1, 2, 3] and view["items"] == 3
    text = waited.content[0].text
    assert "completed" in text and "125 input tokens" in text and "Hello! You said" in text


HOSTILE = [
    ({"provider": "codex", "task": "x"}, "`provider`"),
    ({"provider": "fake", "task": "x", "cwd": "relative/dir"}, "absolute path"),
    ({"provider": "fake", "task": "x", "cwd": "/no/such/folder"}, "does not exist"),
    ({"provider": "fake", "task": "x", "resume_session_id": "--dangerously-skip-permissions"}, "not a session id"),
    ({"provider": "fake", "task": "x", "model": "--yolo"}, "must not start with '-'"),
    ({"provider": "fake", "task": "x", "mode": "yolo"}, "`mode`"),
    ({"provider": "fake", "task": "   "}, "the task is empty"),
    ({"provider": "fake", "task": "a\x00b"}, "NUL"),
    ({"provider": "fake", "task": "x" * 70000}, "at most 65536"),
    ({"provider": "fake", "task": "x", "timeout_seconds": "5"}, "valid number"),
    ({"provider": "fake", "task": "x", "max_cost_usd": 0}, "greater than 0"),
    ({"provider": "fake", "task": "x", "vendor_bin": "/bin/sh"}, "no argument `vendor_bin`"),
    ({"provider": "fake", "task": "x", "fallback": ["fake", "fake"]}, "twice"),
    ({"task": "x"}, "`provider` is required"),
    ({"provider": "fake", "task": "x", "fallback": ["fake"]}, "the provider itself"),
    ({"provider": "fake", "task": "x", "model": "m\n--yolo"}, "control character"),
]


def test_hostile_arguments_are_tool_errors_and_the_server_lives_on(server_env, repo):
    async def body(s):
        answers = [await s.call_tool("spawn", args) for args, _ in HOSTILE]
        answers.append(await s.call_tool("wait", {"agent_id": "../../etc"}))
        answers.append(await s.call_tool("cancel", {"agent_id": "0123456789ab"}))
        answers.append(await s.call_tool("rm", {}))
        spawned = await s.call_tool("spawn", {"provider": "fake", "task": "still here", "cwd": str(repo)})
        waited = await s.call_tool("wait", {"agent_id": spawned.structured_content["agent_id"]})
        listed = await s.call_tool("list", {})
        return answers, waited, listed

    answers, waited, listed = session(server_env, "--providers", "fake,gemini", body=body)
    expected = [why for _, why in HOSTILE] + ["`agent_id`", "no worker '0123456789ab'", "no tool 'rm'"]
    for answer, why in zip(answers, expected, strict=True):
        assert answer.is_error and why in answer.content[0].text, (why, answer.content[0].text)
    assert waited.structured_content["final_message"] == "Hello! You said: still here"
    assert len(listed.structured_content["agents"]) == 1  # nothing refused was started


def test_cancel_stops_the_worker_and_every_process_it_started(server_env, repo, tmp_path, mark):
    pids = tmp_path / "pids"
    env = {**server_env, "FAKE_VENDOR_MISBEHAVE": "hang,grandchild", "FAKE_VENDOR_PIDFILE": str(pids)}

    async def body(s):
        spawned = await s.call_tool("spawn", {"provider": "fake", "task": "hang", "cwd": str(repo)})
        agent = spawned.structured_content["agent_id"]
        while not pids.exists() or len(pids.read_text().split()) < 2:
            await anyio.sleep(0.05)
        started = time.monotonic()
        cancelled = await s.call_tool("cancel", {"agent_id": agent})
        took = time.monotonic() - started
        listed = await s.call_tool("list", {})
        return cancelled, took, listed

    cancelled, took, listed = session(env, body=body)
    view = cancelled.structured_content
    assert view["status"] == "cancelled" and view["failure_kind"] == "cancelled", view
    assert took < 15
    for pid in map(int, pids.read_text().split()):
        assert not procs._state(pid) or procs._state(pid) == "Z", f"{pid} outlived the cancel"
    assert listed.structured_content["agents"][0]["status"] == "cancelled"


def test_a_wait_returns_at_its_limit_with_status_running(server_env, repo):
    env = {**server_env, "FAKE_VENDOR_MISBEHAVE": "hang"}

    async def body(s):
        spawned = await s.call_tool("spawn", {"provider": "fake", "task": "hang", "cwd": str(repo)})
        agent = spawned.structured_content["agent_id"]
        started = time.monotonic()
        waited = await s.call_tool("wait", {"agent_id": agent, "timeout_seconds": 600})
        took = time.monotonic() - started
        await s.call_tool("cancel", {"agent_id": agent})
        return waited, took

    waited, took = session(env, "--wait-limit", "1.5", body=body)
    assert waited.structured_content["status"] == "running" and "call wait again" in waited.content[0].text
    assert 1.4 < took < 10  # the server's limit, not the 600 s asked for


def test_a_spawn_past_max_workers_is_refused(server_env, repo):
    env = {**server_env, "FAKE_VENDOR_MISBEHAVE": "hang"}

    async def body(s):
        first = await s.call_tool("spawn", {"provider": "fake", "task": "hang", "cwd": str(repo)})
        second = await s.call_tool("spawn", {"provider": "fake", "task": "hang", "cwd": str(repo)})
        await s.call_tool("cancel", {"agent_id": first.structured_content["agent_id"]})
        third = await s.call_tool("spawn", {"provider": "fake", "task": "hang", "cwd": str(repo)})
        await s.call_tool("cancel", {"agent_id": third.structured_content["agent_id"]})
        return second, third

    second, third = session(env, "--max-workers", "1", body=body)
    assert second.is_error and "1 workers are running" in second.content[0].text
    assert not third.is_error  # a cancelled worker no longer counts


def test_a_worker_past_its_timeout_is_timed_out(server_env, repo):
    env = {**server_env, "FAKE_VENDOR_MISBEHAVE": "hang"}

    async def body(s):
        spawned = await s.call_tool("spawn", {"provider": "fake", "task": "hang", "cwd": str(repo),
                                              "timeout_seconds": 1})
        return await s.call_tool("wait", {"agent_id": spawned.structured_content["agent_id"]})

    view = session(env, body=body).structured_content
    assert (view["status"], view["failure_kind"]) == ("timed_out", "timed_out"), view


def test_a_read_only_worker_that_changed_files_is_not_reported_as_success(server_env, repo):
    env = {**server_env, "FAKE_VENDOR_WRITE": "README=changed behind your back\n"}

    async def body(s):
        spawned = await s.call_tool("spawn", {"provider": "fake", "task": "look only", "cwd": str(repo)})
        return await s.call_tool("wait", {"agent_id": spawned.structured_content["agent_id"]})

    view = session(env, body=body).structured_content
    assert (view["status"], view["failure_kind"]) == ("failed", "unsupported_mode"), view
    assert "changed 1 file" in view["error"] and view["diff"]["files_changed"] == 1
    assert view["final_message"]  # the answer is kept: the host decides what to do with it


def test_a_long_answer_keeps_its_tail_within_max_answer_bytes(server_env, repo, tmp_path):
    async def body(s):
        spawned = await s.call_tool("spawn", {"provider": "fake", "task": "y" * 3000, "cwd": str(repo)})
        return await s.call_tool("wait", {"agent_id": spawned.structured_content["agent_id"]})

    view = session(server_env, "--max-answer-bytes", "1000", body=body).structured_content
    answer = view["final_message"]
    assert len(answer.encode()) <= 1000 and answer.startswith("[…") and answer.endswith("y" * 100)


def test_a_missing_provider_fails_its_worker_at_once_as_command_missing(server_env, repo, tmp_path):
    config = Path(server_env["CODEX_SHIMS_CONFIG"])
    config.write_text(f'[fake]\nvendor_bin = "{tmp_path / "not-installed"}"\n')

    async def body(s):
        spawned = await s.call_tool("spawn", {"provider": "fake", "task": "hi", "cwd": str(repo)})
        return await s.call_tool("wait", {"agent_id": spawned.structured_content["agent_id"]})

    started = time.monotonic()
    view = session(server_env, body=body).structured_content
    assert (view["status"], view["failure_kind"]) == ("failed", "command_missing"), view
    assert "not-installed" in view["error"] and view["elapsed_seconds"] < 5
    assert time.monotonic() - started < 30


AGY = Path(FAKE_VENDOR).parent / "agy" / "agy"


def script(tmp_path, records):
    path = tmp_path / "script.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(path)


def test_fallback_and_the_spend_cap_reach_the_shim(server_env, tmp_path):
    """The two options without a request field go on the shim's argv, built by the server."""
    home = tmp_path / "home"
    (home / ".gemini" / "antigravity-cli").mkdir(parents=True)
    (home / ".gemini" / "antigravity-cli" / "antigravity-oauth-token").write_text('{"token": "fake"}')
    config = Path(server_env["CODEX_SHIMS_CONFIG"])
    config.write_text(config.read_text() + f'[agy]\nvendor_bin = "{AGY}"\n')
    quota = script(tmp_path, [{"type": "init", "session_id": "s-q", "model": "m", "version": "1"},
                              {"type": "result", "ok": False, "error_kind": "quota_or_rate_limited",
                               "message": "Out of quota.", "window": "5h"}])
    env = {**server_env, "HOME": str(home), "AGY_SIM_VERSION": "1.2.16", "FAKE_VENDOR_SCRIPT": quota}

    async def body(s):
        fell_back = await s.call_tool("spawn", {"provider": "fake", "task": "[scenario:plain] hi",
                                                "cwd": str(tmp_path), "fallback": ["agy"]})
        fell_back = await s.call_tool("wait", {"agent_id": fell_back.structured_content["agent_id"]})
        return fell_back

    view = session(env, "--providers", "fake,agy", body=body).structured_content
    assert (view["status"], view["provider"]) == ("completed", "agy"), view
    assert view["attempts"] == [{"provider": "fake", "failure_kind": "quota_or_rate_limited", "error": "Out of quota."}]

    costly = script(tmp_path, [{"type": "init", "session_id": "s-c", "model": "m", "version": "1"},
                               {"type": "usage", "input_tokens": 1000, "output_tokens": 100, "cost_usd": 0.75},
                               *({"type": "text", "text": f"working {i}"} for i in range(100)),
                               {"type": "result", "ok": True, "text": "done"}])
    env = {**server_env, "FAKE_VENDOR_SCRIPT": costly, "FAKE_VENDOR_PACE": "0.05"}

    async def capped(s):
        spawned = await s.call_tool("spawn", {"provider": "fake", "task": "go", "cwd": str(tmp_path),
                                              "max_cost_usd": 0.5})
        return await s.call_tool("wait", {"agent_id": spawned.structured_content["agent_id"]})

    view = session(env, body=capped).structured_content
    assert (view["status"], view["failure_kind"]) == ("failed", "quota_or_rate_limited"), view
    assert "$0.5" in view["error"] and view["usage"]["cost_usd"] == 0.75


def test_progress_kept_for_a_wait_is_bounded_and_says_what_it_left_out(server_env, repo, tmp_path):
    from shims.mcp.workers import UNREPORTED_KEPT

    many = UNREPORTED_KEPT + 500
    records = [{"type": "init", "session_id": "s-many", "model": "m", "version": "1"},
               *({"type": "text", "text": f"line {i}"} for i in range(many)), {"type": "result", "ok": True, "text": "done"}]
    env = {**server_env, "FAKE_VENDOR_SCRIPT": script(tmp_path, records)}
    progress = []

    async def body(s):
        spawned = await s.call_tool("spawn", {"provider": "fake", "task": "go", "cwd": str(repo)})
        agent = spawned.structured_content["agent_id"]
        while (await s.call_tool("list", {})).structured_content["agents"][0]["status"] == "running":
            await anyio.sleep(0.1)

        async def on_progress(value, total, message):
            progress.append((value, message))

        return await s.call_tool("wait", {"agent_id": agent}, progress_callback=on_progress)

    view = session(env, body=body).structured_content
    assert view["status"] == "completed" and view["items"] >= many
    assert progress[0][1] == f"… {view['items'] - UNREPORTED_KEPT} earlier items not shown"
    assert len(progress) == UNREPORTED_KEPT + 1 and progress[-1][0] == view["items"]


def test_cwd_is_the_folder_that_was_checked(server_env, tmp_path):
    real = tmp_path / "real" / "inner"
    real.mkdir(parents=True)
    (tmp_path / "link").symlink_to(real)

    async def body(s):
        spawned = await s.call_tool("spawn", {"provider": "fake", "task": "hi", "cwd": f"{tmp_path}/link/.."})
        return await s.call_tool("wait", {"agent_id": spawned.structured_content["agent_id"]})

    view = session(server_env, body=body).structured_content
    # The OS resolves `link/..` to real/, the folder the check looked at; not tmp_path.
    assert view["cwd"] == str(real.parent) and view["status"] == "completed", view


# ---------------------------------------------------------------- lifecycle, over raw JSON-RPC


class RawServer:
    """`shims mcp` on pipes we hold, so a test can close its stdin or signal it mid-call."""

    def __init__(self, env, *args):
        self.proc = subprocess.Popen([SHIMS, "mcp", "--providers", "fake", *args], env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.next_id = 0
        self._unread = b""  # read from the pipe, not yet split into lines
        self.call("initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                 "clientInfo": {"name": "raw", "version": "0"}})
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def send(self, message):
        self.proc.stdin.write(json.dumps(message).encode() + b"\n")
        self.proc.stdin.flush()

    def message(self, deadline):
        """The server's next JSON-RPC message, or None at the deadline. The pipe is read with
        os.read into our own buffer: select() on a buffered file misses the lines its buffer
        already holds (one readline() can take in many answers)."""
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._unread:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return None
            self._unread += chunk
        line, self._unread = self._unread.split(b"\n", 1)
        return json.loads(line)

    def call(self, method, params, timeout=60):
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        deadline = time.monotonic() + timeout
        while (message := self.message(deadline)) is not None:
            if message.get("id") == self.next_id:
                return message["result"]
        raise TimeoutError(method)

    def spawn_hanging(self, repo):
        view = self.call("tools/call", {"name": "spawn", "arguments": {"provider": "fake", "task": "hang",
                                                                      "cwd": str(repo)}})["structuredContent"]
        assert view["status"] == "running"
        return view


def hanging_env(server_env, tmp_path):
    pids = tmp_path / "pids"
    return {**server_env, "FAKE_VENDOR_MISBEHAVE": "hang,grandchild", "FAKE_VENDOR_PIDFILE": str(pids)}, pids


def wait_for_pids(pids, count):
    deadline = time.monotonic() + 20
    while (not pids.exists() or len(pids.read_text().split()) < count) and time.monotonic() < deadline:
        time.sleep(0.05)
    return list(map(int, pids.read_text().split()))


@pytest.mark.parametrize("how", ["stdin closed", "SIGTERM", "SIGINT"])
def test_the_host_leaving_cancels_every_worker_and_the_server_exits(server_env, repo, tmp_path, mark, how):
    env, pids = hanging_env(server_env, tmp_path)
    server = RawServer(env)
    server.spawn_hanging(repo)
    server.spawn_hanging(repo)
    wait_for_pids(pids, 4)
    started = time.monotonic()
    if how == "stdin closed":
        server.proc.stdin.close()
    else:
        server.proc.send_signal(signal.SIGTERM if how == "SIGTERM" else signal.SIGINT)
    code = server.proc.wait(timeout=30)
    took = time.monotonic() - started
    assert code == {"stdin closed": 0, "SIGTERM": 143, "SIGINT": 130}[how]
    assert took < 15, took  # within one cancel ladder: the workers are cancelled at once, not in turn
    # The server waited for its workers: none is left the moment it has gone.
    assert procs.wait_no_processes(mark, timeout_s=0.2) == []


def test_a_host_sigkill_of_the_server_leaves_no_process(server_env, repo, tmp_path, mark):
    env, pids = hanging_env(server_env, tmp_path)
    server = RawServer(env)
    server.spawn_hanging(repo)
    wait_for_pids(pids, 2)
    server.proc.kill()
    server.proc.wait(timeout=10)
    # The shim gets SIGTERM as its parent dies, and runs its own cancel ladder.
    assert procs.wait_no_processes(mark, timeout_s=20.0) == []


def test_the_server_refuses_an_unknown_provider_list(server_env):
    proc = subprocess.run([SHIMS, "mcp", "--providers", "claude,codex"], env=server_env, stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=60)
    assert proc.returncode == 2 and b"unknown provider codex" in proc.stderr



# ---------------------------------------------------------------- hostile hosts, over raw JSON-RPC


def send_spawns(server, repo, count):
    """`count` spawn calls sent at once, without reading an answer: the server runs them concurrently."""
    first = server.next_id + 1
    for _ in range(count):
        server.next_id += 1
        server.send({"jsonrpc": "2.0", "id": server.next_id, "method": "tools/call",
                     "params": {"name": "spawn", "arguments": {"provider": "fake", "task": "hang", "cwd": str(repo)}}})
    return set(range(first, server.next_id + 1))


def read_answers(server, ids, timeout=60, until=None):
    """The results of the calls `ids`, by id, as they come (or the first `until` of them)."""
    answers = {}
    deadline = time.monotonic() + timeout
    while len(answers) < (until or len(ids)) and (message := server.message(deadline)) is not None:
        if message.get("id") in ids:
            answers[message["id"]] = message["result"]
    return answers


def test_spawns_at_once_never_run_more_workers_than_max_workers(server_env, repo, mark):
    server = RawServer({**server_env, "FAKE_VENDOR_MISBEHAVE": "hang"}, "--max-workers", "2")
    answers = read_answers(server, send_spawns(server, repo, 20))
    started = [a for a in answers.values() if not a.get("isError")]
    refused = [a["content"][0]["text"] for a in answers.values() if a.get("isError")]
    listed = server.call("tools/call", {"name": "list", "arguments": {}})["structuredContent"]["agents"]
    server.proc.stdin.close()
    server.proc.wait(timeout=30)
    assert len(answers) == 20
    assert len(started) == 2 and len(listed) == 2, (len(started), len(listed))
    assert all("2 workers are running" in why for why in refused)


def test_sigterm_while_spawns_are_starting_still_cancels_every_worker_and_exits(server_env, repo, mark):
    server = RawServer({**server_env, "FAKE_VENDOR_MISBEHAVE": "hang"}, "--max-workers", "20")
    ids = send_spawns(server, repo, 20)
    read_answers(server, ids, until=1)  # one worker runs; the other spawns are still starting
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=30) == 143  # not stuck waiting for a worker nobody cancelled
    assert procs.wait_no_processes(mark, timeout_s=0.2) == []


def test_a_host_that_closes_stdin_but_never_read_stdout_still_sees_the_server_exit(server_env, repo, tmp_path,
                                                                                   mark):
    """Progress the host never reads fills the stdout pipe; the SDK's writer then blocks in write()."""
    records = [{"type": "init", "session_id": "s", "model": "m", "version": "1"}]
    for i in range(3000):
        records += [{"type": "tool_use", "id": f"t{i}", "name": "shell", "input": {"command": f"echo {i} " + "z" * 150}},
                    {"type": "tool_result", "id": f"t{i}", "output": "", "exit_code": 0, "is_error": False}]
    env = {**server_env, "FAKE_VENDOR_SCRIPT": script(tmp_path, records), "FAKE_VENDOR_MISBEHAVE": "hang"}
    server = RawServer(env)
    agent = server.spawn_hanging(repo)["agent_id"]
    server.send({"jsonrpc": "2.0", "id": 99, "method": "tools/call",
                 "params": {"name": "wait", "arguments": {"agent_id": agent}, "_meta": {"progressToken": 1}}})
    time.sleep(3)  # ~1 MB of progress against a 64 KiB pipe, and we read none of it
    server.proc.stdin.close()
    try:
        assert server.proc.wait(timeout=30) == 0
    finally:
        server.proc.kill()
    assert procs.wait_no_processes(mark, timeout_s=0.2) == []


@pytest.mark.parametrize("agent_id", ["0123456789ab" + "x" * 10000, "x../0123456789ab/..", "0123456789abc"])
def test_an_agent_id_is_twelve_hex_digits_and_nothing_around_them(server_env, agent_id):
    """A JSON Schema pattern matches anywhere in a string: unanchored, it took any text holding 12
    hex digits, and the refusal echoed all of it back to the model."""

    async def body(s):
        return [await s.call_tool(tool, {"agent_id": agent_id}) for tool in ("wait", "cancel")]

    for answer in session(server_env, body=body):
        assert answer.is_error and "`agent_id`" in answer.content[0].text, answer.content[0].text
        assert len(answer.content[0].text) < 300
