"""Claude Code stream-json -> observations. Pure: no I/O, no clock, no globals.

Notes: ../shared/reference/claude.md §4 (messages), §6 (usage), §7 (errors). Key order is not
stable, so lines are always parsed whole, never matched on prefixes.
"""

from __future__ import annotations

import re
from hashlib import blake2b
from typing import Any

import orjson

from normalize import observe as o
from normalize.failures import FailureKind as K
from normalize.jsonline import Repaired, Repairs, json_answer, read_document, read_object
from normalize.jsonline import as_count as _int
from normalize.jsonline import as_str as _str
from normalize.jsonline import as_text as _text
from normalize.limits import writable
from normalize.reconcile import cost_difference, differences, is_all_zero, mismatch_observations
from normalize.usage import from_parts
from shims.claude.errors import (
    classify_result,
    classify_stderr,
    quota_from_rate_limit_info,
)

PROVIDER = "claude"
SERVER = "claude"  # the mcp_tool_call server of Claude's built-in tools
# The tool Claude Code declares for --json-schema (shims.claude.command.schema_args): the model
# answers by calling it, and the CLI puts the call's input in `result.structured_output`. It is
# the answer, not a tool the host ran, so it makes no item of its own.
STRUCTURED_TOOL = "StructuredOutput"
_EXIT_CODE = re.compile(r"^Exit code (\d+)")
_DISABLED_TOOL = "is disabled for this session"
_TAG = re.compile(r"</?tool_use_error>")


def _strip_tags(text: str) -> str:
    return _TAG.sub("", text).strip()


def _decision(permission: Any) -> Any:
    return permission.get("decision") if isinstance(permission, dict) else None


# Messages whose blocks are remembered to drop a repeat. The non-streaming fallback re-sends the
# message it failed to stream right away, but parallel subagents' messages can come in between:
# many are kept (a digest per block: ~100 KB for 1024 messages), only a bound keeps memory flat.
SEEN_MESSAGES = 1024


