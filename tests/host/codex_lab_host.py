"""A test host that runs a shim the way codex-lab's `external_command` backend does.

codex-lab starts the command as the leader of a new process group, writes one JSON
request line to its stdin, reads stdout/stderr to EOF keeping only bounded tails,
hard-kills the whole group (SIGKILL, no grace) on timeout or cancel, and then judges
the output:

  protocol 1: exit 0 and stdout is exactly one object {"status", "final_message"}; a failed
              answer's kind is what codex-lab's own phrase matching makes of its message
  protocol 2: stdout is NDJSON; the last {"type": "result"} line is the outcome

Tests use `run_external` to see a shim exactly as codex-lab would; the CLI at the
bottom does the same by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field

STDOUT_LIMIT = 64 * 1024
STDERR_LIMIT = 8 * 1024
TRUNCATED_PREFIX = b"[external agent output truncated]\n"
EXIT_DETAIL_CHARS = 2048
# After a SIGKILL, pipes close at once unless something outside the group holds them;
# don't wait forever for such an escapee.
DRAIN_AFTER_KILL_S = 2.0

# codex-lab's failure kinds (ExternalAgentFailureKind; permission_denied since b51b918).
KINDS = (
    "command_missing",
    "authentication_required",
    "quota_or_rate_limited",
    "permission_denied",
    "unsupported_mode",
    "timed_out",
    "malformed_output",
    "empty_output",
    "launch_failed",
    "provider_failed",
)


@dataclass
class HostOutcome:
    state: str  # "completed" | "errored" | "shutdown"
    final_message: str | None
    failure_kind: str | None
    exit_code: int | None  # Popen.returncode: negative = killed by that signal
    stdout: bytes  # tail kept (<= 64 KiB)
    stderr: bytes  # tail kept (<= 8 KiB)
    result: dict | None  # protocol 2: the last `result` line; protocol 1: None
    events: list[dict]  # protocol 2: every parsed stdout line; protocol 1: []
    pgid: int
    message: str | None = None  # why it errored/shut down, as codex-lab would report it
    timings: dict = field(default_factory=dict)  # elapsed seconds, for latency assertions


# ---------------------------------------------------------------- bounded buffers


class Tail:
    """Keeps the last `limit` bytes of a stream and remembers whether it cut any."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.buf = bytearray()
        self.cut = False

    def add(self, data: bytes) -> None:
        self.buf += data
        if len(self.buf) > self.limit:
            del self.buf[: len(self.buf) - self.limit]
            self.cut = True

    def value(self, prefix: bytes = b"") -> bytes:
        if not self.cut:
            return bytes(self.buf)
        # Make room for the marker so the whole thing still fits the limit.
        return prefix + bytes(self.buf[len(prefix) :])


class Lines:
    """Splits a byte stream into complete lines as it arrives (protocol 2 needs all
    of them, not just the tail)."""

    def __init__(self) -> None:
        self.partial = bytearray()
        self.lines: list[bytes] = []

    def add(self, data: bytes) -> None:
        self.partial += data
        if b"\n" in data:
            *done, rest = self.partial.split(b"\n")
            self.lines.extend(bytes(d) for d in done)
            self.partial = bytearray(rest)

    def finish(self) -> list[bytes]:
        if self.partial:  # a last line without newline still counts
            self.lines.append(bytes(self.partial))
            self.partial = bytearray()
        return self.lines


# ---------------------------------------------------------------- running


@dataclass
class Run:
    stdout: Tail
    stderr: Tail
    lines: Lines | None
    exit_code: int | None
    ended_by: str | None  # None, "timeout" or "cancel"
    elapsed: float


def kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # the group is already gone


