"""Private scratch folders: made under $TMPDIR (else /tmp) as tempfile.mkdtemp would, removed
with everything in them. Without tempfile and shutil, which cost ~6 ms of imports at every
shim start for two small jobs."""

from __future__ import annotations

import os


def make_private_dir(prefix: str, env: dict[str, str] | None = None) -> str:
    """A new 0700 folder `<prefix><12 hex>`; an unusable $TMPDIR falls back to /tmp."""
    tmpdir = (os.environ if env is None else env).get("TMPDIR")
    if tmpdir:
        try:
            return _new(tmpdir, prefix)
        except OSError:
            pass
    return _new("/tmp", prefix)


def _new(base: str, prefix: str) -> str:
    path = os.path.join(os.path.abspath(base), prefix + os.urandom(6).hex())
    os.mkdir(path, 0o700)
    return path


def remove_tree(path: str) -> None:
    """Remove a folder and what is in it, ignoring errors (shutil.rmtree(ignore_errors=True)).
    Symbolic links inside are removed, never followed; a `path` that is itself a link is left
    alone, as rmtree refuses it (the folder was replaced: its target is not ours)."""
    if os.path.islink(path):
        return
    try:
        walk = list(os.walk(path, topdown=False))
    except OSError:
        return
    for folder, dirs, files in walk:
        for name in files:
            _quietly(os.unlink, os.path.join(folder, name))
        for name in dirs:
            sub = os.path.join(folder, name)
            _quietly(os.unlink if os.path.islink(sub) else os.rmdir, sub)
    _quietly(os.rmdir, path)


def _quietly(action, path: str) -> None:
    try:
        action(path)
    except OSError:
        pass


class private_dir:
    """make_private_dir as a context: the folder is removed on exit."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.path = ""

    def __enter__(self) -> str:
        self.path = make_private_dir(self.prefix)
        return self.path

    def __exit__(self, *exc: object) -> None:
        remove_tree(self.path)
