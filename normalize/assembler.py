"""The assembler: vendor-neutral observations in, contract events out (CONTRACT §3, §4).

It enforces the stream's rules whatever the vendor does: `thread.started` first, exactly one
terminal event, `result` last, `item_N` ids in order of first appearance, 16 KiB lines, and
no wall-clock values inside events (the same observations always give the same lines).

`sink(event, line)` receives each event dict with its encoded line (no newline).
`live(observation)`, when given, also receives the text as it arrives (every MessageDelta, and
the live-only LiveText) and LiveUsage: a side channel for the live view only, so the events
are the same with or without it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import orjson

from normalize import observe as o
from normalize.codex_items import exact_item
from normalize.failures import FailureKind, exit_code_for
from normalize.limits import encode_line, fit_tail, tail_bytes, writable
from normalize.usage import empty_usage, turn_usage

Sink = Callable[[dict, bytes], None]  # (event, its encoded line)
Live = Callable[[o.Observation], None]

# Streamed text is kept up to this size; beyond it only the tail is kept (the stream shows
# at most 4 KiB of an item and the answer's tail anyway; the journal has every byte), so
# memory stays flat however much a vendor streams.
DELTA_KEEP_BYTES = 256 * 1024
_DELTA_TRIM_AT = 2 * DELTA_KEEP_BYTES

# The longest vendor session id taken as the thread id: strings this short are never cut by
# `encode_line` (its hardest cut keeps 64 bytes), so `thread.started` and `result` agree.
MAX_ID_BYTES = 64


class Assembler:
    def __init__(
        self,
        sink: Sink,
        *,
        provider: str,
        fallback_thread_id: str,
        request_thread_id: str | None = None,
        cli_version: str | None = None,
        model: str | None = None,
        max_final_message_bytes: int = 8192,
        partial_text: bool = False,
        whole_messages: bool = False,
        live: Live | None = None,
    ) -> None:
        self._sink = sink
        self._live = live
        self._provider = provider
        self._thread_id = request_thread_id or fallback_thread_id
        self._make_thread_id: Callable[[], str] | None = None  # see defer_thread_id
        self._cli_version = cli_version
        self._model = model
        self._max_final = max_final_message_bytes
        self._partial_text = partial_text
        # Agent messages on lines of any length (`exec`: Codex's stream cuts no answer; an SDK's
        # finalResponse is that item, and an --output-schema answer must stay valid JSON).
        self._whole_messages = whole_messages

        self._started = False
        self._launched = False
        self._turn_started = False
        self._pending_notes: list[str] = []  # provider switches announced before the stream began
        self._finished = False
        self._next_id = 0
        self._open_tools: dict[str, tuple[str, dict[str, Any]]] = {}
        self._delta_key: str | None = None
        self._delta_id: str | None = None
        self._delta_chunks: list[str] = []
        self._delta_size = 0
        self._last_message: str | None = None
        self._session_id: str | None = None
        self._usage: dict[str, Any] | None = None
        self._session_total: dict[str, Any] | None = None
        self._quota: dict[str, Any] | None = None
        self._outcome: o.Completed | o.Failed | None = None
        self._vendor: dict[str, Any] = {}
        self._unparsed = 0
        self._unparsed_first: str | None = None
        self._side_effects = False

    # ------------------------------------------------------------------ public

    @property
    def thread_id(self) -> str:
        return self._settled_thread_id()

    def defer_thread_id(self, make: Callable[[], str]) -> None:
        """The fallback thread id (there is no request thread id) is `make()`, called only when
        the stream needs it: a recording's id is a digest of every byte of it (a second read of
        a file of any size), and a vendor session id coming first replaces it unused."""
        self._make_thread_id = make

    @property
    def session_id(self) -> str | None:
        return self._session_id

    @property
    def had_side_effects(self) -> bool:
        """A command ran or a file changed (fallback must not retry after that)."""
        return self._side_effects

    @property
    def usage(self) -> dict[str, Any] | None:
        return self._usage

    def failure_quota(self, exit: o.ExitInfo, kind: str | None) -> dict[str, Any] | None:
        """The quota the result reports: the failure's own, else the last one reported."""
        if exit.stopped and kind == FailureKind.QUOTA_OR_RATE_LIMITED:
            return {"state": "exhausted", "message": exit.stopped}
        if isinstance(self._outcome, o.Failed) and self._outcome.quota and kind == self._outcome.kind:
            return self._outcome.quota
        return self._quota

    def stopped_by_spend_cap(self, exit: o.ExitInfo) -> bool:
        return bool(exit.stopped) or (isinstance(self._outcome, o.Failed) and self._outcome.spend_cap)

    @property
    def session_total(self) -> dict[str, Any] | None:
        """The vendor's running total for the session, when it reports one."""
        return self._session_total

    def launched(self) -> None:
        """The prompt was handed to the vendor: the stream will carry `turn.started`."""
        self._launched = True
        if self._started and not self._turn_started:
            self._turn_started = True
            self._emit({"type": "turn.started"})

    def verdict(self, exit: o.ExitInfo) -> tuple[str, str | None, str | None]:
        """(status, failure kind, error) the run would end with now, without ending it: what a
        fallback decides on."""
        self._flush_delta()
        return self._decide(exit, None)

    def launched_version(self, version: str | None) -> None:
        """The CLI's version as the shim found it before launch; the vendor's own word, when it
        gives one (a Session), replaces it."""
        if version:
            self._cli_version = version

    def switch_provider(self, provider: str, *, model: str | None, note: str) -> None:
        """Another provider takes over this thread after this one failed before changing
        anything (CONTRACT §11). The switch is an `error` item; what the stream said so far
        stays, the verdict, usage and vendor details start afresh."""
        self._flush_delta()
        for call_id, (_, item) in list(self._open_tools.items()):
            self._close_tool(call_id, {"status": "failed"} if _has_status(item) else {})
        if self._started:
            self._complete_new({"type": "error", "message": note})
        else:
            self._pending_notes.append(note)
        self._provider, self._model, self._cli_version = provider, model, None
        self._session_id = None
        self._usage = self._session_total = self._quota = self._outcome = None
        self._vendor = {}
        self._unparsed, self._unparsed_first = 0, None
        self._last_message = None

    def feed(self, observations: Iterable[o.Observation]) -> None:
        live = self._live
        for ob in observations:
            if live is not None and type(ob) is _MessageDelta:
                live(ob)
            # A delta per line is the bulk of a streamed answer: straight to its handler.
            if type(ob) is _MessageDelta:
                self._delta(ob)
            else:
                self._one(ob)

    def finish(
        self,
        exit: o.ExitInfo,
        *,
        duration_ms: int = 0,
        journal: str | None = None,
        attempts: list[dict[str, Any]] | None = None,
        diff: dict[str, Any] | None = None,
        vendor: dict[str, Any] | None = None,
        failure: tuple[str, str] | None = None,
    ) -> tuple[dict[str, Any], int]:
        """Close the stream: open items, the terminal event, then `result`.

        `failure` forces an outcome decided outside the vendor's output (a bad request, a
        missing binary). Returns the result envelope and the process exit code."""
        if self._finished:
            raise RuntimeError("assembler already finished")
        self._finished = True
        self._flush_delta()
        self._ensure_started()

        status, kind, error = self._decide(exit, failure)
        for call_id, (_, item) in list(self._open_tools.items()):
            self._close_tool(call_id, {"status": "failed"} if _has_status(item) else {})

        final = self._final_message()
        if status == "completed":
            self._emit({"type": "turn.completed", "usage": turn_usage(self._usage or empty_usage())})
        else:
            self._emit({"type": "error", "message": error})
            self._emit({"type": "turn.failed", "error": {"message": error}})

        usage = dict(self._usage) if self._usage else empty_usage()
        if not usage.get("model"):
            usage["model"] = self._model
        vendor_details = {**self._vendor, **(vendor or {})}
        vendor_details.setdefault("exit_code", exit.exit_code)
        vendor_details.setdefault("signal", exit.signal)
        if self._unparsed:
            vendor_details["unparsed_lines"] = self._unparsed
        quota = self.failure_quota(exit, kind)
        result = {
            "type": "result",
            "protocol_version": 2,
            "status": status,
            "final_message": final,
            "failure_kind": kind,
            "error": error,
            "thread_id": self._settled_thread_id(),
            "session_id": self._session_id,
            "provider": {"name": self._provider, "cli_version": self._cli_version, "model": self._model},
            "usage": usage,
            "quota": full_quota(quota) if quota else None,
            "attempts": attempts or [],
            "diff": diff,
            "duration_ms": max(int(duration_ms), 0),
            "journal": journal,
            "vendor": vendor_details,
        }
        result = writable(result)  # the emitters and the journal write it again whole
        self._emit(result)
        return result, exit_code_for(status, kind, exit.cancelled or "SIGINT")

    # ------------------------------------------------------------------ observations

    def _one(self, ob: o.Observation) -> None:  # noqa: C901 - one flat dispatch reads best
        t = type(ob)
        if t is o.MessageDelta:
            self._delta(ob)
        elif t is o.Message:
            self._flush_delta()
            if ob.text:
                self._last_message = ob.text
                self._complete_new({"type": "agent_message", "text": ob.text})
        elif t is o.MessageEnd:
            if ob.key is None or ob.key == self._delta_key:
                self._flush_delta()
        elif t is o.Reasoning:
            self._flush_delta()
            if ob.text:
                self._complete_new({"type": "reasoning", "text": ob.text})
        elif t is o.ToolStarted:
            self._tool_started(ob)
        elif t is o.ToolUpdated:
            opened = self._open_tools.get(ob.call_id)
            if opened:
                opened[1].update(_without_id(ob.fields))
                if opened[0] is not None:  # a file change shows only when it ends
                    self._emit({"type": "item.updated", "item": {"id": opened[0], **opened[1]}})
        elif t is o.ToolCompleted:
            self._tool_completed(ob)
        elif t is o.Item:
            self._flush_delta()
            self._complete_new(_without_id(ob.item))
        elif t is o.Warning:
            self._flush_delta()
            self._complete_new({"type": "error", "message": ob.message})
        elif t is o.Session:
            if ob.session_id:
                self._session_id = ob.session_id
            if ob.model:
                self._model = ob.model
            if ob.cli_version:
                self._cli_version = ob.cli_version
            # A session id long enough to be cut on its line is no id (found by fuzzing: a
            # 100 KB one was cut differently in `thread.started` and `result`): keep ours.
            fits = ob.session_id is not None and len(ob.session_id.encode("utf-8", "surrogatepass")) <= MAX_ID_BYTES
            if ob.session_id and fits and not self._started:
                self._thread_id, self._make_thread_id = ob.session_id, None
            self._ensure_started()
        elif t is o.UsageReport:
            self._usage = dict(ob.usage)
        elif t is o.SessionTotal:
            self._session_total = dict(ob.usage)
        elif t is o.QuotaReport:
            self._quota = dict(ob.quota)
        elif t is o.Completed or t is o.Failed:
            self._outcome = ob
        elif t is o.VendorInfo:
            for key, value in ob.details.items():
                if key in _LIST_DETAILS and isinstance(self._vendor.get(key), list) and isinstance(value, list):
                    value = [*self._vendor[key], *value]  # every check's findings, not the last one's
                self._vendor[key] = value
        elif t in o.LIVE_ONLY:
            if self._live is not None:
                self._live(ob)
        elif t is o.Unparsed:
            self._unparsed += 1
            if self._unparsed_first is None:
                self._unparsed_first = ob.reason
        else:  # pragma: no cover - a parser bug, not a vendor problem
            raise TypeError(f"not an observation: {ob!r}")

    def delta_room(self, key: str) -> int:
        """How many more characters of message `key` can arrive before the kept text is
        trimmed (DELTA_KEEP_BYTES). A caller joining many chunks into one delta (a recording's
        fast path, Pipeline.lines) must stop a join once it holds more than this: where the
        trim happens decides what is kept, and it must happen where a delta per chunk would
        have put it."""
        if self._partial_text:
            return 0  # every chunk is an event of its own
        return _DELTA_TRIM_AT - (self._delta_size if self._delta_key == key else 0)

    def _delta(self, ob: o.MessageDelta) -> None:
        key, text, restart = ob
        current = self._delta_key
        if current is None or key != current:
            if current is not None:
                self._flush_delta()
            self._ensure_started()
            self._delta_key = key
        if restart:
            self._delta_chunks, self._delta_size = [], 0
        if not text:
            return
        if self._delta_id is None:  # the id is taken by the first text, so an empty message takes none
            self._delta_id = self._new_id()
        self._delta_chunks.append(text)
        size = self._delta_size = self._delta_size + len(text)
        if size > _DELTA_TRIM_AT:
            kept = tail_bytes("".join(self._delta_chunks), DELTA_KEEP_BYTES)
            self._delta_chunks, self._delta_size = [kept], len(kept)
        if self._partial_text:
            text = "".join(self._delta_chunks)
            self._emit({"type": "item.updated", "item": {"id": self._delta_id, "type": "agent_message", "text": text}})

    def _flush_delta(self) -> None:
        if self._delta_key is None:
            return
        text = "".join(self._delta_chunks)
        item_id = self._delta_id
        self._delta_key, self._delta_id, self._delta_chunks, self._delta_size = None, None, [], 0
        if text:
            self._last_message = text
            self._emit({"type": "item.completed", "item": {"id": item_id, "type": "agent_message", "text": text}})

    def _tool_started(self, ob: o.ToolStarted) -> None:
        self._flush_delta()
        if ob.call_id in self._open_tools:
            opened = self._open_tools[ob.call_id][1]
            if opened.get("type") == ob.item.get("type"):
                self._tool_update_silently(ob.call_id, ob.item)
                return
            # The id now names another kind of call (a vendor reusing ids, or ids lost: two
            # calls without one): merged, the item would mix two shapes and break the schema
            # (found by fuzzing). The earlier call ends unfinished, as open calls do at the end.
            self._close_tool(ob.call_id, {"status": "failed"} if _has_status(opened) else {})
        item = _without_id(ob.item)
        if _has_status(item):
            item.setdefault("status", "in_progress")
        self._note_side_effect(item)
        if item.get("type") == "file_change":
            # Codex emits a file change only once, as item.completed, when the patch succeeded
            # or failed; its id is taken then, so ids still follow the order lines appear in.
            self._open_tools[ob.call_id] = (None, item)
            return
        item_id = self._new_id()
        self._open_tools[ob.call_id] = (item_id, item)
        self._emit({"type": "item.started", "item": {"id": item_id, **item}})

    def _tool_update_silently(self, call_id: str, fields: dict[str, Any]) -> None:
        self._open_tools[call_id][1].update(_without_id(fields))

    def _tool_completed(self, ob: o.ToolCompleted) -> None:
        self._flush_delta()
        if ob.call_id in self._open_tools:
            fields = dict(ob.fields)
            self._close_tool(ob.call_id, fields)
        elif "type" in ob.fields:
            item = _without_id(ob.fields)
            if _has_status(item):
                item.setdefault("status", "completed")
            self._complete_new(item)
        # else: a completion for a call never started and of unknown type: nothing to show

    def _close_tool(self, call_id: str, fields: dict[str, Any]) -> None:
        item_id, item = self._open_tools.pop(call_id)
        item.update(_without_id(fields))
        if _has_status(item) and item.get("status") == "in_progress":
            item["status"] = "completed"
        self._note_side_effect(item)
        if item_id is None:
            item_id = self._new_id()
        self._emit({"type": "item.completed", "item": {"id": item_id, **item}})

    def _complete_new(self, item: dict[str, Any]) -> None:
        self._note_side_effect(item)
        self._emit({"type": "item.completed", "item": {"id": self._new_id(), **item}})

    def _note_side_effect(self, item: dict[str, Any]) -> None:
        if item.get("type") in ("command_execution", "file_change"):
            self._side_effects = True

    # ------------------------------------------------------------------ helpers

    def _new_id(self) -> str:
        self._ensure_started()
        item_id = f"item_{self._next_id}"
        self._next_id += 1
        return item_id

    def _ensure_started(self) -> None:
        if self._started:
            return
        self._started = True
        self._emit({"type": "thread.started", "thread_id": self._settled_thread_id()})
        if self._launched:
            self._turn_started = True
            self._emit({"type": "turn.started"})
        notes, self._pending_notes = self._pending_notes, []
        for note in notes:
            self._complete_new({"type": "error", "message": note})

    def _settled_thread_id(self) -> str:
        if self._make_thread_id is not None:
            self._thread_id, self._make_thread_id = self._make_thread_id(), None
        return self._thread_id

    def _emit(self, event: dict[str, Any]) -> None:
        if "item" in event:  # item.started/updated/completed: Codex's shape, whatever the parser gave
            event["item"] = exact_item(event["item"])
            if self._whole_messages and event["item"]["type"] == "agent_message":
                self._sink(event, orjson.dumps(writable(event)))
                return
        self._sink(event, encode_line(event))

    def _final_message(self) -> str | None:
        text = self._last_message
        if isinstance(self._outcome, o.Completed) and self._outcome.final_message is not None:
            text = self._outcome.final_message
        if text is None:
            return None
        return fit_tail(text, self._max_final)  # the whole value, marker included, in the budget

    def _decide(self, exit: o.ExitInfo, forced: tuple[str, str] | None) -> tuple[str, str | None, str | None]:
        if forced is not None:
            return ("cancelled" if forced[0] == FailureKind.CANCELLED else "failed"), forced[0], forced[1]
        if exit.cancelled:
            return "cancelled", FailureKind.CANCELLED.value, f"Cancelled by {exit.cancelled}; the vendor CLI was stopped."
        if exit.timed_out:
            what = "--idle-timeout" if exit.timed_out == "idle" else "--timeout"
            secs = f" of {exit.timeout_s:g}s" if exit.timeout_s is not None else ""
            detail = "produced no output" if exit.timed_out == "idle" else "did not finish"
            return (
                "failed",
                FailureKind.TIMED_OUT.value,
                f"The vendor CLI {detail} within the {what}{secs}; it was stopped. Raise {what} or retry.",
            )
        if exit.stopped:
            return "failed", FailureKind.QUOTA_OR_RATE_LIMITED.value, exit.stopped
        outcome = self._outcome
        if isinstance(outcome, o.Failed):
            if outcome.kind == FailureKind.CANCELLED:  # the vendor was interrupted, not by us
                return "cancelled", outcome.kind, outcome.message
            return "failed", outcome.kind, outcome.message
        if isinstance(outcome, o.Completed):
            if self._final_message():
                return "completed", None, None
            return "failed", FailureKind.EMPTY_OUTPUT.value, "The vendor reported success but gave no answer."
        # No verdict from the vendor's output: fall back to how the process ended.
        stderr_hint = _last_line(exit.stderr_tail)
        if exit.signal:
            return (
                "failed",
                FailureKind.PROVIDER_FAILED.value,
                f"The vendor CLI was killed by signal {exit.signal}" + (f": {stderr_hint}" if stderr_hint else "."),
            )
        if exit.exit_code not in (0, None):
            if self._unparsed and not self._next_id and not stderr_hint:
                return (
                    "failed",
                    FailureKind.MALFORMED_OUTPUT.value,
                    f"The vendor CLI exited with {exit.exit_code} and its output could not be understood ({self._unparsed_first}).",
                )
            return (
                "failed",
                FailureKind.PROVIDER_FAILED.value,
                f"The vendor CLI exited with {exit.exit_code}" + (f": {stderr_hint}" if stderr_hint else "."),
            )
        if self._final_message():
            return "completed", None, None
        if self._unparsed:
            return (
                "failed",
                FailureKind.MALFORMED_OUTPUT.value,
                f"The vendor's output could not be understood ({self._unparsed} unreadable lines; first: {self._unparsed_first}).",
            )
        return "failed", FailureKind.EMPTY_OUTPUT.value, "The vendor CLI ended without an answer."


