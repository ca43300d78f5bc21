"""How every view writes a cost and a count: one spelling, so the live view, `shims top` and
`shims usage` agree on what a number looks like."""

from __future__ import annotations

from typing import Any

UNKNOWN = "unknown"


def usd(cost: Any, unknown: str = UNKNOWN) -> str:
    """`$2.30` from a dollar up, `$0.0246` below (cents would round small runs to nothing);
    `unknown` when nobody knows, never `$0`."""
    if not isinstance(cost, int | float) or isinstance(cost, bool):
        return unknown
    return f"${cost:,.2f}" if cost >= 1 else f"${cost:.4f}"


def tokens(n: Any, unknown: str = UNKNOWN) -> str:
    """`43,243`; `unknown` for anything that is not a count."""
    return f"{n:,}" if isinstance(n, int) and not isinstance(n, bool) else unknown
