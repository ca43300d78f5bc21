"""`--emit pretty`: the live view on a terminal that can be redrawn, plain lines anywhere else
(a pipe, a log, TERM=dumb). Both are emitters fed by the same events."""

from __future__ import annotations

import sys
from typing import TextIO

from shims.views.plain import PlainView
from shims.views.terminal import is_live_terminal


def pretty_view(out: TextIO | None = None):  # noqa: ANN201 - a LiveView or a PlainView
    out = out or sys.stdout
    if is_live_terminal(out):
        from shims.views.live import LiveView  # rich's Live only where it draws

        return LiveView(out)
    return PlainView(out)