_MessageDelta = o.MessageDelta

# result.vendor keys that several observations add to.
_LIST_DETAILS = frozenset({"usage_mismatch"})


def _without_id(item: dict[str, Any]) -> dict[str, Any]:
    """A copy without `id`: item ids are the assembler's alone (CONTRACT §3)."""
    return {k: v for k, v in item.items() if k != "id"}


def _has_status(item: dict[str, Any]) -> bool:
    return item.get("type") in ("command_execution", "file_change", "mcp_tool_call")


def _last_line(text: str) -> str:
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line:
            return line[-500:]
    return ""


def full_quota(q: dict[str, Any]) -> dict[str, Any]:
    return {
        "state": q.get("state", "unknown"),
        "resets_at": q.get("resets_at"),
        "retry_after_s": q.get("retry_after_s"),
        "window": q.get("window"),
        "message": q.get("message"),
    }


def fail_before_launch(
    sink: Sink,
    *,
    provider: str,
    thread_id: str,
    kind: str,
    message: str,
    cli_version: str | None = None,
    duration_ms: int = 0,
    vendor: dict[str, Any] | None = None,
    quota: dict[str, Any] | None = None,
    journal: str | None = None,
) -> tuple[dict[str, Any], int]:
    """The whole stream of a run that never launched the vendor (bad request, missing binary,
    unsupported mode, remembered quota): thread.started, error, turn.failed, result."""
    asm = Assembler(sink, provider=provider, fallback_thread_id=thread_id, cli_version=cli_version)
    if quota is not None:
        asm.feed([o.QuotaReport(quota)])
    return asm.finish(
        o.ExitInfo(launched=False), duration_ms=duration_ms, failure=(kind, message), vendor=vendor or {},
        journal=journal,
    )
