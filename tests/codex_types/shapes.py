"""Holding a stream's lines against Codex's ThreadEvent schema (thread_event.schema.json).

`problems(event)` validates one event against the whole schema (the union, as a strict reader
sees it) and, when it fails, says why in words a person can act on: the union's own error
("is not valid under any of the given schemas") names nothing, so the reasons come from the one
definition the line's `type` tags select.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from jsonschema import Draft7Validator

SCHEMA_PATH = Path(__file__).resolve().parent / "thread_event.schema.json"

EVENT_DEFINITIONS = {
    "thread.started": "ThreadStartedEvent",
    "turn.started": "TurnStartedEvent",
    "turn.completed": "TurnCompletedEvent",
    "turn.failed": "TurnFailedEvent",
    "item.started": "ItemStartedEvent",
    "item.updated": "ItemUpdatedEvent",
    "item.completed": "ItemCompletedEvent",
    "error": "ThreadErrorEvent",
}


@cache
def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text())


@cache
def _validator(definition: str | None = None) -> Draft7Validator:
    root = schema()
    if definition is None:
        return Draft7Validator(root)
    return Draft7Validator({**root, "$ref": f"#/definitions/{definition}"})


def _item_definitions() -> dict[str, str]:
    """item.type -> definition name, read off the schema's ThreadItem union."""
    definitions = schema()["definitions"]
    names = [ref["$ref"].rsplit("/", 1)[1] for ref in definitions["ThreadItem"]["anyOf"]]
    return {definitions[name]["properties"]["type"]["const"]: name for name in names}


def _where(error) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)


def problems(event: object) -> list[str]:
    """[] when the event is a valid ThreadEvent; else one reason per violation."""
    if _validator().is_valid(event):
        return []
    if not isinstance(event, dict) or event.get("type") not in EVENT_DEFINITIONS:
        kind = event.get("type") if isinstance(event, dict) else type(event).__name__
        return [f"unknown event type {kind!r}"]
    kind, item = event["type"], event.get("item")
    if not (kind.startswith("item.") and isinstance(item, dict)):
        return _reasons(kind, EVENT_DEFINITIONS[kind], event)
    reasons = [f"{kind}: additional property {key!r}" for key in sorted(set(event) - {"type", "item"})]
    item_definition = _item_definitions().get(item.get("type"))
    if item_definition is None:
        return [*reasons, f"{kind}: unknown item type {item.get('type')!r}"]
    return [*reasons, *_reasons(f"{kind} {item['type']}", item_definition, item)]


def _reasons(label: str, definition: str, target: object) -> list[str]:
    errors = sorted(_leaves(_validator(definition).iter_errors(target)), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{label}{_where(e)}: {e.message}" for e in errors] or [f"{label}: invalid"]


def _leaves(errors):
    """An anyOf of a shape and null (the nullable keys) fails as a whole; say what the shape missed."""
    for error in errors:
        shaped = [e for e in error.context or () if e.validator != "type" or e.validator_value != "null"]
        if error.validator == "anyOf" and shaped:
            yield from _leaves(shaped)
        else:
            yield error
