"""`shims usage`: what a user reads in the table, the JSON and the CSV, for a fixed ledger
(tests/snapshots/usage_ledger.ndjson: three providers, a run split by model, unknown and
estimated costs, cache reads and writes, days in October and November 2026).

The table snapshots are tests/snapshots/usage-*.txt; after a deliberate change to the view,
regenerate them with `make snapshots` (UPDATE_SNAPSHOTS=1) and read the diff before committing.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from snapshot import SNAPSHOTS, assert_snapshot

from shims.state.usage_report import BadFilter, Window, parse_group, parse_window, usage_report, window_query
from shims.views.terminal import console
from shims.views.usage import usage_csv, usage_view

LEDGER = SNAPSHOTS / "usage_ledger.ndjson"
ENTRIES = [orjson.loads(line) for line in LEDGER.read_bytes().splitlines()]
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
SHIMS = str(Path(sys.executable).parent / "shims")


def render(by: str, width: int, window: Window = Window(), terminal: bool = False) -> str:
    keys = parse_group(by)
    out = io.StringIO()
    console(out, width=width, terminal=terminal).print(usage_view(usage_report(ENTRIES, keys, window), keys, width))
    return out.getvalue()


@pytest.mark.parametrize(("by", "width"), [("provider,model,day", 120), ("provider,model,day", 100),
                                           ("provider,model,day", 80),
                                           ("month,provider", 100), ("week", 80)])
def test_the_table_matches_its_snapshot(by, width):
    text = render(by, width)
    assert_snapshot(f"usage-{by.replace(',', '-')}-{width}.txt", text)
    assert all(len(line) <= width for line in text.splitlines())


def _row(text: str, first: str) -> list[str]:
    return next(line.split() for line in text.splitlines() if line.startswith(first))


def test_columns_keep_cache_reads_and_writes_out_of_input():
    table = render("provider", 100)
    header = [line.split() for line in table.splitlines()[:2]]
    assert header[1][:4] == ["Provider", "Runs", "Input", "read"] and header[0][:2] == ["Cache", "Cache"]
    # claude's input_tokens are 680,000 in all, of which 560,000 cache reads and 76,000 writes
    assert _row(table, "claude")[:7] == ["claude", "5", "44,000", "560,000", "76,000", "18,500", "698,500"]
    assert _row(table, "Total")[1:7] == ["10", "163,297", "672,003", "76,000", "27,913", "939,213"]


def test_costs_are_marked_and_unknown_is_never_zero():
    table = render("provider,model,day", 120)
    assert _row(table, "agy")[-1] == "unknown"  # no cost at all: not $0.0000
    assert _row(table, "gemini    gemini-3.1-pro-preview")[-1] == "unknown"
    assert _row(table, "gemini    gemini-2.5-pro")[-2] == "~$0.1037*"  # one estimated, one unknown
    assert _row(table, "claude    claude-opus-4-1")[-2] == "$2.30"  # vendor-reported: no mark
    assert _row(table, "Total")[-1] == "~$2.70*"
    legend = table[table.index("Input: prompt tokens"):]
    assert "~  estimated by the shim for gemini (2 runs)" in legend
    assert "3 runs had no cost" in " ".join(legend.split())
    only_known = render("provider", 100, Window(until=datetime(2026, 11, 1, tzinfo=UTC)))
    assert "~" not in only_known and "*" not in only_known and "unknown" not in only_known


def test_a_run_of_several_models_counts_once_under_its_main_model():
    rows = usage_report(ENTRIES, ("model",), Window()).rows
    runs = {r["model"]: r["runs"] for r in rows}
    assert runs["claude-opus-4-1"] == 1 and runs["claude-haiku-4-5"] == 0
    assert runs["gemini-2.5-flash"] == 1 and runs["gemini-2.5-flash-lite"] == 0 and "auto" not in runs
    by_provider = {r["provider"]: r for r in usage_report(ENTRIES, ("provider",)).rows}
    assert by_provider["gemini"]["runs_estimated_cost"] == 2  # the auto run once, not per model


def test_the_bar_follows_the_cost_and_plain_output_has_no_escape_codes():
    table = render("provider", 100)
    assert _row(table, "claude")[-1] == "██████████" and _row(table, "gemini")[-1] == "▍"
    assert len(_row(table, "agy")) == 8  # unknown: no bar
    assert "\x1b" not in table
    assert "\x1b[" in render("provider", 100, terminal=True)


@pytest.mark.parametrize("text", ["2026-13-45", "2026-02-30", "yesterday", "7w", "26-11-01"])
def test_a_bad_date_is_an_error_naming_the_flag_and_the_forms(text):
    for flag in ("--since", "--until"):
        with pytest.raises(BadFilter) as err:
            parse_window(text if flag == "--since" else None, text if flag == "--until" else None, now=NOW)
        assert flag in str(err.value) and "YYYY-MM-DD" in str(err.value)


@pytest.mark.parametrize("since", ["9" * 5000 + "d", "99999999999d"])
def test_dates_at_the_edge_of_the_calendar_are_errors_not_tracebacks(since):
    with pytest.raises(BadFilter):
        parse_window(since, None, now=NOW)


def test_until_the_last_day_of_the_calendar_takes_every_run():
    everything = usage_report(ENTRIES, ("provider",)).total
    assert usage_report(ENTRIES, ("provider",), parse_window(None, "9999-12-31", now=NOW)).total == everything


def test_a_refused_run_does_not_make_an_unknown_cost_look_known():
    """A day holding agy's 65,800 tokens of unknown cost and a refused run (nothing spent):
    the known part is no spend at all, so the row's cost is unknown, not `$0.0000*`."""
    report = usage_report(ENTRIES, ("day",))
    day = next(r for r in report.rows if r["day"] == "2026-11-03")
    assert day["runs_unknown_cost"] == 1 and day["cost_usd"] is None
    refused = usage_report([e for e in ENTRIES if not (e.get("usage") or {}).get("total_tokens")], ("provider",))
    assert refused.rows and all(r["cost_usd"] == 0.0 for r in refused.rows)  # nothing spent: known, zero