def pump(
    proc: subprocess.Popen, payload: bytes, keep_lines: bool, deadline: float, cancel_at: float | None
) -> Run:
    """Feed stdin and read stdout/stderr to EOF in one selector loop, so a child that
    never reads stdin or floods one pipe cannot deadlock the host."""
    start = time.monotonic()
    out, err = Tail(STDOUT_LIMIT), Tail(STDERR_LIMIT)
    lines = Lines() if keep_lines else None
    sel = selectors.DefaultSelector()
    os.set_blocking(proc.stdin.fileno(), False)
    sel.register(proc.stdin, selectors.EVENT_WRITE)
    sel.register(proc.stdout, selectors.EVENT_READ)
    sel.register(proc.stderr, selectors.EVENT_READ)
    pending = memoryview(payload)
    ended_by: str | None = None
    stop_at: float | None = None  # set after a kill: give up on pipes held by escapees

    while sel.get_map():
        now = time.monotonic()
        if ended_by is None:
            limit = min(deadline, cancel_at) if cancel_at is not None else deadline
            if now >= limit:
                ended_by = "cancel" if cancel_at is not None and now >= cancel_at else "timeout"
                kill_group(proc.pid)
                stop_at = now + DRAIN_AFTER_KILL_S
                continue
            wait = limit - now
        else:
            if now >= stop_at:
                break
            wait = stop_at - now
        for key, _ in sel.select(timeout=wait):
            if key.fileobj is proc.stdin:
                pending = write_some(proc, sel, pending)
                continue
            chunk = os.read(key.fd, 1 << 16)
            if not chunk:
                sel.unregister(key.fileobj)
                continue
            if key.fileobj is proc.stdout:
                out.add(chunk)
                if lines is not None:
                    lines.add(chunk)
            else:
                err.add(chunk)
    sel.close()
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        close_quietly(stream)

    # Pipes closed but the child may still run: keep honouring the deadline.
    ended_by = ended_by or wait_child(proc, deadline, cancel_at)
    proc.wait()  # always reap
    return Run(out, err, lines, proc.returncode, ended_by, time.monotonic() - start)


def write_some(proc: subprocess.Popen, sel: selectors.BaseSelector, pending: memoryview) -> memoryview:
    try:
        n = os.write(proc.stdin.fileno(), pending)
        pending = pending[n:]
    except BlockingIOError:
        return pending
    except (BrokenPipeError, OSError):
        pending = pending[:0]  # the child closed stdin without reading: that is its business
    if not pending:
        sel.unregister(proc.stdin)
        close_quietly(proc.stdin)  # EOF tells the child the request is complete
    return pending


def close_quietly(stream) -> None:
    try:
        stream.close()
    except OSError:
        pass


def wait_child(proc: subprocess.Popen, deadline: float, cancel_at: float | None) -> str | None:
    limit = min(deadline, cancel_at) if cancel_at is not None else deadline
    try:
        proc.wait(timeout=max(0.0, limit - time.monotonic()))
        return None
    except subprocess.TimeoutExpired:
        kill_group(proc.pid)
        return "cancel" if cancel_at is not None and time.monotonic() >= cancel_at else "timeout"


# ---------------------------------------------------------------- judging


# ---------------------------------------------------------------- codex-lab's own reading (oracle)
#
# A port, written for these tests, of what cbusillo/codex-lab does with a protocol-1 answer. It is
# the oracle the shims' answers are judged by, so it follows codex-lab's behaviour exactly, not
# what we would like codex-lab to do:
#   classify_provider_failure_text: codex-rs/core/src/agent/external_diagnostics.rs at
#     17fe631bb013de72331a399d88bf4dd8cedc685b (and 0ba898be65f528caa2aa8e0129f4092191cb53ed: the
#     same phrases) - quota, then authentication, then unsupported mode, else provider_failed;
#     b51b918833c02c13ba248c9258db8fa19319dbd8 checks a permission_denied class between
#     authentication and unsupported mode.
#   bound_external_agent_message and the json-protocol reading: codex-rs/core/src/agent/
#     external_command.rs at 30b3344130984e7afc912dea2cfcec7144c85b7c - a completed message is
#     trimmed, empty -> empty_output; completed and failed messages over 8192 bytes keep their
#     tail behind codex-lab's own marker; the failed message is classified after that cut.
# The classes are checked in a fixed order and a phrase counts anywhere in the text, so where a
# phrase stands in the message does not matter: only which classes' phrases it contains.

CLASSIFIER_REVISIONS = ("17fe631", "b51b918")
_QUOTA_PHRASES = ("rate limit", "rate_limit", "too many requests", "quota exceeded", "insufficient_quota",
                  "resource exhausted", "http 429", "status 429", "api error: 429")
_AUTH_PHRASES = ("authentication required", "not authenticated", "unauthorized", "auth failed", "invalid api key",
                 "invalid token", "please sign in", "please log in", "login required", "sign in to", "log in to",
                 "waiting for authentication")
