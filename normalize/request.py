"""The request (CONTRACT §2): stdin JSON (protocol 1 or 2), plain-text stdin, or an argv prompt.

`parse_request` is pure: bytes and flags in, a RunSpec or a BadRequest out.
"""

from __future__ import annotations

import os

import orjson

from normalize.records import factory, record

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: importing typing costs start-up time
    from typing import Any


class BadRequest(Exception):
    """An unusable request: answered with a `failed` result of kind bad_request, nothing
    launched. `protocol_version` says how to answer when the request named one."""

    def __init__(self, message: str, protocol_version: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.protocol_version = protocol_version


@record
class RunSpec:
    prompt: str
    protocol_version: int | None = None  # None: no JSON request (argv or plain-text prompt)
    cwd: str = factory(os.getcwd)
    mode: str | None = None
    model: str | None = None
    timeout_s: float | None = None
    resume_session: str | None = None
    output_schema: dict[str, Any] | None = None
    max_final_message_bytes: int = 8192
    worktree: bool = False
    # The spend cap (--max-cost-usd): vendors with a budget flag of their own get it.
    max_cost_usd: float | None = None
    request_thread_id: str | None = None
    request: dict[str, Any] | None = None


def parse_request(stdin: bytes | None, *, argv_prompt: str | None = None) -> RunSpec:
    """Build the run from what came in. `stdin` is None when it was not read (a prompt was
    given on the command line)."""
    if argv_prompt is not None:
        if not argv_prompt.strip():
            raise BadRequest("The prompt is empty.")
        return RunSpec(prompt=argv_prompt)
    text = (stdin or b"").decode("utf-8", "replace")
    if not text.strip():
        raise BadRequest("No prompt: pass PROMPT or --prompt, or write a request to stdin.")
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            obj = orjson.loads(stripped)
        except orjson.JSONDecodeError:
            obj = None
        if isinstance(obj, dict):
            return _from_request(obj)
    return RunSpec(prompt=text)


def _from_request(obj: dict[str, Any]) -> RunSpec:
    from pydantic import ValidationError

    from normalize.models import Request

    pv = obj.get("protocol_version", 2)
    hint = pv if pv in (1, 2) and not isinstance(pv, bool) else None
    if hint is None:
        raise BadRequest(f"Unknown protocol_version {pv!r}; this shim speaks 1 and 2.")
    try:
        req = Request.model_validate(obj)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "request"
        if first["type"] == "missing":
            raise BadRequest(f"The request is missing `{where}`.", hint) from None
        raise BadRequest(f"Bad request field `{where}`: {first['msg']}.", hint) from None
    if not req.message.strip():
        raise BadRequest("The request's `message` is empty.", hint)
    cwd = req.cwd or os.getcwd()
    if not os.path.isdir(cwd):
        raise BadRequest(f"The request's cwd does not exist: {cwd}", hint)
    return RunSpec(
        prompt=req.message,
        protocol_version=req.protocol_version,
        cwd=os.path.abspath(cwd),
        mode=req.mode,
        model=req.model,
        timeout_s=req.deadline_ms / 1000 if req.deadline_ms else None,
        resume_session=req.resume.session_id if req.resume else None,
        output_schema=req.output_schema,
        max_final_message_bytes=req.max_final_message_bytes,
        worktree=bool(req.worktree),
        request_thread_id=req.thread_id,
        request=obj,
    )
