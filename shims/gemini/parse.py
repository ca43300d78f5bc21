"""Gemini CLI output -> observations. Pure: no I/O, no clock, no globals.

Notes: ../shared/reference/gemini.md §4 (stream-json), §5 (json), §6 (text), §7 (usage).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from normalize import observe as o
from normalize.failures import FailureKind as K
from normalize.jsonline import Repaired, Repairs, read_document, read_object
from normalize.jsonline import as_count as _int
from normalize.jsonline import as_str as _str
from normalize.jsonline import as_text as _text
from normalize.reconcile import differences, mismatch_observations
from normalize.usage import build_usage
from shims.gemini.errors import (
    classify_exit,
    classify_message,
    stdin_truncated,
    truncated_prompt_failure,
    truncated_prompt_warning,
)
from shims.gemini.prices import PRICES, cost_usd

PROVIDER = "gemini"
AUTO = "auto"  # -m auto: a router call picks the model (gemini.md §2)
SERVER = "gemini"

FILE_TOOLS = {"write_file": "add", "replace": "update"}
SEARCH_TOOLS = {"google_web_search": "query", "web_fetch": "prompt"}

# A MessageDelta per line, built with tuple.__new__ as the named tuple's own __new__ does:
# calling the class runs that generated Python __new__ (~0.22 µs a delta against ~0.10 µs).
_MessageDelta = o.MessageDelta
_tuple_new = tuple.__new__


class GeminiParser:
    def __init__(self, prices: dict[str, dict[str, float]] | None = None) -> None:
        self._prices = PRICES if prices is None else prices
        self._tools: dict[str, str] = {}
        # The current run of assistant text: only its first chunk and length matter (a retry
        # repeats the first chunk), so memory stays flat however long the answer.
        self._first_chunk: str | None = None
        self._chunks = 0
        self._key = "t0"
        self._turn = 0
        self._last_error: str | None = None
        self._saw_result = False
        self._result_error: str | None = None  # classified at the end, with the exit code
        self._repairs = Repairs()
        self._requested_model: str | None = None

    def feed(self, line: bytes) -> list[o.Observation]:
        msg = read_object(line)
        if type(msg) is not dict:  # orjson makes plain dicts; the rest is None, Unparsed or Repaired
            if type(msg) is not Repaired:
                return [msg] if msg else []
            self._repairs.note(msg)
        kind = msg.get("type")
        if kind == "message":
            # Nearly every line is a delta of the answer: handled here, not one call deeper.
            if msg.get("role") != "assistant":
                return []
            chunk = msg.get("content")
            if type(chunk) is not str:
                chunk = _text(chunk)
            n = self._chunks
            if not chunk or (n > 1 and chunk == self._first_chunk):
                return self._message(chunk)
            if not n:
                self._first_chunk = chunk
            self._chunks = n + 1
            return [_tuple_new(_MessageDelta, (self._key, chunk, False))]
        if kind == "tool_use":
            return self._tool_use(msg)
        if kind == "tool_result":
            return self._tool_result(msg)
        if kind == "init":
            self._requested_model = _str(msg.get("model"))
            return [o.Session(_str(msg.get("session_id")), self._requested_model)]
        if kind == "error":
            return self._error(msg)
        if kind == "result":
            return self._result(msg)
        return [o.VendorInfo({"last_unknown_type": str(kind)})]

    def finish(self, exit: o.ExitInfo) -> list[o.Observation]:
        return [*self._repairs.observations("Gemini"), *_with_truncation(exit, self._finish(exit))]

    def _finish(self, exit: o.ExitInfo) -> list[o.Observation]:
        if self._result_error is not None and not (exit.cancelled or exit.timed_out):
            # The exit code (an HTTP status mod 256) sharpens what the message alone says.
            return [classify_message(self._result_error, exit.exit_code)]
        if self._saw_result or exit.cancelled or exit.timed_out:
            return []
        if exit.exit_code == 0 and not exit.signal:
            # SIGINT/SIGTERM end the CLI with exit 0 and no result: it was stopped from outside.
            return [o.Failed(K.CANCELLED, "Gemini was stopped by a signal before it finished (no result).")]
        failure = classify_exit(exit.exit_code, exit.stderr_tail)
        return [failure] if failure else []

    def feed_deltas(self, lines: list[bytes | bytearray], start: int,
                    room: Callable[[str], int]) -> tuple[list[o.Observation], int]:
        """A recording's fast path (Pipeline.lines): from lines[start], a run of lines that are
        plain chunks of the answer, as ONE MessageDelta of their joined text, and the index of
        the first line not taken (len(lines) when all are). Left to `feed`: every other line,
        an empty chunk, a retry, content that is not a string. The run also ends after the
        chunk that fills `room(key)` (the assembler's Assembler.delta_room): its memory trim
        then happens exactly where a delta per line would have put it.

        So the assembler ends with the same message as a live run's, and a delta per line is
        most of the cost of normalizing a long answer. Nothing here can raise, so `feed`'s
        per-line error handling is kept for every other line."""
        texts: list[str] = []
        n, first, loads = self._chunks, self._first_chunk, orjson.loads
        i, end = start, len(lines)
        left = room(self._key)
        while i < end and left >= 0:
            try:
                msg = loads(lines[i])
            except orjson.JSONDecodeError:
                break
            if type(msg) is not dict or msg.get("type") != "message" or msg.get("role") != "assistant":
                break
            chunk = msg.get("content")
            if type(chunk) is not str or not chunk or (n > 1 and chunk == first):
                break
            if not n:
                first = chunk
            n += 1
            texts.append(chunk)
            left -= len(chunk)
            i += 1
        self._chunks, self._first_chunk = n, first
        return ([_tuple_new(_MessageDelta, (self._key, "".join(texts), False))] if texts else []), i

    # ------------------------------------------------------------------ kinds

    def _message(self, chunk: str) -> list[o.Observation]:
        """The assistant chunks `feed` does not handle itself: empty ones and retries."""
        if not chunk:
            return []
        # A content retry re-sends the answer from its start, with no marker (gemini.md §9):
        # the text streamed before the retry is replaced, so the answer does not say it twice.
        self._first_chunk, self._chunks = chunk, 1
        # (No error item here: any item would close the message being replaced.)
        return [o.MessageDelta(self._key, chunk, restart=True), o.VendorInfo({"content_retry_text_replaced": True})]

    def _end_text(self) -> None:
        if self._chunks:
            self._turn += 1
            self._key = f"t{self._turn}"
            self._first_chunk, self._chunks = None, 0

    def _tool_use(self, m: dict[str, Any]) -> list[o.Observation]:
        self._end_text()
        call_id = _text(m.get("tool_id"))
        name = _text(m.get("tool_name")) or "unknown"
        params = m.get("parameters") if isinstance(m.get("parameters"), dict) else {}
        self._tools[call_id] = name
        return [o.ToolStarted(call_id, tool_item(name, params))]

    def _tool_result(self, m: dict[str, Any]) -> list[o.Observation]:
        call_id = _text(m.get("tool_id"))
        name = self._tools.pop(call_id, None)
        output = _text(m.get("output"))
        err = m.get("error") if isinstance(m.get("error"), dict) else None
        ok = m.get("status") == "success"
        denied = bool(err) and err.get("type") in ("tool_not_registered", "permission_denied", "execution_denied")
        fields = tool_completion(name, output, ok, denied, err)
        out: list[o.Observation] = [o.ToolCompleted(call_id, fields)]
        if denied:
            out.append(o.Warning(f"Gemini may not use {name or 'that tool'} in this mode: {_text(err.get('message'))}"))
        return out

    def _error(self, m: dict[str, Any]) -> list[o.Observation]:
        message = _text(m.get("message"))
        if m.get("severity") == "error":
            self._last_error = message
        return [o.Warning(f"Gemini: {message}")]

    def _result(self, m: dict[str, Any]) -> list[o.Observation]:
        self._saw_result = True
        stats = m.get("stats") if isinstance(m.get("stats"), dict) else {}
        usage = stats_usage(stats, self._prices)
        out: list[o.Observation] = [o.UsageReport(usage), o.VendorInfo(_details(m, stats)),
                                    *mismatch_observations(PROVIDER, stats_checks(stats))]
        if self._requested_model == AUTO and usage["model"]:
            # init names the alias; the model that answered is the main one of the stats
            # (gemini.md §7), and provider.model is who answered (CONTRACT §4).
            out.append(o.Session(None, usage["model"]))
        if m.get("status") == "success":
            out.append(o.Completed())
            return out
        err = m.get("error") if isinstance(m.get("error"), dict) else {}
        if err.get("type") == "FatalCancellationError":
            out.append(o.Failed(K.CANCELLED, "Gemini was cancelled."))
            return out
        self._result_error = _text(err.get("message")) or self._last_error or "Gemini ended with an error and no message."
        return out


# ---------------------------------------------------------------------- tools


def tool_item(name: str, params: dict[str, Any]) -> dict[str, Any]:
    if name == "run_shell_command":
        return {"type": "command_execution", "command": _text(params.get("command")), "aggregated_output": "", "exit_code": None}
    if name in FILE_TOOLS:
        return {"type": "file_change", "changes": [{"path": _text(params.get("file_path")), "kind": FILE_TOOLS[name]}]}
    if name in SEARCH_TOOLS:
        query = params.get(SEARCH_TOOLS[name]) or params.get("query") or params.get("url")
        return {"type": "web_search", "query": _text(query)}
    if name == "write_todos":
        todos = params.get("todos") if isinstance(params.get("todos"), list) else []
        return {
            "type": "todo_list",
            "items": [
                {"text": _text(t.get("description") or t.get("content")), "completed": t.get("status") == "completed"}
                for t in todos
                if isinstance(t, dict)
            ],
        }
    return {"type": "mcp_tool_call", "server": SERVER, "tool": name, "arguments": params}


def tool_completion(name: str | None, output: str, ok: bool, denied: bool, err: dict[str, Any] | None) -> dict[str, Any]:
    status = "declined" if denied else ("completed" if ok else "failed")
    message = _text((err or {}).get("message")) or output
    if name == "run_shell_command":
        return {"aggregated_output": output or (message if not ok else ""), "exit_code": None if denied else (0 if ok else 1),
                "status": status}
    if name in FILE_TOOLS:
        return {"status": status}
    if name in SEARCH_TOOLS or name == "write_todos":
        return {}
    if name is None:
        return {"type": "mcp_tool_call", "server": SERVER, "tool": "unknown", "arguments": None, "status": status,
                **({"result": _mcp_result(output)} if ok else {"error": {"message": message}})}
    if ok:
        return {"status": status, "result": _mcp_result(output)}
    return {"status": status, "error": {"message": message}}


def _mcp_result(output: str) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": output}]}


# ---------------------------------------------------------------------- usage


def stats_usage(stats: dict[str, Any], prices: dict[str, dict[str, float]]) -> dict[str, Any]:
    """gemini.md §7: input_tokens includes cached; output_tokens excludes thinking, which
    stream-json hides and is total − input − output; thinking is billed as output."""
    models_raw = stats.get("models") if isinstance(stats.get("models"), dict) else {}
    models: dict[str, dict[str, Any]] = {}
    cost, cost_known = 0.0, bool(models_raw)
    for name, s in models_raw.items():
        if not isinstance(s, dict):
            continue
        u = _usage_of(s)
        c = cost_usd(prices, name, input_tokens=u["input_tokens"], cached=u["cached_input_tokens"], output=u["output_tokens"])
        u["cost_usd"] = c
        if c is None:
            cost_known = False
        else:
            cost += c
        models[name] = u
    total = _usage_of(stats)
    main = max(models, key=lambda k: models[k]["total_tokens"]) if models else None
    return build_usage(
        **{k: total[k] for k in ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_output_tokens")},
        cost_usd=round(cost, 10) if cost_known else None,
        cost_source="price_table",
        model=main,
        models=models if len(models) > 1 else {},
        scope="invocation",
    )


def _usage_of(s: dict[str, Any]) -> dict[str, Any]:
    inp, out, tot = _int(s.get("input_tokens")), _int(s.get("output_tokens")), _int(s.get("total_tokens"))
    thinking = max(tot - inp - out, 0)
    return {
        "input_tokens": inp,
        "cached_input_tokens": _int(s.get("cached")),
        "output_tokens": out + thinking,
        "reasoning_output_tokens": thinking,
        "total_tokens": inp + out + thinking,
    }


SUM_CHECK = "sum of stats.models vs stats"
TOTAL_CHECK = "stats total_tokens >= input_tokens + output_tokens"
JSON_TOTAL_CHECK = "stats.models tokens.total >= prompt + candidates + thoughts"
_STATS_COUNTS = ("input_tokens", "output_tokens", "cached", "total_tokens")


def stats_checks(stats: dict[str, Any]) -> dict[str, dict[str, list[int]]]:
    """stream-json `result.stats` figures that must agree, `{check: differences}` (gemini.md §7):
    the totals are sums over `stats.models`, and `total_tokens` holds at least the visible
    input and output, else the hidden thinking (total − input − output) would be negative."""
    checks: dict[str, dict[str, list[int]]] = {}
    models = stats.get("models") if isinstance(stats.get("models"), dict) else {}
    per_model = [s for s in models.values() if isinstance(s, dict)]
    if per_model:
        summed = {k: sum(_int(s.get(k)) for s in per_model) for k in _STATS_COUNTS}
        checks[SUM_CHECK] = differences(summed, {k: _int(stats.get(k)) for k in _STATS_COUNTS}, _STATS_COUNTS)
    if "total_tokens" in stats:  # absent is a vendor change, not a negative thinking count
        visible = _int(stats.get("input_tokens")) + _int(stats.get("output_tokens"))
        total = _int(stats.get("total_tokens"))
        checks[TOTAL_CHECK] = {"total_tokens": [visible, total]} if total < visible else {}
    return checks


def json_stats_checks(stats: dict[str, Any]) -> dict[str, dict[str, list[int]]]:
    """`-o json` has no stats-level totals to check against the models, but each model's
    `tokens.total` must hold the prompt, candidates and thoughts the shim counts (the tool-use
    prompt may come on top). Offending models are named in one entry."""
    models = stats.get("models") if isinstance(stats.get("models"), dict) else {}
    short: dict[str, tuple[int, int]] = {}
    for name, m in models.items():
        t = m.get("tokens") if isinstance(m, dict) else None
        if not isinstance(t, dict) or "total" not in t:
            continue
        counted = _int(t.get("prompt")) + _int(t.get("candidates")) + _int(t.get("thoughts"))
        if _int(t.get("total")) < counted:
            short[str(name)] = (counted, _int(t.get("total")))
    if not short:
        return {}
    check = f"{JSON_TOTAL_CHECK} ({', '.join(short)})"
    return {check: {"total_tokens": [sum(c for c, _ in short.values()), sum(r for _, r in short.values())]}}


def _details(m: dict[str, Any], stats: dict[str, Any]) -> dict[str, Any]:
    return {"result_status": m.get("status"), "error": m.get("error"), "stats": stats}


# ---------------------------------------------------------------------- other formats


class GeminiJsonParser:
    """`-o json`: one pretty-printed object at the end; fatal errors leave stdout empty and put
    a JSON object on stderr (gemini.md §5)."""

    def __init__(self, prices: dict[str, dict[str, float]] | None = None) -> None:
        self._prices = PRICES if prices is None else prices
        self._chunks: list[bytes] = []

    def feed(self, line: bytes) -> list[o.Observation]:
        self._chunks.append(bytes(line))
        return []

    def finish(self, exit: o.ExitInfo) -> list[o.Observation]:
        repairs = Repairs()
        out = self._finish(exit, repairs)
        return [*repairs.observations("Gemini"), *_with_truncation(exit, out)]

    def _finish(self, exit: o.ExitInfo, repairs: Repairs) -> list[o.Observation]:
        raw = b"\n".join(self._chunks).strip()
        doc = _json_doc(raw, repairs)
        if doc is None:
            if exit.cancelled or exit.timed_out:
                return []
            err = _json_doc(_last_json_block(exit.stderr_tail))
            if isinstance(err, dict) and isinstance(err.get("error"), dict):
                e = err["error"]
                code = e.get("code") if isinstance(e.get("code"), int) else exit.exit_code
                return [o.Session(_str(err.get("session_id"))), classify_message(_text(e.get("message")), code)]
            if raw:
                return [o.Unparsed("json output is not one JSON object")]
            if exit.exit_code == 0 and not exit.signal:
                return [o.Failed(K.CANCELLED, "Gemini was stopped by a signal before it finished (no output).")]
            failure = classify_exit(exit.exit_code, exit.stderr_tail)
            return [failure] if failure else []
        out: list[o.Observation] = [o.Session(_str(doc.get("session_id")))]
        stats = doc.get("stats") if isinstance(doc.get("stats"), dict) else {}
        out.append(o.UsageReport(json_stats_usage(stats, self._prices)))
        for w in doc.get("warnings") or []:
            out.append(o.Warning(f"Gemini: {w}"))
        response = _text(doc.get("response"))
        if response:
            out.append(o.Message(response))
        out.extend(mismatch_observations(PROVIDER, json_stats_checks(stats)))
        err = doc.get("error") if isinstance(doc.get("error"), dict) else None
        if err:
            out.append(classify_message(_text(err.get("message")) or _text(err.get("type")), exit.exit_code))
        elif not exit.cancelled:
            out.append(o.Completed())
        return out


def json_stats_usage(stats: dict[str, Any], prices: dict[str, dict[str, float]]) -> dict[str, Any]:
    """`-o json` names the same numbers differently and shows thoughts. Only the model-level
    `tokens` count: `roles.*.tokens` break the same numbers down (adding them double counts)."""
    models = stats.get("models") if isinstance(stats.get("models"), dict) else {}
    flat = {}
    for name, m in models.items():
        t = (m or {}).get("tokens") if isinstance(m, dict) else None
        if isinstance(t, dict):
            prompt, cand, thoughts = _int(t.get("prompt")), _int(t.get("candidates")), _int(t.get("thoughts"))
            flat[name] = {"input_tokens": prompt, "output_tokens": cand, "cached": _int(t.get("cached")),
                          "total_tokens": prompt + cand + thoughts}
    totals = {k: sum(v[k] for v in flat.values()) for k in ("input_tokens", "output_tokens", "cached", "total_tokens")}
    return stats_usage({**totals, "models": flat}, prices)


class GeminiTextParser:
    """`-o text`: the answer on stdout; an API error ends with exit 1 and a stderr line."""

    def __init__(self, prices: dict[str, dict[str, float]] | None = None) -> None:
        self._chunks: list[bytes] = []

    def feed(self, line: bytes) -> list[o.Observation]:
        self._chunks.append(bytes(line))
        return []

    def finish(self, exit: o.ExitInfo) -> list[o.Observation]:
        return _with_truncation(exit, self._finish(exit))

    def _finish(self, exit: o.ExitInfo) -> list[o.Observation]:
        text = b"\n".join(self._chunks).decode("utf-8", "replace").strip()
        out: list[o.Observation] = [o.Message(text)] if text else []
        if exit.cancelled or exit.timed_out:
            return out
        if exit.exit_code == 0 and not exit.signal:
            return [*out, o.Completed()] if text else [o.Failed(K.CANCELLED, "Gemini stopped with no answer (signalled?).")]
        failure = classify_exit(exit.exit_code, exit.stderr_tail)
        return [*out, failure] if failure else out


def _with_truncation(exit: o.ExitInfo, out: list[o.Observation]) -> list[o.Observation]:
    """A prompt Gemini cut (stderr says so): a run that ended without an answer and without a
    signal from the shim failed because of it (else it would pass for a cancel); one that
    answered says the answer is to a cut prompt."""
    kept = stdin_truncated(exit.stderr_tail) if not (exit.cancelled or exit.timed_out) else None
    if kept is None:
        return out
    if any(type(ob) is o.Failed and ob.kind == K.CANCELLED for ob in out) and exit.exit_code == 0 and not exit.signal:
        return [ob for ob in out if type(ob) is not o.Failed] + [truncated_prompt_failure(kept)]
    return [truncated_prompt_warning(kept), *out]


def _json_doc(raw: bytes | str, repairs: Repairs | None = None) -> dict[str, Any] | None:
    if not raw:
        return None
    found = read_document(raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw)
    if found is None:
        return None
    if repairs is not None:
        repairs.note_document(*found[1:])
    return found[0] if isinstance(found[0], dict) else None


def _last_json_block(text: str) -> str:
    """The last `{ … }` block printed on stderr (a pretty-printed error object among logs)."""
    end = text.rfind("}")
    if end < 0:
        return ""
    depth = 0
    for i in range(end, -1, -1):
        if text[i] == "}":
            depth += 1
        elif text[i] == "{":
            depth -= 1
            if depth == 0:
                return text[i : end + 1]
    return ""


def new_parser(fmt: str = "stream-json", prices: dict[str, dict[str, float]] | None = None):
    if fmt == "stream-json":
        return GeminiParser(prices)
    if fmt == "json":
        return GeminiJsonParser(prices)
    if fmt == "text":
        return GeminiTextParser(prices)
    raise ValueError(f"gemini has no parser for --format {fmt}")
