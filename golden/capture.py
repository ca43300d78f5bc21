"""Record golden cases from a REAL vendor CLI running against the project's fake API.

  python golden/capture.py claude            record every Claude case
  python golden/capture.py claude plain tool record some
  python golden/capture.py gemini            record every Gemini case

Each case runs the pinned CLI (vendor-clis/) with the argv the shim itself builds
(shims/<vendor>/command.py), a fresh HOME, and the fake API on 127.0.0.1, and stores what the
CLI wrote: native.stdout, native.stderr, meta.json (exit code, signal, format, CLI version).
`make golden` then writes the expected files with `shims normalize`. Recordings contain
random session ids and timestamps; they are recorded once and replayed forever.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from fakes.claude_env import CLAUDE_BIN, claude_env  # noqa: E402
from fakes.fake_anthropic import FakeAnthropic  # noqa: E402
from fakes.fake_gemini import FakeGemini  # noqa: E402
from fakes.gemini_env import GEMINI_BIN, gemini_env  # noqa: E402

from normalize.request import RunSpec  # noqa: E402
from shims.agy import command as agy_command  # noqa: E402
from shims.claude import command as claude_command  # noqa: E402
from shims.gemini import command as gemini_command  # noqa: E402

AGY_SIM = ROOT / "tests" / "fakes" / "agy" / "agy"


@dataclass
class Case:
    description: str
    prompt: str
    mode: str | None = "write"
    model: str | None = None
    fmt: str = "stream-json"
    oauth: bool = False
    key: bool = True
    signal: tuple[str, float] | None = None  # (INT|TERM, seconds after start)
    resume: str | None = None  # "previous": resume the session a first run of `prompt` made
    extra_args: list[str] = field(default_factory=list)
    base_url: str | None = None  # override (connection refused)
    files: dict[str, str] = field(default_factory=dict)  # created in the workspace first
    version: str | None = None  # agy simulator version
    pty: bool = False  # run under a pseudo-terminal (agy text mode)
    output_schema: dict | None = None  # a request's output_schema (--json-schema)
    source: str = ""  # where the behaviour is documented (agy: ../shared/reference/agy.md)
    live_text: bool = False  # launched as for the live view (Claude: --include-partial-messages)


S = "[scenario:{}] "
# An answer schema for the structured-output cases (`--json-schema`).
ANSWER_SCHEMA = {"type": "object", "properties": {"summary": {"type": "string"}, "files": {"type": "integer"},
                                                  "ok": {"type": "boolean"}},
                 "required": ["summary", "files", "ok"], "additionalProperties": False}
CLAUDE_CASES: dict[str, Case] = {
    "plain": Case("a plain answer", S.format("plain") + "Say hello"),
    "tool-bash": Case("a Bash tool round trip", S.format("tool") + "Run a command"),
    # The live view's launch: the stream must be the one tool-bash and plain give (tests/test_golden.py).
    "partial-tool-bash": Case("tool-bash with --include-partial-messages (the live view's launch)",
                              S.format("tool") + "Run a command", live_text=True),
    "partial-plain": Case("plain with --include-partial-messages (the live view's launch)",
                          S.format("plain") + "Say hello", live_text=True),
    "tool-write": Case("a Write tool creating a file", S.format("write") + "Create a file"),
    "tool-edit": Case("an Edit tool changing a file", S.format("edit") + "Edit a file", files={"hello.txt": "hello\n"}),
    "tool-read": Case("a Read tool (an mcp_tool_call of server claude)", S.format("read") + "Read a file",
                      files={"hello.txt": "hello\n"}),
    "tool-todo": Case("TodoWrite -> todo_list", S.format("todo") + "Plan"),
    "tool-websearch": Case("WebSearch -> web_search", S.format("websearch") + "Search"),
    "tool-glob": Case("Glob, another built-in tool", S.format("mcp") + "Find files"),
    "thinking": Case("a thinking block then an answer", S.format("thinking") + "Think"),
    "long-answer": Case("a 200 000-character answer", S.format("long") + "Write a lot"),
    "read-only-denied": Case("a Write the read-only mode denies", S.format("write") + "Create a file", mode="read-only"),
    "rate-limit-429": Case("429 with retry-after, retried then given up", S.format("rate429") + "hi"),
    "rate-limit-429-bare": Case("429 without rate-limit headers", S.format("rate429-noheaders") + "hi"),
    "overloaded-529": Case("529 overloaded every time", S.format("overloaded529") + "hi"),
    "server-500": Case("500 api_error every time", S.format("server500") + "hi"),
    "auth-401": Case("401 invalid key", S.format("auth401") + "hi"),
    "forbidden-403": Case("403 permission error", S.format("forbidden403") + "hi"),
    "bad-request-400": Case("400 invalid request", S.format("badrequest400") + "hi"),
    "prompt-too-long": Case("400 prompt too long", S.format("toolong400") + "hi"),
    "credit-too-low": Case("400 credit balance too low", S.format("credit400") + "hi"),
    "spend-cap": Case("400 API usage limit with a regain date", S.format("spendcap400") + "hi"),
    "unknown-model": Case("404 for an unknown model", S.format("nomodel404") + "hi", model="no-such-model"),
    "usage-limit-oauth": Case("subscription 5-hour limit reached", S.format("usagelimit") + "hi", oauth=True),
    "quota-warning-oauth": Case("subscription limit at 92%, answer still given", S.format("quotawarn") + "hi", oauth=True),
    "midstream-error": Case("SSE error mid-stream, the non-streaming fallback answers", S.format("midstream-error") + "hi"),
    "connection-drop": Case("TCP dropped mid-stream twice, then an answer", S.format("drop") + "hi"),
    "flaky-529": Case("one 529 then an answer", S.format("flaky529") + "hi"),
    "no-credentials": Case("no API key and no login", S.format("plain") + "hi", key=False),
    "connection-refused": Case("nothing listens at the base URL", "hi", base_url="http://127.0.0.1:9"),
    "budget-exhausted": Case("--max-budget-usd 0.001 with a tool call: stopped between turns", S.format("tool") + "Run a command",
                             extra_args=["--max-budget-usd", "0.001"]),
    "resume": Case("a second invocation resuming the first session", S.format("plain") + "Say hello", resume="previous"),
    "resume-unknown": Case("--resume with an id that does not exist", "hi", resume="00000000-0000-4000-8000-000000000000"),
    "sigint-streaming": Case("SIGINT while text streams", S.format("slow") + "hi", signal=("INT", 1.8)),
    "sigterm-streaming": Case("SIGTERM while text streams", S.format("slow") + "hi", signal=("TERM", 1.8)),
    "sigint-tool": Case("SIGINT while a Bash tool runs", S.format("slowtool") + "hi", signal=("INT", 3.0),
                        extra_args=["--allowedTools", "Bash"]),
    "sigterm-tool": Case("SIGTERM while a Bash tool runs", S.format("slowtool") + "hi", signal=("TERM", 3.0),
                         extra_args=["--allowedTools", "Bash"]),
    "json-plain": Case("--output-format json, an answer", S.format("plain") + "Say hello", fmt="json"),
    "json-auth-401": Case("--output-format json, 401", S.format("auth401") + "hi", fmt="json"),
    "text-plain": Case("--output-format text, an answer", S.format("plain") + "Say hello", fmt="text"),
    "text-rate-limit": Case("--output-format text, 429", S.format("rate429") + "hi", fmt="text"),
    "structured-output": Case("--json-schema: the model calls StructuredOutput, result.structured_output",
                              S.format("structured") + "Summarise", output_schema=ANSWER_SCHEMA),
    "structured-output-retry": Case("--json-schema: a call the schema refuses, then a valid one",
                                    S.format("structured-retry") + "Summarise", output_schema=ANSWER_SCHEMA),
    "structured-output-exhausted": Case("--json-schema: 5 refused calls, error_max_structured_output_retries",
                                        S.format("structured-never") + "Summarise", output_schema=ANSWER_SCHEMA),
    "structured-output-ignored": Case("--json-schema: prose twice (one reminder), success without structured_output",
                                      S.format("plain") + "Summarise", output_schema=ANSWER_SCHEMA),
}


def claude_argv(case: Case, cwd: str, resume_id: str | None) -> list[str]:
    spec = RunSpec(prompt=case.prompt, cwd=cwd, mode=case.mode, model=case.model, resume_session=resume_id,
                   output_schema=case.output_schema, live_text=case.live_text)
    argv = claude_command.build_launch(spec, str(CLAUDE_BIN)).argv
    if case.fmt != "stream-json":
        i = argv.index("stream-json")
        argv[i] = case.fmt
        argv.remove("--verbose")
    if "--" in argv:  # flags go before the prompt's `--`
        i = argv.index("--")
        return argv[:i] + case.extra_args + argv[i:]
    return argv + case.extra_args


def run_cli(argv: list[str], env: dict[str, str], cwd: str, sig: tuple[str, float] | None,
               whole_group: bool = False) -> tuple[bytes, bytes, int]:
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, process_group=0)
    try:
        if sig:
            time.sleep(sig[1])
            signum = signal.SIGINT if sig[0] == "INT" else signal.SIGTERM
            if whole_group:  # as the shim's cancel ladder does
                os.killpg(proc.pid, signum)
            else:
                proc.send_signal(signum)
        out, err = proc.communicate(timeout=120)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the tool children of a cancelled run
        except ProcessLookupError:
            pass
    return out, err, proc.returncode


def capture_claude(names: list[str]) -> None:
    version = subprocess.run([str(CLAUDE_BIN), "--version"], capture_output=True, text=True).stdout.split()[0]
    with FakeAnthropic() as api:
        for name in names:
            case = CLAUDE_CASES[name]
            api.reset()  # usage numbers depend on the call count: each case starts at call 1
            with tempfile.TemporaryDirectory(prefix="claude-capture-") as tmp:
                home, work = Path(tmp, "home"), Path(tmp, "work")
                home.mkdir()
                work.mkdir()
                for rel, text in case.files.items():
                    (work / rel).write_text(text)
                env = claude_env(case.base_url or api.base_url, home, oauth=case.oauth, key=case.key)
                resume_id = case.resume
                if case.resume == "previous":
                    out, _, _ = run_cli(claude_argv(Case("", case.prompt), str(work), None), env, str(work), None)
                    resume_id = json.loads(out.splitlines()[0])["session_id"]
                out, err, rc = run_cli(claude_argv(case, str(work), resume_id), env, str(work), case.signal)
            write_case("claude", name, case, version, out, err, rc, {str(work): "/work", str(home): "/home"})


# ------------------------------------------------------------------------------------ Gemini

G = "[scenario:{}] "
GEMINI_CASES: dict[str, Case] = {
    "plain": Case("a plain answer", G.format("plain") + "Say hello", mode=None),
    "thoughts": Case("hidden thoughts: thinking tokens derived from the total", G.format("thoughts") + "Think", mode=None),
    "shell": Case("run_shell_command round trip (full mode)", G.format("shell") + "Run a command", mode="full"),
    "read": Case("read_file in read-only mode", G.format("read") + "Read the README", mode="read-only",
                 files={"README.md": "# Demo\n"}),
    "read-missing": Case("read_file of a missing file: a failed tool, then an answer", G.format("readmissing") + "Read",
                         mode="read-only"),
    "write": Case("write_file creating a file (write mode)", G.format("write") + "Create a file", mode="write"),
    "write-denied": Case("write_file in read-only mode: the tool is not offered", G.format("write") + "Create a file",
                         mode="read-only"),
    "edit": Case("replace editing a file (write mode)", G.format("edit") + "Edit", mode="write", files={"README.md": "# Demo\n"}),
    "todos": Case("write_todos -> todo_list (full mode)", G.format("todos") + "Plan", mode="full"),
    "search": Case("google_web_search -> web_search", G.format("search") + "Search", mode="read-only"),
    "empty": Case("empty model answers: error event, result error, exit 0", G.format("empty") + "hi", mode=None),
    "drop": Case("stream dropped without finishReason, then a retried full answer", G.format("drop") + "hi", mode=None),
    "drop-abort": Case("connection cut mid-response: '[API Error: terminated]', exit 1, not retried",
                       G.format("drop-abort") + "hi", mode=None),
    "quota-daily": Case("429 with a PerDay QuotaFailure: terminal, exit 173", G.format("quota-daily") + "hi", mode=None),
    "quota-minute": Case("429 per-minute with RetryInfo 2s, retried then given up", G.format("quota-minute") + "hi", mode=None),
    "rate-limit-429": Case("plain 429", G.format("rate429") + "hi", mode=None),
    "server-500": Case("500 INTERNAL after retries", G.format("server500") + "hi", mode=None),
    "unavailable-503": Case("503 UNAVAILABLE after retries", G.format("unavailable503") + "hi", mode=None),
    "bad-key-400": Case("400 API_KEY_INVALID", G.format("badkey400") + "hi", mode=None),
    "unauthenticated-401": Case("401 UNAUTHENTICATED", G.format("unauth401") + "hi", mode=None),
    "forbidden-403": Case("403 PERMISSION_DENIED", G.format("forbidden403") + "hi", mode=None),
    "no-key": Case("no API key: exit 41 before any output", G.format("plain") + "hi", mode=None, key=False),
    "connection-refused": Case("nothing listens at the base URL", "hi", mode=None, base_url="http://127.0.0.1:9"),
    "resume": Case("a second invocation resuming the first session", G.format("plain") + "Say hello", mode=None,
                   resume="previous"),
    "resume-unknown": Case("--resume with an id that does not exist: exit 42", "hi", mode=None,
                           resume="00000000-0000-4000-8000-000000000000"),
    "auto-model": Case("-m auto: a router call plus the main model", G.format("plain") + "hi", mode=None, model="auto"),
    "sigint-streaming": Case("SIGINT to the group while text streams: exit 0, no result", G.format("slow") + "hi",
                             mode=None, signal=("INT", 3.0)),
    "sigterm-streaming": Case("SIGTERM to the group while text streams", G.format("slow") + "hi", mode=None,
                              signal=("TERM", 3.0)),
    "json-plain": Case("-o json, an answer", G.format("plain") + "Say hello", mode=None, fmt="json"),
    "json-quota-daily": Case("-o json, daily quota: stdout empty, error object on stderr", G.format("quota-daily") + "hi",
                             mode=None, fmt="json"),
    "text-plain": Case("-o text, an answer", G.format("plain") + "Say hello", mode=None, fmt="text"),
    "text-server-500": Case("-o text, 500: exit 1", G.format("server500") + "hi", mode=None, fmt="text"),
    # -o text ends every API error with "An unexpected critical error occurred:[object Object]"
    # (issue 13): the kind must come from the error class and HTTP status earlier on stderr.
    "text-quota-daily": Case("-o text, daily quota 429", G.format("quota-daily") + "hi", mode=None, fmt="text"),
    "text-rate-limit-429": Case("-o text, plain 429", G.format("rate429") + "hi", mode=None, fmt="text"),
    "text-unavailable-503": Case("-o text, 503", G.format("unavailable503") + "hi", mode=None, fmt="text"),
    "text-bad-key-400": Case("-o text, 400 API_KEY_INVALID", G.format("badkey400") + "hi", mode=None, fmt="text"),
    "text-unauthenticated-401": Case("-o text, 401", G.format("unauth401") + "hi", mode=None, fmt="text"),
    "text-forbidden-403": Case("-o text, 403", G.format("forbidden403") + "hi", mode=None, fmt="text"),
    "text-connection-refused": Case("-o text, nothing listens at the base URL", "hi", mode=None, fmt="text",
                                    base_url="http://127.0.0.1:9"),
    "text-drop-abort": Case("-o text, connection cut mid-response", G.format("drop-abort") + "hi", mode=None,
                            fmt="text"),
}


def gemini_argv(case: Case, cwd: str, resume_id: str | None) -> list[str]:
    spec = RunSpec(prompt=case.prompt, cwd=cwd, mode=case.mode, model=case.model or "gemini-2.5-flash",
                   resume_session=resume_id)
    launch = gemini_command.build_launch(spec, str(GEMINI_BIN))
    shutil.rmtree(launch.scratch_dir, ignore_errors=True)  # the capture's HOME carries the settings
    argv = launch.argv
    if case.fmt != "stream-json":
        argv[argv.index("stream-json")] = case.fmt
    return argv + case.extra_args


def capture_gemini(names: list[str]) -> None:
    version = subprocess.run([str(GEMINI_BIN), "--version"], capture_output=True, text=True).stdout.strip()
    with FakeGemini() as api:
        for name in names:
            case = GEMINI_CASES[name]
            api.reset()
            with tempfile.TemporaryDirectory(prefix="gemini-capture-") as tmp:
                home, work = Path(tmp, "home"), Path(tmp, "work")
                work.mkdir()
                for rel, text in case.files.items():
                    (work / rel).write_text(text)
                env = gemini_env(case.base_url or api.base_url, home, key="fake-gemini-key" if case.key else None,
                                 extra={"GEMINI_CLI_NO_RELAUNCH": "true"})
                resume_id = case.resume
                if case.resume == "previous":
                    out, _, _ = run_cli(gemini_argv(Case("", case.prompt, mode=None), str(work), None), env, str(work), None)
                    resume_id = json.loads(out.splitlines()[0])["session_id"]
                out, err, rc = run_cli(gemini_argv(case, str(work), resume_id), env, str(work), case.signal,
                                          whole_group=True)
            write_case("gemini", name, case, version, out, err, rc, {str(work): "/work", str(home): "/home"})


def write_case(vendor: str, name: str, case: Case, version: str, out: bytes, err: bytes, rc: int,
               paths: dict[str, str], extra: dict | None = None) -> None:
    # Paths of the throwaway folders would make every recording differ: name them.
    for real, fake in paths.items():
        out = out.replace(real.encode(), fake.encode())
        err = err.replace(real.encode(), fake.encode())
    folder = ROOT / "golden" / vendor / name
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / "native.stdout").write_bytes(out)
    if err:
        (folder / "native.stderr").write_bytes(err)
    meta = {
        "description": case.description,
        "cli_version": version,
        "exit_code": rc if rc >= 0 else None,
        "vendor_signal": -rc if rc < 0 else None,
        "signal": case.signal[0] if case.signal else None,
        "format": case.fmt,
        # A resumed session's earlier total is not part of the recording (`shims normalize --resumed`).
        **({"resumed": True} if case.resume else {}),
        **(extra or {}),
    }
    (folder / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"{name:<22} rc={rc:<4} {len(out):>8} bytes stdout  {len(err):>6} bytes stderr", file=sys.stderr)


# ------------------------------------------------------------------------------------ agy (simulator)

A = "[scenario:{}] "
AGY_CASES: dict[str, Case] = {
    "plain": Case("an answer streamed in fragments of one step", A.format("plain") + "hi", source="agy.md §4.4"),
    "tool-full": Case("run_command allowed by --dangerously-skip-permissions", A.format("tool") + "run", mode="full",
                      source="agy.md §4.4, §8"),
    "tool-soft-denied": Case("run_command in default mode: SUCCESS, empty answer, denied_actions, jetski: line",
                             A.format("tool") + "run", mode="read-only", source="agy.md §6, §8"),
    "write-accept-edits": Case("write_to_file allowed by --mode accept-edits", A.format("write") + "create", mode="write",
                               source="agy.md §8"),
    "write-soft-denied": Case("write_to_file in default mode is soft-denied", A.format("write") + "create", mode="read-only",
                              source="agy.md §8"),
    "read": Case("view_file in default mode", A.format("read") + "read", mode="read-only", files={"README.md": "# Demo\n"},
                 source="agy.md §4.4, §8"),
    "read-missing": Case("view_file of a missing file: an ERROR tool step", A.format("read") + "read", mode="read-only",
                         source="agy.md §4.4"),
    "mcp": Case("an MCP tool step (server agy)", A.format("mcp") + "issue", mode="full", source="agy.md §16"),
    "quota-5h": Case("Individual quota reached, Resets in 34m13s: AGY_ERROR, exit 3", A.format("quota-5h") + "hi",
                     source="agy.md §6, §11"),
    "quota-weekly": Case("weekly pool exhausted (167h51m3s) although retryable:true", A.format("quota-weekly") + "hi",
                         source="agy.md §11"),
    "quota-1.2.5": Case("quota on 1.2.5: error: line, exit 1, no AGY_ERROR", A.format("quota-5h") + "hi", version="1.2.5",
                        source="agy.md §7"),
    "credits": Case("AI credits balance too low", A.format("credits") + "hi", source="agy.md §11"),
    "overloaded": Case("UNAVAILABLE 503 after agy's own retries", A.format("overloaded") + "hi", source="agy.md §11"),
    "bad-key": Case("API key not valid (INVALID_ARGUMENT 400)", A.format("bad-key") + "hi", source="agy.md §11"),
    "unknown-model": Case("invalid model selection: exit 1, no conversation", A.format("plain") + "hi",
                          model="no-such-model", source="agy.md §3, §11"),
    "partial-error": Case("text, then an error_message step: exit 3 (≥1.2.10)", A.format("partial-error") + "hi",
                          source="agy.md §7"),
    "partial-error-1.2.9": Case("text, then an error: exit 0 before 1.2.10", A.format("partial-error") + "hi",
                                version="1.2.9", source="agy.md §7"),
    "print-timeout": Case("--print-timeout expiry: SUCCESS, partial text, zero usage, exit 0", A.format("slow") + "hi",
                          extra_args=["--print-timeout", "2s"], source="agy.md §3, §11"),
    "sigint": Case("SIGINT to the group mid-stream: result ERROR interrupted with the partial text, exit 1",
                   A.format("slow") + "hi", signal=("INT", 2.0), source="agy.md §12"),
    "signed-out": Case("not signed in, closed-pipe stdin: the fast auth failure", A.format("signed-out") + "hi",
                       source="agy.md §11"),
    "needs-tty": Case("a trust/login screen without a terminal: bubbletea could not open TTY", A.format("needs-tty") + "hi",
                      source="agy.md §9, §11"),
    "resume": Case("a second run of the conversation: result.usage cumulative, step usage this run's",
                   A.format("plain") + "again", resume="previous", source="agy.md §5"),
    "unknown-conversation": Case("--conversation with an unknown id: a warning and a new conversation, exit 0",
                                 A.format("plain") + "hi", resume="00000000-0000-4000-8000-000000000000", source="agy.md §3"),
    "text-1.1.5": Case("agy 1.1.5 has no --output-format: text output through a pipe", A.format("plain") + "hi",
                       version="1.1.5", fmt="text", mode=None, source="agy.md §1.1, §4.2"),
    "pty-1.0.9": Case("agy 1.0.9 under a pseudo-terminal: TUI noise through the terminal emulator", A.format("plain") + "hi",
                      version="1.0.9", fmt="text", pty=True, mode=None, source="agy.md §9 (#76), §10"),
    "pty-1.0.9-write-mode": Case("agy 1.0.9 has no --mode: write mode cannot be honoured (the shim refuses before launch; "
                                 "this records what agy itself says)", A.format("plain") + "hi", version="1.0.9",
                                 fmt="text", extra_args=["--mode", "accept-edits"], mode=None, source="agy.md §1.1, §3"),
    "structured-output": Case("--json-schema: json_schema in init and result, structured_output in the result",
                              A.format("plain") + "summarise", output_schema=ANSWER_SCHEMA,
                              source="agy.md §3, §4.3, §4.4 (the answer's form: simulator)"),
    "structured-output-missing": Case("--json-schema, but a turn that answers in prose: no structured_output",
                                      A.format("tool") + "run", mode="full", output_schema=ANSWER_SCHEMA,
                                      source="agy.md §3, §4.3 (simulator: only plain answers in the schema)"),
}


def agy_argv(case: Case, cwd: str, resume_id: str | None) -> list[str]:
    spec = RunSpec(prompt=case.prompt, cwd=cwd, mode=case.mode, model=case.model, resume_session=resume_id,
                   output_schema=case.output_schema)
    version = tuple(int(x) for x in (case.version or "1.2.16").split("."))
    launch = agy_command.build_launch(spec, str(AGY_SIM), pty=case.pty, version=version)
    argv = launch.argv
    if "--print-timeout" in case.extra_args:  # the case's own, instead of the shim's
        i = argv.index("--print-timeout")
        del argv[i : i + 2]
    return argv + case.extra_args


def run_under_pty(argv: list[str], env: dict[str, str], cwd: str) -> tuple[bytes, bytes, int]:
    """As the shim runs agy under a pty: stdin and stdout on the terminal, stderr a pipe."""
    import fcntl
    import struct
    import termios

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", *agy_command.PTY_SIZE, 0, 0))
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=slave, stdout=slave, stderr=subprocess.PIPE, process_group=0)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    err = proc.stderr.read()
    return b"".join(chunks), err, proc.wait(timeout=60)


def capture_agy(names: list[str]) -> None:
    for name in names:
        case = AGY_CASES[name]
        version = case.version or "1.2.16"
        with tempfile.TemporaryDirectory(prefix="agy-capture-") as tmp:
            home, work = Path(tmp, "home"), Path(tmp, "work")
            (home / ".gemini" / "antigravity-cli").mkdir(parents=True)
            (home / ".gemini" / "antigravity-cli" / "antigravity-oauth-token").write_text('{"token": "fake"}')
            work.mkdir()
            for rel, text in case.files.items():
                (work / rel).write_text(text)
            env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8",
                   "AGY_SIM_VERSION": version, "AGY_CLI_DISABLE_AUTO_UPDATE": "true"}
            resume_id = case.resume
            if case.resume == "previous":
                out, _, _ = run_cli(agy_argv(Case("", case.prompt), str(work), None), env, str(work), None)
                resume_id = json.loads(out.splitlines()[0])["conversation_id"]
            if case.pty:
                env["TERM"] = "xterm-256color"
                out, err, rc = run_under_pty(agy_argv(case, str(work), resume_id), env, str(work))
            else:
                out, err, rc = run_cli(agy_argv(case, str(work), resume_id), env, str(work), case.signal, whole_group=True)
            ended_at = round(time.time(), 3)
        write_case("agy", name, case, f"{version} (simulator)", out, err, rc, {str(work): "/work", str(home): "/home"},
                   extra={"source": case.source, "ended_at": ended_at})


VENDORS = {"claude": (CLAUDE_CASES, lambda names: capture_claude(names)),
           "gemini": (GEMINI_CASES, lambda names: capture_gemini(names)),
           "agy": (AGY_CASES, lambda names: capture_agy(names))}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in VENDORS:
        print(f"usage: capture.py {{{'|'.join(VENDORS)}}} [case ...]", file=sys.stderr)
        return 2
    cases, capture = VENDORS[argv[0]]
    names = argv[1:] or list(cases)
    unknown = [n for n in names if n not in cases]
    if unknown:
        print(f"unknown cases: {', '.join(unknown)}", file=sys.stderr)
        return 2
    capture(names)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
