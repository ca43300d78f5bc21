"""`shims usage` as a person reads it: a rich table of the rows of shims.state.usage_report,
with a Total row, a bar of each row's cost, and a legend that says what the columns and the
cost marks mean. Also the same rows as CSV. Pure: report in, renderable or text out.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from normalize.emit import visible
from shims.state.usage_report import COUNTS, Report
from shims.views.figures import UNKNOWN, usd
from shims.views.terminal import cell, console

# (row field, column title): what the table shows, in order. Reasoning is inside output.
COLUMNS = (
    ("runs", "Runs"),
    ("uncached_input_tokens", "Input"),
    ("cached_input_tokens", "Cache\nread"),
    ("cache_write_input_tokens", "Cache\nwrite"),
    ("output_tokens", "Output"),
    ("total_tokens", "Total"),
)
KEY_TITLES = {"week": "Week (ISO)"}
ESTIMATED_MARK = "~"
PARTIAL_MARK = "*"
BAR_WIDTH = 10
BAR_HEADER = ""


def usage_view(report: Report, by: tuple[str, ...], width: int) -> RenderableType:
    """The table and its legend for a console `width` wide: the first layout that fits. The
    bar is given up first, then the digits (12.8k for 12,800), then the table itself (a block
    per row, which wraps between its fields); a name or a number is never folded or cut."""
    for bars, compact in ((_bars(report.rows), False), (None, False), (None, True)):
        table = _table(report, by, bars, compact)
        if _width(table) <= width:
            table.caption = legend(report, compact)  # a caption wraps to the table's width, not the screen's
            return table
    return Group(*_blocks(report, by), legend(report, compact=False))


def legend(report: Report, compact: bool = False) -> Text:
    """One line per thing a reader must know to trust the numbers; the cost lines only when
    their mark appears in the table."""
    estimated, unknown = report.total["runs_estimated_cost"], report.total["runs_unknown_cost"]
    lines = ["Input: prompt tokens not read from or written to a cache. Output includes reasoning. "
             "Total: input + cache read + cache write + output. Dates are UTC."
             + (" Tokens in thousands (k) and millions (M)." if compact else "")]
    if any(not r["runs"] and r["total_tokens"] for r in report.rows):
        lines[0] += " Runs: a run of several models counts once, under its main model."
    if estimated:
        lines.append(
            f"{ESTIMATED_MARK}  estimated by the shim for {', '.join(report.providers_estimated)} ({_runs(estimated)}), "
            "not reported by the vendor: packaged list prices with [prices.<vendor>.\"<model>\"] of the config "
            "file over them (`shims config show`).")
    if unknown:
        lines.append(
            f"{PARTIAL_MARK}  the known part only: {_runs(unknown)} had no cost (none reported, model "
            f"in no price table). {UNKNOWN}: no known cost in the row.")
    return Text("\n".join(lines), style="dim")


def _table(report: Report, by: tuple[str, ...], bars: list[str] | None, compact: bool) -> Table:
    table = Table(box=box.SIMPLE_HEAD, padding=(0, 1, 0, 0), pad_edge=False, show_edge=False,
                  caption_justify="left")
    for k in by:  # whole, never folded: a layout that cannot hold them gives way to the blocks
        table.add_column(KEY_TITLES.get(k, k.capitalize()), no_wrap=True)
    for _, title in COLUMNS:
        table.add_column(title, justify="right", no_wrap=True)
    table.add_column("Cost\n(USD)", justify="right", no_wrap=True)
    if bars:
        table.add_column(BAR_HEADER, no_wrap=True, style="green")
    for row, bar in zip(report.rows, bars or [None] * len(report.rows), strict=True):
        table.add_row(*(cell("-" if row[k] is None else row[k]) for k in by), *_numbers(row, compact=compact),
                      *([Text(bar or "")] if bars else []))
    table.add_section()
    table.add_row(Text("Total", style="bold"), *[""] * (len(by) - 1),
                  *_numbers(report.total, style="bold", compact=compact), *([""] if bars else []))
    return table


def _blocks(report: Report, by: tuple[str, ...]) -> list[RenderableType]:
    """A block per row for a screen too narrow for any table: its keys on one line, its cost
    and counts indented under it, three short lines that wrap only between fields."""
    out: list[RenderableType] = []
    for row in report.rows:
        out.append(Text(" · ").join(cell("-" if row[k] is None else row[k], "bold") for k in by))
        out.append(Padding(_fields(row), (0, 0, 0, 2)))
    out += [Text("Total", style="bold"), Padding(_fields(report.total), (0, 0, 0, 2))]
    return out


def _fields(row: dict[str, Any]) -> Text:
    cost = money(row)
    counts = {k: f"{title.replace(chr(10), ' ').lower()} {row[k]:,}" for k, title in COLUMNS if k != "runs"}
    lines = [Text.assemble((cost, "dim" if cost == UNKNOWN else ""), f" · {_runs(row['runs'])}"),
             Text(" · ".join(counts[k] for k in ("uncached_input_tokens", "cached_input_tokens",
                                                 "cache_write_input_tokens"))),
             Text(" · ".join(counts[k] for k in ("output_tokens", "total_tokens")))]
    return Text("\n").join(lines)


def _width(table: Table) -> int:
    return console(io.StringIO(), width=10_000, terminal=False).measure(table).maximum  # measures, prints nothing


def usage_csv(report: Report, by: tuple[str, ...]) -> str:
    """The rows (no total: a spreadsheet sums), numbers as numbers, an unknown cost empty.
    Text cells are made visible like the table's: a CSV is often just printed."""
    header = (*by, "runs", *COUNTS, "cost_usd", "runs_unknown_cost", "runs_estimated_cost")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for r in report.rows:
        writer.writerow([_csv_cell(r[h]) for h in header])
    return out.getvalue()


