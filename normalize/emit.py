"""Emitters: how the assembled stream reaches stdout.

  ndjson        protocol 2: every line as it is made, one write (and so one flush) per line
  codex-lab-v1  protocol 1: exactly one {status, final_message} object on stdout, exit 0, and
                the envelope on the last stderr line `shim-result: …`, at most 8 KiB
  pretty        for people: shims.views (the live view on a terminal, plain lines elsewhere)
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

import orjson

from normalize.codex_lab import MESSAGE_BYTES, failure_message
from normalize.limits import fit_tail
from normalize.result_line import fit_envelope

EMIT_CHOICES = ("auto", "ndjson", "codex-lab-v1", "pretty")


def write_all(fd: int, data: bytes) -> bool:
    """Write every byte (pipes accept partial writes). False when the reader is gone."""
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except BrokenPipeError:
            return False
        except InterruptedError:  # pragma: no cover - PEP 475 retries, kept for clarity
            continue
        view = view[n:]
    return True


def _errno_name(exc: OSError) -> str:
    import errno

    return errno.errorcode.get(exc.errno or 0, "EIO")


class NdjsonEmitter:
    """`broken` names why stdout took no more (SIGPIPE: the reader is gone; ENOSPC: /dev/full):
    the run then cancels its vendor, and the journal and the ledger still get the result."""

    def __init__(self, fd: int = 1) -> None:
        self._fd = fd
        self.broken: str | None = None

    def __call__(self, event: dict[str, Any], line: bytes) -> None:
        if self.broken is None:
            try:
                if not write_all(self._fd, line + b"\n"):
                    self.broken = "SIGPIPE"
            except OSError as exc:
                self.broken = _errno_name(exc)

    def close(self, result: dict[str, Any], exit_code: int) -> int:
        return exit_code


def protocol1_answer(result: dict[str, Any]) -> dict[str, Any]:
    """The codex-lab object: only `status` and `final_message`, the message at most 8 KiB, the
    marker of a cut included (codex-lab cuts anything longer again, behind its own marker).

    A failure names its kind and what to do, in words codex-lab's phrase matching reads as that
    kind where it has one, and as its generic provider_failed otherwise (normalize/codex_lab.py).

    An empty answer stays `failed` ("empty_output: …"), although codex-lab would call a
    `completed` one with an empty message empty_output by itself: CONTRACT §7 makes every failure
    `failed` with its kind named, as the stderr envelope and the journal say; the error says why
    and what to do (which agy needs a pseudo-terminal, which limit cut the answer), where
    codex-lab's own text would be only "external agent completed without output"; and codex-lab
    makes both an errored agent, so the parent model sees a failure either way."""
    if result["status"] == "completed":
        final = result["final_message"]
        return {"status": "completed", "final_message": fit_tail(final, MESSAGE_BYTES) if final else final}
    kind = result.get("failure_kind") or "provider_failed"
    quota = result.get("quota") or {}
    return {"status": "failed", "final_message": failure_message(kind, result.get("error"), quota.get("resets_at"))}


RESULT_PREFIX = b"shim-result: "
# codex-lab keeps the last 8 KiB of stderr (MAX_EXTERNAL_AGENT_STDERR_BYTES): the whole line,
# newline included, fits in it, so a host can parse it from that tail.
RESULT_LINE_BYTES = 8 * 1024


def result_stderr_line(result: dict[str, Any]) -> bytes:
    """The whole `shim-result: {…}\n` stderr line, at most 8 KiB with its newline, one valid
    JSON object: the envelope, with parts dropped or cut in a fixed order when it does not fit
    (normalize/result_line.py; `dropped` then says which, and whether the journal has it all)."""
    return RESULT_PREFIX + fit_envelope(result, RESULT_LINE_BYTES - len(RESULT_PREFIX) - 1) + b"\n"


class CodexLabV1Emitter:
    def __init__(self, fd: int = 1, err_fd: int = 2) -> None:
        self._fd = fd
        self._err_fd = err_fd

    def __call__(self, event: dict[str, Any], line: bytes) -> None:
        pass  # protocol 1 prints nothing until the end

    def close(self, result: dict[str, Any], exit_code: int) -> int:
        for fd, data in ((self._fd, orjson.dumps(protocol1_answer(result)) + b"\n"),
                         (self._err_fd, result_stderr_line(result))):
            try:
                write_all(fd, data)
            except OSError:  # /dev/full: the journal has the result
                pass
        return 0  # codex-lab reads stdout only on exit 0


# Characters that drive a terminal rather than show: C0 controls, DEL, C1 controls (U+0080-U+009F,
# which some terminals also obey). ESC starts CSI/OSC/DCS sequences (OSC 52 writes the
# clipboard), BEL rings, backspace and CR overwrite what was shown.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f]")
_NAMED = {"\x1b": "\\e", "\x07": "\\a", "\x08": "\\b", "\r": "\\r", "\n": "\\n", "\t": "\\t", "\x00": "\\0"}


def _shown(m: re.Match[str]) -> str:
    ch = m.group()
    return _NAMED.get(ch) or f"\\x{ord(ch):02x}"


def visible(text: str, keep: str = "\n\t") -> str:
    """Text from a vendor or a model as it may reach a person's terminal: every control
    character but those in `keep` shown as a visible escape (`\\e[31m` for ESC [31m, `\\a`,
    `\\b`, `\\r`, `\\x9b`...), so it cannot recolor, retitle, clear the screen, overwrite what
    was shown, or write the clipboard (OSC 52). Backslashes themselves are left as they are."""
    if _CONTROLS.search(text) is None:
        return text
    return _CONTROLS.sub(lambda m: m.group() if m.group() in keep else _shown(m), text)


def make_emitter(name: str, pretty: Callable[[], Any] | None = None):
    """The emitter `--emit NAME` names. The person-facing one (`pretty`) lives above this
    layer, in shims.views: its maker is passed in (shims.views.pretty.pretty_view)."""
    if name == "ndjson":
        return NdjsonEmitter()
    if name == "codex-lab-v1":
        return CodexLabV1Emitter()
    if name == "pretty" and pretty is not None:
        return pretty()
    raise ValueError(f"unknown emitter {name!r}")
