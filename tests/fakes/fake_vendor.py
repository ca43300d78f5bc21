#!/usr/bin/env python3
"""A fake coding-agent CLI for testing shims.

It speaks the "fake native format": NDJSON on stdout, one object per line with a
"type" key (init, text, delta, thinking, tool_use, tool_result, warning, usage,
result). What it says and how it misbehaves is chosen by environment variables,
because a shim under test passes its environment through but controls argv:

  FAKE_VENDOR_SCRIPT      replay a file (raw native stdout, or *.cassette.jsonl with timing)
  FAKE_VENDOR_PACE        seconds between lines (float; default 0, 0.2 with "slow")
  FAKE_VENDOR_STDERR      text written to stderr before exiting
  FAKE_VENDOR_EXIT        exit code at the end (default 0)
  FAKE_VENDOR_MISBEHAVE   comma list: crash-mid-line hang hang-before flood garbage escaped-grandchild
                          huge-line no-newline invalid-utf8 ignore-sigint ignore-sigterm
                          grandchild exit0-empty slow close-stdout (close stdout after the script,
                          then keep running)
  FAKE_VENDOR_CRASH_AFTER lines before crash-mid-line cuts one (default 2)
  FAKE_VENDOR_FLOOD_BYTES bytes of delta lines for flood (default 200_000_000)
  FAKE_VENDOR_HUGE_BYTES  bytes of tool output for huge-line (default 20_000_000)
  FAKE_VENDOR_PIDFILE     append our pid (and the grandchild's) to this file
  FAKE_VENDOR_KILL_AFTER  SIGKILL ourselves after this many stdout lines (a death at a line boundary)
  FAKE_VENDOR_HOLD        `N:path`: after N stdout lines, wait until `path` exists (a run paused
                          mid-tool for as long as a test needs, e.g. to watch it in `shims top`)
  FAKE_VENDOR_WRITE       `path=text[;path=text…]`: write these files (relative to the cwd) before
                          any output, like an agent that edits without telling (empty text deletes)

Standard library only, so it runs under any python3 without the project's venv.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

VERSION = "1.2.3"
DEFAULT_MODEL = "fake-model-1"
CHUNK = 1 << 20  # 1 MiB: large enough for few syscalls, small enough to keep RSS low

# Not-quite-NDJSON lines a sloppy CLI might print: plain text, bytes that are not
# UTF-8, JSON that is not an object, a cut-off object, a bare number.
GARBAGE_LINES = [
    b"npm WARN deprecated something@1.0.0: this is not json\n",
    b"\xff\xfe\x80 not json\n",
    b'["a","json","array"]\n',
    b'{"type":"text","text":"unterminated\n',
    b"42\n",
]


@dataclass
class Step:
    """One write of the script: literal bytes, or a generator for big content."""

    data: bytes = b""
    fd: int = 1
    at: float | None = None  # cassette time since playback start; None = paced
    stream: Callable[[], Iterator[bytes]] | None = None  # huge content, made lazily

    def is_result(self) -> bool:
        return self.fd == 1 and self.stream is None and _line_type(self.data) == "result"


# ---------------------------------------------------------------- output


# True while a stdout line has been started but not finished, so the SIGINT
# handler knows to end it before writing its own result line.
_line_open = False


def write_all(fd: int, data: bytes | memoryview) -> None:
    """Unbuffered write of every byte: a reader sees each line as soon as it exists."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def emit(fd: int, data: bytes) -> None:
    global _line_open
    if fd == 1 and data:
        _line_open = True
    write_all(fd, data)
    if fd == 1 and data:
        _line_open = not data.endswith(b"\n")


def dumps(obj: dict) -> bytes:
    # surrogateescape: a prompt that arrived as undecodable argv bytes goes back out as-is
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return text.encode("utf-8", "surrogateescape") + b"\n"


def _line_type(data: bytes) -> str | None:
    try:
        obj = json.loads(data)
    except ValueError:
        return None
    return obj.get("type") if isinstance(obj, dict) else None


