"""The tools' arguments: pydantic models, whose JSON Schemas are the tools' input schemas.

A model writes these requests, so every field is hostile input (issue 9): each is checked here,
before anything runs, and a refusal is a tool error that names the field. The spawn arguments
that are run options take their description, choices and bounds from RUN_OPTIONS, so the tool
says what `shim-<vendor> --help` says; the server never passes an argument through to a shim's
command line as it came (shims.mcp.workers builds the request and the argv itself).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from normalize.request import BadRequest, check_argv_value, check_text, folder_problem
from shims.run.options import RUN_OPTIONS

OPTIONS = {o.name: o for o in RUN_OPTIONS}
LONGEST_TIMEOUT_S = 7 * 24 * 3600.0
# Vendor session ids are UUIDs or similar; anything else (spaces, quotes, a leading '-') is not one.
SESSION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,199}")
# Anchored: a JSON Schema pattern (and pydantic's) matches anywhere in the string.
AGENT_ID = re.compile(r"^[0-9a-f]{12}$")
_STRICT = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


@dataclass(frozen=True, slots=True)
class Limits:
    """The server's own bounds (MCP_OPTIONS)."""

    providers: tuple[str, ...]
    max_workers: int
    wait_limit: float
    worker_timeout: float
    max_task_bytes: int
    max_answer_bytes: int


class ToolArgumentError(ValueError):
    """A tool call's arguments cannot be used: the message says which and why."""


def _as_value_error(check: Any, what: str, value: str | None) -> None:
    """A request check (normalize.request) as a field check: its BadRequest becomes pydantic's
    ValueError, which parse() turns into the tool error naming the field."""
    try:
        check(what, value)
    except BadRequest as exc:
        raise ValueError(str(exc)) from None


def _option_field(name: str, python_type: Any, default: Any = None, description: str | None = None,
                  **bounds: Any) -> tuple[Any, Any]:
    option = OPTIONS[name]
    if option.minimum is not None:
        bounds["gt" if option.exclusive else "ge"] = option.minimum
    return python_type, Field(default=default, description=description or option.help, **bounds)