class ClaudeParser:
    def __init__(self) -> None:
        self._tools: dict[str, str] = {}  # tool_use id -> tool name
        self._seen_blocks: dict[str, set[bytes]] = {}  # message id -> its blocks' digests, oldest first
        self._synthetic: dict[str, Any] | None = None
        self._rejected_quota: dict[str, Any] | None = None
        self._saw_result = False
        self._last_text: str | None = None
        # --json-schema: init lists the StructuredOutput tool (only then); its calls, by id.
        self._schema = False
        self._structured_calls: set[str] = set()
        self.repairs = Repairs()
        # --include-partial-messages (the live view): the tokens of the API messages before
        # this one, and this one's counts so far (message_delta's usage is cumulative).
        self._live_before = 0
        self._live_now: dict[str, int] = {}

    # ------------------------------------------------------------------ lines

    def feed(self, line: bytes) -> list[o.Observation]:
        msg = read_object(line)
        if not isinstance(msg, dict):
            return [msg] if msg else []
        if type(msg) is Repaired:
            self.repairs.note(msg)
        kind = msg.get("type")
        if kind == "assistant":
            return self._assistant(msg)
        if kind == "user":
            return self._user(msg)
        if kind == "system":
            return self._system(msg)
        if kind == "result":
            return self._result(msg)
        if kind == "rate_limit_event":
            return self._rate_limit(msg)
        if kind == "stream_event":
            return self._stream_event(msg.get("event"))
        if kind in ("control_response", "tool_progress"):
            return []  # tool_progress is a heartbeat of a long tool run
        return [o.VendorInfo({"last_unknown_type": str(kind)})]

    def finish(self, exit: o.ExitInfo) -> list[o.Observation]:
        return [*self.repairs.observations("Claude"), *self._finish(exit)]

    def _finish(self, exit: o.ExitInfo) -> list[o.Observation]:
        if self._saw_result or exit.cancelled or exit.timed_out:
            return []
        failure = classify_stderr(exit.stderr_tail)
        if failure:
            return [failure]
        if exit.signal or exit.exit_code not in (0, None):
            return []  # the assembler reports the exit with the stderr tail
        # Exit 0 without a result line: a known CLI bug (#1920, #30333), never a success.
        return [o.Failed(K.PROVIDER_FAILED, "Claude exited without its result line (the answer may be incomplete).")]

    # ------------------------------------------------------------------ kinds

    def _system(self, m: dict[str, Any]) -> list[o.Observation]:
        sub = m.get("subtype")
        if sub == "init":
            # Fields of the wrong type are skipped, never fatal (found by fuzzing: a non-list raised).
            servers = m.get("mcp_servers") if isinstance(m.get("mcp_servers"), list) else []
            failed = [s.get("name") for s in servers if isinstance(s, dict) and s.get("status") == "failed"]
            tools = m.get("tools") if isinstance(m.get("tools"), list) else []
            self._schema = self._schema or STRUCTURED_TOOL in tools
            out: list[o.Observation] = [
                o.Session(_str(m.get("session_id")), _str(m.get("model")), _str(m.get("claude_code_version"))),
                o.VendorInfo({"permission_mode": m.get("permissionMode"), "api_key_source": m.get("apiKeySource")}),
            ]
            if failed:
                out.append(o.Warning(f"Claude could not start MCP servers: {', '.join(map(str, failed))}."))
            return out
        if sub == "api_retry":
            status = m.get("error_status")
            why = f"{m.get('error') or 'error'}" + (f" ({status})" if status is not None else "")
            delay = m.get("retry_delay_ms")
            wait = f"; next try in {delay / 1000:.1f}s" if isinstance(delay, int | float) else ""
            return [o.Warning(f"Claude API retry {m.get('attempt')}/{m.get('max_retries')} after {why}{wait}.")]
        if sub == "permission_denied":
            return [o.Warning(f"Permission denied: {_str(m.get('message')) or m.get('tool_name')}")]
        if sub == "compact_boundary":
            return [o.VendorInfo({"compacted": True})]
        return []

    def _stream_event(self, event: Any) -> list[o.Observation]:
        """--include-partial-messages (asked only by the live view, claude.md §4.4): the SSE
        events the `assistant` lines then repeat whole. Only live-only observations come of
        them, so the stream is the same with and without the flag."""
        if not isinstance(event, dict):
            return []
        etype = event.get("type")
        if etype == "content_block_delta":
            delta = event.get("delta")
            if isinstance(delta, dict) and delta.get("type") == "text_delta":
                text = _text(delta.get("text"))
                return [o.LiveText(text)] if text else []
            return []
        if etype == "message_start":
            message = event.get("message") if isinstance(event.get("message"), dict) else {}
            self._live_before += sum(self._live_now.values())
            self._live_now = {}
            usage = message.get("usage")
        elif etype == "message_delta":
            usage = event.get("usage")
        else:
            return []
        if not isinstance(usage, dict):
            return []
        counts = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens")
        # message_delta may carry only output_tokens: the counts it leaves out keep their value.
        known = {k: _int(usage[k]) for k in counts if isinstance(usage.get(k), int)}  # ≥ 0; a bool counts 0
        self._live_now.update(known)
        return [o.LiveUsage(self._live_before + sum(self._live_now.values()))]

    def _assistant(self, m: dict[str, Any]) -> list[o.Observation]:
        message = m.get("message") if isinstance(m.get("message"), dict) else {}
        content = message.get("content") if isinstance(message.get("content"), list) else []
        if message.get("model") == "<synthetic>" and (m.get("error") or m.get("is_api_error_message")):
            # The API error, explained; the result line that follows decides the outcome.
            self._synthetic = {
                "error": m.get("error"),
                "api_error_status": m.get("api_error_status"),
                "api_error": m.get("api_error"),
                "api_error_params": m.get("api_error_params") or {},
                "text": next((b.get("text") for b in content if isinstance(b, dict) and b.get("type") == "text"), None),
            }
            return []
        msg_id = _str(message.get("id")) or ""
        out: list[o.Observation] = []
        for block in content:
            if not isinstance(block, dict):
                continue
            # One line per block; the non-streaming fallback may repeat a whole message, right
            # after its streamed blocks. Kept: digests (a 100 KB Write input is not kept whole)
            # of the blocks of the last few messages (memory stays flat however long the run).
            # A block without a message id is never looked up, so it is neither encoded nor kept.
            if msg_id:
                seen = self._seen_blocks.get(msg_id)
                if seen is None:
                    seen = self._seen_blocks[msg_id] = set()
                    if len(self._seen_blocks) > SEEN_MESSAGES:
                        del self._seen_blocks[next(iter(self._seen_blocks))]
                try:
                    key = orjson.dumps(block, option=orjson.OPT_SORT_KEYS)
                except orjson.JSONEncodeError:  # deeper than orjson writes (found by attack: 600 levels)
                    key = orjson.dumps(writable(block), option=orjson.OPT_SORT_KEYS)
                digest = blake2b(key, digest_size=16).digest()
                if digest in seen:
                    continue
                seen.add(digest)
            btype = block.get("type")
            if btype == "text":
                text = _text(block.get("text"))
                if text:
                    self._last_text = text
                    out.append(o.Message(text))
            elif btype == "thinking":
                out.append(o.Reasoning(_text(block.get("thinking"))))
            elif btype == "tool_use":
                call_id = _text(block.get("id"))
                name = _text(block.get("name")) or "unknown"
                args = block.get("input") if isinstance(block.get("input"), dict) else {}
                if name == STRUCTURED_TOOL:
                    self._structured_calls.add(call_id)
                    continue
                self._tools[call_id] = name
                out.append(o.ToolStarted(call_id, tool_item(name, args)))
        return out

    def _user(self, m: dict[str, Any]) -> list[o.Observation]:
        message = m.get("message") if isinstance(m.get("message"), dict) else {}
        content = message.get("content")
        if not isinstance(content, list):
            return []
        # Every level type-checked (found by fuzzing: a non-list meta, a non-dict decision or a
        # list as id raised).
        metas = m.get("tool_result_meta") if isinstance(m.get("tool_result_meta"), list) else []
        denied = {
            meta.get("id")
            for meta in metas
            if isinstance(meta, dict) and isinstance(meta.get("id"), str)
            and (_decision(meta.get("permission_decision")) == "reject" or meta.get("non_execution_kind"))
        }
        structured = m.get("tool_use_result")
        out: list[o.Observation] = []
        for block in content:
            if not isinstance(block, dict) or block.get("type") != "tool_result":
                continue
            call_id = _text(block.get("tool_use_id"))
            output = _result_text(block.get("content"))
            failed = bool(block.get("is_error"))
            if call_id in self._structured_calls:
                self._structured_calls.discard(call_id)
                if failed:  # the CLI refused the call's input and asks the model again
                    out.append(o.Warning(f"Claude's structured answer did not fit the output schema; it was asked "
                                         f"again ({_strip_tags(output)})."))
                continue
            name = self._tools.pop(call_id, None)
            refused = failed and _DISABLED_TOOL in output  # a tool the mode took away (--disallowedTools)
            out.append(o.ToolCompleted(call_id, tool_completion(name, output, failed, call_id in denied or refused, structured)))
            if refused:
                out.append(o.Warning(f"Permission denied: {_strip_tags(output)}"))
        return out

    def _rate_limit(self, m: dict[str, Any]) -> list[o.Observation]:
        info = m.get("rate_limit_info") if isinstance(m.get("rate_limit_info"), dict) else {}
        quota = quota_from_rate_limit_info(info)
        out: list[o.Observation] = [o.QuotaReport(quota)]
        if quota["state"] == "exhausted":
            self._rejected_quota = quota
        elif quota["state"] == "warning":
            used = info.get("utilization")
            pct = f" at {used * 100:.0f}%" if isinstance(used, int | float) else ""
            window = {"5h": "5-hour", "weekly": "weekly"}.get(quota["window"] or "", "usage")
            when = f"; resets {quota['resets_at']}" if quota["resets_at"] else ""
            out.append(o.Warning(f"Claude {window} limit{pct}{when}."))
        return out

    def _result(self, m: dict[str, Any]) -> list[o.Observation]:
        self._saw_result = True
        usage = result_usage(m)
        total = session_total(m)
        out: list[o.Observation] = [o.UsageReport(usage), *([o.SessionTotal(total)] if total else []),
                                    o.VendorInfo(_result_details(m)),
                                    *mismatch_observations(PROVIDER, usage_checks(m, usage))]
        if m.get("is_error") is False:
            structured = m.get("structured_output")
            text = m.get("result")
            if structured is not None:
                # Codex's --output-schema: the final agent_message is the answer's JSON text.
                answer = json_answer(structured, text)
                out += [o.Message(answer), o.Completed(answer)]
            elif self._schema:
                said = f" It answered: {_clip(text)}" if isinstance(text, str) and text.strip() else ""
                out.append(o.Failed(K.PROVIDER_FAILED, "Claude ended without calling its StructuredOutput tool (the CLI "
                                    f"reminded it once), so there is no answer in the output schema; retry.{said}"))
            else:
                out.append(o.Completed(text if isinstance(text, str) else self._last_text))
        else:
            out.append(classify_result(m, self._synthetic, self._rejected_quota))
        return out


