"""Line framing: bytes in, whole lines out, lines of any length.

Never decodes (invalid UTF-8 is the parser's business) and never drops bytes: a last line
without a newline comes out of `finish()`.
"""

from __future__ import annotations


class LineFramer:
    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, chunk: bytes) -> list[bytes | bytearray]:
        """Complete lines (without the newline). Lines are bytes-like: the first may be the
        internal buffer itself, handed over rather than copied (a 20 MB line exists once)."""
        nl = chunk.find(b"\n")
        if nl < 0:
            # Only the new chunk is searched, so a 20 MB line costs O(n), not O(n^2).
            self._buf += chunk
            return []
        if self._buf:
            self._buf += chunk[:nl]
            first: bytes | bytearray = self._buf
            self._buf = bytearray()
        else:
            first = chunk[:nl]
        parts = chunk[nl + 1 :].split(b"\n")
        self._buf += parts.pop()
        return [first, *parts]

    def finish(self) -> list[bytes | bytearray]:
        if not self._buf:
            return []
        rest, self._buf = self._buf, bytearray()
        return [rest]

    @property
    def pending(self) -> int:
        return len(self._buf)


class TailBuffer:
    """The last `limit` bytes written to it (stderr kept for error messages)."""

    __slots__ = ("_buf", "_limit", "total")

    def __init__(self, limit: int = 64 * 1024) -> None:
        self._buf = bytearray()
        self._limit = limit
        self.total = 0

    def write(self, chunk: bytes) -> None:
        self.total += len(chunk)
        self._buf += chunk
        if len(self._buf) > 2 * self._limit:
            del self._buf[: len(self._buf) - self._limit]

    def text(self) -> str:
        return bytes(self._buf[-self._limit :]).decode("utf-8", "replace")
