"""Typed models of the contract: the request, every event and item, usage, quota, the result.

These validate at the edges (the request coming in, the JSON Schema going out, tests checking
every emitted line). The hot path builds plain dicts of the same shape.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

# ---------------------------------------------------------------- request (CONTRACT §2)


class ResumeSpec(BaseModel):
    model_config = ConfigDict(extra="ignore")
    session_id: str


class Request(BaseModel):
    """One JSON object on stdin. Unknown fields are ignored (hosts add their own)."""

    model_config = ConfigDict(extra="ignore")

    protocol_version: Literal[1, 2] = 2
    # protocol 1 (codex-lab)
    thread_id: str | None = None
    parent_thread_id: str | None = None
    author: str | None = None
    recipient: str | None = None
    role: str | None = None
    task_name: str | None = None
    cwd: str | None = None
    message: str
    # protocol 2
    mode: Literal["read-only", "write", "full"] | None = None
    model: str | None = None
    deadline_ms: int | None = Field(default=None, gt=0)
    resume: ResumeSpec | None = None
    output_schema: dict[str, Any] | None = None
    max_final_message_bytes: int = Field(default=8192, gt=0)
    worktree: bool | None = None


# ---------------------------------------------------------------- items (CONTRACT §3)
# Exactly Codex's shapes (codex-rs exec/src/exec_events.rs; normalize.codex_items makes them).

_ITEM = ConfigDict(extra="forbid")
Status = Literal["in_progress", "completed", "failed", "declined"]


class AgentMessageItem(BaseModel):
    model_config = _ITEM
    id: str
    type: Literal["agent_message"]
    text: str


class ReasoningItem(BaseModel):
    model_config = _ITEM
    id: str
    type: Literal["reasoning"]
    text: str


class CommandExecutionItem(BaseModel):
    model_config = _ITEM
    id: str
    type: Literal["command_execution"]
    command: str
    aggregated_output: str
    exit_code: int | None
    status: Status


class FileUpdate(BaseModel):
    model_config = _ITEM
    path: str
    kind: Literal["add", "delete", "update"]


class FileChangeItem(BaseModel):
    """Emitted only as item.completed, as Codex does; a rename is the old path deleted and the
    new one added. Per-file diffs are in the journal's patch (result.diff.patch_path)."""

    model_config = _ITEM
    id: str
    type: Literal["file_change"]
    changes: list[FileUpdate]
    status: Literal["in_progress", "completed", "failed"]


class McpResult(BaseModel):
    model_config = _ITEM
    content: list[Any]
    structured_content: Any


class McpError(BaseModel):
    model_config = _ITEM
    message: str


class McpToolCallItem(BaseModel):
    """Codex writes every key, `null` when empty: `result` on success, `error` on failure."""

    model_config = _ITEM
    id: str
    type: Literal["mcp_tool_call"]
    server: str
    tool: str
    arguments: Any
    result: McpResult | None
    error: McpError | None
    status: Literal["in_progress", "completed", "failed"]


class WebSearchItem(BaseModel):
    model_config = _ITEM
    id: str
    type: Literal["web_search"]
    query: str


class TodoEntry(BaseModel):
    model_config = _ITEM
    text: str
    completed: bool


class TodoListItem(BaseModel):
    model_config = _ITEM
    id: str
    type: Literal["todo_list"]
    items: list[TodoEntry]


class ErrorItem(BaseModel):
    model_config = _ITEM
    id: str
    type: Literal["error"]
    message: str


ThreadItem = Annotated[
    AgentMessageItem
    | ReasoningItem
    | CommandExecutionItem
    | FileChangeItem
    | McpToolCallItem
    | WebSearchItem
    | TodoListItem
    | ErrorItem,
    Field(discriminator="type"),
]
ITEM_TYPES = (
    "agent_message",
    "reasoning",
    "command_execution",
    "file_change",
    "mcp_tool_call",
    "web_search",
    "todo_list",
    "error",
)

# ---------------------------------------------------------------- usage, quota (CONTRACT §4, §5)


