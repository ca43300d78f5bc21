"""codex-shims: vendor coding-agent CLIs as Codex workers."""

# First code of ours a shim program runs (the console-script wrapper imports this package
# before anything else): block SIGINT, SIGTERM, SIGHUP and SIGQUIT so none can kill the shim
# during start-up or interrupt an import with a traceback. They wait, and are taken with their
# sender (shims.runtime.signals) once the run can answer with a `result`; toolkit commands and
# typer's paths unblock them again. `_signal` is the C module behind `signal`, which would load
# enum here (~6 ms) before the mask is set.
import _signal

_signal.pthread_sigmask(_signal.SIG_BLOCK, {_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP, _signal.SIGQUIT})
del _signal

__version__ = "0.1.0"
