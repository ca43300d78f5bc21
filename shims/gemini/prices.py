"""Gemini list prices, USD per million tokens, for `cost_source: price_table`.

Gemini CLI reports no cost, so the shim estimates it: (input − cached) × input + cached ×
cached_input + output × output, where output includes thinking tokens (billed as output).
Prices are Google's published pay-as-you-go list prices for prompts up to 200k tokens, as of
2026-11; a model not listed gets `cost_usd: null` rather than a guess. Override or add models in
the config file:

    [prices.gemini."gemini-2.5-pro"]
    input = 1.25
    cached_input = 0.31
    output = 10.0
"""

from __future__ import annotations

PRICES: dict[str, dict[str, float]] = {
    "gemini-2.5-pro": {"input": 1.25, "cached_input": 0.31, "output": 10.0},
    "gemini-2.5-flash": {"input": 0.30, "cached_input": 0.075, "output": 2.50},
    "gemini-2.5-flash-lite": {"input": 0.10, "cached_input": 0.025, "output": 0.40},
    "gemini-2.0-flash": {"input": 0.10, "cached_input": 0.025, "output": 0.40},
}


def cost_usd(prices: dict[str, dict[str, float]], model: str, *, input_tokens: int, cached: int, output: int) -> float | None:
    p = prices.get(model)
    if p is None:
        return None
    uncached = max(input_tokens - cached, 0)
    total = uncached * p["input"] + cached * p.get("cached_input", p["input"]) + output * p["output"]
    return round(total / 1_000_000, 10)
