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

import errno
import os
import time

import orjson

from normalize.emit import write_all
from shims.journal.redact import Redactor, StreamRedactor

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: importing typing costs start-up time
    from typing import Any

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: str | os.PathLike[str], within: str | None = None) -> str:
    """A folder only the user can read. Missing folders are made one by one, 0700 whatever the
    umask (makedirs would give the parents it makes the umask's mode). An existing folder keeps
    its mode: a root such as --journal /tmp is the user's choice, and every run folder inside is
    private anyway. A symbolic link in its place is refused, never followed (state planted by
    someone else) from `within` (default: the state folder, for a folder inside it) down."""
    path = os.path.abspath(os.fspath(path))
    missing = []
    probe = path
    while not os.path.lexists(probe):
        missing.append(probe)
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    _refuse_links(path, probe, within)
    for folder in reversed(missing):
        try:
            os.mkdir(folder, DIR_MODE)
        except FileExistsError:
            pass  # another shim made it meanwhile
        else:
            chmod_private_dir(folder)
    _refuse_links(path, path, within)
    if not os.path.isdir(path):
        raise NotADirectoryError(20, "Not a directory", path)
    return path


def chmod_private_dir(path: str) -> None:
    """0700 for a folder just made (an odd umask may have taken bits the user needs), through
    a descriptor that refuses a link."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | NOFOLLOW)
    try:
        os.fchmod(fd, DIR_MODE)
    finally:
        os.close(fd)


def _refuse_links(path: str, upto: str, within: str | None = None) -> None:
    """No symbolic link from the state folder (`codex-shims`, when `path` is inside it; else
    `path` itself) down to `upto`: the folders above it are the user's, links and all."""
    from shims.config import state_dir

    state = os.path.abspath(within or state_dir())
    top = path
    for name in (state, os.path.join(os.path.realpath(os.path.dirname(state)), os.path.basename(state))):
        if path == name or path.startswith(name + os.sep):
            top = name
    folder = upto
    while folder == top or folder.startswith(top + os.sep):
        if os.path.islink(folder):
            raise OSError(errno.ELOOP, f"refusing to write through a symbolic link: {folder}")
        folder = os.path.dirname(folder)


# Every state file is opened with these: never through a planted symbolic link, never
# inherited by the vendor.
NOFOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC


def open_private(path: str, flags: int) -> int:
    """os.open for a state file: 0600, no link followed (a link at `path` fails clearly)."""
    try:
        fd = os.open(path, flags | NOFOLLOW, FILE_MODE)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # a link at the path
            raise OSError(errno.ELOOP, f"refusing to write through a symbolic link: {path}") from None
        raise
    if flags & os.O_CREAT:
        os.fchmod(fd, FILE_MODE)  # whatever the umask took
    return fd


def read_private(path: str) -> bytes:
    """The whole of a state file, not read through a link."""
    fd = open_private(path, os.O_RDONLY)
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def state_bytes(data: bytes) -> bytes:
    """What a state file (ledger, quota memory, version cache, Gemini settings) may hold: the
    one redaction point for everything the shims keep besides the journal."""
    from shims.journal.redact import current

    return current().redact(data)


def append_private(path: str, data: bytes) -> None:
    """One write to the end of a state file (concurrent shims never interleave lines)."""
    fd = open_private(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        write_all(fd, data)
    finally:
        os.close(fd)


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
            from shims.journal.store import record_size

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


def replace_private_file(path: str, data: bytes) -> None:
    """`data` as the whole of `path` (0600), or `path` as it was: written to a new file beside
    it (a fresh random name, O_EXCL: never a planted file or link) and renamed over it; a link at
    `path` is replaced, not followed. The temp file never stays."""
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        write_private_file(tmp, data, new=True)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_private_file(path: str | os.PathLike[str], data: bytes, *, new: bool = False) -> None:
    """The whole of `data` in a 0600 file (any write error raises: a full disk, EFBIG); `new`:
    the file must not exist yet."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if new else os.O_TRUNC)
    fd = open_private(os.fspath(path), flags)
    try:
        write_all(fd, data)
    finally:
        os.close(fd)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