# ---------------------------------------------------------------------- tools


def tool_item(name: str, args: dict[str, Any]) -> dict[str, Any]:
    """A Claude tool_use -> a Codex item (without id)."""
    if name == "Bash":
        return {"type": "command_execution", "command": _text(args.get("command")), "aggregated_output": "", "exit_code": None}
    if name in ("Edit", "MultiEdit"):
        return {"type": "file_change", "changes": [{"path": _text(args.get("file_path")), "kind": "update"}]}
    if name == "Write":
        return {"type": "file_change", "changes": [{"path": _text(args.get("file_path")), "kind": "add"}]}
    if name == "NotebookEdit":
        kind = {"insert": "update", "delete": "update"}.get(_text(args.get("edit_mode")), "update")
        return {"type": "file_change", "changes": [{"path": _text(args.get("notebook_path")), "kind": kind}]}
    if name == "WebSearch":
        return {"type": "web_search", "query": _text(args.get("query"))}
    if name == "WebFetch":
        return {"type": "web_search", "query": _text(args.get("url"))}
    if name == "TodoWrite":
        todos = args.get("todos") if isinstance(args.get("todos"), list) else []
        return {
            "type": "todo_list",
            "items": [
                {"text": _text(t.get("content")), "completed": t.get("status") == "completed"}
                for t in todos
                if isinstance(t, dict)
            ],
        }
    server, tool = SERVER, name
    if name.startswith("mcp__") and name.count("__") >= 2:
        _, server, tool = name.split("__", 2)
    return {"type": "mcp_tool_call", "server": server, "tool": tool, "arguments": args}


