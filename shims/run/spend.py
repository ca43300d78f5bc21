"""The spend cap (--max-cost-usd): one cap for the whole run, fallback attempts included.

Pure but for `check_support` and `price_table`, which read the config's prices.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from normalize.failures import FailureKind
from shims.run import vendors
from shims.run.outcome import Refusal


def checked_cap(cap: float | None) -> float | None:
    """The flag's value, or the refusal of one that is not a positive amount (NaN included)."""
    if cap is not None and not (cap > 0 and cap != float("inf")):
        raise Refusal(FailureKind.BAD_REQUEST, f"--max-cost-usd must be a positive amount of dollars, not {cap!r}.")
    return cap


def cost_of(usage: dict[str, Any] | None, prices: dict[str, dict[str, float]]) -> float | None:
    """The usage's cost as reported, else estimated from the price table."""
    if not usage:
        return None
    if usage.get("cost_usd") is not None:
        return float(usage["cost_usd"])
    from normalize.usage import price_estimate

    return price_estimate(usage, prices)


def dollars(amount: float) -> str:
    return f"{amount:.6f}".rstrip("0").rstrip(".")


@dataclasses.dataclass(slots=True, frozen=True)
class SpendCap:
    cap: float
    spent: float = 0.0  # by the attempts a fallback moved on from

    def remaining(self) -> float:
        """What the earlier attempts left: a fallback vendor's own budget flag gets it."""
        return max(self.cap - self.spent, 0.000001)

    def used_up(self, provider: str) -> str | None:
        """Why the next provider is not tried at all, or None."""
        if self.spent < self.cap:
            return None
        return (f"The earlier attempts spent ${self.spent:.4f}, the whole --max-cost-usd cap of ${dollars(self.cap)}; "
                f"{provider} was not tried.")

    def passed(self, usage: dict[str, Any] | None, prices: dict[str, dict[str, float]], provider: str, *,
               ended: bool = False) -> str | None:
        """Why the run is over the cap, from the usage the vendor reported so far, or None.
        `ended`: the vendor only said at its end (Gemini), so the answer is kept."""
        cost = cost_of(usage, prices)
        if cost is None:
            return None
        cost += self.spent
        if not cost > self.cap:  # also NaN
            return None
        if ended:
            return (f"The run's cost (${cost:.4f}, {provider}) passed the --max-cost-usd cap of ${dollars(self.cap)}; "
                    "it was known only when the vendor reported its usage at the end. The answer is kept.")
        return (f"The run was stopped: its cost (${cost:.4f}, {provider}) passed the --max-cost-usd cap of "
                f"${dollars(self.cap)}. Raise the cap to let it continue.")


def unknown_cost(usage: dict[str, Any], prices: dict[str, dict[str, float]]) -> str | None:
    """The warning of a capped run whose tokens have no price."""
    if not usage.get("total_tokens") or cost_of(usage, prices) is not None:
        return None
    return (f"The cost of this run is unknown (no price for {usage.get('model') or 'its model'}"
            "), so --max-cost-usd could not be enforced.")


def check_support(provider: str, model: str | None) -> None:
    """A cap this provider cannot enforce (no cost reported, no price for the model) is refused."""
    from shims.run.config import ConfigError, load_prices

    command = vendors.command_module(provider)
    try:
        priced = bool(load_prices(provider))
    except ConfigError:
        priced = False
    source = getattr(command, "COST_SOURCE", None)
    if source is None and not priced:
        raise Refusal(
            FailureKind.UNSUPPORTED_MODE,
            f"{provider} reports no cost, so --max-cost-usd cannot be enforced; add its models' prices under "
            f'[prices.{provider}."<model>"] in the config file.',
        )
    if source != "vendor" and model and model not in price_table(provider):
        raise Refusal(
            FailureKind.UNSUPPORTED_MODE,
            f"{model} has no price, so --max-cost-usd cannot be enforced on {provider}; add it under "
            f'[prices.{provider}."{model}"] in the config file.',
        )


def price_table(provider: str) -> dict[str, Any]:
    """The prices a run of this provider is costed with: the packaged table and the config's."""
    from shims.run.config import ConfigError, load_prices

    try:
        return vendors.price_table(provider, load_prices(provider))
    except ConfigError:
        return vendors.price_table(provider)
