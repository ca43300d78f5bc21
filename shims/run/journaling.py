"""The run's journal (README "Journal"): opened with the request, told of each launch. The
journal itself is shims.state.journal.run.RunJournal; nothing here can fail the run."""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any

from normalize.request import RunSpec
from shims.run.options import ShimOptions
from shims.run.stderr import stderr_last


@dataclasses.dataclass(slots=True)
class Opened:
    redactor: Any  # shims.state.redact.Redactor: masks the stream and every state file
    journal: Any = None  # shims.state.journal.run.RunJournal, None: not journaled
    problem: str | None = None  # why a journal that was asked for is missing


def open_journal(settings: Any, opts: ShimOptions, vendor: str, stdin: bytes | None, cwd: str) -> Opened:
    """The run's redactor, and its journal unless switched off: an explicit --journal wins over
    `[journal] enabled = false`; --no-journal over both."""
    from shims.run.config import secrets_redactor
    from shims.state.redact import use

    # One redactor per run, journal or not: the stream, the `shim:` lines and every state
    # file are masked with it (README, "Secrets").
    redactor = use(secrets_redactor(settings.redact_env))
    if opts.no_journal or not (settings.enabled or opts.journal):
        return Opened(redactor)
    from shims.state.journal.run import RunJournal
    from shims.state.journal.store import new_run_id, prune

    root = journal_root(os.path.expanduser(opts.journal) if opts.journal else settings.root)
    try:
        prune(root, settings.keep_runs, settings.keep_bytes)
    except Exception as exc:  # noqa: BLE001 - retention is housekeeping; the run goes on
        stderr_last(f"journal retention skipped: {exc}")
    try:
        journal = RunJournal.create(root, new_run_id(vendor), redactor)
        journal.write_request(stdin, opts.prompt)
        journal.update_meta(
            run_id=journal.run_id, journal_path=str(journal.path), provider=vendor, started_at=utc(time.time()),
            pid=os.getpid(), host=os.uname().nodename, status="running", cwd=cwd, redacted_env=redactor.names,
        )
    except OSError as exc:
        problem = f"The run is not journaled: {exc.strerror or exc} ({root})."
        stderr_last(problem)
        return Opened(redactor, None, problem)
    return Opened(redactor, journal)


def journal_launch(journal: Any, provider: str, launch: Any, spec: RunSpec, account: str,
                   attempts: list[dict[str, Any]], prefix: str) -> Any:
    """What is launched, in the journal's meta.json; the recorder of the vendor's bytes."""
    if not journal:
        return None
    journal.update_meta(
        provider=provider, argv=launch.argv, env_names=sorted(launch.env), env_added=sorted(set(launch.env_names_added)),
        cwd=launch.cwd, pty=launch.pty, mode=spec.mode, model=spec.model, resume=spec.resume_session, account=account,
        attempts=attempts,
    )
    return journal.vendor_recorder(prefix)


def journal_root(given: str) -> str:
    """Absolute, with links resolved as Path.resolve() did, except from the state folder down:
    a link planted there is refused when the root is made (shims.state.journal.run.private_dir), never
    written through. A root elsewhere (--journal, `[journal] root`) is the user's, links and all."""
    from shims.state.folder import state_dir

    given = os.path.abspath(given)
    state = os.path.abspath(state_dir())
    if given == state or given.startswith(state + os.sep):
        return os.path.join(os.path.realpath(os.path.dirname(state)), os.path.relpath(given, os.path.dirname(state)))
    return os.path.realpath(given)


def utc(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