def tool_completion(name: str | None, output: str, failed: bool, denied: bool, structured: Any) -> dict[str, Any]:
    """The fields a tool_result adds to its item."""
    status = "declined" if denied else ("failed" if failed else "completed")
    if name == "Bash":
        code = 0
        if failed:
            m = _EXIT_CODE.match(output)
            # An absurd "Exit code 99999999999999999999999" is no exit code: an int past 64 bits
            # cannot be written as JSON, one past 4300 digits cannot be parsed (found by fuzzing).
            code = int(m.group(1)) if m and len(m.group(1)) <= 9 else 1
        return {"aggregated_output": output, "exit_code": None if denied else code, "status": status}
    if name in ("Edit", "MultiEdit", "Write", "NotebookEdit"):
        fields: dict[str, Any] = {"status": status}
        if name == "Write" and isinstance(structured, dict) and structured.get("type") == "update":
            path = _text(structured.get("filePath"))
            fields["changes"] = [{"path": path, "kind": "update"}]
        return fields
    if name in ("WebSearch", "WebFetch", "TodoWrite"):
        return {}
    if name is None:
        # A result for a tool whose call we never saw: still worth showing.
        return {"type": "mcp_tool_call", "server": SERVER, "tool": "unknown", "arguments": None, "status": status,
                **({"error": {"message": output}} if failed or denied else {"result": _mcp_result(output)})}
    if failed or denied:
        return {"status": status, "error": {"message": output}}
    return {"status": status, "result": _mcp_result(output)}


def _mcp_result(output: str) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": output}]}


def _result_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(_text(b.get("text")) for b in content if isinstance(b, dict) and b.get("type") == "text")
    return ""


# ---------------------------------------------------------------------- usage


