"""What `shims runs` prints: pure functions from journal records to rows, plus a plain-text
table. (`shims usage` is shims.state.usage_report and shims.views.usage.)"""

from __future__ import annotations

import os
from typing import Any

from shims.state.journal.store import RunRecord

# ---------------------------------------------------------------------- runs


def run_row(rec: RunRecord) -> dict[str, Any]:
    meta, result = rec.meta, rec.result or {}
    usage = result.get("usage") or {}
    return {
        "run": os.path.basename(rec.path),
        "started_at": meta.get("started_at"),
        "provider": (result.get("provider") or {}).get("name") or meta.get("provider"),
        "model": (result.get("provider") or {}).get("model") or usage.get("model") or meta.get("model"),
        "status": result.get("status") or rec.state,
        "failure_kind": result.get("failure_kind"),
        "duration_ms": result.get("duration_ms"),
        "total_tokens": usage.get("total_tokens"),
        "cost_usd": usage.get("cost_usd"),
        "path": str(rec.path),
    }


def runs_table(rows: list[dict[str, Any]]) -> str:
    header = ("run", "started", "provider", "model", "status", "duration", "tokens", "cost")
    body = [
        (
            r["run"],
            (r["started_at"] or "-").replace("T", " ").rstrip("Z"),
            r["provider"] or "-",
            r["model"] or "-",
            r["status"] + (f" ({r['failure_kind']})" if r["failure_kind"] and r["failure_kind"] != r["status"] else ""),
            _duration(r["duration_ms"]),
            _int(r["total_tokens"]),
            _cost(r["cost_usd"]),
        )
        for r in rows
    ]
    return _table(header, body, right=(5, 6, 7))


# ---------------------------------------------------------------------- formatting


def _table(header: tuple[str, ...], body: list[tuple[str, ...]], right: tuple[int, ...] = ()) -> str:
    """Cells hold vendor and request text (models, roles, sessions): shown visibly, one line each."""
    from normalize.emit import visible

    rows = [header, *[tuple(visible(c, keep="") for c in r) for r in body]]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    out = []
    for r in rows:
        cells = [c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(r)]
        out.append("  ".join(cells).rstrip())
    return "\n".join(out)


def _int(v: Any) -> str:
    return f"{int(v):,}" if isinstance(v, int | float) else "-"


def _cost(v: Any) -> str:
    return f"${v:.4f}" if isinstance(v, int | float) else "-"


def _duration(ms: Any) -> str:
    if not isinstance(ms, int | float):
        return "-"
    return f"{ms / 1000:.1f}s" if ms < 600_000 else f"{ms / 60000:.0f}m"
