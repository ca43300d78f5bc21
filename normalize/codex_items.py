"""Items in exactly Codex's shapes (codex-rs `exec/src/exec_events.rs`, the TypeScript SDK's
`ThreadItem`): the keys Codex writes, in its order, and no others.

Codex SDKs hold `codex exec` output to those types: the Python SDKs read every key they expect
(`data["status"]`, `data["result"]`), the TypeScript SDK's users switch on them. A vendor parser
may hand the assembler more (or less) than Codex has; `exact_item` is the one place an item
takes Codex's shape, for protocol 2 and `exec` alike (CONTRACT §3, §15). Keys Codex always
writes, even empty, are written here too (`mcp_tool_call.result`/`error` as null).
"""

from __future__ import annotations

from typing import Any

# The statuses Codex's enums have, per item type (CommandExecutionStatus has `declined`).
STATUSES: dict[str, frozenset[str]] = {
    "command_execution": frozenset(("in_progress", "completed", "failed", "declined")),
    "file_change": frozenset(("in_progress", "completed", "failed")),
    "mcp_tool_call": frozenset(("in_progress", "completed", "failed")),
}
KINDS = frozenset(("add", "delete", "update"))


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


def _status(item: dict[str, Any]) -> str:
    status = item.get("status")
    if status in STATUSES[item["type"]]:
        return status
    # A status Codex's enum lacks for this type (`declined` for a tool call): it did not run.
    return "failed" if status else "in_progress"


def _changes(changes: Any) -> list[dict[str, str]]:
    out = []
    for change in changes if isinstance(changes, list) else ():
        if not isinstance(change, dict):
            continue
        kind = change.get("kind") if change.get("kind") in KINDS else "update"
        out.append({"path": _text(change.get("path")), "kind": kind})
    return out


def _mcp_result(result: Any) -> dict[str, Any] | None:
    if not isinstance(result, dict):
        return None
    content = result.get("content")
    return {"content": content if isinstance(content, list) else [],
            "structured_content": result.get("structured_content")}


def _mcp_error(error: Any) -> dict[str, str] | None:
    if not isinstance(error, dict):
        return None
    return {"message": _text(error.get("message"))}


def _todo(entries: Any) -> list[dict[str, Any]]:
    return [{"text": _text(e.get("text")), "completed": e.get("completed") is True}
            for e in (entries if isinstance(entries, list) else ()) if isinstance(e, dict)]


def exact_item(item: dict[str, Any]) -> dict[str, Any]:
    """`item` ({id, type, ...}) with exactly the keys Codex writes for its type."""
    t = item.get("type")
    head = {"id": item["id"], "type": t}
    if t in ("agent_message", "reasoning"):
        return {**head, "text": _text(item.get("text"))}
    if t == "command_execution":
        code = item.get("exit_code")
        return {**head, "command": _text(item.get("command")),
                "aggregated_output": _text(item.get("aggregated_output")),
                "exit_code": code if isinstance(code, int) and not isinstance(code, bool) else None,
                "status": _status(item)}
    if t == "file_change":
        return {**head, "changes": _changes(item.get("changes")), "status": _status(item)}
    if t == "mcp_tool_call":
        return {**head, "server": _text(item.get("server")), "tool": _text(item.get("tool")),
                "arguments": item.get("arguments"), "result": _mcp_result(item.get("result")),
                "error": _mcp_error(item.get("error")), "status": _status(item)}
    if t == "web_search":
        return {**head, "query": _text(item.get("query"))}
    if t == "todo_list":
        return {**head, "items": _todo(item.get("items"))}
    if t == "error":
        return {**head, "message": _text(item.get("message"))}
    # Not a Codex item type (a parser bug): shown as a non-fatal error rather than off-schema.
    return {"id": item["id"], "type": "error", "message": f"unknown item type {t!r}"}
