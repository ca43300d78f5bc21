"""The shim's run options as the command line gives them (moved verbatim from shims/app.py;
another change replaces them with one option table)."""

from __future__ import annotations

import os
from typing import Any

from normalize.records import record
from normalize.request import BadRequest


@record
class ShimOptions:
    prompt: str | None = None
    mode: str | None = None
    model: str | None = None
    cwd: str | None = None
    emit: str | None = None
    timeout: float | None = None
    idle_timeout: float | None = None
    cancel_grace: float | None = None
    resume: str | None = None
    worktree: bool | None = None
    fallback: str | None = None
    max_cost_usd: float | None = None
    vendor_bin: str | None = None
    pty: str | None = None
    journal: str | None = None
    no_journal: bool = False
    ignore_quota_state: bool = False

    def with_defaults(self, defaults: dict[str, Any]) -> ShimOptions:
        """Flags given on the command line win; the rest come from the config file or the
        built-in defaults. Mode and model are left to the request first (see _apply_flags)."""
        for name, value in defaults.items():
            if name in ("mode", "model", "worktree"):  # the request's value comes before the config's
                continue
            if getattr(self, name) is None:
                setattr(self, name, value)
        return self



_TEXT_FLAGS = ("prompt", "model", "cwd", "resume", "fallback", "vendor_bin", "journal")


def _undecodable_flag(opts: ShimOptions) -> BadRequest | None:
    """A command-line value that is not UTF-8 (Python holds its bytes as lone surrogates): it
    could not be journaled or handed on as text. Refused, naming the flag; the value is made
    printable so the refusal itself can be recorded."""
    from normalize.request import check_text

    for name in _TEXT_FLAGS:
        value = getattr(opts, name)
        if not isinstance(value, str):
            continue
        try:
            check_text("The prompt" if name == "prompt" else "--" + name.replace("_", "-"), value)
        except BadRequest as exc:
            setattr(opts, name, os.fsencode(value).decode("utf-8", "replace").replace("\x00", "\ufffd"))
            return exc
    return None
