"""Vendor-neutral observations: what a vendor parser tells the assembler.

A parser turns one native line into zero or more of these; the assembler turns them into
contract events. They are named tuples (plain data, cheap to build per line): validation
happens at the edges, not here. Field types are in the docstrings.

Items are plain dicts in Codex's shape without the `id` key (the assembler owns ids):
  {"type": "command_execution", "command": ..., "aggregated_output": ..., "exit_code": ..., "status": ...}
"""

from __future__ import annotations

import uuid
from collections import namedtuple
from dataclasses import dataclass


def new_uuid() -> str:
    """A random (version 4) UUID string."""
    return str(uuid.uuid4())


class Session(namedtuple("Session", ("session_id", "model", "cli_version"), defaults=(None, None))):
    """The vendor's session id (for resume) and, when known, the model.

    session_id: str | None
    model: str | None = None
    cli_version: str | None = None
    """

    __slots__ = ()


class Message(namedtuple("Message", ("text",))):
    """One finished assistant text block -> an `agent_message` item.

    text: str
    """

    __slots__ = ()


class MessageDelta(namedtuple("MessageDelta", ("key", "text", "restart"), defaults=(False,))):
    """A chunk of assistant text. Contiguous chunks with the same `key` form one message;
    the message is finished by `MessageEnd`, by any other item, or by the end of input.
    `restart`: the vendor started this message over (a retry re-sending it from the start):
    the text so far is replaced by this chunk, the item keeps its id.

    key: str
    text: str
    restart: bool = False
    """

    __slots__ = ()


class MessageEnd(namedtuple("MessageEnd", ("key",), defaults=(None,))):
    """key: str | None = None"""

    __slots__ = ()


class Reasoning(namedtuple("Reasoning", ("text",))):
    """text: str"""

    __slots__ = ()


class ToolStarted(namedtuple("ToolStarted", ("call_id", "item"))):
    """A tool call began. `item` is a Codex item dict without `id`; `call_id` is the
    vendor's id, used to match the end.

    call_id: str
    item: dict[str, Any]
    """

    __slots__ = ()


class ToolUpdated(namedtuple("ToolUpdated", ("call_id", "fields"))):
    """Fields learned about a running tool call, merged over its item.

    call_id: str
    fields: dict[str, Any]
    """

    __slots__ = ()


class ToolCompleted(namedtuple("ToolCompleted", ("call_id", "fields"))):
    """A tool call ended; `fields` are merged over the started item (or form the whole item
    when the start was never seen, in which case `fields` must carry `type`).

    call_id: str
    fields: dict[str, Any]
    """

    __slots__ = ()


class Item(namedtuple("Item", ("item",))):
    """A complete item with no start/end pair (a warning, a todo snapshot, a diff).

    item: dict[str, Any]
    """

    __slots__ = ()


class Warning(namedtuple("Warning", ("message",))):
    """A non-fatal problem -> an `error` item.

    message: str
    """

    __slots__ = ()


class UsageReport(namedtuple("UsageReport", ("usage",))):
    """Normalized usage (see normalize.usage.Usage fields). The last report wins.

    usage: dict[str, Any]
    """

    __slots__ = ()


class SessionTotal(namedtuple("SessionTotal", ("usage",))):
    """The vendor's own running total for the whole session after this run (contract usage
    shape): what the next resume's usage is measured against (CONTRACT §5). Claude's
    `modelUsage` and agy's `result.usage` are such totals; a vendor without one never sends it.

    usage: dict[str, Any]
    """

    __slots__ = ()


class QuotaReport(namedtuple("QuotaReport", ("quota",))):
    """Quota information: a warning while running, or the reason of a failure.

    quota: dict[str, Any]
    """

    __slots__ = ()


class Completed(namedtuple("Completed", ("final_message",), defaults=(None,))):
    """The vendor declared the turn finished successfully. `final_message` overrides the
    default (the last agent message) when the vendor states the answer itself.

    final_message: str | None = None
    """

    __slots__ = ()


class Failed(namedtuple("Failed", ("kind", "message", "quota", "spend_cap"), defaults=(None, False))):
    """The vendor's turn failed, classified by the vendor package. `spend_cap`: the vendor
    stopped because a spend cap was reached (Claude's --max-budget-usd); such a failure is
    final, never a reason to spend more with the next provider.

    kind: str
    message: str
    quota: dict[str, Any] | None = None
    spend_cap: bool = False
    """

    __slots__ = ()


class VendorInfo(namedtuple("VendorInfo", ("details",))):
    """Raw details for `result.vendor` (merged, later keys win).

    details: dict[str, Any]
    """

    __slots__ = ()


class LiveText(namedtuple("LiveText", ("text",))):
    """Answer text as it arrives, for the live view only: never an event (Claude's partial
    messages repeat what its `assistant` lines then say whole, and the stream must be the same
    with and without them). The assembler hands it to its `live` channel, if any, and drops it.

    text: str
    """

    __slots__ = ()


class LiveUsage(namedtuple("LiveUsage", ("total_tokens", "cost_usd"), defaults=(None,))):
    """Tokens (and cost, when the vendor says it) used so far by the running turn, for the
    live view's status line only, like LiveText: the stream's usage is UsageReport's.

    total_tokens: int | None
    cost_usd: float | None = None
    """

    __slots__ = ()


# What only the live view sees (the assembler emits nothing for them).
LIVE_ONLY = (LiveText, LiveUsage)


class Unparsed(namedtuple("Unparsed", ("reason",))):
    """A line the parser could not understand (kept for malformed_output decisions).

    reason: str
    """

    __slots__ = ()


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
    | LiveText
    | LiveUsage
    | Unparsed
)


def _eq(self: tuple, other: object) -> bool:
    # Tuples compare by value alone: Message("a") must not equal Reasoning("a").
    return type(self) is type(other) and tuple.__eq__(self, other)


def _ne(self: tuple, other: object) -> bool:
    return not _eq(self, other)


for _cls in (Session, Message, MessageDelta, MessageEnd, Reasoning, ToolStarted, ToolUpdated, ToolCompleted, Item, Warning, UsageReport, SessionTotal, QuotaReport, Completed, Failed, VendorInfo, LiveText, LiveUsage, Unparsed):
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
