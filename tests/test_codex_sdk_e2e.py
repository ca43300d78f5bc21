"""The real Codex SDKs drive `shim-<vendor> exec` as they drive `codex exec` (CONTRACT §15): the
official TypeScript SDK (hosts/codex-sdk-ts, through tests/host/codex_sdk_ts.mjs) and
codex-sdk-python (tests/host/codex_sdk_py.py), each given the shim as its codex path, around the
REAL pinned Claude and Gemini CLIs on the loopback fake APIs. What is asserted is what the SDK's
user sees: the final answer, the usage the fake API reported, the thread id (the vendor's session
id, so the SDK's resume continues it), the error of a failed turn, and nothing left running after
an abort.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import procs
import pytest
from codex_types.shapes import problems
from conftest import ROOT, shim_path
from fakes import fake_anthropic, fake_gemini
from fakes.claude_env import CLAUDE_BIN, claude_env
from fakes.gemini_env import GEMINI_BIN, gemini_env
from host.codex_sdk_py import run_plan

pytestmark = [pytest.mark.realcli, pytest.mark.slow]

TS_HOST = ROOT / "tests" / "host" / "codex_sdk_ts.mjs"
TS_SDK = ROOT / "hosts" / "codex-sdk-ts" / "node_modules" / "@openai" / "codex-sdk"
for needed, target in ((CLAUDE_BIN, "vendor-clis"), (GEMINI_BIN, "vendor-clis"), (TS_SDK, "codex-sdks")):
    if not needed.exists():  # pragma: no cover - make test installs them first
        pytest.fail(f"{needed} is missing: run `make {target}`", pytrace=False)

GEMINI_MODEL = "gemini-2.5-flash"  # a fixed model: `auto` would add router side calls


def texts(obj) -> list[str]:
    """Every string at any depth of a value (a request's conversation)."""
    if isinstance(obj, str):
        return [obj]
    values = obj.values() if isinstance(obj, dict) else obj if isinstance(obj, list) else ()
    return [t for v in values for t in texts(v)]


def conversation(body: dict) -> list[str]:
    """The turns a model call carries: Anthropic's messages, Gemini's contents."""
    return texts(body.get("messages") or body.get("contents") or [])


@dataclass
class Vendor:
    name: str
    plain_text: str  # the fake's answer to [scenario:plain]
    auth_scenario: str  # the fake API answers 401
    sandbox: str  # the Codex sandbox in which the fake's shell, read and write tools all run
    tools: dict[str, tuple[str, str]]  # the fake's scenario and final answer for: shell, read, write
    wrote: str  # the file the write scenario creates in the working directory

    def usage(self, call: int) -> dict[str, int]:
        """Codex's usage of the fake's n-th model call: input includes cached, output reasoning."""
        if self.name == "claude":
            u = fake_anthropic.usage_for_call(call)
            return {"input_tokens": u["input_tokens"] + u["cache_creation_input_tokens"] + u["cache_read_input_tokens"],
                    "cached_input_tokens": u["cache_read_input_tokens"],
                    "cache_write_input_tokens": u["cache_creation_input_tokens"],
                    "output_tokens": u["output_tokens"], "reasoning_output_tokens": 0}
        u = fake_gemini.usage_for_call(call)
        return {"input_tokens": u["promptTokenCount"], "cached_input_tokens": u["cachedContentTokenCount"],
                "cache_write_input_tokens": 0, "output_tokens": u["candidatesTokenCount"], "reasoning_output_tokens": 0}


VENDORS = {
    # Claude in full mode refuses to start as root (these tests run as root in CI): write runs Bash too.
    "claude": Vendor("claude", fake_anthropic.PLAIN_TEXT, "auth401", "workspace-write",
                     {"shell": ("tool", "The command printed hello-from-tool."), "read": ("read", "Read the file."),
                      "write": ("write", "Wrote the file.")}, "created-by-claude.txt"),
    "gemini": Vendor("gemini", fake_gemini.PLAIN_TEXT, "unauth401", "danger-full-access",
                     {"shell": ("shell", "The command printed hello-from-shell."),
                      "read": ("read", "The README says hello."), "write": ("write", "Wrote the file.")},
                     "created-by-gemini.txt"),
}


@pytest.fixture(scope="module")
def anthropic_api():
    with fake_anthropic.FakeAnthropic() as server:
        yield server


@pytest.fixture(scope="module")
def gemini_api():
    with fake_gemini.FakeGemini() as server:
        yield server


@pytest.fixture(params=["ts", "py"])
def sdk(request):
    return request.param


@pytest.fixture(params=sorted(VENDORS))
def host(request, sdk, mark, private_state, tmp_path):
    """Runs a plan (tests/host/codex_sdk_py.py) through the SDK against shim-<vendor> exec."""
    vendor = VENDORS[request.param]
    api = request.getfixturevalue("anthropic_api" if vendor.name == "claude" else "gemini_api")
    api.reset()
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    for name in ("hello.txt", "README.md"):  # what the fakes' read scenarios read
        (work / name).write_text("hello\n")
    if vendor.name == "claude":
        env, cli = claude_env(api.base_url, home), CLAUDE_BIN
    else:  # the user's ~/.gemini has no settings: the shim's per-run settings must suffice
        env, cli = gemini_env(api.base_url, home, settings=False), GEMINI_BIN
    # The SDK passes only `env` to the program it runs: the vendor CLI is found on PATH, as it
    # would be on a user's machine, and the test's private state and process mark go along.
    env = {**env, **private_state, "PATH": f"{cli.parent}{os.pathsep}{env['PATH']}", procs.MARK_ENV: mark}
    thread_options = {"workingDirectory": str(work), "skipGitRepoCheck": True}
    if vendor.name == "gemini":
        thread_options["model"] = GEMINI_MODEL

    class Host:
        def __init__(self):
            self.vendor, self.api, self.sdk, self.mark, self.workdir = vendor, api, sdk, mark, work

        def run(self, *steps, **options):
            plan = {"codexPath": shim_path(vendor.name), "env": env,
                    "steps": [{"thread": "new", "threadOptions": {**thread_options, **options}, **s} for s in steps]}
            if sdk == "py":
                return run_plan(plan)
            proc = subprocess.run(["node", str(TS_HOST)], input=json.dumps(plan), capture_output=True, text=True,
                                  env={**os.environ, procs.MARK_ENV: mark}, timeout=300, check=False)
            assert proc.returncode == 0, proc.stderr
            return [json.loads(line) for line in proc.stdout.splitlines()]

        def session_ids(self) -> list[str]:
            """The session id of each model call, as the vendor itself recorded it."""
            if vendor.name == "claude":
                return [r.headers["x-claude-code-session-id"] for r in api.message_requests()]
            chats = Path(private_state["XDG_STATE_HOME"]).glob("codex-shims/gemini-home/.gemini/tmp/*/chats/session-*.jsonl")
            return [json.loads(f.read_text().splitlines()[0])["sessionId"] for f in sorted(chats)]

    return Host()


def test_run_stream_and_resume_continue_the_vendor_session(host):
    first, streamed, resumed = host.run(
        {"op": "run", "prompt": "[scenario:plain] Say hello"},
        {"op": "stream", "prompt": "Once more", "thread": "same"},
        {"op": "run", "prompt": "And again", "thread": "resume"},
    )
    assert [o["error"] for o in (first, streamed, resumed)] == [None, None, None]
    calls = host.api.message_requests()
    assert len(calls) == 3, [(c.path, c.body) for c in calls]  # one model call per turn
    (session,) = set(host.session_ids())
    # the thread id is the vendor's session id, and the SDK's own resume (same Thread, and
    # resumeThread(id)) continued that session: every later call carries the turns before it
    assert first["thread_id"] == streamed["thread_id"] == resumed["thread_id"] == session
    for call, earlier in ((calls[1], ["[scenario:plain] Say hello", host.vendor.plain_text]),
                          (calls[2], ["[scenario:plain] Say hello", "Once more"])):
        said = conversation(call.body)
        assert all(any(text in t for t in said) for text in earlier), (earlier, said)
    for n, outcome in enumerate((first, streamed, resumed), 1):
        assert outcome["final_response"] == host.vendor.plain_text
        assert outcome["items"][-1]["type"] == "agent_message"
        expected = host.vendor.usage(n)
        if host.sdk == "py":  # codex-sdk-python's Usage keeps three of Codex's five fields
            expected = {k: expected[k] for k in ("input_tokens", "cached_input_tokens", "output_tokens")}
        assert outcome["usage"] == expected, f"turn {n}"
    events = streamed["events"]
    assert [e["type"] for e in events] == ["thread.started", "turn.started", "item.completed", "turn.completed"]
    assert events[0]["thread_id"] == session
    if host.sdk == "ts":  # the TS SDK hands over each line as parsed: Codex's exact shapes
        assert [p for e in events for p in problems(e)] == []


def test_tool_items_reach_the_sdk_in_codex_shapes(host):
    """A shell command, a read and a write: items a strict reader (codex-sdk-python) parses and the
    TS SDK hands over exactly as Codex's types declare them."""
    tools = host.vendor.tools
    shell, read, write = host.run(*({"op": "stream", "prompt": f"[scenario:{tools[t][0]}] go"} for t in tools),
                                  sandboxMode=host.vendor.sandbox)
    assert [o["error"] for o in (shell, read, write)] == [None, None, None]
    assert [o["final_response"] for o in (shell, read, write)] == [tools[t][1] for t in tools]
    (command,) = [i for i in shell["items"] if i["type"] == "command_execution"]
    assert command["status"] == "completed" and command["exit_code"] == 0
    assert "hello-from-" in command["aggregated_output"]
    (call,) = [i for i in read["items"] if i["type"] == "mcp_tool_call"]
    assert call["status"] == "completed" and call["error"] is None and call["result"]["content"]
    (change,) = [i for i in write["items"] if i["type"] == "file_change"]
    assert change["status"] == "completed"
    assert [(Path(c["path"]).name, c["kind"]) for c in change["changes"]] == [(host.vendor.wrote, "add")]
    assert (host.workdir / host.vendor.wrote).read_text() == "hello\n"
    if host.sdk == "ts":
        assert [p for o in (shell, read, write) for e in o["events"] for p in problems(e)] == []


def test_a_refused_key_fails_the_turn_with_its_kind(host):
    (outcome,) = host.run({"op": "run", "prompt": f"[scenario:{host.vendor.auth_scenario}] hi"})
    assert not outcome["ok"]
    assert outcome["error_name"] == {"ts": "Error", "py": "TurnFailedError"}[host.sdk]
    assert outcome["error"].startswith("authentication_required"), outcome["error"]


def test_abort_mid_turn_leaves_nothing_running(host):
    (outcome,) = host.run({"op": "stream", "prompt": "[scenario:stall] hi", "abortOn": "turn.started",
                           "abortAfterMs": 500})
    assert not outcome["ok"]
    assert outcome["error_name"] == {"ts": "AbortError", "py": "CodexAbortError"}[host.sdk], outcome["error"]
    assert [e["type"] for e in outcome["events"]][:2] == ["thread.started", "turn.started"]
    assert "turn.completed" not in [e["type"] for e in outcome["events"]]
    assert host.api.message_requests(), "the abort came while the fake API stalled the model call"
    assert procs.wait_no_processes(host.mark, timeout_s=10) == []


SUMMARY_SCHEMA = {"type": "object", "properties": {"summary": {"type": "string"}, "files": {"type": "integer"}},
                  "required": ["summary", "files"], "additionalProperties": False}


def test_an_output_schema_holds_the_answer_or_fails_the_turn_clearly(host):
    """The SDK's outputSchema (its --output-schema file): Claude answers JSON text that satisfies
    it (the CLI's --json-schema); Gemini CLI cannot be held to one, so the turn fails as
    unsupported_mode and no model call is made."""
    (outcome,) = host.run({"op": "run", "prompt": "[scenario:structured] Summarise", "outputSchema": SUMMARY_SCHEMA})
    if host.vendor.name == "gemini":
        assert not outcome["ok"] and outcome["error"].startswith("unsupported_mode: Gemini CLI cannot constrain")
        assert host.api.message_requests() == []
        return
    assert outcome["ok"], outcome["error"]
    answer = json.loads(outcome["final_response"])
    assert set(answer) == {"summary", "files"} and isinstance(answer["files"], int)
    (call,) = host.api.message_requests()
    tools = {t["name"]: t for t in call.body["tools"]}
    assert tools["StructuredOutput"]["input_schema"] == SUMMARY_SCHEMA  # the SDK's schema reached the model
