"""What `shims runs` and `shims usage` print: pure functions from journal records and ledger
entries to rows, plus plain-text tables."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable
from typing import Any

from shims.state.journal.store import RunRecord

COUNTS = ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_output_tokens", "total_tokens")
GROUP_KEYS = ("provider", "model", "day", "role", "account", "session")


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


# ---------------------------------------------------------------------- usage


class BadFilter(ValueError):
    pass


def parse_since(text: str, now: float | None = None) -> str:
    """`7d`, `12h`, `30m` or a date `2026-11-01` -> the ISO instant entries must be at or after."""
    now = time.time() if now is None else now
    m = re.fullmatch(r"(\d+)([dhm])", text.strip())
    if m:
        secs = int(m.group(1)) * {"d": 86400, "h": 3600, "m": 60}[m.group(2)]
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - secs))
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text.strip()):
        return text.strip() + "T00:00:00Z"
    raise BadFilter(f"--since takes 7d, 12h, 30m or a date like 2026-11-01, not {text!r}")


def parse_group(text: str) -> tuple[str, ...]:
    keys = tuple(k.strip() for k in text.split(",") if k.strip())
    bad = [k for k in keys if k not in GROUP_KEYS]
    if bad or not keys:
        raise BadFilter(f"--by takes a comma list of {', '.join(GROUP_KEYS)}")
    return keys


def usage_rows(entries: Iterable[dict[str, Any]], by: tuple[str, ...], since: str | None = None) -> list[dict[str, Any]]:
    """Sums per group. Each ledger entry is one run's own share (resumed runs were measured
    against the session's earlier total when they ran), so plain sums never double count.
    A run that used several models is split by its per-model figures."""
    from shims.state.redact import current

    redactor = current()  # entries written before masking reached the ledger are masked here
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    for e in entries:
        at = e.get("at") or ""
        if since and at < since:
            continue
        for model, share in _model_shares(e):
            fields = {
                "provider": e.get("provider"),
                "model": model,
                "day": at[:10] or None,
                "role": e.get("role"),
                "account": e.get("account"),
                "session": e.get("session_id"),
            }
            fields = {k: redactor.redact_text(v) if isinstance(v, str) else v for k, v in fields.items()}
            key = tuple(fields[k] for k in by)
            g = groups.get(key)
            if g is None:
                g = groups[key] = {**{k: fields[k] for k in by}, "runs": 0, **dict.fromkeys(COUNTS, 0),
                                   "cost_usd": 0.0, "runs_without_cost": 0}
            g["runs"] += share["run"]
            for c in COUNTS:
                g[c] += _safe_int(share.get(c))
            cost = share.get("cost_usd")
            if isinstance(cost, int | float) and not isinstance(cost, bool):
                g["cost_usd"] = round(g["cost_usd"] + float(cost), 10)
            elif share.get("total_tokens"):
                g["runs_without_cost"] += 1
    return [groups[k] for k in sorted(groups, key=lambda k: tuple("" if v is None else str(v) for v in k))]


def _model_shares(e: dict[str, Any]) -> list[tuple[str | None, dict[str, Any]]]:
    usage = e.get("usage") if isinstance(e.get("usage"), dict) else {}
    models = usage.get("models") if isinstance(usage.get("models"), dict) else {}
    if len(models) > 1:
        main = usage.get("model") if usage.get("model") in models else max(models, key=lambda n: str(n))
        shares = [(name, {**m, "run": 1 if name == main else 0}) for name, m in sorted(models.items())
                  if isinstance(m, dict)]
        if shares:
            return shares
    return [(usage.get("model") or e.get("model"), {**usage, "run": 1})]


def usage_table(rows: list[dict[str, Any]], by: tuple[str, ...]) -> str:
    header = (*by, "runs", "input", "cached", "output", "reasoning", "total", "cost")
    body = [
        (
            *(str(r[k]) if r[k] is not None else "-" for k in by),
            str(r["runs"]),
            *(_int(r[c]) for c in COUNTS),
            _cost(r["cost_usd"]) + ("+?" if r["runs_without_cost"] else ""),
        )
        for r in rows
    ]
    if rows:
        total = {c: sum(r[c] for r in rows) for c in ("runs", *COUNTS)}
        cost = round(sum(r["cost_usd"] for r in rows), 10)
        unknown = any(r["runs_without_cost"] for r in rows)
        body.append(("total", *([""] * (len(by) - 1)), str(total["runs"]), *(_int(total[c]) for c in COUNTS),
                     _cost(cost) + ("+?" if unknown else "")))
    return _table(header, body, right=tuple(range(len(by), len(header))))


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


def _safe_int(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def _int(v: Any) -> str:
    return f"{int(v):,}" if isinstance(v, int | float) else "-"


def _cost(v: Any) -> str:
    return f"${v:.4f}" if isinstance(v, int | float) else "-"


def _duration(ms: Any) -> str:
    if not isinstance(ms, int | float):
        return "-"
    return f"{ms / 1000:.1f}s" if ms < 600_000 else f"{ms / 60000:.0f}m"