def spawn_model(limits: Limits) -> type[BaseModel]:
    """The spawn tool's arguments for this server's providers and limits."""
    provider = Literal[limits.providers]  # type: ignore[valid-type]
    mode = Literal[OPTIONS["mode"].choices]  # type: ignore[valid-type]

    class SpawnBase(BaseModel):
        model_config = _STRICT

        @field_validator("task", check_fields=False)
        @classmethod
        def _task(cls, task: str) -> str:
            if not task.strip():
                raise ValueError("the task is empty")
            _as_value_error(check_text, "The task", task)
            size = len(task.encode("utf-8"))
            if size > limits.max_task_bytes:
                raise ValueError(f"the task is {size} bytes; this server takes at most {limits.max_task_bytes} "
                                 "(put the material in files in cwd and name them)")
            return task

        @field_validator("cwd", check_fields=False)
        @classmethod
        def _cwd(cls, cwd: str | None) -> str | None:
            if cwd is None:
                return None
            _as_value_error(check_text, "cwd", cwd)
            if not os.path.isabs(cwd):
                raise ValueError(f"cwd must be an absolute path (got {cwd[:200]!r})")
            problem = folder_problem(cwd)
            if problem:
                raise ValueError(f"cwd {problem}: {cwd[:200]!r}")
            # The folder that was checked, links resolved as the check resolved them: a lexical
            # normpath would turn /x/link/.. into /x, which is not where the check looked.
            return os.path.realpath(cwd)

        @field_validator("model", check_fields=False)
        @classmethod
        def _model(cls, model: str | None) -> str | None:
            _as_value_error(check_argv_value, "model", model)
            if model and any(ord(c) < 0x20 or c == "\x7f" for c in model):
                raise ValueError("model has a control character (a newline, a tab, an escape)")
            return model

        @field_validator("resume_session_id", check_fields=False)
        @classmethod
        def _resume(cls, session: str | None) -> str | None:
            if session is not None and not SESSION_ID.fullmatch(session):
                raise ValueError(f"{session[:60]!r} is not a session id (letters, digits and ._:@- only, "
                                 "not starting with '-', at most 200)")
            return session

        @field_validator("fallback", check_fields=False)
        @classmethod
        def _fallback(cls, fallback: list[str]) -> list[str]:
            if len(set(fallback)) != len(fallback):
                raise ValueError("fallback names a provider twice")
            return fallback

        @model_validator(mode="after")
        def _fallback_is_others(self) -> Any:
            if self.provider in self.fallback:
                raise ValueError(f"fallback names {self.provider}, the provider itself")
            return self

        @field_validator("timeout_seconds", "max_cost_usd", check_fields=False)
        @classmethod
        def _finite(cls, value: float | None) -> float | None:
            if value is not None and not math.isfinite(value):
                raise ValueError("must be a finite number")
            return value

    return create_model(
        "spawn",
        __base__=SpawnBase,
        provider=(provider, Field(description="Which vendor CLI runs the worker.")),
        task=(str, Field(description="The task, in plain text. The worker sees only this (and the files in cwd): "
                         "include everything it needs.")),
        cwd=(str | None, Field(default=None, description="The worker's folder: an absolute path that exists "
                               "(default: the server's working directory).")),
        mode=(mode, Field(default="read-only", description=OPTIONS["mode"].help
                          + " read-only (default): may read; write: may edit in cwd; full: no limits.")),
        model=_option_field("model", str | None, max_length=200),
        timeout_seconds=_option_field("timeout", float | None, le=LONGEST_TIMEOUT_S,
                                      description=f"Whole-run deadline in seconds (default {limits.worker_timeout:g})."),
        resume_session_id=_option_field("resume", str | None),
        worktree=_option_field("worktree", bool, default=False),
        fallback=(list[provider], Field(default_factory=list, max_length=len(limits.providers),
                                        description=OPTIONS["fallback"].help.replace(", e.g. gemini,agy", ""))),
        max_cost_usd=_option_field("max_cost_usd", float | None),
    )


class AgentRef(BaseModel):
    model_config = _STRICT

    agent_id: str = Field(description="The agent_id spawn returned.", pattern=AGENT_ID.pattern)


class WaitArgs(AgentRef):
    timeout_seconds: float | None = Field(
        default=None, ge=0, le=LONGEST_TIMEOUT_S,
        description="Longest to wait, in seconds (at most the server's wait limit, its default). A wait that "
                    "ends first returns status running: call wait again; the worker goes on.")


class CancelArgs(AgentRef):
    pass


class ListArgs(BaseModel):
    model_config = _STRICT


def input_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A model's JSON Schema as a tool's input schema, in the plain subset every MCP host reads:
    an optional field is its type (not `anyOf` with null), and no titles."""
    schema = model.model_json_schema()
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        choices = [s for s in prop.pop("anyOf", []) if s.get("type") != "null"]
        if choices:
            prop.update(choices[0])
        if prop.get("default", 0) is None:
            del prop["default"]
        for part in (prop, prop.get("items", {})):
            part.pop("title", None)
            if "const" in part:  # a one-provider server: still a list of choices
                part["enum"] = [part.pop("const")]
    schema["additionalProperties"] = False
    return schema


def parse(model: type[BaseModel], tool: str, arguments: dict[str, Any] | None) -> BaseModel:
    """The arguments as the model, or ToolArgumentError naming the first bad field."""
    try:
        return model.model_validate(arguments or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "arguments"
        if first["type"] == "missing":
            raise ToolArgumentError(f"{tool}: `{where}` is required.") from None
        if first["type"] == "extra_forbidden":
            raise ToolArgumentError(f"{tool}: there is no argument `{where}`.") from None
        message = first["msg"].removeprefix("Value error, ").rstrip(".")
        raise ToolArgumentError(f"{tool}: `{where}`: {message}.") from None
