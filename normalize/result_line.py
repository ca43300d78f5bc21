"""The result envelope as one JSON object of bounded size, for the `shim-result: {…}` stderr line.

Hosts keep only a tail of stderr (codex-lab the last 8 KiB), so a line longer than that cannot
be parsed from it. When the whole envelope does not fit, parts go in a fixed order, least
needed by a host first, until it does (README, "Use from Codex"):

  1. vendor            -> {}     the vendor's raw details, for debugging
  2. usage.models      -> {}     the per-model breakdown (usage.model and every total stay)
  3. attempts.error    -> null   the earlier providers' error texts (provider, kind stay)
  4. final_message     -> its tail behind `[… N bytes cut]`, then null (stdout has the answer)
  5. quota.message     -> null
  6. error             -> its tail behind the marker, then null
  7. attempts          -> []
  8. strings           -> every string left, cut to its tail (1024, 256, 64, then 16 bytes)

`dropped: {fields, in_journal}` then names the parts in that order, and says whether the
run's journal (`journal`/result.json) holds the whole envelope. The object still validates
against the result schema. Nothing is cut when the envelope fits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from normalize.limits import fit_tail

_STRING_STEPS = (1024, 256, 64, 16)


def fit_envelope(result: dict[str, Any], budget: int) -> bytes:
    """The envelope's JSON (no newline), at most `budget` bytes for any budget of 6 KiB or more:
    after step 8 some twenty strings of at most 48 bytes are left, under 300 bytes each even
    with every character a JSON escape, next to numbers and key names."""
    data = orjson.dumps(result)
    if len(data) <= budget:
        return data
    env = {**result}
    fields: list[str] = []

    def size() -> int:
        return len(orjson.dumps(_marked(env, fields)))

    for name, step in _STEPS:
        if size() <= budget:
            break
        fields.append(name)  # first, so the room a step leaves counts its own name in `dropped`
        if not step(env, lambda: size() - budget):
            fields.pop()
    for keep in _STRING_STEPS:
        if size() <= budget:
            break
        if "strings" not in fields:
            fields.append("strings")
        env = _cut_strings(env, keep)
    return orjson.dumps(_marked(env, fields))


def _marked(env: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    return {**env, "dropped": {"fields": list(fields), "in_journal": env.get("journal") is not None}}


# Each step changes `env` in place and says whether it changed anything; `over()` is how many
# bytes the envelope still has too many.
Step = Callable[[dict[str, Any], Callable[[], int]], bool]


def _empty_vendor(env: dict[str, Any], over: Callable[[], int]) -> bool:
    if env.get("vendor"):
        env["vendor"] = {}
        return True
    return False


def _no_models(env: dict[str, Any], over: Callable[[], int]) -> bool:
    usage = env.get("usage")
    if isinstance(usage, dict) and usage.get("models"):
        env["usage"] = {**usage, "models": {}}
        return True
    return False


def _no_attempt_errors(env: dict[str, Any], over: Callable[[], int]) -> bool:
    attempts = env.get("attempts") or []
    if any(isinstance(a, dict) and a.get("error") is not None for a in attempts):
        env["attempts"] = [{**a, "error": None} if isinstance(a, dict) else a for a in attempts]
        return True
    return False


def _shortened(key: str) -> Step:
    """Cut the text at `key` to its tail by what is too much (JSON escapes make that a few
    rounds at most), then drop it to null once under 64 bytes would be left."""

    def step(env: dict[str, Any], over: Callable[[], int]) -> bool:
        text = env.get(key)
        if not isinstance(text, str):
            return False
        while isinstance(text, str) and over() > 0:
            room = len(text.encode("utf-8", "surrogatepass")) - over() - 1
            text = fit_tail(text, room) if room >= 64 else None
            env[key] = text
        return True

    return step


def _no_quota_message(env: dict[str, Any], over: Callable[[], int]) -> bool:
    quota = env.get("quota")
    if isinstance(quota, dict) and quota.get("message") is not None:
        env["quota"] = {**quota, "message": None}
        return True
    return False


def _no_attempts(env: dict[str, Any], over: Callable[[], int]) -> bool:
    if env.get("attempts"):
        env["attempts"] = []
        return True
    return False


_STEPS: tuple[tuple[str, Step], ...] = (
    ("vendor", _empty_vendor),
    ("usage.models", _no_models),
    ("attempts.error", _no_attempt_errors),
    ("final_message", _shortened("final_message")),
    ("quota.message", _no_quota_message),
    ("error", _shortened("error")),
    ("attempts", _no_attempts),
)


def _cut_strings(value: Any, keep: int) -> Any:
    """Every string in `value` cut to its tail, `keep` bytes and the marker; names and enum
    values (`result`, `authentication_required`, `invocation`...) are shorter and stay."""
    if isinstance(value, str):
        return fit_tail(value, keep + 32)
    if isinstance(value, dict):
        return {k: _cut_strings(v, keep) for k, v in value.items()}
    if isinstance(value, list):
        return [_cut_strings(v, keep) for v in value]
    return value
