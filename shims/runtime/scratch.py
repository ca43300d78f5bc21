"""Private scratch folders for a run (a vendor's settings home, git's shadow folder): made
under the environment's $TMPDIR, else /tmp, and removed with everything in them."""

from __future__ import annotations

import os
import shutil
import tempfile


def make_private_dir(prefix: str, env: dict[str, str] | None = None) -> str:
    """A new 0700 folder `<prefix>…` under `env`'s $TMPDIR (the environment the vendor gets),
    else the shim's; a $TMPDIR that cannot take it falls back to /tmp."""
    tmpdir = (os.environ if env is None else env).get("TMPDIR")
    try:
        return tempfile.mkdtemp(prefix=prefix, dir=tmpdir or "/tmp")
    except OSError:
        if not tmpdir:
            raise
        return tempfile.mkdtemp(prefix=prefix, dir="/tmp")


def remove_tree(path: str) -> None:
    """Remove a folder and what is in it, ignoring errors. shutil.rmtree works through file
    descriptors: links inside are removed, never followed, even if the vendor swaps a folder
    for a link while it runs, and a `path` that is itself a link is left alone (the folder was
    replaced: its target is not ours)."""
    shutil.rmtree(path, ignore_errors=True)


def private_dir(prefix: str) -> tempfile.TemporaryDirectory[str]:
    """make_private_dir as a context that gives the folder's path and removes it on exit."""
    return tempfile.TemporaryDirectory(prefix=prefix, ignore_cleanup_errors=True)