_PERMISSION_PHRASES = ("permission that headless mode cannot prompt for", "auto-denied",
                       "user denied permission to run command", "soft-denying tool confirmation")
_UNSUPPORTED_PHRASES = ("unknown command", "unknown flag", "unknown option", "unrecognized option",
                        "unsupported mode", "invalid option")

MODEL_VISIBLE_BYTES = 8 * 1024
RESULT_TRUNCATED_MARKER = "[external agent result truncated]\n"


def classify_provider_failure_text(text: str, revision: str = "b51b918") -> str:
    """codex-lab's failure kind for a failed answer's text (see the commits above)."""
    low = text.encode("utf-8", "surrogatepass").lower()  # bytes.lower: ASCII only, like to_ascii_lowercase

    def has(phrases: tuple[str, ...]) -> bool:
        return any(p.encode() in low for p in phrases)

    if has(_QUOTA_PHRASES):
        return "quota_or_rate_limited"
    if has(_AUTH_PHRASES):
        return "authentication_required"
    if revision != "17fe631" and has(_PERMISSION_PHRASES):
        return "permission_denied"
    if has(_UNSUPPORTED_PHRASES):
        return "unsupported_mode"
    return "provider_failed"


def bound_external_agent_message(message: str) -> str:
    """codex-lab's 8 KiB bound on what the parent model sees: the tail, behind its own marker."""
    data = message.encode("utf-8", "surrogatepass")
    if len(data) <= MODEL_VISIBLE_BYTES:
        return message
    marker = TRUNCATED_PREFIX.decode() if message.startswith(TRUNCATED_PREFIX.decode()) else RESULT_TRUNCATED_MARKER
    start = len(data) - (MODEL_VISIBLE_BYTES - len(marker.encode()))
    while start < len(data) and (data[start] & 0xC0) == 0x80:  # to a character boundary
        start += 1
    return marker + data[start:].decode("utf-8", "surrogatepass")