@pytest.mark.parametrize("width", [80, 60, 40])
def test_a_narrow_terminal_keeps_every_key_and_number_whole(width):
    """What a person reads at 80 columns or less: each provider, model and day whole on its
    line, every count and cost whole; nothing wider than the screen."""
    text = render("provider,model,day", width)
    assert all(len(line) <= width for line in text.splitlines()), text
    flat = " ".join(text.split())
    for e in ENTRIES:
        model = (e.get("usage") or {}).get("model") or e.get("model")
        if model:
            assert model in text, (model, text)
    for token in ("claude-opus-4-1", "gpt-5.1-codex", "2026-11-03", "Total", "~$2.70*"):
        assert token in flat, (token, text)
    assert "…" not in text


def test_until_a_date_includes_that_whole_day_and_since_must_come_first():
    window = parse_window("2026-10-31", "2026-10-31", now=NOW)
    assert [r["day"] for r in usage_report(ENTRIES, ("day",), window).rows] == ["2026-10-31"]  # at 23:59:59
    november = parse_window("2026-11-01", "2026-11-30", now=NOW)
    days = [r["day"] for r in usage_report(ENTRIES, ("day",), november).rows]
    assert days[0] == "2026-11-01" and days[-1] == "2026-11-30"
    assert parse_window("7d", None, now=NOW).since == datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    with pytest.raises(BadFilter, match="not before"):
        parse_window("2026-11-05", "2026-11-01", now=NOW)


def test_week_and_month_groups():
    weeks = {r["week"]: r["runs"] for r in usage_report(ENTRIES, ("week",)).rows}
    assert weeks == {"2026-W44": 3, "2026-W45": 6, "2026-W49": 1}  # Sat 31 Oct is W44, Sun 1 Nov too
    months = {r["month"]: r["total_tokens"] for r in usage_report(ENTRIES, ("month",)).rows}
    assert months == {"2026-10": 255_300, "2026-11": 683_913}


def test_csv_parses_back_to_the_json_rows():
    keys = parse_group("provider,model")
    report = usage_report(ENTRIES, keys)
    parsed = list(csv.DictReader(io.StringIO(usage_csv(report, keys))))
    assert len(parsed) == len(report.rows)
    for got, row in zip(parsed, report.rows, strict=True):
        assert got["model"] == (row["model"] or "") and int(got["cached_input_tokens"]) == row["cached_input_tokens"]
        assert (float(got["cost_usd"]) if got["cost_usd"] else None) == row["cost_usd"]
    agy = next(r for r in parsed if r["provider"] == "agy")
    assert agy["cost_usd"] == "" and agy["runs_unknown_cost"] == "1"


def _shims(*args, state: Path):
    env = {**os.environ, "XDG_STATE_HOME": str(state), "NO_COLOR": "1"}
    return subprocess.run([SHIMS, "usage", *args], capture_output=True, env=env, timeout=60)


@pytest.fixture
def state(tmp_path):
    """The fixture ledger as an earlier version left it: the first command imports it into the
    state store (tests/test_state_store.py checks the import itself)."""
    folder = tmp_path / "codex-shims"
    folder.mkdir(mode=0o700)
    (folder / "ledger.ndjson").write_bytes(LEDGER.read_bytes())
    (folder / "ledger.ndjson").chmod(0o600)
    return tmp_path


