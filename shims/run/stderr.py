"""The shim's own lines on stderr (`shim: ...`)."""

from __future__ import annotations

import sys


def stderr_last(message: str) -> None:
    """Hosts keep only a tail of stderr: the line that explains a failure goes last. It may quote
    a vendor: masked, and with control characters shown as visible escapes (one line)."""
    from normalize.emit import visible
    from shims.state.redact import current

    message = visible(current().redact_text(message), keep="\t")
    try:
        sys.stderr.write(f"shim: {message}\n")
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):  # AttributeError: started with stderr closed
        pass