def result_usage(m: dict[str, Any]) -> dict[str, Any]:
    """This invocation's usage (claude.md §6). `model_usage_since_last_result` is the delta for
    this invocation; `modelUsage` and `total_cost_usd` are session-cumulative after --resume, so
    they count only when the delta is absent (json output), and then the scope says so."""
    per_model = m.get("model_usage_since_last_result")
    scope = "invocation"
    if not isinstance(per_model, dict) or (not per_model and m.get("modelUsage")):
        per_model = m.get("modelUsage") if isinstance(m.get("modelUsage"), dict) else {}
        scope = "session" if per_model else "invocation"
    usage = _models_usage(per_model, num_turns=m.get("num_turns") if isinstance(m.get("num_turns"), int) else None,
                          scope=scope)
    total_cost = _float(m.get("total_cost_usd"))
    if usage["cost_usd"] is None and not per_model and total_cost is not None:
        usage = {**usage, "cost_usd": round(total_cost, 10), "cost_source": "vendor"}
    return usage


def session_total(m: dict[str, Any]) -> dict[str, Any] | None:
    """The session's running total after this run: `modelUsage` (cumulative across --resume,
    claude.md §6) and `total_cost_usd`. None when `modelUsage` is empty: an API error reports `{}`
    whatever the session used before, so it is no total."""
    per_model = m.get("modelUsage")
    if not isinstance(per_model, dict) or not any(isinstance(u, dict) for u in per_model.values()):
        return None
    total = _models_usage(per_model, scope="session")
    total_cost = _float(m.get("total_cost_usd"))
    if total_cost is not None:
        total = {**total, "cost_usd": round(total_cost, 10), "cost_source": "vendor"}
    return total


USAGE_CHECK = "model_usage_since_last_result vs result.usage"
COST_CHECK = "sum of modelUsage costUSD vs total_cost_usd"
_CHECKED_COUNTS = ("input_tokens", "cached_input_tokens", "cache_write_input_tokens", "output_tokens")


def usage_checks(m: dict[str, Any], usage: dict[str, Any]) -> dict[str, dict[str, list[Any]]]:
    """The result line's figures that must agree, `{check: differences}` (claude.md §6).

    The per-model delta and `result.usage` both cover this invocation; they legitimately differ
    after retries, dropped connections and auto-compaction, and that is exactly what must show.
    `result.usage` is zeroed on interrupts and API errors, so a zero one checks nothing; a delta
    taken from `modelUsage` is a session total, not comparable with one invocation's usage."""
    checks: dict[str, dict[str, list[Any]]] = {}
    reported = m.get("usage")
    if usage.get("scope") == "invocation" and isinstance(reported, dict):
        vendor = from_parts(
            uncached_input=_int(reported.get("input_tokens")),
            cache_read=_int(reported.get("cache_read_input_tokens")),
            cache_write=_int(reported.get("cache_creation_input_tokens")),
            visible_output=_int(reported.get("output_tokens")),
        )
        if not is_all_zero(vendor, _CHECKED_COUNTS):
            checks[USAGE_CHECK] = differences(usage, vendor, _CHECKED_COUNTS)
    per_model = m.get("modelUsage") if isinstance(m.get("modelUsage"), dict) else {}
    costs = [c for u in per_model.values() if isinstance(u, dict) and (c := _float(u.get("costUSD"))) is not None]
    if costs:
        checks[COST_CHECK] = cost_difference(sum(costs), _float(m.get("total_cost_usd")))
    return checks


def _models_usage(per_model: dict[str, Any], **rest: Any) -> dict[str, Any]:
    """The sum of a camelCase per-model usage map (`modelUsage` and its per-invocation delta)."""
    models: dict[str, dict[str, Any]] = {}
    totals = {"uncached_input": 0, "cache_read": 0, "cache_write": 0, "output": 0, "reasoning": 0}
    cost = 0.0
    cost_known = False
    for name, u in per_model.items():
        if not isinstance(u, dict):
            continue
        one = from_parts(
            uncached_input=u.get("inputTokens"),
            cache_read=u.get("cacheReadInputTokens"),
            cache_write=u.get("cacheCreationInputTokens"),
            # Anthropic's output_tokens already include thinking: it is a part, not an addend.
            visible_output=_int(u.get("outputTokens")) - _int(u.get("thinkingTokens")),
            reasoning=u.get("thinkingTokens"),
            cost_usd=_float(u.get("costUSD")),
            cost_source="vendor",
            model=name,
        )
        models[name] = {k: one[k] for k in ("input_tokens", "cached_input_tokens", "cache_write_input_tokens",
                                             "output_tokens", "reasoning_output_tokens", "total_tokens", "cost_usd")}
        totals["uncached_input"] += _int(u.get("inputTokens"))
        totals["cache_read"] += _int(u.get("cacheReadInputTokens"))
        totals["cache_write"] += _int(u.get("cacheCreationInputTokens"))
        totals["output"] += _int(u.get("outputTokens")) - _int(u.get("thinkingTokens"))
        totals["reasoning"] += _int(u.get("thinkingTokens"))
        if one["cost_usd"] is not None:
            cost += one["cost_usd"]
            cost_known = True
    main = max(models, key=lambda k: models[k]["total_tokens"]) if models else None
    return from_parts(
        uncached_input=totals["uncached_input"],
        cache_read=totals["cache_read"],
        cache_write=totals["cache_write"],
        visible_output=totals["output"],
        reasoning=totals["reasoning"],
        cost_usd=round(cost, 10) if cost_known else None,
        cost_source="vendor",
        model=main,
        models=models if len(models) > 1 else {},
        **rest,
    )


