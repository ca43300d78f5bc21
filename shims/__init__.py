"""codex-shims: vendor coding-agent CLIs as Codex workers."""

# First code of ours a shim program runs (its console-script wrapper imports this package
# before anything else): block SIGINT, SIGTERM, SIGHUP and SIGQUIT so none can kill the shim
# during start-up or interrupt an import with a traceback. They wait, and are taken with their
# sender (shims.runtime.signals) once the run can answer with a `result`, or end the stdin
# wait of a bad command line's answer (shims.cli.commands); only --version and --preflight unblock them
# again. Only in the shim programs (shim-claude, shim-gemini, …): a program that imports the
# package as a library (the `shims` toolkit, a test runner) keeps its signals. `_signal` is
# the C module behind `signal`, which would load enum here (~6 ms) before the mask is set.
import sys as _sys

if getattr(_sys, "argv", None) and _sys.argv[0].rpartition("/")[2].startswith("shim-"):
    import _signal

    _signal.pthread_sigmask(_signal.SIG_BLOCK, {_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP, _signal.SIGQUIT})
    del _signal
del _sys

__version__ = "0.1.0"
