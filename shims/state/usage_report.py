"""What `shims usage` sums: pure functions from ledger entries to rows and a total.

No I/O, no clock: `now` is passed in. Counts keep the contract's names (CONTRACT §5), where
`input_tokens` includes cache reads and writes; `uncached_input_tokens` is what is left of it.
A row's `cost_usd` is the sum of the costs that are known; how many of its runs (or, for a run
split by model, model shares) had no cost or an estimated one is counted beside it, so a view
never shows an unknown cost as $0.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shims.state.store.base import RunQuery

from normalize.jsonline import as_count
from normalize.usage import uncached_input_tokens

GROUP_KEYS = ("provider", "model", "day", "week", "month", "role", "account", "session")
# Summed per row, in the order every view shows them.
COUNTS = (
    "uncached_input_tokens",
    "cached_input_tokens",
    "cache_write_input_tokens",
    "input_tokens",
    "output_tokens",
    "reasoning_output_tokens",
    "total_tokens",
)
ESTIMATED = "price_table"  # CONTRACT §5 cost_source: computed by the shim, not reported by the vendor

_AGO = {"d": "days", "h": "hours", "m": "minutes"}
WHEN_FORMS = "7d, 12h, 30m or a date YYYY-MM-DD (UTC)"


class BadFilter(ValueError):
    pass


@dataclass(frozen=True)
class Window:
    """Entries at or after `since` and strictly before `until` (either may be open)."""

    since: datetime | None = None
    until: datetime | None = None

    def holds(self, at: datetime | None) -> bool:
        if at is None:
            return self.since is None and self.until is None
        return (self.since is None or at >= self.since) and (self.until is None or at < self.until)


@dataclass
class Report:
    """`rows` and their `total`, each with `runs_unknown_cost` (runs with a model share of
    unknown cost) and `runs_estimated_cost` (runs costed from a price table)."""

    rows: list[dict[str, Any]]
    total: dict[str, Any]
    providers_estimated: list[str] = field(default_factory=list)


def parse_when(text: str, flag: str, *, now: datetime, end: bool = False) -> datetime:
    """`7d`/`12h`/`30m` ago, or a UTC date. As an end (`--until`) a date means the end of that
    day, so `--until 2026-11-30` includes the 30th."""
    text = text.strip()
    m = re.fullmatch(r"(\d+)([dhm])", text)
    if m:
        try:
            return now - timedelta(**{_AGO[m.group(2)]: int(m.group(1))})
        except (OverflowError, ValueError):  # ValueError: more digits than int() reads
            raise BadFilter(f"{flag} {text[:40]!r} reaches before the year 1") from None
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        try:
            day = date.fromisoformat(text)
        except ValueError as exc:
            raise BadFilter(f"{flag} {text!r} is not a date ({exc}); it takes {WHEN_FORMS}") from None
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        if not end:
            return start
        try:
            return start + timedelta(days=1)
        except OverflowError:  # the end of 9999-12-31 is past what datetime holds: no bound
            return datetime.max.replace(tzinfo=UTC)
    raise BadFilter(f"{flag} takes {WHEN_FORMS}, not {text!r}")


def parse_window(since: str | None, until: str | None, *, now: datetime) -> Window:
    window = Window(
        parse_when(since, "--since", now=now) if since else None,
        parse_when(until, "--until", now=now, end=True) if until else None,
    )
    if window.since and window.until and window.since >= window.until:
        raise BadFilter(f"--since {since} is not before --until {until}")
    return window


def window_query(window: Window) -> RunQuery:
    """The store's query for a window, a little wider than it (whole seconds, as the shim
    writes `at`): the store reads only those rows, and usage_report cuts the window exactly."""
    from shims.state.store.base import RunQuery

    def stamp(at: datetime | None, up: bool) -> str | None:
        if at is None:
            return None
        whole = at.replace(microsecond=0)
        if up and whole != at:
            whole += timedelta(seconds=1)
        return whole.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    return RunQuery(since=stamp(window.since, False), until=stamp(window.until, True))


def parse_group(text: str) -> tuple[str, ...]:
    keys = tuple(k.strip() for k in text.split(",") if k.strip())
    bad = [k for k in keys if k not in GROUP_KEYS]
    if bad or not keys:
        raise BadFilter(f"--by takes a comma list of {', '.join(GROUP_KEYS)}" + (f", not {', '.join(bad)}" if bad else ""))
    return tuple(dict.fromkeys(keys))


def usage_report(entries: Iterable[dict[str, Any]], by: tuple[str, ...], window: Window = Window()) -> Report:
    """Sums per group. Each ledger entry is one run's own share (resumed runs were measured
    against the session's earlier total when they ran), so plain sums never double count.
    A run that used several models is split by its per-model figures; the run is counted once,
    under its main model."""
    from shims.state.redact import current

    redactor = current()  # entries written before masking reached the ledger are masked here
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    total = _empty({})
    estimated_by: set[str] = set()
    for e in entries:
        at = _instant(e.get("at"))
        if not window.holds(at):
            continue
        fields = {
            "provider": e.get("provider"),
            "day": at.strftime("%Y-%m-%d") if at else None,
            "week": "{}-W{:02d}".format(*at.isocalendar()[:2]) if at else None,
            "month": at.strftime("%Y-%m") if at else None,
            "role": e.get("role"),
            "account": e.get("account"),
            "session": e.get("session_id"),
        }
        estimated = _usage(e).get("cost_source") == ESTIMATED
        unknown_in: dict[tuple[Any, ...], bool] = {}  # row -> a share of this run had no cost
        for model, share in _model_shares(e):
            row_fields = {**fields, "model": model}
            row_fields = {k: redactor.redact_text(v) if isinstance(v, str) else v for k, v in row_fields.items()}
            key = tuple(row_fields[k] for k in by)
            g = groups.get(key)
            if g is None:
                g = groups[key] = _empty({k: row_fields[k] for k in by})
            unknown = _add(g, share)
            _add(total, share)
            unknown_in[key] = unknown_in.get(key, False) or unknown
        # A run counts once per row for its marks, however many of its models the row holds.
        for key, unknown in unknown_in.items():
            groups[key]["runs_unknown_cost"] += unknown
            groups[key]["runs_estimated_cost"] += estimated
        total["runs_unknown_cost"] += any(unknown_in.values())
        total["runs_estimated_cost"] += estimated
        if estimated:
            estimated_by.add(str(e.get("provider")))
    rows = [groups[k] for k in sorted(groups, key=lambda k: tuple("" if v is None else str(v) for v in k))]
    for g in (*rows, total):
        if g["cost_usd"] is None and not g["runs_unknown_cost"]:
            g["cost_usd"] = 0.0  # every run in it spent nothing (refused, failed to launch): known, zero
    return Report(rows, total, sorted(estimated_by))


def _empty(keys: dict[str, Any]) -> dict[str, Any]:
    return {**keys, "runs": 0, **dict.fromkeys(COUNTS, 0), "cost_usd": None,
            "runs_unknown_cost": 0, "runs_estimated_cost": 0}


def _add(g: dict[str, Any], share: dict[str, Any]) -> bool:
    """Adds one share to a row; True when its cost is unknown."""
    g["runs"] += share["run"]
    counts = {c: as_count(share.get(c)) for c in COUNTS if c != "uncached_input_tokens"}
    counts["uncached_input_tokens"] = uncached_input_tokens(share)
    for c in COUNTS:
        g[c] += counts[c]
    cost = share.get("cost_usd")
    if isinstance(cost, int | float) and not isinstance(cost, bool):
        g["cost_usd"] = round((g["cost_usd"] or 0.0) + float(cost), 10)
        return False
    # Nothing spent (a refused run, a launch that failed) is not an unknown cost; nor does it
    # make a row's cost known (usage_report sets zero where all its runs spent nothing).
    return bool(counts["total_tokens"])


def _usage(e: dict[str, Any]) -> dict[str, Any]:
    return e["usage"] if isinstance(e.get("usage"), dict) else {}


def _model_shares(e: dict[str, Any]) -> list[tuple[str | None, dict[str, Any]]]:
    usage = _usage(e)
    models = usage.get("models") if isinstance(usage.get("models"), dict) else {}
    if len(models) > 1:
        main = usage.get("model") if usage.get("model") in models else max(models, key=lambda n: str(n))
        shares = [(name, {**m, "run": 1 if name == main else 0}) for name, m in sorted(models.items())
                  if isinstance(m, dict)]
        if shares and all(s.get("cost_usd") is None for _, s in shares) and usage.get("cost_usd") is not None:
            # A vendor that costs only the whole run: its cost goes with the run, to the main model.
            shares = [(n, {**s, "cost_usd": usage["cost_usd"] if s["run"] else 0.0}) for n, s in shares]
        if shares:
            return shares
    return [(usage.get("model") or e.get("model"), {**usage, "run": 1})]


def _instant(at: Any) -> datetime | None:
    if not isinstance(at, str):
        return None
    try:
        parsed = datetime.fromisoformat(at)
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)

