"""What the tools return, made from a worker's protocol-2 stream: pure functions, no processes.

A worker's state is its stream so far (items finished, the `result` envelope once it came) plus
what the server knows of the process (when it started and ended, how it exited, whether the
server cancelled it). `agent_view` turns that into the object every tool returns as
`structuredContent`; `item_line` turns one finished item into the one line a progress
notification carries; `summary` is the short text copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Statuses as codex-lab's agent bridge names them (tools/agent-bridge), which its users know.
STATUSES = ("running", "completed", "failed", "cancelled", "timed_out")
LINE_CHARS = 200  # a progress line: enough to recognise a command or an edit, not a transcript


@dataclass(frozen=True, slots=True)
class WorkerFacts:
    """What the server knows of one worker at one moment."""

    agent_id: str
    provider: str  # as asked for; the result names who answered after any fallback
    mode: str
    cwd: str
    elapsed_seconds: float
    items: int  # items finished so far
    result: dict[str, Any] | None  # the shim's `result` envelope, once it came
    ended: bool  # the shim process has exited
    exit_code: int | None
    stderr_tail: str  # the shim's last stderr lines, for a shim that died without a result
    cancelled_by_server: bool
    overran: bool  # the server stopped a worker that outlived its own deadline


def status_of(facts: WorkerFacts) -> str:
    if not facts.ended:
        return "running"
    result = facts.result
    if result is None:
        return "timed_out" if facts.overran else ("cancelled" if facts.cancelled_by_server else "failed")
    if result.get("failure_kind") == "timed_out":
        return "timed_out"
    if result.get("status") == "completed" and read_only_breach(facts) is not None:
        return "failed"
    return result.get("status") if result.get("status") in STATUSES else "failed"


def read_only_breach(facts: WorkerFacts) -> str | None:
    """Why a read-only worker's success is not one: it changed files. Codex's sandbox does not
    reach an MCP server, so the mode is the only policy, and a vendor that did not honour it
    has failed the mode (CONTRACT §9: unsupported_mode), whatever its answer says."""
    diff = (facts.result or {}).get("diff") or {}
    changed = diff.get("files_changed") or 0
    if facts.mode != "read-only" or not changed:
        return None
    where = f" (the patch: {diff['patch_path']})" if diff.get("patch_path") else ""
    return (f"The read-only worker changed {changed} file{'s' if changed != 1 else ''}: {facts.provider} did not "
            f"honour read-only{where}. Check the changes before using its answer.")


def agent_view(facts: WorkerFacts) -> dict[str, Any]:
    """The object spawn, wait, cancel and list return for one worker."""
    status = status_of(facts)
    result = facts.result or {}
    provider = (result.get("provider") or {}).get("name") or facts.provider
    view: dict[str, Any] = {
        "agent_id": facts.agent_id,
        "provider": provider,
        "status": status,
        "mode": facts.mode,
        "cwd": facts.cwd,
        "elapsed_seconds": round(facts.elapsed_seconds, 1),
        "items": facts.items,
    }
    if status == "running":
        return view
    failure_kind, error = result.get("failure_kind"), result.get("error")
    breach = read_only_breach(facts) if result.get("status") == "completed" else None
    if breach:
        failure_kind, error = "unsupported_mode", breach
    elif not result:
        failure_kind, error = _without_result(facts)
    view.update({
        "final_message": result.get("final_message"),
        "failure_kind": failure_kind,
        "error": error,
        "session_id": result.get("session_id"),
        "model": (result.get("provider") or {}).get("model"),
        "usage": result.get("usage"),
        "quota": result.get("quota"),
        "diff": result.get("diff"),
        "attempts": result.get("attempts") or [],
        "journal": result.get("journal"),
    })
    return view


def _without_result(facts: WorkerFacts) -> tuple[str, str]:
    if facts.overran:
        return "timed_out", "The worker outlived its deadline and was stopped by the server."
    if facts.cancelled_by_server:
        return "cancelled", "The worker was cancelled before its shim could write a result."
    last = facts.stderr_tail.strip().splitlines()[-1:] or ["no stderr"]
    return "malformed_output", f"The shim ended without a result (exit {facts.exit_code}): {last[0][:300]}"


def item_line(item: dict[str, Any]) -> str:
    """One finished item in one line, as a progress notification carries it."""
    kind = item.get("type", "item")
    status = item.get("status")
    if kind == "command_execution":
        code = item.get("exit_code")
        text = f"$ {item.get('command', '')}" + (f" (exit {code})" if code is not None else f" ({status})")
    elif kind == "file_change":
        changes = item.get("changes") or []
        text = "edit " + ", ".join(f"{c.get('kind')} {c.get('path')}" for c in changes) + f" ({status})"
    elif kind == "mcp_tool_call":
        text = f"tool {item.get('server')}/{item.get('tool')} ({status})"
    elif kind == "web_search":
        text = f"search {item.get('query', '')}"
    elif kind == "todo_list":
        todo = item.get("items") or []
        text = f"todo {sum(1 for t in todo if t.get('completed'))}/{len(todo)} done"
    elif kind in ("agent_message", "reasoning", "error"):
        label = {"agent_message": "says", "reasoning": "thinks", "error": "error"}[kind]
        text = f"{label}: {item.get('text') or item.get('message') or ''}"
    else:
        text = kind
    return _one_line(text)


def _one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= LINE_CHARS else flat[: LINE_CHARS - 1] + "…"


def summary(view: dict[str, Any]) -> str:
    """The short text copy of a view, for hosts that show text rather than structuredContent."""
    head = f"{view['provider']} worker {view['agent_id']} {view['status']} after {view['elapsed_seconds']} s"
    if view["status"] == "running":
        return f"{head} ({view['items']} items so far); call wait again."
    parts = [head]
    usage = view.get("usage") or {}
    if usage:
        cost = usage.get("cost_usd")
        parts.append(f"{usage.get('input_tokens', 0)} input tokens ({usage.get('cached_input_tokens', 0)} cached), "
                     f"{usage.get('output_tokens', 0)} output tokens, "
                     + (f"${cost:.6f} ({usage.get('cost_source')})" if cost is not None else "cost unknown"))
    if view.get("error"):
        parts.append(f"{view['failure_kind']}: {view['error']}")
    if view.get("final_message"):
        parts.append("answer: " + _one_line(view["final_message"]))
    return ". ".join(parts)
