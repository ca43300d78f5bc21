"""`shims doctor` as people read it, in the manner of `flutter doctor`: a [✓]/[!]/[✗] line per
provider, a line per check under it with what to do about each problem, and a summary; and
`shims doctor --modes` as a block per provider that fits 100 columns.

Pure: reports (shims.run.doctor_checks) and mode rows in, rich renderables out. Every text
that a vendor or the machine supplied goes through `cell`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Group
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from shims.views.terminal import cell

# By a report's or a check's state (ok, warning, problem).
MARKS = {"ok": ("✓", "green"), "note": ("•", "dim"), "warning": ("!", "yellow"), "problem": ("✗", "red")}
HEADLINES = {"ok": "ready", "warning": "ready, with warnings", "problem": "not ready"}


def doctor_view(reports: Sequence[Any], config_problem: str | None = None) -> Group:
    """`reports`: shims.run.doctor_checks.Report (provider, ready, state, checks), read as plain
    data, so the view stays below the run (tests/test_layers.py). `config_problem`: why the
    config file cannot be read; every run refuses to start until it is fixed, so none is ready."""
    parts: list = []
    if config_problem is not None:
        mark, style = MARKS["problem"]
        parts.append(Text.assemble("[", (mark, style), "] ", ("config file", "bold"), ": unreadable, no run starts"))
        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True)
        grid.add_column(overflow="fold")
        grid.add_row(Text(mark, style=style), _check_text(
            "config", config_problem, "fix the file (`shims config show` reads it the way a run does)"))
        parts.append(Padding(grid, (0, 0, 0, 4)))
    for r in reports:
        mark, style = MARKS[r.state]
        parts.append(Text.assemble("[", (mark, style), "] ", cell(r.provider, "bold"), f": {HEADLINES[r.state]}"))
        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True)
        grid.add_column(overflow="fold")  # a long path folds, never cut to an ellipsis
        for c in r.checks:
            mark, style = MARKS[c.state]
            grid.add_row(Text(mark, style=style), _check_text(c.name, c.detail, c.what_to_do))
        parts.append(Padding(grid, (0, 0, 0, 4)))
    ready = 0 if config_problem is not None else sum(r.ready for r in reports)
    noun = "provider" if len(reports) == 1 else "providers"
    summary = f"{ready} of {len(reports)} {noun} ready"
    parts.append(Text(summary + (": fix the config file first." if config_problem is not None else "."), style="bold"))
    return Group(*parts)


def _check_text(name: str, detail: str, what_to_do: str | None) -> Group | Text:
    line = Text.assemble(f"{name}: ", cell(detail))
    if not what_to_do:
        return line
    fix = Table.grid(padding=(0, 1))  # the arrow apart, so a long line wraps under its text
    fix.add_column(no_wrap=True)
    fix.add_column(overflow="fold")
    fix.add_row(Text("→", style="bold"), cell(what_to_do))
    return Group(line, fix)


def modes_view(rows: Sequence[dict]) -> Group:
    """`rows`: {provider, mode, args, meaning, supported, why_not} per provider and mode."""
    parts: list = []
    for provider in dict.fromkeys(r["provider"] for r in rows):
        parts.append(cell(provider, "bold"))
        grid = Table.grid(padding=(0, 2))
        grid.add_column(no_wrap=True)
        grid.add_column(overflow="fold")
        for r in (r for r in rows if r["provider"] == provider):
            mark, style = MARKS["ok" if r["supported"] else "problem"]
            here = Table.grid(padding=(0, 1))  # the mark apart, so a long reason wraps under its text
            here.add_column(no_wrap=True)
            here.add_column(overflow="fold")
            here.add_row(Text(mark, style=style), "can be honoured here" if r["supported"]
                         else Text.assemble("not here: ", cell(r["why_not"])))
            grid.add_row(cell(r["mode"]), Group(cell(" ".join(r["args"]) or "(no arguments: the default)"),
                                                cell(r["meaning"], "dim"), here))
        parts.append(Padding(grid, (0, 0, 1, 2)))
    return Group(*parts)
