"""The vendor CLI a run starts: where it is, why it cannot start, its version, its account.

Shared by the run, `--preflight` and `shims doctor`.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from shims.run import vendors

# Gemini CLI loads its whole bundle to print its version: ~1.8 s of CPU, over 5 s of wall time on
# a busy 2-core machine.
VERSION_TIMEOUT_S = 15.0


def resolve_program(vendor: str, vendor_bin: str | None) -> str | None:
    """The vendor CLI's path: --vendor-bin (a path or a name on PATH), else the vendor's
    program name on PATH."""
    wanted = vendor_bin or vendors.info(vendor).program
    if os.sep in wanted:
        # Absolute now: the vendor starts in the run's cwd, where a relative path would name
        # another file (or none).
        path = os.path.abspath(os.path.expanduser(wanted))
        return path if os.path.isfile(path) and os.access(path, os.X_OK) else None
    return _which(wanted)


def program_problem(vendor: str, vendor_bin: str | None, env: dict[str, str] | None = None) -> str:
    """Why resolve_program found nothing, naming the path tried."""
    wanted = vendor_bin or vendors.info(vendor).program
    if os.sep not in wanted:
        return f"{wanted!r} was not found on PATH"
    path = os.path.abspath(os.path.expanduser(wanted))
    if not os.path.lexists(path):
        return f"{path} does not exist" + (" (a broken symlink)" if os.path.islink(path) else "")
    if os.path.isdir(path):
        return f"{path} is a folder, not a program"
    if not os.path.isfile(path):
        return f"{path} is not a regular file"
    return f"{path} is not executable"


def interpreter_problem(program: str, env: dict[str, str]) -> str | None:
    """A script whose `#!` line names an interpreter that is missing or not executable: the
    kernel's ENOENT would otherwise read as if the script itself were missing."""
    try:
        with open(program, "rb") as f:
            head = f.read(256)
    except OSError:
        return None
    if not head.startswith(b"#!"):
        return None
    words = head[2:].split(b"\n", 1)[0].decode("utf-8", "replace").split()
    if not words:
        return f"{program}: its first line `#!` names no interpreter"
    interp = words[0]
    if not os.path.isfile(interp) or not os.access(interp, os.X_OK):
        state = "is missing" if not os.path.lexists(interp) else "is not executable"
        return f"{program}: the interpreter named in its first line, {interp}, {state}"
    if os.path.basename(interp) == "env" and len(words) > 1 and not words[1].startswith("-") and "=" not in words[1]:
        name = words[1]
        if os.sep not in name and _which(name, env.get("PATH")) is None:
            return f"{program}: the interpreter named in its first line, {name} (through {interp}), was not found on PATH"
    return None


def _which(name: str, path: str | None = None) -> str | None:
    """shutil.which, made absolute: an empty or relative PATH entry is searched as shutil.which
    searches it (from the shim's own folder), but the vendor starts in the run's cwd, where the
    relative answer would name another file. An empty PATH finds nothing, an unset one is the
    system's."""
    found = shutil.which(name, path=path)
    return os.path.abspath(found) if found else None


def vendor_version(program: str, vendor: str, timeout: float = VERSION_TIMEOUT_S) -> str | None:
    """The vendor CLI's version, asked once per binary file (shims.state.version_cache): a preflight or
    `shims doctor` then answers without starting a node process each time."""
    from shims.state import version_cache
    from shims.state.folder import state_dir

    text = version_cache.remembered(state_dir(), program, lambda p: _ask_version(p, timeout))
    return vendors.command_module(vendor).parse_version(text) if text else None


def _ask_version(program: str, timeout: float) -> str | None:
    from shims.runtime.signals import child_defaults

    try:
        out = subprocess.run(  # the shim's blocked cancel signals are not the probe's
            [program, "--version"], capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False,
            preexec_fn=child_defaults,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = out.stdout.decode("utf-8", "replace").strip() or out.stderr.decode("utf-8", "replace").strip()
    return text if out.returncode == 0 and text else None


def account_for(vendor: str, env: dict[str, str]) -> str:
    from shims.state.quota import account_key

    return account_key(env, getattr(vendors.command_module(vendor), "ACCOUNT_ENV", ()))
