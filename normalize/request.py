"""The request (CONTRACT §2): stdin JSON (protocol 1 or 2), plain-text stdin, or an argv prompt.

`parse_request` is pure: bytes and flags in, a RunSpec or a BadRequest out.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import orjson


class BadRequest(Exception):
    """An unusable request: answered with a `failed` result of kind bad_request, nothing
    launched. `protocol_version` says how to answer when the request named one."""

    def __init__(self, message: str, protocol_version: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.protocol_version = protocol_version


@dataclass(slots=True)
class RunSpec:
    prompt: str
    protocol_version: int | None = None  # None: no JSON request (argv or plain-text prompt)
    cwd: str = field(default_factory=os.getcwd)
    mode: str | None = None
    model: str | None = None
    timeout_s: float | None = None
    resume_session: str | None = None
    output_schema: dict[str, Any] | None = None
    # From `shim-<vendor> exec` (Codex's --add-dir, --image, -c model_reasoning_effort): more
    # workspace roots, absolute; images to attach; the reasoning effort asked for.
    add_dirs: tuple[str, ...] = ()
    images: tuple[str, ...] = ()
    effort: str | None = None
    # `exec`: agent messages and the final message are written whole (Codex cuts neither),
    # not cut to the protocol-2 line and answer budgets.
    whole_messages: bool = False
    max_final_message_bytes: int = 8192
    worktree: bool = False
    # The spend cap (--max-cost-usd): vendors with a budget flag of their own get it.
    max_cost_usd: float | None = None
    request_thread_id: str | None = None
    request: dict[str, Any] | None = None
    # The live view wants the answer as it is written: a vendor that streams text only when
    # asked (Claude's --include-partial-messages) is asked. Never changes the stream.
    live_text: bool = False


# Fields of normalize.models.Request, without importing pydantic on every run (tests check the
# two stay equal). A JSON object with none of them and no protocol_version is prompt text.
REQUEST_FIELDS = frozenset((
    "protocol_version", "thread_id", "parent_thread_id", "author", "recipient", "role", "task_name", "cwd",
    "message", "mode", "model", "deadline_ms", "resume", "output_schema", "max_final_message_bytes", "worktree",
))
# Enough to answer a cut-short protocol-1 request in protocol 1 (compiled only then: `re` is
# not otherwise needed on every run's path).
_SAYS_PROTOCOL_1 = r'"protocol_version"\s*:\s*1(?![0-9.eE])'
_BOMS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe\x00\x00", "utf-32-le"), (b"\x00\x00\xfe\xff", "utf-32-be"),
         (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))


def parse_request(stdin: bytes | None, *, argv_prompt: str | None = None) -> RunSpec:
    """Build the run from what came in. `stdin` is None when it was not read (a prompt was
    given on the command line).

    The rule for stdin (README "The request"): a byte-order mark (UTF-8, UTF-16, UTF-32) says
    how to decode it, else UTF-8 with undecodable bytes replaced. Text that opens like a JSON
    object with a key (`{` then `"`, after whitespace) is a request and must be valid JSON, else
    it is a bad_request, never a prompt. A valid JSON object is a request when it has
    `protocol_version` or any request field; otherwise, like any other text, it is the prompt.
    NUL characters are refused: they cannot reach a vendor's argv."""
    if argv_prompt is not None:
        if not argv_prompt.strip():
            raise BadRequest("The prompt is empty.")
        check_text("The prompt", argv_prompt)
        return RunSpec(prompt=argv_prompt)
    text = decode_stdin(stdin or b"")
    if not text.strip():
        raise BadRequest("No prompt: pass PROMPT or --prompt, or write a request to stdin.")
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            obj = orjson.loads(stripped)
        except orjson.JSONDecodeError as exc:
            # The opening of a JSON object with a key (`{`, whitespace, `"`) is a request and
            # must parse; `{}x` or `{placeholder}` text is not held to that.
            if stripped[1:].lstrip().startswith('"'):
                import re

                hint = 1 if re.search(_SAYS_PROTOCOL_1, stripped) else None
                raise BadRequest(f"stdin looks like a JSON request but is not valid JSON ({exc}); "
                                 "fix the request, or send plain text as the prompt.", hint) from None
            obj = None
        if isinstance(obj, dict) and ("protocol_version" in obj or not REQUEST_FIELDS.isdisjoint(obj)):
            return _from_request(obj)
    check_text("The prompt on stdin", text)
    return RunSpec(prompt=text)


def decode_stdin(data: bytes) -> str:
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom):].decode(codec)
            except UnicodeDecodeError as exc:
                raise BadRequest(f"stdin starts with a {codec.upper()} byte-order mark but is not valid "
                                 f"{codec.upper()} (at byte {exc.start + len(bom)}).") from None
    return data.decode("utf-8", "replace")


def check_text(what: str, value: str, hint: int | None = None) -> None:
    """Text bound for a vendor's argv or stdin: no NUL (argv cannot carry one), and encodable
    as UTF-8 (a non-UTF-8 command-line argument arrives as lone surrogates)."""
    if "\x00" in value:
        where = value.index("\x00")
        raise BadRequest(f"{what} contains a NUL character (at {where}); a vendor CLI cannot be given one"
                         + (" (UTF-16 text without a byte-order mark?)." if value.count("\x00") * 4 > len(value) else "."),
                         hint)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raw = os.fsencode(value[exc.start:exc.end])
        raise BadRequest(f"{what} is not valid UTF-8 (byte {raw[:1].hex()} at character {exc.start}); "
                         "pass UTF-8 text.", hint) from None


