"""Where the git repository of a folder is, without starting git when the answer is plain.

Kept apart from shims.workspace.changes so that a run outside any repository imports neither it nor
starts git: a shim starts once per task. Every call the shim makes to git runs without git's
location variables (GIT_DIR, GIT_WORK_TREE, ...: workspace._env), so discovery is by `.git`.
"""

from __future__ import annotations

import os
import re
import stat

# In a repository's own config: a work tree elsewhere, a bare repository, or included files
# that could say so. Any of them, and git is asked.
_UNUSUAL_CONFIG = re.compile(rb"(?i)worktree|\bbare\s*=\s*(?:true|yes|on|1)\b|\[\s*include")


def _up_from(d: str):
    """d, its parent, and so on up to the root."""
    while True:
        yield d
        parent = os.path.dirname(d)
        if parent == d:
            return
        d = parent


def _dot_git(cwd: str) -> str | None:
    """The first `.git` (folder or file) from cwd up, resolved as git resolves its working
    directory; None when there is none."""
    for d in _up_from(os.path.realpath(cwd)):
        if os.path.lexists(dot := os.path.join(d, ".git")):
            return dot
    return None


def may_be_in_work_tree(cwd: str) -> bool:
    """False when no folder from cwd up holds a `.git`: git would find no repository either."""
    return _dot_git(cwd) is not None


def plain_repository(cwd: str) -> tuple[str, str] | None:
    """(top level, index file) of cwd's repository when it is a plain one — a `.git` folder
    right in the top level, cwd not inside it and on the same file system, nothing unusual in
    its config, no discovery limits in the environment — else None: then git is asked
    (`rev-parse`), one process more per snapshot."""
    if os.environ.get("GIT_CEILING_DIRECTORIES") or os.environ.get("GIT_DISCOVERY_ACROSS_FILESYSTEM"):
        return None
    start = os.path.realpath(cwd)
    try:
        device = os.stat(start).st_dev
        for d in _up_from(start):
            if os.stat(d).st_dev != device:
                return None  # a file system boundary git stops at
            if os.path.lexists(dot := os.path.join(d, ".git")):
                break
            if _looks_like_git_dir(d):
                return None  # git takes it for a (bare) repository on its way up
        else:
            return None
        if os.path.islink(dot) or not os.path.isdir(dot):
            return None  # a .git file: a linked worktree or a submodule
        if os.path.lexists(os.path.join(dot, "commondir")):
            return None  # git would take objects, refs and config from there
        config_file = os.path.join(dot, "config")
        if not stat.S_ISREG(os.lstat(config_file).st_mode):
            return None  # a link could lead anywhere, a FIFO would block the read
        with open(config_file, "rb") as f:
            config = f.read(1 << 20)
    except OSError:
        return None
    top = d
    if start == dot or start.startswith(dot + os.sep):
        return None  # inside .git: not a work tree
    if _UNUSUAL_CONFIG.search(config) or not os.path.isfile(os.path.join(dot, "HEAD")):
        return None
    return top, os.path.join(dot, "index")


def _looks_like_git_dir(d: str) -> bool:
    return os.path.isfile(os.path.join(d, "HEAD")) and os.path.isdir(os.path.join(d, "objects"))
