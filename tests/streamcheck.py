"""The stream rules of CONTRACT §3, checked on a whole protocol-2 output."""

from __future__ import annotations

from typing import Any

import orjson

from normalize.failures import exit_code_for
from normalize.limits import MAX_LINE_BYTES
from normalize.models import Event


def parse_stream(stdout: bytes) -> list[dict]:
    assert stdout.endswith(b"\n"), "every line is newline-terminated"
    lines = stdout.split(b"\n")[:-1]
    for line in lines:
        assert len(line) <= MAX_LINE_BYTES, f"line of {len(line)} bytes"
    return [orjson.loads(line) for line in lines]


def check_stream(events: list[dict], exit_code: int | None = None) -> dict:
    """Assert the invariants; return the result envelope."""
    assert events, "empty stream"
    assert events[0]["type"] == "thread.started"
    assert events[-1]["type"] == "result"
    types = [e["type"] for e in events]
    assert types.count("result") == 1
    assert types.count("thread.started") == 1
    terminal = [t for t in types if t in ("turn.completed", "turn.failed")]
    assert len(terminal) == 1, types
    assert types[-2] in ("turn.completed", "turn.failed")
    if types[-2] == "turn.failed":
        assert types[-3] == "error"
    assert types.count("turn.started") <= 1
    if "turn.started" in types:
        assert types.index("turn.started") == 1
    seen: list[str] = []
    done: set[str] = set()
    for e in events:
        Event.model_validate(e)
        if e["type"].startswith("item."):
            item_id = e["item"]["id"]
            assert item_id not in done, f"event after completion of {item_id}"
            if item_id not in seen:
                assert item_id == f"item_{len(seen)}", (item_id, seen)
                seen.append(item_id)
            if e["type"] == "item.completed":
                done.add(item_id)
    result = events[-1]
    assert result["thread_id"] == events[0]["thread_id"]
    if exit_code is not None:
        expected = exit_code_for(result["status"], result["failure_kind"], _cancel_name(exit_code))
        assert exit_code == expected, (exit_code, result["status"], result["failure_kind"])
    return result


def _cancel_name(code: int) -> str | None:
    return {130: "SIGINT", 143: "SIGTERM"}.get(code)


def check_replay(result: dict[str, Any]) -> None:
    """A journaled run replays to exactly the events it printed (CONTRACT §12)."""
    from pathlib import Path

    from shims.run.replay import replay_run

    if not result.get("journal"):
        return
    outcome = replay_run(Path(result["journal"]))
    assert outcome.identical, "\n".join(outcome.diff())


def run_stream(argv: list[str], *, env: dict[str, str], cwd, stdin: bytes = b"", timeout: float = 120):
    """A shim run as a protocol-2 host sees it: (exit code, events, result), with the stream
    rules checked and the run's journal replayed (every such run also proves replay exact)."""
    import subprocess

    proc = subprocess.run(argv, input=stdin, capture_output=True, env=env, cwd=cwd, timeout=timeout)
    events = parse_stream(proc.stdout)
    result = check_stream(events, proc.returncode)
    check_replay(result)
    return proc.returncode, events, result
