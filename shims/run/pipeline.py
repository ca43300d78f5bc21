"""Vendor output -> parser -> assembler: the one path shared by live runs, `shims normalize`
and `shims replay`, so a replay of a journal rebuilds the stream the run printed.

`Facts` is everything besides the vendor's bytes that shapes the stream. A live run journals
it; a replay reads it back.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from normalize import observe as o
from normalize.assembler import Assembler, Live, Sink
from normalize.reconcile import mismatch, mismatch_message, settle
from shims.run import vendors
from shims.runtime.lines import DEFAULT_MAX_LINE_BYTES, OversizedLine


@dataclass(slots=True)
class Facts:
    provider: str
    format: str = "stream-json"
    thread_id: str = ""  # used unless the request named one or the vendor's session id comes first
    request_thread_id: str | None = None
    model: str | None = None
    max_final_message_bytes: int = 8192
    whole_messages: bool = False  # agent_message lines uncut (`exec`: Codex cuts no answer)
    prices: dict[str, dict[str, float]] = field(default_factory=dict)
    # The session's running total before this run (CONTRACT §5): zeros for a new session,
    # the ledger's last total for a resumed one, None when unknown.
    previous_total: dict[str, Any] | None = None
    # Longer stdout lines are not read (shims.runtime.lines): a replay must frame with the same cap.
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    # The launched CLI's version as the shim read it (shims.runtime.spawn.Launch.cli_version),
    # recorded so a replay shows it too; a version the vendor prints itself takes precedence.
    cli_version: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Facts:
        known = {f.name: data[f.name] for f in fields(cls) if f.name in data}
        return cls(**known)


class Pipeline:
    """One assembled stream over one or more attempts (a fallback chain): each attempt has its
    own parser; the assembler, and so the thread and its item ids, is shared. `live`: the
    live view's side channel (normalize.assembler), which leaves the events as they are."""

    def __init__(self, facts: Facts, sink: Sink, live: Live | None = None) -> None:
        self.facts = facts
        self.asm = Assembler(
            sink,
            provider=facts.provider,
            fallback_thread_id=facts.thread_id,
            request_thread_id=facts.request_thread_id,
            model=facts.model,
            max_final_message_bytes=facts.max_final_message_bytes,
            whole_messages=facts.whole_messages,
            cli_version=facts.cli_version,
            live=live,
        )
        self.parser = vendors.new_parser(facts.provider, facts.format, prices=facts.prices)
        self.parse_errors: list[str] = []
        self.stdout_bytes = 0
        self.oversized_lines = 0
        self._ended = False
        self._extra: dict[str, Any] = {}

    def switch(self, facts: Facts, note: str) -> None:
        """The next provider of the chain takes over; `note` says why (an `error` item)."""
        self.asm.switch_provider(facts.provider, model=facts.model, note=note)
        self.asm.launched_version(facts.cli_version)  # a replay's recorded facts have it
        self.facts = facts
        self.parser = vendors.new_parser(facts.provider, facts.format, prices=facts.prices)
        self.parse_errors, self.stdout_bytes, self._ended, self._extra = [], 0, False, {}
        self.oversized_lines = 0

    def launched_version(self, version: str | None) -> None:
        self.facts.cli_version = version
        self.asm.launched_version(version)

    def restart_parser(self, fmt: str) -> None:
        """The same provider again in another output format (agy retried under a pty)."""
        self.facts.format = fmt
        self.parser = vendors.new_parser(self.facts.provider, fmt, prices=self.facts.prices)
        self.stdout_bytes = 0

    def line(self, line: bytes) -> None:
        if not line and type(line) is OversizedLine:
            self._oversized(line.size)
            return
        self.stdout_bytes += len(line) + 1
        try:
            observations = self.parser.feed(line)
        except Exception as exc:  # noqa: BLE001 - a parser bug on one line must not cost the run
            self.parse_errors.append(f"{type(exc).__name__}: {exc}")
            observations = [o.Unparsed(f"parser error {type(exc).__name__}")]
        if observations:  # many lines say nothing (claude's stream_event, a blank line)
            self.asm.feed(observations)

    def _oversized(self, size: int) -> None:
        """A line past the cap, not read: one non-fatal `error` item naming its size; the run
        goes on (its bytes are in the journal)."""
        self.stdout_bytes += size + 1
        self.oversized_lines += 1
        cap = self.facts.max_line_bytes
        self.asm.feed([o.Warning(f"{self.facts.provider} printed a line of {size} bytes, more than the {cap}-byte cap "
                                 "([journal] max_line_bytes): it was not read (a journaled run keeps its bytes)."),
                       o.VendorInfo({"oversized_lines": self.oversized_lines})])

    def lines(self, lines: list[bytes | bytearray]) -> None:
        """Many lines of a recording, the same as `line` for each. A parser with a fast path
        for runs of answer deltas (`feed_deltas`, see GeminiParser) hands such a run over as
        one delta; every other line goes through `line`."""
        fast = getattr(self.parser, "feed_deltas", None)
        if fast is None:
            for line in lines:
                self.line(line)
            return
        i, end = 0, len(lines)
        while i < end:
            observations, j = fast(lines, i, self.asm.delta_room)
            if j > i:
                self.stdout_bytes += sum(map(len, lines[i:j])) + (j - i)
                if observations:
                    self.asm.feed(observations)
                i = j
            if i < end:
                self.line(lines[i])
                i += 1

    def end_attempt(self, exit: o.ExitInfo) -> tuple[str, str | None, str | None]:
        """The vendor is done: its last observations, this run's share of the session's usage,
        and the verdict (status, failure kind, error) the run would end with."""
        if not self._ended:
            self._ended = True
            self.asm.feed(self.parser.finish(exit))
            if self.parse_errors:
                self._extra["parser_errors"] = self.parse_errors[:5]
            self.asm.feed(self._settle(self._extra))
        return self.asm.verdict(exit)

    def finish(
        self,
        exit: o.ExitInfo,
        *,
        duration_ms: int = 0,
        journal: str | None = None,
        vendor_extra: dict[str, Any] | None = None,
        attempts: list[dict[str, Any]] | None = None,
        diff: dict[str, Any] | None = None,
        failure: tuple[str, str] | None = None,
        quota: dict[str, Any] | None = None,
    ) -> tuple[dict[str, Any], int]:
        """Close the stream. `failure` (with its `quota`) ends a run whose last provider could
        not be launched."""
        if failure is None:
            self.end_attempt(exit)
        elif quota is not None:
            self.asm.feed([o.QuotaReport(quota)])
        extra = {**self._extra, **(vendor_extra or {})}
        return self.asm.finish(exit, duration_ms=duration_ms, journal=journal, vendor=extra, attempts=attempts,
                               diff=diff, failure=failure)

    def feed(self, observations: list[o.Observation]) -> None:
        self.asm.feed(observations)

    def _settle(self, extra: dict[str, Any]) -> list[o.Observation]:
        """This run's share of a session's running total, checked against the journal."""
        previous = self.facts.previous_total
        usage, diffs, total_scope = settle(self.asm.usage, self.asm.session_total, previous)
        out: list[o.Observation] = []
        if usage is not None and usage is not self.asm.usage:
            out.append(o.UsageReport(usage))
        if previous and any(previous.get(k) for k in ("input_tokens", "output_tokens")):
            extra["session_usage"] = {"previous_total": _counts(previous), "total": _counts(self.asm.session_total),
                                      "total_scope": total_scope}
        if diffs:
            check = "previous session total + this run vs the vendor's running total"
            out.append(o.Warning(mismatch_message(self.facts.provider, check, diffs)))
            out.append(o.VendorInfo({"usage_mismatch": [mismatch(check, diffs)]}))
        return out


def _counts(usage: dict[str, Any] | None) -> dict[str, Any] | None:
    if usage is None:
        return None
    keys = ("input_tokens", "cached_input_tokens", "cache_write_input_tokens", "output_tokens",
            "reasoning_output_tokens", "total_tokens", "cost_usd")
    return {k: usage.get(k) for k in keys}