class TurnUsage(BaseModel):
    """Codex's five-field `Usage`, as carried by `turn.completed`."""

    model_config = ConfigDict(extra="forbid")
    input_tokens: int = Field(ge=0)
    cached_input_tokens: int = Field(ge=0)
    cache_write_input_tokens: int = Field(ge=0)
    output_tokens: int = Field(ge=0)
    reasoning_output_tokens: int = Field(ge=0)


class Usage(TurnUsage):
    total_tokens: int = Field(ge=0)
    cost_usd: float | None = None
    cost_source: Literal["vendor", "price_table"] | None = None
    model: str | None = None
    models: dict[str, dict[str, Any]] = Field(default_factory=dict)
    num_turns: int | None = None
    scope: Literal["invocation", "session"] = "invocation"


class Quota(BaseModel):
    model_config = ConfigDict(extra="forbid")
    state: Literal["ok", "warning", "rate_limited", "exhausted", "unknown"]
    resets_at: str | None = None
    retry_after_s: float | None = None
    window: Literal["minute", "5h", "daily", "weekly"] | None = None
    message: str | None = None


class Provider(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    cli_version: str | None = None
    model: str | None = None


class Attempt(BaseModel):
    model_config = ConfigDict(extra="forbid")
    provider: str
    failure_kind: str | None
    error: str | None


class DiffSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")
    files_changed: int = Field(ge=0)
    insertions: int = Field(ge=0)
    deletions: int = Field(ge=0)
    patch_path: str | None = None


FailureKindName = Literal[
    "provider_failed",
    "bad_request",
    "command_missing",
    "authentication_required",
    "quota_or_rate_limited",
    "provider_unavailable",
    "unsupported_mode",
    "malformed_output",
    "empty_output",
    "timed_out",
    "cancelled",
]


class Result(BaseModel):
    """The envelope: always the last line of a protocol-2 stream."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["result"]
    protocol_version: Literal[2]
    status: Literal["completed", "failed", "cancelled"]
    final_message: str | None
    failure_kind: FailureKindName | None
    error: str | None
    thread_id: str
    session_id: str | None
    provider: Provider
    usage: Usage
    quota: Quota | None
    attempts: list[Attempt]
    diff: DiffSummary | None
    duration_ms: int = Field(ge=0)
    journal: str | None
    vendor: dict[str, Any]


# ---------------------------------------------------------------- events


class ThreadStarted(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["thread.started"]
    thread_id: str


class TurnStarted(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["turn.started"]


class ItemStarted(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["item.started"]
    item: ThreadItem


class ItemUpdated(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["item.updated"]
    item: ThreadItem


class ItemCompleted(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["item.completed"]
    item: ThreadItem


class TurnCompleted(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["turn.completed"]
    usage: TurnUsage


class ErrorMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: str


class TurnFailed(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["turn.failed"]
    error: ErrorMessage


class ErrorEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["error"]
    message: str


class Event(RootModel):
    """Any line of a protocol-2 stream."""

    root: Annotated[
        ThreadStarted
        | TurnStarted
        | ItemStarted
        | ItemUpdated
        | ItemCompleted
        | TurnCompleted
        | TurnFailed
        | ErrorEvent
        | Result,
        Field(discriminator="type"),
    ]


class Protocol1Answer(BaseModel):
    """The only object codex-lab's `protocol = "json"` accepts (deny-unknown-fields)."""

    model_config = ConfigDict(extra="forbid")
    status: Literal["completed", "failed"]
    final_message: str | None


class Preflight(BaseModel):
    """`shim-X --preflight` answer (CONTRACT §8)."""

    model_config = ConfigDict(extra="forbid")
    ready: bool
    provider: str
    cli_version: str | None
    auth: str
    quota: Quota | None
    failure_kind: FailureKindName | None
    error: str | None


SCHEMA_MODELS: dict[str, type[BaseModel]] = {
    "request": Request,
    "event": Event,
    "result": Result,
    "usage": Usage,
    "protocol1": Protocol1Answer,
    "preflight": Preflight,
}
