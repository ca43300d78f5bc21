"""agy output -> observations. Pure: no I/O, no clock, no globals.

Notes: ../shared/reference/agy.md §4 (formats), §5 (usage), §6 (stderr), §11 (failures), §12.
"""

from __future__ import annotations

from typing import Any

from normalize import observe as o
from normalize.failures import FailureKind as K
from normalize.jsonline import Repaired, Repairs, json_answer, read_object
from normalize.jsonline import as_count as _int
from normalize.jsonline import as_str as _str
from normalize.jsonline import as_text as _text
from normalize.reconcile import mismatch_observations
from normalize.usage import from_parts, price_estimate
from shims.agy.errors import classify, classify_no_result, stderr_markers

PROVIDER = "agy"
SERVER = "agy"
SHELL_TOOLS = ("run_command",)
WRITE_TOOLS = {"write_to_file": "add", "replace_file_content": "update", "multi_replace_file_content": "update",
               "edit_file": "update"}
_USAGE_KEYS = ("input_tokens", "output_tokens", "thinking_tokens", "cache_read_tokens", "total_tokens")


class AgyParser:
    """`--output-format stream-json` (and the one-line `json` envelope, which is the same
    `result` payload)."""

    def __init__(self, prices: dict[str, dict[str, float]] | None = None) -> None:
        self._prices = prices or {}  # agy reports no cost: only the config's prices give one
        self._conversation = ""
        self._open_steps: dict[int, str] = {}  # step_index -> the tool name its item started with
        self._steps_usage = dict.fromkeys(_USAGE_KEYS, 0)
        self._saw_step_usage = False
        self._bad_step_totals: list[tuple[int, int, int]] = []  # (step_index, input + output, total_tokens)
        self._result: dict[str, Any] | None = None
        self._model: str | None = None
        self._error_step = False
        self._saw_text = False
        self._schema = False  # --json-schema: init (or the result) names the schema
        self._repairs = Repairs()

    def feed(self, line: bytes) -> list[o.Observation]:
        msg = read_object(line)
        if not isinstance(msg, dict):
            return [msg] if msg else []
        if type(msg) is Repaired:
            self._repairs.note(msg)
        event = msg.get("event")
        if event == "init":
            init = msg.get("init") if isinstance(msg.get("init"), dict) else {}
            self._conversation = _text(msg.get("conversation_id"))
            self._model = _str(init.get("model"))
            self._schema = self._schema or "json_schema" in init
            return [o.Session(_str(self._conversation), self._model),
                    o.VendorInfo({"permission_mode": init.get("permission_mode")})]
        if event == "step_update":
            step = msg.get("step_update")
            return self._step(step) if isinstance(step, dict) else []
        if event == "result" or ("status" in msg and "usage" in msg and event is None):
            return self._take_result(msg.get("result") if event == "result" else msg)
        if event == "command_result":
            return []
        return [o.VendorInfo({"last_unknown_event": str(event)})]

    def _step(self, s: dict[str, Any]) -> list[o.Observation]:
        kind = s.get("step_type")
        index = s.get("step_index") if isinstance(s.get("step_index"), int) else -1
        state = s.get("state")
        out: list[o.Observation] = []
        usage = s.get("usage")
        if isinstance(usage, dict):
            self._saw_step_usage = True
            for k in _USAGE_KEYS:
                self._steps_usage[k] += _int(usage.get(k))
            wrong = total_difference(usage)
            if wrong:
                self._bad_step_totals.append((index, *wrong))
            # The running figure, so a spend cap can act while agy works; the result's wins.
            out.append(o.UsageReport(self._priced(usage_of(self._steps_usage, self._model, "invocation"))))
        if kind == "agent_response":
            delta = _text(s.get("text_delta"))
            if delta:
                self._saw_text = True
                out.append(o.MessageDelta(f"step{index}", delta))
            if state in ("DONE", "ERROR"):
                out.append(o.MessageEnd(f"step{index}"))
        elif kind == "tool":
            call_id = f"{self._conversation}:{index}"
            info = s.get("tool_info") if isinstance(s.get("tool_info"), dict) else {}
            name = _text(s.get("tool_name") or info.get("name")) or "unknown"
            if index not in self._open_steps:
                self._open_steps[index] = name
                out.append(o.ToolStarted(call_id, tool_item(name, info.get("parameters") or {})))
            # The completion fits the item as it started, even if a later update names another
            # tool (found by fuzzing: a shell item got an MCP result and broke the schema).
            name = self._open_steps[index]
            if state in ("DONE", "ERROR"):
                del self._open_steps[index]
                out.append(o.ToolCompleted(call_id, tool_completion(name, info, state == "DONE")))
        elif kind == "error_message":
            self._error_step = True
        elif kind == "subagent":
            info = s.get("subagent_info") or {}
            out.append(o.VendorInfo({"subagents": len(info.get("subagents") or []) if isinstance(info, dict) else 0}))
        return out

    def _take_result(self, r: Any) -> list[o.Observation]:
        # agy may print several results (one per turn): the last one counts.
        if isinstance(r, dict):
            self._result = r
            if not self._conversation and _str(r.get("conversation_id")):
                self._conversation = r["conversation_id"]
                return [o.Session(r["conversation_id"], self._model)]
        return []

    def finish(self, exit: o.ExitInfo) -> list[o.Observation]:
        return [*self._repairs.observations("agy"), *self._finish(exit)]

    def _finish(self, exit: o.ExitInfo) -> list[o.Observation]:
        r = self._result
        marks = stderr_markers(exit.stderr_tail)
        checks = self._checks(r)
        if r is None:
            found = mismatch_observations(PROVIDER, checks)
            if exit.cancelled or exit.timed_out:
                return found
            failure = classify_no_result(exit.exit_code, exit.stderr_tail, exit.ended_at)
            return [*found, failure] if failure else found
        total = session_total(r, self._model)
        out: list[o.Observation] = [o.UsageReport(self._usage(r)), *([o.SessionTotal(total)] if total else []),
                                    o.VendorInfo(_details(r, marks)), *mismatch_observations(PROVIDER, checks)]
        # A list or nothing (found by fuzzing: `true` raised when iterated).
        denied = r.get("denied_actions") if isinstance(r.get("denied_actions"), list) else []
        for d in denied:
            if isinstance(d, dict):
                out.append(o.Warning(f"agy was denied {d.get('display_name') or d.get('action')}: headless mode could not ask "
                                     "for permission."))
        response = _text(r.get("response"))
        status = r.get("status")
        if response.strip() and not self._saw_text:  # json output: the answer is only in the envelope
            out.append(o.Message(response))
        if marks["print_timeout"]:
            # A print timeout reports SUCCESS with partial text: the task did not finish.
            out.append(o.Failed(K.TIMED_OUT, f"agy ran out of time ({marks['print_timeout']}); the answer is partial."))
            return out
        if status == "SUCCESS" and not self._error_step and not marks["agy_error"]:
            if not response.strip() and (denied or marks["jetski"]):
                # A soft-denied run reports SUCCESS with an empty answer: not a completed task.
                what = ", ".join(_text(d.get("display_name") or d.get("action")) for d in denied
                                 if isinstance(d, dict)) or "a tool"
                out.append(o.Failed(K.PROVIDER_FAILED,
                                    f"agy stopped: {what} needed a permission this mode does not grant; "
                                    "re-run with --mode write or --mode full."))
                return out
            if self._schema or "json_schema" in r:
                return [*out, *self._structured(r, response)]
            out.append(o.Completed(response if response.strip() else None))
            return out
        out.append(classify(_text(r.get("error")) or marks["error"] or "", marks["agy_error"], exit.ended_at))
        return out

    def _structured(self, r: dict[str, Any], response: str) -> list[o.Observation]:
        """--json-schema: the answer is `structured_output` as JSON text, and the final
        agent_message says it (Codex's --output-schema); a streamed response that is that JSON
        already is that message."""
        if r.get("structured_output") is None:
            return [o.Failed(K.PROVIDER_FAILED, "agy finished without a structured answer (its result has no "
                             "structured_output), so there is no answer in the output schema; retry.")]
        answer = json_answer(r["structured_output"], response)
        return [*([] if answer == response.strip() else [o.Message(answer)]), o.Completed(answer)]

    def _usage(self, r: dict[str, Any]) -> dict[str, Any]:
        """This invocation's usage: the sum of this run's step usages (agy.md §5). result.usage
        is the conversation's running total; it is this run's only when the conversation has
        one turn, else (no step usage seen) its scope is `session`."""
        total = r.get("usage") if isinstance(r.get("usage"), dict) else {}
        if self._saw_step_usage:
            return self._priced(usage_of(self._steps_usage, self._model, "invocation"))
        return self._priced(usage_of(total, self._model, "invocation" if r.get("num_turns") in (0, 1) else "session"))

    def _priced(self, usage: dict[str, Any]) -> dict[str, Any]:
        if self._prices:
            cost = price_estimate(usage, self._prices)
            if cost is not None:
                usage["cost_usd"], usage["cost_source"] = cost, "price_table"
        return usage

    def _checks(self, r: dict[str, Any] | None) -> dict[str, dict[str, list[int]]]:
        """agy.md §5: total_tokens = input_tokens + output_tokens in every usage object. The step
        sum is not compared with result.usage: on a resumed conversation they differ by design."""
        checks: dict[str, dict[str, list[int]]] = {}
        usage = r.get("usage") if isinstance(r, dict) and isinstance(r.get("usage"), dict) else None
        if usage is not None:
            wrong = total_difference(usage)
            checks[RESULT_TOTAL_CHECK] = {"total_tokens": list(wrong)} if wrong else {}
        bad = self._bad_step_totals
        if bad:
            # One entry for all steps: each would otherwise be an error item of its own.
            check = f"{STEP_TOTAL_CHECK} (steps {', '.join(str(i) for i, _, _ in bad)})"
            checks[check] = {"total_tokens": [sum(c for _, c, _ in bad), sum(t for _, _, t in bad)]}
        return checks


