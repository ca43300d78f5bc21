"""The `codex exec` emitters of `shim-<vendor> exec` (CONTRACT §15).

With --json: exactly Codex's `exec --json` stream — the protocol-2 lines without the `result`
envelope, which goes to the journal and to the last stderr line (`shim-result: …`) — and the
failed turn's message starting with its failure kind ("authentication_required: …"), so an SDK
user can tell quota from auth. Without --json: the final message on stdout, as `codex exec`
prints it. Either way the exit status is Codex's: 0 when the turn completed, 1 when it failed
(130/143 when cancelled by SIGINT/SIGTERM, as Codex exits).
"""

from __future__ import annotations

import os
from typing import Any

from normalize.emit import NdjsonEmitter, result_stderr_line, write_all
from normalize.limits import encode_line


def kind_first(message: str, kind: str | None) -> str:
    if not kind or message.startswith(f"{kind}:"):
        return message
    return f"{kind}: {message}"


def _write_last_message(path: str, text: str) -> None:
    """-o FILE. Opened without blocking: a FIFO nobody reads would hold the shim after its
    stream for ever (ENXIO instead), with SIGTERM deferred. Written blocking once open."""
    import fcntl

    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NONBLOCK | os.O_CLOEXEC, 0o666)
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        write_all(fd, text.encode("utf-8", "replace"))
    finally:
        os.close(fd)


class CodexExecEmitter:
    def __init__(self, *, json: bool, last_message_path: str | None, fd: int = 1, err_fd: int = 2) -> None:
        self._json = json
        self._last_message_path = last_message_path
        self._out = NdjsonEmitter(fd)
        self._err_fd = err_fd
        # `error` and `turn.failed` come just before `result` (normalize.assembler.finish): held
        # until the result names the failure kind their message starts with.
        self._held: list[dict[str, Any]] = []

    @property
    def broken(self) -> str | None:
        return self._out.broken

    def __call__(self, event: dict[str, Any], line: bytes) -> None:
        t = event["type"]
        if t == "result":
            self._release(event.get("failure_kind"))
        elif not self._json:
            return
        elif t in ("error", "turn.failed"):
            self._held.append(event)
        else:
            self._out(event, line)

    def _release(self, kind: str | None) -> None:
        for event in self._held:
            if event["type"] == "error":
                event = {"type": "error", "message": kind_first(event["message"], kind)}
            else:
                event = {"type": "turn.failed", "error": {"message": kind_first(event["error"]["message"], kind)}}
            self._out(event, encode_line(event))
        self._held = []

    def close(self, result: dict[str, Any], exit_code: int) -> int:
        final = result.get("final_message")
        if final is not None and self._last_message_path:
            try:
                _write_last_message(self._last_message_path, final)
            except OSError as exc:
                self._stderr(f"shim exec: could not write --output-last-message {self._last_message_path}: {exc}")
        if not self._json and result["status"] == "completed" and final is not None:
            self._out(result, final.encode("utf-8", "replace"))
        self._stderr_bytes(result_stderr_line(result))  # at most 8 KiB: hosts keep a tail of stderr
        if result["status"] == "completed":
            return 0
        if result["status"] == "cancelled" and exit_code in (130, 143):
            return exit_code
        return 1

    def _stderr(self, text: str) -> None:
        self._stderr_bytes(text.encode("utf-8", "replace") + b"\n")

    def _stderr_bytes(self, data: bytes) -> None:
        try:
            write_all(self._err_fd, data)
        except OSError:  # /dev/full: the journal has the result
            pass

