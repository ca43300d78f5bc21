"""Every event the shims print has Codex's shape: the golden streams against Codex's own types.

The schema (tests/codex_types/thread_event.schema.json) is generated from the pinned Codex
TypeScript SDK's d.ts (tests/codex_types/regen.py); a strict reader of `codex exec --json`
(codex-sdk-python, a typed host) breaks on anything else.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from codex_types import regen
from codex_types.shapes import problems

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
STREAMS = sorted(GOLDEN.glob("*/*/expected*.ndjson"))

# Lines codex-cli 0.169.0 printed (shared/reference/codex.md §2.2), and Codex's mcp_tool_call as
# codex-rs serializes it (result and error always present).
CODEX_LINES = [
    {"type": "thread.started", "thread_id": "01a20dcb-9f13-75e2-9e16-c9727eb40cae"},
    {"type": "item.completed", "item": {"id": "item_0", "type": "error", "message": "Model metadata for `fake-model` not found."}},
    {"type": "turn.started"},
    {"type": "item.started", "item": {"id": "item_1", "type": "command_execution", "command": "/bin/bash -lc 'echo hi'",
                                      "aggregated_output": "", "exit_code": None, "status": "in_progress"}},
    {"type": "item.completed", "item": {"id": "item_1", "type": "command_execution", "command": "/bin/bash -lc 'echo hi'",
                                        "aggregated_output": "hi\n", "exit_code": 0, "status": "completed"}},
    {"type": "item.completed", "item": {"id": "item_2", "type": "reasoning", "text": "**Thinking** about a fake answer."}},
    {"type": "item.completed", "item": {"id": "item_3", "type": "agent_message", "text": "Hello from the fake Responses server."}},
    {"type": "turn.completed", "usage": {"input_tokens": 3700, "cached_input_tokens": 3048, "cache_write_input_tokens": 0,
                                         "output_tokens": 72, "reasoning_output_tokens": 26}},
    {"type": "error", "message": "stream disconnected before completion: fake upstream failure"},
    {"type": "turn.failed", "error": {"message": "stream disconnected before completion: fake upstream failure"}},
    {"type": "item.started", "item": {"id": "item_4", "type": "mcp_tool_call", "server": "docs", "tool": "search",
                                      "arguments": {"q": "x"}, "result": None, "error": None, "status": "in_progress"}},
    {"type": "item.completed", "item": {"id": "item_4", "type": "mcp_tool_call", "server": "docs", "tool": "search",
                                        "arguments": {"q": "x"}, "status": "completed", "error": None,
                                        "result": {"content": [{"type": "text", "text": "found"}], "structured_content": None}}},
    {"type": "item.completed", "item": {"id": "item_5", "type": "file_change", "status": "completed",
                                        "changes": [{"path": "a.txt", "kind": "add"}]}},
    {"type": "item.updated", "item": {"id": "item_6", "type": "todo_list", "items": [{"text": "step", "completed": False}]}},
    {"type": "item.completed", "item": {"id": "item_7", "type": "web_search", "query": "codex"}},
]

FILE_CHANGE = {"id": "item_0", "type": "file_change", "changes": [{"path": "a.txt", "kind": "add"}], "status": "completed"}
NOT_CODEX = {
    "the shims' result line": {"type": "result", "protocol_version": 2, "status": "completed"},
    "an extra top-level key": {"type": "turn.started", "at": 1},
    "a file change in progress": {"type": "item.started", "item": {**FILE_CHANGE, "status": "in_progress"}},
    "a diff on a file change": {"type": "item.completed",
                                "item": {**FILE_CHANGE, "changes": [{"path": "a.txt", "kind": "add", "diff": "+x"}]}},
    "an mcp call without result and error": {"type": "item.started", "item": {
        "id": "item_0", "type": "mcp_tool_call", "server": "s", "tool": "t", "arguments": {}, "status": "in_progress"}},
    "usage with three fields": {"type": "turn.completed", "usage": {"input_tokens": 1, "cached_input_tokens": 0, "output_tokens": 1}},
    "an unknown item type": {"type": "item.completed", "item": {"id": "item_0", "type": "plan", "text": "x"}},
}


def test_codex_own_lines_are_valid():
    assert {json.dumps(line): problems(line) for line in CODEX_LINES if problems(line)} == {}


@pytest.mark.parametrize("name", sorted(NOT_CODEX))
def test_schema_rejects_what_codex_never_prints(name):
    assert problems(NOT_CODEX[name]), f"{name} passed as a Codex event"


def test_golden_streams_are_found():
    assert len(STREAMS) >= 100, STREAMS  # the glob would make every case below vacuous


@pytest.mark.parametrize("stream", STREAMS, ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}/{p.name}")
def test_golden_stream_has_codex_shapes(stream):
    lines = [json.loads(line) for line in stream.read_text().splitlines()]
    assert lines[-1]["type"] == "result"  # protocol 2's envelope, which `exec` keeps off stdout
    found = [f"line {n}: {reason}" for n, event in enumerate(lines[:-1], 1) for reason in problems(event)]
    assert found == []


@pytest.mark.slow
def test_schema_is_what_the_installed_sdk_declares():
    assert regen.SCHEMA.read_text() == regen.generate(), "stale: run `make codex-types`"