def _result_details(m: dict[str, Any]) -> dict[str, Any]:
    keys = ("subtype", "is_error", "terminal_reason", "stop_reason", "api_error_status", "api_error_type", "api_error",
            "duration_ms", "duration_api_ms", "num_turns", "total_cost_usd", "usage", "modelUsage")
    details = {k: m.get(k) for k in keys if k in m}
    denials = m.get("permission_denials")
    if denials:
        details["permission_denials"] = len(denials) if isinstance(denials, list) else denials
    return details


def _clip(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _float(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


class ClaudeJsonParser:
    """`--output-format json`: one result object at the end (or, with --verbose, one array of
    every message). Nothing comes before it, so everything happens at the end."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._stream = ClaudeParser()

    def feed(self, line: bytes) -> list[o.Observation]:
        self._chunks.append(bytes(line))
        return []

    def finish(self, exit: o.ExitInfo) -> list[o.Observation]:
        raw = b"\n".join(self._chunks).strip()
        out: list[o.Observation] = []
        if raw:
            found = read_document(raw)
            if found is None:
                # claude-code#77112: json output cut at 64 KiB on a pipe.
                doc = None
                out.append(o.Unparsed("json output is not one complete JSON document"))
            else:
                doc = found[0]
                self._stream.repairs.note_document(*found[1:])
            messages = doc if isinstance(doc, list) else [doc] if isinstance(doc, dict) else []
            for msg in messages:
                if isinstance(msg, dict):
                    if msg.get("type") == "result" and not any(isinstance(x, o.Session) for x in out):
                        out.append(o.Session(_str(msg.get("session_id"))))
                    out.extend(self._stream.feed(orjson.dumps(writable(msg))))
        out.extend(self._stream.finish(exit))
        return out


class ClaudeTextParser:
    """`--output-format text`: stdout is the answer, or on an API error the error text
    (exit 1); on SIGINT it is `Execution error` (exit 0)."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def feed(self, line: bytes) -> list[o.Observation]:
        self._chunks.append(bytes(line))
        return []

    def finish(self, exit: o.ExitInfo) -> list[o.Observation]:
        text = b"\n".join(self._chunks).decode("utf-8", "replace").strip()
        if exit.cancelled or exit.timed_out:
            return [o.Message(text)] if text and text != "Execution error" else []
        if exit.exit_code == 0 and not exit.signal:
            if text == "Execution error":
                return [o.Failed(K.CANCELLED, "Claude was interrupted before it finished.")]
            return [o.Message(text), o.Completed(text)] if text else [o.Completed(None)]
        if text:
            return [classify_result({"is_error": True, "result": text}, None, None)]
        failure = classify_stderr(exit.stderr_tail)
        return [failure] if failure else []


def new_parser(fmt: str = "stream-json", prices: dict | None = None) -> ClaudeParser | ClaudeJsonParser | ClaudeTextParser:
    """`prices` is unused: Claude Code reports its own cost."""
    if fmt == "stream-json":
        return ClaudeParser()
    if fmt == "json":
        return ClaudeJsonParser()
    if fmt == "text":
        return ClaudeTextParser()
    raise ValueError(f"claude has no parser for --format {fmt}")
