"""The fallback chain (CONTRACT §11): which providers a run tries, in order, and when it moves
on from one to the next. Pure but for the config file's model of a fallback provider."""

from __future__ import annotations

from dataclasses import replace

from normalize.failures import FALLBACK_KINDS, FailureKind
from normalize.request import RunSpec
from shims.run import vendors
from shims.run.outcome import Refusal
from shims.run.spend import SpendCap


def providers(vendor: str, fallback: str | None) -> list[str]:
    """This provider, then the --fallback ones in order, each once."""
    chain = [vendor]
    for name in (fallback or "").split(","):
        name = name.strip()
        if not name:
            continue
        if name not in vendors.NAMES:
            raise Refusal(FailureKind.BAD_REQUEST,
                          f"--fallback: unknown provider {name!r} (known: {', '.join(vendors.NAMES)}).")
        if name not in chain:
            chain.append(name)
    return chain


def may_fall_back(kind: str | None, *, last: bool, cancelled: str | None = None, side_effects: bool = False,
                  spend_capped: bool = False) -> bool:
    """Whether an attempt that ended with `kind` hands the task to the next provider: only a
    failure another provider could avoid, and only when the vendor did nothing yet (the run's
    caller then also checks the workspace is unchanged)."""
    return kind in FALLBACK_KINDS and not last and not cancelled and not side_effects and not spend_capped


def fallback_spec(spec: RunSpec, provider: str, cap: SpendCap | None) -> RunSpec:
    """A fallback provider gets the same task, but not what only meant something to the first
    one: its model name (the config's for this provider instead) and its session; and of the
    spend cap, what the earlier attempts left."""
    from shims.run.config import ConfigError, load_defaults

    try:
        model = load_defaults(provider).get("model")
    except ConfigError:
        model = None
    return replace(spec, model=model, resume_session=None, max_cost_usd=None if cap is None else cap.remaining())


def switch_note(provider: str, kind: str, error: str, to: str) -> str:
    return f"{provider} could not serve ({kind}: {error.rstrip('.')}); falling back to {to}."


def journal_prefix(index: int, provider: str) -> str:
    """The journal's file prefix for an attempt's vendor bytes."""
    return "vendor" if index == 0 else f"vendor-{index}-{provider}"