RESULT_TOTAL_CHECK = "result.usage total_tokens = input_tokens + output_tokens"
STEP_TOTAL_CHECK = "step usage total_tokens = input_tokens + output_tokens"


def usage_of(u: dict[str, Any], model: str | None, scope: str) -> dict[str, Any]:
    """An agy usage object (result or steps) in contract shape (agy.md §5)."""
    return from_parts(
        uncached_input=_int(u.get("input_tokens")),
        cache_read=_int(u.get("cache_read_tokens")),
        # output_tokens already include thinking: thinking is a part, not an addend
        visible_output=_int(u.get("output_tokens")) - _int(u.get("thinking_tokens")),
        reasoning=_int(u.get("thinking_tokens")),
        model=model,
        scope=scope,
    )


def session_total(r: dict[str, Any], model: str | None) -> dict[str, Any] | None:
    """result.usage is the conversation's running total (agy.md §5). All zeros means unknown
    (print timeouts, failures before the first turn, slash commands), so it is no total."""
    usage = r.get("usage")
    if not isinstance(usage, dict) or not any(_int(usage.get(k)) for k in _USAGE_KEYS):
        return None
    return usage_of(usage, model, "session")


def total_difference(usage: dict[str, Any]) -> tuple[int, int] | None:
    """(input + output, total_tokens) when they disagree; None when they agree or no total is given."""
    if "total_tokens" not in usage:
        return None
    counted = _int(usage.get("input_tokens")) + _int(usage.get("output_tokens"))
    total = _int(usage.get("total_tokens"))
    return (counted, total) if counted != total else None


