"""The run's one stream out: every event masked, journaled, then printed; the result also
recorded in the state store (ledger, quota memory) and the journal *before* it is written, since
a host may kill the shim's group as soon as it reads the result line."""

from __future__ import annotations

from typing import Any

import orjson

from normalize.assembler import fail_before_launch
from normalize.limits import encode_line
from shims.run.bookkeeping import Bookkeeping
from shims.run.stderr import stderr_last


class Output:
    def __init__(self, emitter: Any, journal: Any, journal_problem: str | None, redactor: Any,
                 books: Bookkeeping) -> None:
        self.emitter = emitter
        self.journal = journal  # shims.state.journal.run.RunJournal or None
        self.journal_problem = journal_problem
        self.redactor = redactor
        self.books = books
        self.pipe = None  # the one shims.run.pipeline.Pipeline of the run's attempts, from the first

    def stream(self, facts: Any, note: str | None) -> Any:
        """The pipeline for the next attempt: the first made here, the next ones take over the
        same thread (`note` says why)."""
        if self.pipe is None:
            from shims.run.pipeline import Pipeline

            # The live view (shims.views.live) also takes text and usage as they arrive.
            self.pipe = Pipeline(facts, self.sink, live=getattr(self.emitter, "live", None))
        else:
            self.pipe.switch(facts, note or "")
        return self.pipe

    def sink(self, event: dict[str, Any], line: bytes) -> None:
        """Secrets are masked in what is printed (hosts forward streams to logs, UIs and other
        models), so events.ndjson is exactly the printed bytes."""
        if event["type"] == "result":
            # Kept before the line is encoded, so that what failed can be said in it.
            state_error = self.books.run_finished(event, self.pipe.asm.session_total if self.pipe is not None else None)
            if state_error:
                event["vendor"]["state_error"] = state_error
            if self.journal and self.journal.error:
                event["vendor"]["journal_error"] = f"The journal is incomplete: {self.journal.error}"
            if state_error or (self.journal and self.journal.error):
                line = encode_line(event)
        masked = self._redactor().redact(line)
        if masked is not line and masked != line:
            line, clean = masked, orjson.loads(masked)  # masks keep the JSON valid
            if event["type"] == "result":  # the same dict goes to the emitter's close (protocol 1)
                event.clear()
                event.update(clean)
            else:
                event = clean
        if self.journal:
            self.journal.event(event, line, redacted=True)
        if event["type"] == "result":
            if self.journal:
                self.journal.finish(event)
        self.emitter(event, line)

    def host_gone(self) -> str | None:
        """Why nobody can read the stream any more (the host closed stdout, a full disk), or
        None: asked by the loop at its wakes, so a vendor is not left to run for no one."""
        from shims.runtime.loop import stdout_reader_gone

        broken = getattr(self.emitter, "broken", None)
        if broken:
            return broken
        return "SIGPIPE" if stdout_reader_gone() else None

    @property
    def journal_path(self) -> str | None:
        return str(self.journal.path) if self.journal else None

    def journal_details(self) -> dict[str, Any]:
        return {"journal_error": self.journal_problem} if self.journal_problem else {}

    def refuse(self, provider: str, thread_id: str, kind: str, message: str, quota: dict[str, Any] | None,
               duration_ms: int) -> int:
        """The whole stream of a run refused before its chain started."""
        result, code = fail_before_launch(
            self.sink, provider=provider, thread_id=thread_id, kind=kind, message=message, quota=quota,
            duration_ms=duration_ms, journal=self.journal_path, vendor=self.journal_details(),
        )
        self._say_last(message)
        return self.emitter.close(result, code)

    def close(self, result: dict[str, Any], code: int) -> int:
        if result["error"]:
            self._say_last(result["error"])
        return self.emitter.close(result, code)

    def _say_last(self, message: str) -> None:
        """The `shim:` line a host reads last on stderr; left out when a person's view (whose
        ✗ line said it) is on the same terminal as stderr, which would show it twice."""
        if not (getattr(self.emitter, "for_people", False) and _same_terminal(1, 2)):
            stderr_last(message)

    def _redactor(self) -> Any:
        """The run's redactor; the environment's when the config could not be read."""
        if self.redactor is None:
            from shims.state.redact import current

            self.redactor = current()
        return self.redactor


def _same_terminal(a: int, b: int) -> bool:
    import os

    try:
        return os.isatty(a) and os.isatty(b) and os.fstat(a).st_rdev == os.fstat(b).st_rdev
    except OSError:
        return False
