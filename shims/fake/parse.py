"""Fake vendor native format -> observations. Pure: no I/O, no clock, no globals.

The format (NDJSON, one object per line, tagged by "type"):
  init        {session_id, model, version}
  text        {text}                      a finished assistant message
  delta       {key, text}                 a chunk of one (chunks with one key form one message)
  thinking    {text}
  tool_use    {id, name, input}           shell|edit|write|search|todo|anything else
  tool_result {id, output, exit_code, is_error}
  warning     {message}
  usage       {input_tokens, cache_read, cache_write, output_tokens, reasoning, cost_usd, model}
              input without cache, output without reasoning (like Anthropic's API)
  total       same fields: the session's running total after this run (like agy's result.usage)
  result      {ok: true, text} | {ok: false, error_kind, message, resets_at, window}
"""

from __future__ import annotations

from typing import Any

from normalize import observe as o
from normalize.jsonline import Repaired, Repairs, read_object
from normalize.jsonline import as_str as _str
from normalize.jsonline import as_text as _text
from normalize.usage import from_parts
from shims.fake.errors import classify_exit, failure_from_result

VENDOR = "fake"


class FakeParser:
    def __init__(self) -> None:
        self._tools: dict[str, str] = {}  # call id -> tool name
        self._repairs = Repairs()

    def feed(self, line: bytes) -> list[o.Observation]:
        msg = read_object(line)
        if not isinstance(msg, dict):
            return [msg] if msg else []
        if type(msg) is Repaired:
            self._repairs.note(msg)
        kind = msg.get("type")
        handler = _HANDLERS.get(kind) if isinstance(kind, str) else None
        if handler is None:
            # Unknown kinds from a newer CLI are kept visible for debugging, never fatal.
            return [o.VendorInfo({"last_unknown_type": str(kind)})]
        return handler(self, msg)

    def finish(self, exit: o.ExitInfo) -> list[o.Observation]:
        failure = classify_exit(exit)
        return [*self._repairs.observations("The fake vendor"), *([failure] if failure else [])]

    # -------------------------------------------------------------- handlers

    def _init(self, m: dict[str, Any]) -> list[o.Observation]:
        return [o.Session(_str(m.get("session_id")), _str(m.get("model")), _str(m.get("version")))]

    def _text(self, m: dict[str, Any]) -> list[o.Observation]:
        return [o.Message(_text(m.get("text")))]

    def _delta(self, m: dict[str, Any]) -> list[o.Observation]:
        return [o.MessageDelta(_text(m.get("key")) or "0", _text(m.get("text")))]

    def _thinking(self, m: dict[str, Any]) -> list[o.Observation]:
        return [o.Reasoning(_text(m.get("text")))]

    def _tool_use(self, m: dict[str, Any]) -> list[o.Observation]:
        call_id = _text(m.get("id"))
        name = _text(m.get("name")) or "unknown"
        args = m.get("input") if isinstance(m.get("input"), dict) else {}
        self._tools[call_id] = name
        return [o.ToolStarted(call_id, _tool_item(name, args))]

    def _tool_result(self, m: dict[str, Any]) -> list[o.Observation]:
        call_id = _text(m.get("id"))
        name = self._tools.pop(call_id, None)
        output = _text(m.get("output"))
        failed = bool(m.get("is_error"))
        status = "failed" if failed else "completed"
        if name == "shell":
            code = m.get("exit_code")
            code = code if isinstance(code, int) and not isinstance(code, bool) else (1 if failed else 0)
            return [o.ToolCompleted(call_id, {"aggregated_output": output, "exit_code": code, "status": status})]
        if name in ("edit", "write", "search", "todo"):
            fields: dict[str, Any] = {"status": status} if name in ("edit", "write") else {}
            return [o.ToolCompleted(call_id, fields)]
        fields = {"status": status}
        fields["error" if failed else "result"] = {"message": output} if failed else {"content": [{"type": "text", "text": output}]}
        return [o.ToolCompleted(call_id, fields)]

    def _warning(self, m: dict[str, Any]) -> list[o.Observation]:
        return [o.Warning(_text(m.get("message")))]

    def _usage(self, m: dict[str, Any]) -> list[o.Observation]:
        return [o.UsageReport(_fake_usage(m, "invocation"))]

    def _total(self, m: dict[str, Any]) -> list[o.Observation]:
        return [o.SessionTotal(_fake_usage(m, "session"))]

    def _result(self, m: dict[str, Any]) -> list[o.Observation]:
        if m.get("ok") is True:
            text = m.get("text")
            return [o.Completed(text if isinstance(text, str) else None)]
        return [failure_from_result(m)]


def _fake_usage(m: dict[str, Any], scope: str) -> dict[str, Any]:
    cost = m.get("cost_usd")
    cost = float(cost) if isinstance(cost, int | float) and not isinstance(cost, bool) else None
    return from_parts(
        uncached_input=m.get("input_tokens"),
        cache_read=m.get("cache_read"),
        cache_write=m.get("cache_write"),
        visible_output=m.get("output_tokens"),
        reasoning=m.get("reasoning"),
        cost_usd=cost,
        cost_source="vendor",
        model=_str(m.get("model")),
        scope=scope,
    )


def _tool_item(name: str, args: dict[str, Any]) -> dict[str, Any]:
    if name == "shell":
        return {"type": "command_execution", "command": _text(args.get("command")), "aggregated_output": "", "exit_code": None}
    if name in ("edit", "write"):
        return {"type": "file_change", "changes": [{"path": _text(args.get("path")), "kind": "add" if name == "write" else "update"}]}
    if name == "search":
        return {"type": "web_search", "query": _text(args.get("query"))}
    if name == "todo":
        items = args.get("items") if isinstance(args.get("items"), list) else []
        return {
            "type": "todo_list",
            "items": [{"text": _text(i.get("text")), "completed": bool(i.get("completed"))} for i in items if isinstance(i, dict)],
        }
    server, tool = VENDOR, name
    if name.startswith("mcp__") and name.count("__") >= 2:
        _, server, tool = name.split("__", 2)
    return {"type": "mcp_tool_call", "server": server, "tool": tool, "arguments": args}


_HANDLERS = {
    "init": FakeParser._init,
    "text": FakeParser._text,
    "delta": FakeParser._delta,
    "thinking": FakeParser._thinking,
    "tool_use": FakeParser._tool_use,
    "tool_result": FakeParser._tool_result,
    "warning": FakeParser._warning,
    "usage": FakeParser._usage,
    "total": FakeParser._total,
    "result": FakeParser._result,
}


def new_parser(fmt: str = "stream-json", prices: dict | None = None) -> FakeParser:
    return FakeParser()