def test_the_command_json_csv_and_errors(state):
    rows = json.loads(_shims("--by", "provider", "--json", state=state).stdout)
    assert [r["provider"] for r in rows] == ["agy", "claude", "gemini"]
    assert rows[0]["cost_usd"] is None and isinstance(rows[1]["cost_usd"], float)
    assert set(rows[1]) == {"provider", "runs", "uncached_input_tokens", "cached_input_tokens",
                            "cache_write_input_tokens", "input_tokens", "output_tokens", "reasoning_output_tokens",
                            "total_tokens", "cost_usd", "runs_unknown_cost", "runs_estimated_cost"}
    out = _shims("--by", "month", "--csv", state=state).stdout.decode()
    assert out.splitlines()[0].startswith("month,runs,") and len(out.splitlines()) == 3
    both = _shims("--json", "--csv", state=state)
    assert both.returncode == 2 and b"--json" in both.stderr and b"--csv" in both.stderr
    bad = _shims("--since", "2026-13-45", state=state)
    assert bad.returncode == 2 and b"--since" in bad.stderr and b"YYYY-MM-DD" in bad.stderr and not bad.stdout
    table = _shims("--by", "day", "--until", "2026-10-31", state=state).stdout.decode()
    assert [line.split()[0] for line in table.splitlines() if line.startswith("2026")] == ["2026-10-30", "2026-10-31"]


def test_the_table_into_a_pipe_holds_only_what_is_shown(state):
    """A log or `| less` gets the table without the spaces rich pads each line to its width."""
    table = _shims(state=state).stdout.decode()
    assert "Total" in table and all(line == line.rstrip() for line in table.splitlines()), table


def test_a_pipe_gets_every_cell_whole_however_many_keys(state):
    """A log is grepped: a model or session is never folded onto a second line there."""
    table = _shims("--by", "provider,model,day,role,account,session", state=state).stdout.decode()
    assert any("gpt-5.1-codex" in line for line in table.splitlines()), table
    assert "Tokens in thousands" not in table  # and the numbers are exact


def test_the_readme_sample_is_what_the_command_prints(state):
    """The README's `shims usage --by month,provider` block, run on the same fixture ledger."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    sample = readme.split("$ shims usage --by month,provider\n", 1)[1].split("```", 1)[0]
    assert _shims("--by", "month,provider", state=state).stdout.decode() == sample


def test_the_store_is_asked_for_whole_seconds_around_the_window():
    """The store filters on `at` as the shim writes it; its query may only be wider than the
    window (an entry at 10:00:05 is before an --until of 10:00:05.5), never narrower."""
    window = Window(since=datetime(2026, 11, 1, 10, 0, 0, 700_000, tzinfo=UTC),
                    until=datetime(2026, 11, 2, 10, 0, 5, 500_000, tzinfo=UTC))
    query = window_query(window)
    assert (query.since, query.until) == ("2026-11-01T10:00:00Z", "2026-11-02T10:00:06Z")
    assert window_query(Window()).since is None and window_query(Window()).until is None
    exact = window_query(parse_window("2026-10-31", "2026-10-31", now=NOW))
    assert (exact.since, exact.until) == ("2026-10-31T00:00:00Z", "2026-11-01T00:00:00Z")


def test_an_old_entry_without_cache_writes_or_cost_source_still_counts():
    old = {"at": "2026-11-05T10:00:00Z", "provider": "claude", "model": "m",
           "usage": {"input_tokens": 100, "cached_input_tokens": 60, "output_tokens": 5, "total_tokens": 105,
                     "cost_usd": 0.01}}
    (row,) = usage_report([old], ("provider",)).rows
    assert (row["uncached_input_tokens"], row["cache_write_input_tokens"], row["cost_usd"]) == (40, 0, 0.01)
    assert row["runs_estimated_cost"] == 0 and row["runs_unknown_cost"] == 0


def test_vendor_text_in_a_cell_is_neither_markup_nor_escape_codes():
    entry = {**ENTRIES[0], "model": None,
             "usage": {**ENTRIES[0]["usage"], "model": "[bold red]m[/]\x1b]52;c;eA==\x07"}}
    keys = ("model",)
    out = io.StringIO()
    console(out, width=120, terminal=True).print(usage_view(usage_report([entry], keys), keys, 120))
    text = out.getvalue()
    assert "[bold red]m[/]\\e]52;c;eA==\\a" in text and "\x1b]52" not in text
