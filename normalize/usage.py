"""Usage arithmetic with Codex semantics (CONTRACT §5).

Invariants, whatever the vendor:
  input_tokens  includes cached reads and cache writes;
  output_tokens includes reasoning;
  total_tokens  = input_tokens + output_tokens.
Vendors translate their own fields into `build_usage` arguments in their package; this module
never knows a vendor's field names.
"""

from __future__ import annotations

from typing import Any

from normalize.jsonline import as_count

TURN_USAGE_FIELDS = (
    "input_tokens",
    "cached_input_tokens",
    "cache_write_input_tokens",
    "output_tokens",
    "reasoning_output_tokens",
)
COUNT_FIELDS = (*TURN_USAGE_FIELDS, "total_tokens")


def build_usage(
    *,
    input_tokens: int = 0,
    cached_input_tokens: int = 0,
    cache_write_input_tokens: int = 0,
    output_tokens: int = 0,
    reasoning_output_tokens: int = 0,
    cost_usd: float | None = None,
    cost_source: str | None = None,
    model: str | None = None,
    models: dict[str, dict[str, Any]] | None = None,
    num_turns: int | None = None,
    scope: str = "invocation",
) -> dict[str, Any]:
    """A usage object in contract shape. Arguments are already in Codex semantics
    (input includes cache, output includes reasoning); negative values are clamped to 0."""
    counts = {
        "input_tokens": _count(input_tokens),
        "cached_input_tokens": _count(cached_input_tokens),
        "cache_write_input_tokens": _count(cache_write_input_tokens),
        "output_tokens": _count(output_tokens),
        "reasoning_output_tokens": _count(reasoning_output_tokens),
    }
    counts["total_tokens"] = counts["input_tokens"] + counts["output_tokens"]
    return {
        **counts,
        "cost_usd": cost_usd,
        "cost_source": cost_source if cost_usd is not None else None,
        "model": model,
        "models": models or {},
        "num_turns": num_turns,
        "scope": scope,
    }


def from_parts(
    *,
    uncached_input: int = 0,
    cache_read: int = 0,
    cache_write: int = 0,
    visible_output: int = 0,
    reasoning: int = 0,
    **rest: Any,
) -> dict[str, Any]:
    """For vendors that report input without cache and output without thinking: sums them
    into Codex semantics."""
    return build_usage(
        input_tokens=_count(uncached_input) + _count(cache_read) + _count(cache_write),
        cached_input_tokens=cache_read,
        cache_write_input_tokens=cache_write,
        output_tokens=_count(visible_output) + _count(reasoning),
        reasoning_output_tokens=reasoning,
        **rest,
    )


def empty_usage() -> dict[str, Any]:
    return build_usage()


def turn_usage(usage: dict[str, Any]) -> dict[str, int]:
    """The five Codex `Usage` fields carried by `turn.completed`."""
    return {k: _count(usage.get(k)) for k in TURN_USAGE_FIELDS}


def subtract(cumulative: dict[str, Any], previous: dict[str, Any]) -> dict[str, Any]:
    """Per-invocation numbers from two running totals of one session (agy always, Claude after
    --resume). A counter that went backwards means the vendor reset its total: the cumulative
    value is then the best per-invocation figure, and the scope says so."""
    went_back = any(int(cumulative.get(k) or 0) < int(previous.get(k) or 0) for k in TURN_USAGE_FIELDS)
    if went_back:
        return {**cumulative, "scope": "session"}
    delta = {k: int(cumulative.get(k) or 0) - int(previous.get(k) or 0) for k in TURN_USAGE_FIELDS}
    cost = cumulative.get("cost_usd")
    prev_cost = previous.get("cost_usd")
    # Without the earlier running cost this run's share is unknown: never report the total as it.
    cost = None if cost is None or prev_cost is None else round(max(cost - prev_cost, 0.0), 10)
    return build_usage(
        **delta,
        cost_usd=cost,
        cost_source=cumulative.get("cost_source"),
        model=cumulative.get("model"),
        models=_subtract_models(cumulative.get("models"), previous.get("models")),
        num_turns=cumulative.get("num_turns"),
        scope="invocation",
    )


def _subtract_models(cumulative: Any, previous: Any) -> dict[str, dict[str, Any]]:
    """Per-model running totals minus the earlier ones: this run's per-model share (a model
    breakdown that stayed cumulative would be counted again by every ledger sum)."""
    if not isinstance(cumulative, dict):
        return {}
    previous = previous if isinstance(previous, dict) else {}
    out: dict[str, dict[str, Any]] = {}
    for name, m in cumulative.items():
        if not isinstance(m, dict):
            continue
        p = previous.get(name) if isinstance(previous.get(name), dict) else {}
        share = {k: max(_count(m.get(k)) - _count(p.get(k)), 0) for k in COUNT_FIELDS}
        cost, prev_cost = m.get("cost_usd"), p.get("cost_usd", 0.0 if not p else None)
        share["cost_usd"] = None if cost is None or prev_cost is None else round(max(cost - prev_cost, 0.0), 10)
        if any(share[k] for k in COUNT_FIELDS):
            out[name] = share
    return out


def add(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Sum of two usages (fallback attempts, ledgers). Cost is known only if both are."""
    counts = {k: int(a.get(k) or 0) + int(b.get(k) or 0) for k in TURN_USAGE_FIELDS}
    ca, cb = a.get("cost_usd"), b.get("cost_usd")
    cost = None if ca is None or cb is None else round(ca + cb, 10)
    return build_usage(
        **counts,
        cost_usd=cost,
        cost_source=a.get("cost_source") or b.get("cost_source"),
        model=a.get("model") or b.get("model"),
        scope="invocation" if a.get("scope") == b.get("scope") == "invocation" else "session",
    )


def price_estimate(usage: dict[str, Any], prices: dict[str, dict[str, float]]) -> float | None:
    """USD from a price table (per million tokens: input, cached_input, output) for the usage's
    model; None when the model is not priced. Output includes reasoning (billed as output)."""
    p = prices.get(usage.get("model") or "")
    if p is None:
        return None
    cached = _count(usage.get("cached_input_tokens"))
    uncached = max(_count(usage.get("input_tokens")) - cached, 0)
    total = uncached * p["input"] + cached * p.get("cached_input", p["input"]) + _count(usage.get("output_tokens")) * p["output"]
    return round(total / 1_000_000, 10)


# Counts are kept within JSON-safe integers: a vendor's absurd number must not break the stream.
MAX_COUNT = 2**53 - 1


def _count(v: Any) -> int:
    try:
        n = int(v or 0)
    except (TypeError, ValueError, OverflowError):
        return 0
    return min(n, MAX_COUNT) if n > 0 else 0


def uncached_input_tokens(usage: dict[str, Any]) -> int:
    """The prompt tokens neither read from nor written to a cache: `input_tokens` includes
    both (CONTRACT §5). At least 0, for a vendor whose parts add up to more than its whole."""
    parts = (as_count(usage.get(k)) for k in ("cached_input_tokens", "cache_write_input_tokens"))
    return max(as_count(usage.get("input_tokens")) - sum(parts), 0)
