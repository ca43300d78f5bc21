"""One shim run, in parts with one job each:

    resolve     the request: read, then resolved (flags > request > config file)
    programs    the vendor CLI: where it is, why it cannot start, its version and account
    changes     the git workspace: a snapshot (or a worktree) in, the run's changes out
    chain       the fallback chain: which providers, and when to move on
    spend       the spend cap (--max-cost-usd)
    setup       everything before a launch: settings, account, quota memory, the argv
    attempt     one attempt: set up, launch, its Outcome
    journaling  the journal: opened with the request, told of each launch
    bookkeeping the usage ledger and quota memory
    output      the one stream out: masked, journaled, recorded, printed
    result      the result, from the last attempt
    main        the run's top level, wiring them in the order the data flows

Importing this package loads only the options: `shims.run.programs` serves `--preflight` and
`shims doctor` without the run's machinery.
"""

from __future__ import annotations

from shims.run.options import ShimOptions

__all__ = ["ShimOptions", "run"]


def run(vendor: str, opts: ShimOptions, exec_call: object = None) -> int:
    """Run `vendor` with these options; the shim's exit code. `exec_call`: a `shim-<vendor>
    exec` run's options (shims.cli.codex_exec.ExecCall)."""
    from shims.run.main import run as run_shim

    return run_shim(vendor, opts, exec_call)