def money(row: dict[str, Any]) -> str:
    cost = row["cost_usd"]
    if cost is None:
        return UNKNOWN
    text = usd(cost)
    return (ESTIMATED_MARK if row["runs_estimated_cost"] else "") + text + (PARTIAL_MARK if row["runs_unknown_cost"] else "")


def _numbers(row: dict[str, Any], style: str = "", compact: bool = False) -> list[Text]:
    cost = money(row)
    count = _compact if compact else "{:,}".format
    return [*(Text(count(row[k]), style=style) for k, _ in COLUMNS),
            Text(cost, style=style + (" dim" if cost == UNKNOWN else ""))]


def _compact(n: int) -> str:
    """12,800 -> 12.8k, 1,204,551 -> 1.2M: three significant digits at most."""
    for limit, suffix in ((1_000_000_000, "G"), (1_000_000, "M"), (1_000, "k")):
        if n >= limit:
            value = n / limit
            return f"{value:.1f}{suffix}" if value < 100 else f"{value:.0f}{suffix}"
    return str(n)


def _bars(rows: list[dict[str, Any]]) -> list[str] | None:
    """A bar per row scaled to the costliest row: where the money went, at a glance. None
    when there is nothing to compare (one row, or no known cost)."""
    top = max((r["cost_usd"] or 0.0 for r in rows), default=0.0)
    if len(rows) < 2 or top <= 0:
        return None
    return [_bar(BAR_WIDTH * r["cost_usd"] / top) if r["cost_usd"] else "" for r in rows]


def _bar(blocks: float) -> str:
    """`blocks` wide in eighths of a block; a cost too small to see still shows a sliver."""
    eighths = max(round(blocks * 8), 1)
    return "█" * (eighths // 8) + ("", "▏", "▎", "▍", "▌", "▋", "▊", "▉")[eighths % 8]


def _runs(n: int) -> str:
    return f"{n} run" + ("" if n == 1 else "s")


def _csv_cell(v: Any) -> Any:
    if v is None:
        return ""
    return visible(v, keep="") if isinstance(v, str) else v
