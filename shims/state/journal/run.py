"""One run's journal folder (CONTRACT §12): written as the run goes, readable whenever it stops.

    meta.json        who, what, how it was launched, and every fact replay needs (atomic rewrites)
    request.json     the request as received (or the argv prompt)
    vendor.stdout    the vendor's stdout bytes, as they arrived
    vendor.stderr    the vendor's stderr bytes
    vendor.timing    one `[ms since launch, "o"|"e", bytes]` line per chunk that arrived
    events.ndjson    the protocol-2 events, one per line, as emitted
    result.json      the result envelope (written last)

Crash safety: streams are appended with one write per chunk (no user-space buffer to lose), and
JSON files are replaced by rename, so a SIGKILLed shim leaves every byte it had handed over and
a meta.json saying `running`. Everything passes through the redactor before it is written, and
files are private (0600 in a 0700 folder). A full disk or any other write error never costs the
run: the journal stops, and the run's result says why (`vendor.journal_error`).
"""

from __future__ import annotations

import os
import time
from typing import Any

import orjson

from normalize.emit import write_all
from shims.state.journal.store import record_size
from shims.state.private_files import (
    DIR_MODE,
    chmod_private_dir,
    open_private,
    private_dir,
    replace_private_file,
    write_private_file,
)
from shims.state.redact import Redactor, StreamRedactor


class RunJournal:
    def __init__(self, path: str | os.PathLike[str], run_id: str, redactor: Redactor) -> None:
        self.path = os.fspath(path)
        self.run_id = run_id
        self.error: str | None = None
        self._redactor = redactor
        self._meta: dict[str, Any] = {}
        self._events_fd: int | None = None

    @classmethod
    def create(cls, root: str | os.PathLike[str], run_id: str, redactor: Redactor) -> RunJournal:
        path = os.path.join(private_dir(root), run_id)
        os.mkdir(path, DIR_MODE)  # fails on anything already there, a link included
        chmod_private_dir(path)
        return cls(path, run_id, redactor)

    # ------------------------------------------------------------------ JSON files

    def update_meta(self, **fields: Any) -> None:
        self._meta.update(fields)
        self.write_json("meta.json", self._meta)

    def write_json(self, name: str, obj: Any) -> None:
        data = self._redactor.redact(orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS))
        self._guard(lambda: replace_private_file(self._file(name), data))

    def write_request(self, stdin: bytes | None, prompt: str | None) -> None:
        """The request exactly as received (redacted): the JSON line from stdin, or the prompt."""
        data = stdin if stdin is not None else orjson.dumps({"prompt": prompt})
        self._guard(lambda: write_private_file(self._file("request.json"), self._redactor.redact(data)))

    # ------------------------------------------------------------------ streams

    def event(self, event: dict[str, Any], line: bytes, *, redacted: bool = False) -> None:
        """An emitter-shaped sink: every event line as it is emitted (`redacted`: the line was
        masked already, as printed)."""
        if self._events_fd is None:
            if self.error:
                return
            self._events_fd = self._open("events.ndjson")
            if self._events_fd is None:
                return
        self._append(self._events_fd, (line if redacted else self._redactor.redact(line)) + b"\n")

    def write_patch(self, patch: bytes) -> str | None:
        """The run's whole patch (CONTRACT §10); its path, or None when it could not be written."""
        path = self._file("patch.diff")
        self._guard(lambda: write_private_file(path, self._redactor.redact(patch)))
        return None if self.error else path

    def vendor_recorder(self, prefix: str = "vendor") -> VendorRecorder:
        return VendorRecorder(self, prefix)

    def set_aside(self, prefix: str, new_prefix: str) -> None:
        """Keep an attempt that is being retried (agy under a pty) under another name."""
        for ext in ("stdout", "stderr", "timing"):
            src = self._file(f"{prefix}.{ext}")
            if os.path.exists(src):
                self._guard(lambda src=src, ext=ext: os.replace(src, self._file(f"{new_prefix}.{ext}")))

    def finish(self, result: dict[str, Any]) -> None:
        self.write_json("result.json", result)
        self.update_meta(status="finished", finished_at=_now())
        if not self.error:
            record_size(self.path)

    def close(self) -> None:
        if self._events_fd is not None:
            os.close(self._events_fd)
            self._events_fd = None

    # ------------------------------------------------------------------ plumbing

    def _file(self, name: str) -> str:
        return os.path.join(self.path, name)

    def _open(self, name: str) -> int | None:
        try:
            return open_private(self._file(name), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        except OSError as exc:
            self._failed(exc)
            return None

    def _append(self, fd: int, data: bytes) -> None:
        if self.error or not data:
            return
        self._guard(lambda: write_all(fd, data))

    def _guard(self, action) -> None:
        if self.error:
            return
        try:
            action()
        except OSError as exc:
            self._failed(exc)

    def _failed(self, exc: OSError) -> None:
        self.error = f"{exc.strerror or exc} ({self.path})"


class VendorRecorder:
    """The runtime's Recorder: the vendor's raw bytes, redacted as a stream (a secret split
    across two reads is still caught), with the arrival time of every chunk."""

    def __init__(self, journal: RunJournal, prefix: str) -> None:
        self._j = journal
        self._t0 = time.monotonic()
        self._out = journal._open(f"{prefix}.stdout")
        self._err = journal._open(f"{prefix}.stderr")
        self._timing = journal._open(f"{prefix}.timing")
        self._out_r: StreamRedactor = journal._redactor.stream()
        self._err_r: StreamRedactor = journal._redactor.stream()

    def stdout(self, chunk: bytes) -> None:
        self._chunk(self._out, self._out_r, chunk, b"o")

    def stderr(self, chunk: bytes) -> None:
        self._chunk(self._err, self._err_r, chunk, b"e")

    def close(self) -> None:
        for fd, r in ((self._out, self._out_r), (self._err, self._err_r)):
            if fd is not None:
                self._j._append(fd, r.finish())
        for fd in (self._out, self._err, self._timing):
            if fd is not None:
                os.close(fd)
        self._out = self._err = self._timing = None

    def _chunk(self, fd: int | None, redactor: StreamRedactor, chunk: bytes, tag: bytes) -> None:
        if fd is None:
            return
        self._j._append(fd, redactor.feed(chunk))
        if self._timing is not None:
            ms = (time.monotonic() - self._t0) * 1000
            self._j._append(self._timing, b'[%.1f,"%s",%d]\n' % (ms, tag, len(chunk)))


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
