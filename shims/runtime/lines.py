"""Line framing: bytes in, whole lines out, lines of any length up to a cap.

Never decodes (invalid UTF-8 is the parser's business) and never drops bytes: a last line
without a newline comes out of `finish()`. A line longer than the cap is not kept: it comes
out as one `OversizedLine` that knows its size (the journal, fed the raw chunks before they
are framed, keeps its bytes), so a line of hundreds of MB costs the cap, not three times the
line (issue 13). The cap counts the line's own bytes, so any chunking frames alike.
"""

from __future__ import annotations

# The default cap: well above what a vendor prints for a real record (a Write of a large file
# is a few MB), well below what would strain memory. Set by `[journal] max_line_bytes`.
DEFAULT_MAX_LINE_BYTES = 64 * 1024 * 1024


class OversizedLine(bytes):
    """Stands for a line longer than the cap: empty bytes (no parser reads anything from it),
    `size` the line's length without its newline."""

    size: int

    def __new__(cls, size: int) -> OversizedLine:
        line = super().__new__(cls, b"")
        line.size = size
        return line


class LineFramer:
    __slots__ = ("_buf", "_cap", "_over")

    def __init__(self, max_line_bytes: int | None = None) -> None:
        self._buf = bytearray()
        self._cap = max_line_bytes or 0  # 0: no cap
        self._over = 0  # bytes so far of an oversized line whose start was let go

    def feed(self, chunk: bytes) -> list[bytes | bytearray]:
        """Complete lines (without the newline). Lines are bytes-like: the first may be the
        internal buffer itself, handed over rather than copied (a 20 MB line exists once)."""
        cap = self._cap
        nl = chunk.find(b"\n")
        if nl < 0:
            # Only the new chunk is searched, so a 20 MB line costs O(n), not O(n^2).
            if self._over:
                self._over += len(chunk)
            else:
                self._buf += chunk
                if cap and len(self._buf) > cap:
                    self._over, self._buf = len(self._buf), bytearray()
            return []
        first: bytes | bytearray
        if self._over:
            first, self._over = OversizedLine(self._over + nl), 0
        elif self._buf:
            if cap and len(self._buf) + nl > cap:
                first = OversizedLine(len(self._buf) + nl)
            else:
                self._buf += chunk[:nl]
                first = self._buf
            self._buf = bytearray()
        else:
            first = chunk[:nl] if not cap or nl <= cap else OversizedLine(nl)
        parts = chunk[nl + 1 :].split(b"\n")
        rest = parts.pop()
        if cap and len(chunk) > cap:  # only then can a line inside the chunk pass the cap
            parts = [p if len(p) <= cap else OversizedLine(len(p)) for p in parts]
            if len(rest) > cap:
                self._over, rest = len(rest), b""
        self._buf += rest
        return [first, *parts]

    def finish(self) -> list[bytes | bytearray]:
        if self._over:
            size, self._over = self._over, 0
            return [OversizedLine(size)]
        if not self._buf:
            return []
        rest, self._buf = self._buf, bytearray()
        return [rest]

    @property
    def pending(self) -> int:
        return len(self._buf) + self._over


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