# ---------------------------------------------------------------- arguments


@dataclass
class Args:
    prompt: str = ""
    model: str = DEFAULT_MODEL
    resume: str | None = None
    version: bool = False
    prompt_stdin: bool = False


def parse_args(argv: list[str]) -> Args:
    """Pick out the few flags we know; everything else is ignored on purpose,
    because shims pass vendor-specific flags the fake need not understand. `--prompt-stdin`
    reads the prompt from stdin to EOF (for prompts too long for one argv string)."""
    args = Args()
    valued = {"-p": "prompt", "--prompt": "prompt", "--model": "model", "-m": "model", "--resume": "resume"}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--version":
            args.version = True
        elif arg == "--prompt-stdin":
            args.prompt_stdin = True
        elif arg in valued and i + 1 < len(argv):
            setattr(args, valued[arg], argv[i + 1])
            i += 1
        elif "=" in arg and arg.split("=", 1)[0] in valued:
            key, value = arg.split("=", 1)
            setattr(args, valued[key], value)
        i += 1
    return args


# ---------------------------------------------------------------- scripts


def default_script(args: Args) -> list[Step]:
    session = (
        args.resume
        or "fake-session-" + hashlib.sha1(args.prompt.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    )
    answer = f"Hello! You said: {args.prompt}"
    events = [
        {"type": "init", "session_id": session, "model": args.model, "version": VERSION},
        {"type": "text", "text": "Let me check."},
        {"type": "tool_use", "id": "t1", "name": "shell", "input": {"command": "echo hello"}},
        {"type": "tool_result", "id": "t1", "output": "hello\n", "exit_code": 0, "is_error": False},
        {"type": "text", "text": answer},
        {
            "type": "usage",
            "input_tokens": 100,
            "cache_read": 20,
            "cache_write": 5,
            "output_tokens": 40,
            "reasoning": 10,
            "cost_usd": 0.0012,
            "model": args.model,
        },
        {"type": "result", "ok": True, "text": answer},
    ]
    return [Step(dumps(e)) for e in events]


def load_raw(path: str) -> list[Step]:
    with open(path, "rb") as f:
        return [Step(line) for line in f]


def load_cassette(path: str) -> list[Step]:
    steps = []
    with open(path, "rb") as f:
        for line in f:
            if not line.strip():
                continue
            rec = json.loads(line)
            data = (
                base64.b64decode(rec["b64"])
                if "b64" in rec
                else rec["data"].encode("utf-8", "surrogateescape")
            )
            steps.append(Step(data, fd=int(rec.get("fd", 1)), at=float(rec.get("t", 0))))
    return steps


def load_script(args: Args) -> list[Step]:
    path = os.environ.get("FAKE_VENDOR_SCRIPT")
    if not path:
        return default_script(args)
    if path.endswith(".cassette.jsonl"):
        return load_cassette(path)
    return load_raw(path)


# ---------------------------------------------------------------- misbehaviour


def result_index(steps: list[Step]) -> int:
    """Where to insert extra content: before the last result line, else at the end."""
    for i in range(len(steps) - 1, -1, -1):
        if steps[i].is_result():
            return i
    return len(steps)


def flood_stream(total: int) -> Iterator[bytes]:
    """~64 KiB delta lines adding up to `total` bytes, from one prebuilt chunk,
    so 200 MB of output costs about 1 MiB of memory."""
    overhead = len(dumps({"type": "delta", "key": "flood", "text": ""}))
    line = dumps({"type": "delta", "key": "flood", "text": "f" * (65536 - overhead)})
    chunk = line * (CHUNK // len(line))
    sent = 0
    while total - sent >= len(chunk):
        yield chunk
        sent += len(chunk)
    while total - sent >= len(line):
        yield line
        sent += len(line)
    if total - sent > overhead:  # a shorter last line so the total comes out exact
        yield dumps({"type": "delta", "key": "flood", "text": "f" * (total - sent - overhead)})


def huge_stream(size: int) -> Iterator[bytes]:
    """One tool_result line whose output is `size` bytes, written in 1 MiB pieces
    so no full copy of the output is ever built."""
    yield b'{"type":"tool_result","id":"huge1","output":"'
    piece = (b"0123456789abcdefghijklmnopqrstuvwxyz" * (CHUNK // 36 + 1))[:CHUNK]
    left = size
    while left >= len(piece):
        yield piece
        left -= len(piece)
    if left:
        yield piece[:left]
    yield b'","exit_code":0,"is_error":false}\n'


def apply_misbehaviour(steps: list[Step], bad: set[str]) -> list[Step]:
    steps = list(steps)
    if "hang" in bad:
        # A hung CLI never gets to its result; drop it (keeping anything after it).
        i = result_index(steps)
        if i < len(steps):
            del steps[i]
    if "garbage" in bad:
        steps = interleave_garbage(steps)
    if "huge-line" in bad:
        size = int(os.environ.get("FAKE_VENDOR_HUGE_BYTES", "20000000"))
        use = {"type": "tool_use", "id": "huge1", "name": "shell", "input": {"command": "cat big.txt"}}
        at = result_index(steps)
        steps[at:at] = [Step(dumps(use)), Step(stream=lambda: huge_stream(size))]
    if "invalid-utf8" in bad:
        at = result_index(steps)
        steps[at:at] = [Step(b'{"type":"text","text":"bad \xff byte"}\n')]
    if "flood" in bad:
        total = int(os.environ.get("FAKE_VENDOR_FLOOD_BYTES", "200000000"))
        at = result_index(steps)
        steps[at:at] = [Step(stream=lambda: flood_stream(total))]
    if "no-newline" in bad:
        for step in reversed(steps):
            if step.fd == 1 and step.stream is None and step.data:
                step.data = step.data.rstrip(b"\n")
                break
    return steps


def interleave_garbage(steps: list[Step]) -> list[Step]:
    """Put each garbage line before a different stdout line, spread out, never after the result."""
    out_idx = [i for i, s in enumerate(steps) if s.fd == 1]
    before: dict[int, list[bytes]] = {}
    for k, junk in enumerate(GARBAGE_LINES):
        pos = out_idx[k % len(out_idx)] if out_idx else len(steps)
        before.setdefault(pos, []).append(junk)
    result = []
    for i, step in enumerate(steps + [None]):
        result.extend(Step(j) for j in before.get(i, []))
        if step is not None:
            result.append(step)
    return result


# ---------------------------------------------------------------- process setup


def on_sigint(signum, frame):
    """Like Claude Code: a Ctrl-C ends the run with a cancelled result and exit 0."""
    if _line_open:
        write_all(1, b"\n")  # finish the torn line so the result is its own line
    write_all(1, dumps({"type": "result", "ok": False, "error_kind": "cancelled", "message": "interrupted"}))
    os._exit(0)


def setup_signals(bad: set[str]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN if "ignore-sigint" in bad else on_sigint)
    # Explicit SIG_DFL: an inherited "ignored" would otherwise make SIGTERM a no-op.
    signal.signal(signal.SIGTERM, signal.SIG_IGN if "ignore-sigterm" in bad else signal.SIG_DFL)
    # Die quietly like a C program when the reader goes away, instead of a traceback.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)


# One line, so it reads well in `ps` and in procs.processes_with_mark() output.
GRANDCHILD_CODE = (
    "import os, signal, sys, time; "
    "[signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)]; "
    "os.write(int(sys.argv[1]), b'r'); os.close(int(sys.argv[1])); "
    "time.sleep(3600)"
)


def spawn_grandchild(own_session: bool = False) -> int:
    """A process that holds our stdout/stderr open and shrugs off polite signals,
    like `sleep` started by a shell tool. It stays in our process group, or with
    `own_session` escapes into a session of its own (as Claude Code's Bash tool does)."""
    ready_r, ready_w = os.pipe()
    child = subprocess.Popen(
        [sys.executable, "-c", GRANDCHILD_CODE, str(ready_w)],
        stdin=subprocess.DEVNULL,
        pass_fds=(ready_w,),
        start_new_session=own_session,
    )
    os.close(ready_w)
    # Wait until its handlers are in place, so a test's signal cannot beat them.
    os.read(ready_r, 1)
    os.close(ready_r)
    emit(2, f"grandchild pid {child.pid}\n".encode())
    return child.pid


def record_pids(pids: list[int]) -> None:
    path = os.environ.get("FAKE_VENDOR_PIDFILE")
    if path:
        with open(path, "a") as f:
            f.writelines(f"{pid}\n" for pid in pids)


def sleep_forever() -> None:
    while True:
        time.sleep(3600)


# ---------------------------------------------------------------- playback


def play(steps: list[Step], pace: float, crash_after: int | None) -> None:
    kill_after = int(os.environ.get("FAKE_VENDOR_KILL_AFTER") or -1)
    hold_after, _, hold_file = (os.environ.get("FAKE_VENDOR_HOLD") or "-1:").partition(":")
    start = time.monotonic()
    lines = 0
    for n, step in enumerate(steps):
        if step.at is not None:
            delay = start + step.at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        elif pace and n:
            time.sleep(pace)
        if step.stream is not None:
            for piece in step.stream():
                emit(step.fd, piece)
            continue
        if crash_after is not None and step.fd == 1 and lines == crash_after:
            crash(step.data)
        emit(step.fd, step.data)
        if step.fd == 1:
            lines += 1
            if lines == kill_after:
                os.kill(os.getpid(), signal.SIGKILL)
            if lines == int(hold_after):
                while not os.path.exists(hold_file):
                    time.sleep(0.05)


def crash(line: bytes) -> None:
    """Die in the middle of a line, as if the process were killed mid-write."""
    body = line.rstrip(b"\n")
    emit(1, body[: max(1, len(body) // 2)])
    finish_stderr()
    os._exit(1)


def finish_stderr() -> None:
    text = os.environ.get("FAKE_VENDOR_STDERR")
    if text:
        emit(2, text.encode("utf-8", "surrogateescape"))


def write_files(spec: str) -> None:
    for entry in filter(None, spec.split(";")):
        path, _, text = entry.partition("=")
        if text:
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text.replace("\\n", "\n"))
        elif os.path.exists(path):
            os.remove(path)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.version:
        emit(1, f"fake-vendor {VERSION}\n".encode())
        return 0
    if args.prompt_stdin:
        args.prompt = sys.stdin.buffer.read().decode("utf-8", "surrogateescape")
    bad = {b.strip() for b in os.environ.get("FAKE_VENDOR_MISBEHAVE", "").split(",") if b.strip()}
    setup_signals(bad)
    record_pids([os.getpid()])
    if "grandchild" in bad:
        record_pids([spawn_grandchild()])
    if "escaped-grandchild" in bad:
        record_pids([spawn_grandchild(own_session=True)])
    if "exit0-empty" in bad:
        return 0
    if "hang-before" in bad:
        sleep_forever()
    if "invalid-utf8" in bad:
        emit(2, b"warning: \xff\xfe\x80 not utf-8 on stderr\n")

    write_files(os.environ.get("FAKE_VENDOR_WRITE", ""))
    steps = apply_misbehaviour(load_script(args), bad)
    pace = float(os.environ.get("FAKE_VENDOR_PACE") or (0.2 if "slow" in bad else 0))
    crash_after = int(os.environ.get("FAKE_VENDOR_CRASH_AFTER", "2")) if "crash-mid-line" in bad else None
    play(steps, pace, crash_after)
    if crash_after is not None:
        # Fewer lines than the crash point: still die mid-line, as promised.
        crash(b'{"type":"text","text":"cut short"}\n')

    finish_stderr()
    if "close-stdout" in bad:
        os.close(1)  # the reader sees EOF, but this process lives on
        sleep_forever()
    if "hang" in bad:
        sleep_forever()
    return int(os.environ.get("FAKE_VENDOR_EXIT", "0"))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
