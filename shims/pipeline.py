"""Vendor output -> parser -> assembler: the one path shared by live runs, `shims normalize`
and `shims replay`, so a replay of a journal rebuilds the stream the run printed.

`Facts` is everything besides the vendor's bytes that shapes the stream. A live run journals
it; a replay reads it back.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from normalize import observe as o
from normalize.assembler import Assembler, Sink
from normalize.reconcile import mismatch, mismatch_message, settle
from shims import vendors


@dataclass(slots=True)
class Facts:
    provider: str
    format: str = "stream-json"
    thread_id: str = ""  # used unless the request named one or the vendor's session id comes first
    request_thread_id: str | None = None
    model: str | None = None
    max_final_message_bytes: int = 8192
    prices: dict[str, dict[str, float]] = field(default_factory=dict)
    # The session's running total before this run (CONTRACT §5): zeros for a new session,
    # the ledger's last total for a resumed one, None when unknown.
    previous_total: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Facts:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


class Pipeline:
    def __init__(self, facts: Facts, sink: Sink) -> None:
        self.facts = facts
        self.parser = vendors.new_parser(facts.provider, facts.format, prices=facts.prices)
        self.asm = Assembler(
            sink,
            provider=facts.provider,
            fallback_thread_id=facts.thread_id,
            request_thread_id=facts.request_thread_id,
            model=facts.model,
            max_final_message_bytes=facts.max_final_message_bytes,
        )
        self.parse_errors: list[str] = []
        self.stdout_bytes = 0

    def line(self, line: bytes) -> None:
        self.stdout_bytes += len(line) + 1
        try:
            observations = self.parser.feed(line)
        except Exception as exc:  # noqa: BLE001 - a parser bug on one line must not cost the run
            self.parse_errors.append(f"{type(exc).__name__}: {exc}")
            observations = [o.Unparsed(f"parser error {type(exc).__name__}")]
        self.asm.feed(observations)

    def finish(
        self,
        exit: o.ExitInfo,
        *,
        duration_ms: int = 0,
        journal: str | None = None,
        vendor_extra: dict[str, Any] | None = None,
    ) -> tuple[dict[str, Any], int]:
        asm = self.asm
        asm.feed(self.parser.finish(exit))
        extra = dict(vendor_extra or {})
        if self.parse_errors:
            extra["parser_errors"] = self.parse_errors[:5]
        asm.feed(self._settle(extra))
        return asm.finish(exit, duration_ms=duration_ms, journal=journal, vendor=extra)

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