def check_argv_value(what: str, value: str | None, hint: int | None = None) -> None:
    """A value for one vendor flag slot that is never legitimately option-like (a model name,
    a session id): refused when it starts with `-`, so no vendor option parser can read it as
    an option whatever the argv spelling (CONTRACT §2; README "Reliability and security")."""
    if not value:  # absent or "": the vendor's default, as before
        return
    check_text(what, value, hint)
    if value.startswith("-"):
        raise BadRequest(f"{what} must not start with '-' (got {value[:40]!r}): it would reach the vendor CLI "
                         "where an option parser could take it for an option.", hint)
    if not value.strip():
        raise BadRequest(f"{what} is only whitespace.", hint)


# How each field of Request is taken without pydantic when it is already of the plain JSON type
# the model would keep as is (no coercion): a request a host writes is nearly always such, and
# importing pydantic and building the models costs ~250 ms a run. Anything else goes to the
# model, which coerces or refuses it (tests check both paths agree).
_TEXT = (str, type(None))
_PLAIN_FIELDS: dict[str, Any] = {
    "thread_id": _TEXT, "parent_thread_id": _TEXT, "author": _TEXT, "recipient": _TEXT, "role": _TEXT,
    "task_name": _TEXT, "cwd": _TEXT, "message": str, "model": _TEXT,
    "mode": lambda v: v is None or v in ("read-only", "write", "full"),
    "deadline_ms": lambda v: v is None or (type(v) is int and v > 0),
    "max_final_message_bytes": lambda v: type(v) is int and v > 0,
    "worktree": lambda v: v is None or type(v) is bool,
    "output_schema": lambda v: v is None or type(v) is dict,
    "resume": lambda v: v is None or (type(v) is dict and type(v.get("session_id")) is str),
}
_DEFAULTS = {"max_final_message_bytes": 8192}


def plain_request_fields(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The request's fields as Request.model_validate(obj).model_dump() would give them, when
    every field is plainly valid; None when the model must decide."""
    if type(obj.get("message")) is not str:
        return None
    fields: dict[str, Any] = {name: None for name in _PLAIN_FIELDS}
    fields.update(_DEFAULTS)
    fields["protocol_version"] = obj.get("protocol_version", 2)
    if type(fields["protocol_version"]) is not int or fields["protocol_version"] not in (1, 2):
        return None
    for name, check in _PLAIN_FIELDS.items():
        if name not in obj:
            continue
        value = obj[name]
        if not (isinstance(value, check) if isinstance(check, type | tuple) else check(value)):
            return None
        fields[name] = {"session_id": value["session_id"]} if name == "resume" and value is not None else value
    return fields


def _model_fields(obj: dict[str, Any], hint: int) -> dict[str, Any]:
    from pydantic import ValidationError

    from normalize.models import Request

    try:
        return Request.model_validate(obj).model_dump()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "request"
        if first["type"] == "missing":
            raise BadRequest(f"The request is missing `{where}`.", hint) from None
        raise BadRequest(f"Bad request field `{where}`: {first['msg']}.", hint) from None


def _from_request(obj: dict[str, Any]) -> RunSpec:
    pv = obj.get("protocol_version", 2)
    hint = pv if pv in (1, 2) and not isinstance(pv, bool) else None
    if hint is None:
        raise BadRequest(f"Unknown protocol_version {pv!r}; this shim speaks 1 and 2.")
    req = plain_request_fields(obj) or _model_fields(obj, hint)
    if not req["message"].strip():
        raise BadRequest("The request's `message` is empty.", hint)
    session = req["resume"]["session_id"] if req["resume"] else None
    check_text("The request's `message`", req["message"], hint)
    check_argv_value("The request's `model`", req["model"], hint)
    check_argv_value("The request's `resume.session_id`", session, hint)
    if req["cwd"] is not None:
        check_text("The request's `cwd`", req["cwd"], hint)
    cwd = os.path.abspath(req["cwd"] or os.getcwd())
    problem = folder_problem(cwd)
    if problem:
        raise BadRequest(f"The request's cwd {problem}: {cwd}", hint)
    return RunSpec(
        prompt=req["message"],
        protocol_version=req["protocol_version"],
        cwd=cwd,
        mode=req["mode"],
        model=req["model"],
        timeout_s=req["deadline_ms"] / 1000 if req["deadline_ms"] else None,
        resume_session=session,
        output_schema=req["output_schema"],
        max_final_message_bytes=req["max_final_message_bytes"],
        worktree=bool(req["worktree"]),
        request_thread_id=req["thread_id"],
        request=obj,
    )


def folder_problem(path: str) -> str | None:
    """Why `path` cannot be a working directory ("does not exist", "is a file, not a folder"),
    or None when it can."""
    if os.path.isdir(path):
        return None
    if os.path.lexists(path):
        return "is a file, not a folder" if os.path.isfile(path) else "is not a folder"
    return "does not exist"