def tool_item(name: str, params: Any) -> dict[str, Any]:
    """`params` is the vendor's, whatever its type: MCP arguments may be anything; the shell and
    write tools read theirs from an object only (found by fuzzing: `true` raised)."""
    if name in SHELL_TOOLS or name in WRITE_TOOLS:
        params = params if isinstance(params, dict) else {}
    if name in SHELL_TOOLS:
        return {"type": "command_execution", "command": _text(params.get("CommandLine")), "aggregated_output": "",
                "exit_code": None}
    if name in WRITE_TOOLS:
        path = _text(params.get("TargetFile") or params.get("AbsolutePath"))
        return {"type": "file_change", "changes": [{"path": path, "kind": WRITE_TOOLS[name]}]}
    return {"type": "mcp_tool_call", "server": SERVER, "tool": name, "arguments": params}


def tool_completion(name: str, info: dict[str, Any], ok: bool) -> dict[str, Any]:
    err = info.get("error") if isinstance(info.get("error"), dict) else None
    message = _text((err or {}).get("message"))
    output = _text(info.get("output"))
    status = "completed" if ok and not err else "failed"
    if name in SHELL_TOOLS:
        return {"aggregated_output": output or message, "exit_code": 0 if status == "completed" else 1, "status": status}
    if name in WRITE_TOOLS:
        return {"status": status}
    if status == "completed":
        return {"status": status, "result": {"content": [{"type": "text", "text": output}]}}
    return {"status": status, "error": {"message": message or output or "failed"}}


class AgyTextParser:
    """`--output-format text` (agy < 1.1.8), through a pipe or a pseudo-terminal: the screen
    bytes go through a terminal emulator (shims.agy.screen) and come out as clean text."""

    def __init__(self) -> None:
        # Only text output needs the terminal emulator (pyte and wcwidth: ~20 ms of imports).
        from shims.agy.screen import ScreenText

        self._screen = ScreenText()

    def feed(self, line: bytes) -> list[o.Observation]:
        self._screen.feed(bytes(line) + b"\n")
        return []

    def finish(self, exit: o.ExitInfo) -> list[o.Observation]:
        text = self._screen.text()
        marks = stderr_markers(exit.stderr_tail)
        out: list[o.Observation] = [o.Message(text)] if text else []
        if exit.cancelled or exit.timed_out:
            return out
        if marks["print_timeout"]:
            return [*out, o.Failed(K.TIMED_OUT, f"agy ran out of time ({marks['print_timeout']}); the answer is partial.")]
        if exit.exit_code == 0 and not exit.signal and text:
            return [*out, o.Completed(text)]
        failure = classify_no_result(exit.exit_code, exit.stderr_tail, exit.ended_at)
        if failure is None and exit.exit_code == 0 and not text:
            failure = o.Failed(K.EMPTY_OUTPUT, "agy exited 0 with no output (agy < 1.1.1 prints nothing without a "
                                               "terminal, antigravity-cli#76); use --pty auto or update agy.")
        return [*out, failure] if failure else out


def _details(r: dict[str, Any], marks: dict[str, Any]) -> dict[str, Any]:
    d = {k: r.get(k) for k in ("status", "error", "duration_seconds", "num_turns", "usage", "denied_actions") if k in r}
    if marks["agy_error"]:
        d["agy_error"] = marks["agy_error"]
    return d


def new_parser(fmt: str = "stream-json", prices: dict | None = None):
    if fmt in ("stream-json", "json"):
        return AgyParser(prices)
    if fmt == "text":
        return AgyTextParser()
    raise ValueError(f"agy has no parser for --format {fmt}")
