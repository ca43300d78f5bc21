"""`shims top`: the table of the workers running now and just ended, from their rows
(shims.state.journal.follow). Pure: rows and the time in, a renderable out."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from shims.state.journal.fold import Row, elapsed_s
from shims.views.figures import usd
from shims.views.terminal import cell

STATUS_STYLE = {"running": "cyan", "completed": "green", "failed": "red", "cancelled": "yellow",
                "interrupted": "yellow"}
COLUMNS = ("run", "provider", "model", "mode", "elapsed", "tokens", "cost", "status", "current")
RIGHT = {"elapsed", "tokens", "cost"}
MODEL_WIDTH = 28
CURRENT_WIDTH = 20
# Left out, in this order, when the terminal is too narrow: what each worker is doing and its
# status go last.
DROPPED = ("mode", "provider", "cost", "model", "tokens", "elapsed")


def top_view(rows: list[Row], now: float, *, linger_s: float, root: str = "", max_rows: int | None = None,
             width: int | None = None, keys: bool = False) -> RenderableType:
    """The heading line and the table; past `max_rows` rows, a line says how many are not shown.
    In `width` columns (a terminal's), the columns of DROPPED go first, so what the workers
    are doing keeps CURRENT_WIDTH at least."""
    running = sum(1 for r in rows if not r.ended)
    heading = Text.assemble(("shims top", "bold"), f"  {running} running · {len(rows) - running} ended "
                            f"in the last {linger_s:g}s", (" · q quits" if keys else "", "dim"))
    if not rows:
        # The root named: a view left empty by the wrong --root says where it looked.
        return Group(heading, Text.assemble("No run is going on under ", cell(root), ", and none ended in that time.",
                                            style="dim"))
    shown = rows if max_rows is None or len(rows) <= max_rows else rows[:max(max_rows - 1, 0)]
    body = [dict(zip(COLUMNS, cells(row, now), strict=True)) for row in shown]
    # Every column but the last keeps its width (a model name up to MODEL_WIDTH); what the
    # worker is doing gets the rest of the line, cut with an ellipsis.
    widths = {name: min(max([len(name), *(r[name].cell_len for r in body)]), MODEL_WIDTH if name == "model" else 10**6)
              for name in COLUMNS if name != "current"}
    names = list(COLUMNS)
    for name in DROPPED:
        if width is None or sum(widths[n] + 2 for n in names if n != "current") + CURRENT_WIDTH <= width:
            break
        names.remove(name)
    table = Table(box=None, pad_edge=False, padding=(0, 1), header_style="bold underline")
    for name in names:
        fixed = widths.get(name)
        # rich narrows only a column it may wrap: the last one, whose cells cut themselves short.
        table.add_column(name, justify="right" if name in RIGHT else "left", no_wrap=fixed is not None,
                         overflow="ellipsis", min_width=fixed, max_width=fixed)
    for row in body:
        table.add_row(*(row[n] for n in names))
    parts: list[RenderableType] = [heading, table]
    if len(shown) < len(rows):
        parts.append(Text(f"… {len(rows) - len(shown)} more", style="dim"))
    return Group(*parts)


def cells(row: Row, now: float) -> list[Text]:
    """One row's cells. Provider, model, mode and what the worker does are vendor or request
    text: through cell(), escaped, never markup."""
    # The failure kind goes with the error, in the wide last column: a status column as wide
    # as `quota_or_rate_limited` would leave no room for what the workers are doing.
    kind = f"{row.failure_kind}: " if row.failure_kind and row.failure_kind != row.status else ""
    if row.ended:
        doing = cell(kind + (row.last or row.current or row.note or ""), "dim")
    else:
        doing = cell(row.current or row.note or "", "yellow" if row.note and not row.current else "")
    doing.no_wrap, doing.overflow = True, "ellipsis"  # a Text keeps its own overflow, not the column's
    return [
        cell(_short_id(row.run), "dim"),
        cell(row.provider or "-"),
        cell(row.model or "-"),
        cell(row.mode or "-"),
        Text(_duration(elapsed_s(row, now))),
        Text(f"{row.tokens:,}" if row.tokens is not None else "-"),
        Text(usd(row.cost_usd, unknown="-")),
        cell(row.status, STATUS_STYLE.get(row.status, "")),
        doing,
    ]


def _short_id(run: str) -> str:
    """The id's random tail: `shims runs show TAIL` finds the run by it."""
    return run.rsplit("-", 1)[-1]


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.1f}s"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"
