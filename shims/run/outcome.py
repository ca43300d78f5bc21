"""How one attempt of a run ends: refused before its launch, or launched and exited."""

from __future__ import annotations

import dataclasses
from typing import Any

from normalize import observe as o


class Refusal(Exception):
    """Nothing (more) is launched: the run, or this attempt, ends with `kind` and `message`."""

    def __init__(self, kind: str, message: str, quota: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.quota = quota


@dataclasses.dataclass(slots=True)
class Outcome:
    """One attempt's end: the vendor's exit and the verdict the run would end with (status,
    failure kind, error). `refusal`: it was not launched (or could not start); `final`: the
    chain stops here whatever the kind (a cancel, a spend cap already used up)."""

    exit: o.ExitInfo
    status: str | None = None
    kind: str | None = None
    error: str | None = None
    refusal: Refusal | None = None
    final: bool = False

    @classmethod
    def refused(cls, refusal: Refusal, *, final: bool = False, cancelled: str | None = None) -> Outcome:
        return cls(o.ExitInfo(launched=False, cancelled=cancelled), refusal=refusal, final=final)
