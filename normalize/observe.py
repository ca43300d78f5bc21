"""Vendor-neutral observations: what a vendor parser tells the assembler.

A parser turns one native line into zero or more of these; the assembler turns them into
contract events. They are small slotted dataclasses (plain data, cheap to build per line):
validation happens at the edges, not here.

Items are plain dicts in Codex's shape without the `id` key (the assembler owns ids):
  {"type": "command_execution", "command": ..., "aggregated_output": ..., "exit_code": ..., "status": ...}
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, NamedTuple


def new_uuid() -> str:
    """A random (version 4) UUID string, without importing `uuid` (it pulls in `platform` and
    more: start-up time counts for a worker started per task)."""
    b = bytearray(os.urandom(16))
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class Session(NamedTuple):
    """The vendor's session id (for resume) and, when known, the model."""

    session_id: str | None
    model: str | None = None
    cli_version: str | None = None


class Message(NamedTuple):
    """One finished assistant text block -> an `agent_message` item."""

    text: str


class MessageDelta(NamedTuple):
    """A chunk of assistant text. Contiguous chunks with the same `key` form one message;
    the message is finished by `MessageEnd`, by any other item, or by the end of input.
    `restart`: the vendor started this message over (a retry re-sending it from the start):
    the text so far is replaced by this chunk, the item keeps its id."""

    key: str
    text: str
    restart: bool = False


class MessageEnd(NamedTuple):
    key: str | None = None


class Reasoning(NamedTuple):
    text: str


class ToolStarted(NamedTuple):
    """A tool call began. `item` is a Codex item dict without `id`; `call_id` is the
    vendor's id, used to match the end."""

    call_id: str
    item: dict[str, Any]


class ToolUpdated(NamedTuple):
    call_id: str
    fields: dict[str, Any]


class ToolCompleted(NamedTuple):
    """A tool call ended; `fields` are merged over the started item (or form the whole item
    when the start was never seen, in which case `fields` must carry `type`)."""

    call_id: str
    fields: dict[str, Any]


class Item(NamedTuple):
    """A complete item with no start/end pair (a warning, a todo snapshot, a diff)."""

    item: dict[str, Any]


class Warning(NamedTuple):
    """A non-fatal problem -> an `error` item."""

    message: str


class UsageReport(NamedTuple):
    """Normalized usage (see normalize.usage.Usage fields). The last report wins."""

    usage: dict[str, Any]


class SessionTotal(NamedTuple):
    """The vendor's own running total for the whole session after this run (contract usage
    shape): what the next resume's usage is measured against (CONTRACT §5). Claude's
    `modelUsage` and agy's `result.usage` are such totals; a vendor without one never sends it."""

    usage: dict[str, Any]


class QuotaReport(NamedTuple):
    """Quota information: a warning while running, or the reason of a failure."""

    quota: dict[str, Any]


class Completed(NamedTuple):
    """The vendor declared the turn finished successfully. `final_message` overrides the
    default (the last agent message) when the vendor states the answer itself."""

    final_message: str | None = None


class Failed(NamedTuple):
    """The vendor's turn failed, classified by the vendor package."""

    kind: str
    message: str
    quota: dict[str, Any] | None = None
    # The vendor stopped because a spend cap was reached (Claude's --max-budget-usd): such a
    # failure is final, never a reason to spend more with the next provider.
    spend_cap: bool = False


class VendorInfo(NamedTuple):
    """Raw details for `result.vendor` (merged, later keys win)."""

    details: dict[str, Any]


class Unparsed(NamedTuple):
    """A line the parser could not understand (kept for malformed_output decisions)."""

    reason: str


Observation = (
    Session
    | Message
    | MessageDelta
    | MessageEnd
    | Reasoning
    | ToolStarted
    | ToolUpdated
    | ToolCompleted
    | Item
    | Warning
    | UsageReport
    | SessionTotal
    | QuotaReport
    | Completed
    | Failed
    | VendorInfo
    | Unparsed
)



def _eq(self: tuple, other: object) -> bool:
    # Tuples compare by value alone: Message("a") must not equal Reasoning("a").
    return type(self) is type(other) and tuple.__eq__(self, other)


def _ne(self: tuple, other: object) -> bool:
    return not _eq(self, other)


# Observations are NamedTuples rather than dataclasses: ~20 dataclasses cost ~7 ms of
# start-up (code generation per class), and a shim starts once per task.
for _cls in (Session, Message, MessageDelta, MessageEnd, Reasoning, ToolStarted, ToolUpdated, ToolCompleted, Item, Warning, UsageReport, SessionTotal, QuotaReport, Completed, Failed, VendorInfo, Unparsed):
    _cls.__eq__, _cls.__ne__, _cls.__hash__ = _eq, _ne, tuple.__hash__


@dataclass(slots=True, frozen=True)
class ExitInfo:
    """How the vendor process ended and why, as the runtime (or a recording) saw it.

    `cancelled`: "SIGINT" / "SIGTERM" when the shim itself was asked to stop.
    `timed_out`: "timeout" / "idle" when a shim deadline ended the run.
    """

    exit_code: int | None = None
    signal: int | None = None
    stderr_tail: str = ""
    launched: bool = True
    cancelled: str | None = None
    timed_out: str | None = None
    timeout_s: float | None = None
    # When the vendor ended (epoch seconds), so a relative reset ("Resets in 34m13s") can become
    # an absolute time; a replay passes the recorded value, keeping its output the same.
    ended_at: float | None = None
    # The shim stopped the vendor for a policy reason (the spend cap): the sentence saying so.
    stopped: str | None = None