def shim_result(stderr: bytes) -> dict | None:
    """The envelope from the last `shim-result: ` line of a stderr tail, or None when the tail
    holds no whole, parseable one (a host keeps only the last 8 KiB)."""
    lines = stderr.split(b"\n")
    if stderr.endswith(b"\n"):
        lines = lines[:-1]
    # The first piece of a cut tail may be the end of a longer line: only whole lines count.
    whole = lines if len(stderr) < STDERR_LIMIT else lines[1:]
    for line in reversed(whole):
        if line.startswith(b"shim-result: "):
            try:
                value = json.loads(line[len(b"shim-result: "):].decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                return None
            return value if isinstance(value, dict) else None
    return None


def describe_status(code: int) -> str:
    if code < 0:
        try:
            return f"signal: {-code} ({signal.Signals(-code).name})"
        except ValueError:
            return f"signal: {-code}"
    return f"exit status: {code}"


def judge_protocol1(exit_code: int | None, stdout: bytes, stderr: bytes) -> tuple[str, str | None, str | None, str | None]:
    """(state, final_message, failure_kind, message) for the one-object protocol."""
    if exit_code != 0:
        both = (stdout + stderr).decode("utf-8", "replace")[-EXIT_DETAIL_CHARS:]
        return (
            "errored",
            None,
            "provider_failed",
            f"external agent exited with {describe_status(exit_code)}: {both}",
        )
    try:
        obj = json.loads(stdout.decode("utf-8").strip())
    except (UnicodeDecodeError, ValueError):
        return "errored", None, "malformed_output", "external agent output is not one JSON object"
    if (
        not isinstance(obj, dict)
        or not set(obj) <= {"status", "final_message"}
        or obj.get("status") not in ("completed", "failed")
        or not isinstance(obj.get("final_message"), (str, type(None)))
    ):
        return "errored", None, "malformed_output", "external agent output does not match the protocol"
    final = obj.get("final_message")
    if obj["status"] == "failed":
        message = bound_external_agent_message(final) if final else "external agent failed"
        return "errored", None, classify_provider_failure_text(message), message
    if not final or not final.strip():
        return "errored", None, "empty_output", "external agent completed without output"
    return "completed", bound_external_agent_message(final.strip()), None, None


def judge_protocol2(run: Run) -> tuple[str, str | None, str | None, str | None, dict | None, list[dict]]:
    """(state, final_message, failure_kind, message, result, events) for NDJSON."""
    events: list[dict] = []
    for raw in run.lines.finish():
        try:
            event = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return "errored", None, "malformed_output", f"non-JSON line: {raw[:200]!r}", None, events
        if not isinstance(event, dict):
            return "errored", None, "malformed_output", f"line is not an object: {raw[:200]!r}", None, events
        events.append(event)
    results = [e for e in events if e.get("type") == "result"]
    if not results:
        return "errored", None, "malformed_output", "no result line", None, events
    result = results[-1]
    status, final = result.get("status"), result.get("final_message")
    if status == "completed":
        return "completed", final, None, None, result, events
    if status == "failed":
        kind = result.get("failure_kind") or classify_provider_failure_text(result.get("error") or final or "")
        return "errored", final, kind, result.get("error") or final, result, events
    if status == "cancelled":
        return "shutdown", final, None, "external agent cancelled", result, events
    return "errored", None, "malformed_output", f"unknown result status {status!r}", result, events


def launch_failure(argv: list[str], exc: OSError) -> HostOutcome:
    kind = "command_missing" if isinstance(exc, FileNotFoundError) else "launch_failed"
    return HostOutcome("errored", None, kind, None, b"", b"", None, [], 0, f"cannot start {argv[0]}: {exc}")


def run_external(
    argv: list[str],
    request: dict,
    *,
    protocol: int = 1,
    timeout_s: float = 60,
    cancel_after_s: float | None = None,
    env: dict | None = None,
    cwd: str | None = None,
) -> HostOutcome:
    """Run `argv` as codex-lab would and report what codex-lab would conclude."""
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            process_group=0,  # leader of a new group, so one killpg reaches every descendant that stays
        )
    except OSError as exc:
        return launch_failure(argv, exc)
    payload = (json.dumps(request) + "\n").encode()
    cancel_at = start + cancel_after_s if cancel_after_s is not None else None
    run = pump(proc, payload, protocol == 2, start + timeout_s, cancel_at)
    stdout, stderr = run.stdout.value(TRUNCATED_PREFIX), run.stderr.value()
    base = dict(
        exit_code=run.exit_code,
        stdout=stdout,
        stderr=stderr,
        pgid=proc.pid,
        timings={"elapsed_s": run.elapsed},
    )

    if run.ended_by == "cancel":
        return HostOutcome(
            "shutdown", None, None, result=None, events=[], message="external agent cancelled", **base
        )
    if run.ended_by == "timeout":
        return HostOutcome(
            "errored",
            None,
            "timed_out",
            result=None,
            events=[],
            message=f"external agent timed out after {timeout_s}s",
            **base,
        )
    if protocol == 1:
        state, final, kind, message = judge_protocol1(run.exit_code, stdout, stderr)
        return HostOutcome(state, final, kind, result=None, events=[], message=message, **base)
    state, final, kind, message, result, events = judge_protocol2(run)
    return HostOutcome(state, final, kind, result=result, events=events, message=message, **base)


# ---------------------------------------------------------------- CLI


def outcome_json(outcome: HostOutcome) -> str:
    data = asdict(outcome)
    for key in ("stdout", "stderr"):
        data[key] = data[key].decode("utf-8", "replace")
    return json.dumps(data, indent=2, ensure_ascii=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run a shim like codex-lab's external_command backend.")
    parser.add_argument("--protocol", type=int, choices=(1, 2), default=1)
    parser.add_argument("--request", default='{"prompt": "hello"}', help="JSON object written to stdin")
    parser.add_argument("--timeout", type=float, default=60)
    parser.add_argument("--cancel-after", type=float, default=None)
    parser.add_argument("--cwd", default=None)
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- program args...")
    ns = parser.parse_args(argv)
    command = ns.command[1:] if ns.command[:1] == ["--"] else ns.command
    if not command:
        parser.error("missing command after --")
    outcome = run_external(
        command,
        json.loads(ns.request),
        protocol=ns.protocol,
        timeout_s=ns.timeout,
        cancel_after_s=ns.cancel_after,
        cwd=ns.cwd,
    )
    print(outcome_json(outcome))
    return 0 if outcome.state == "completed" else 1


if __name__ == "__main__":
    sys.exit(main())
