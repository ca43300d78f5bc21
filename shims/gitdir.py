"""Whether a folder can be inside a git work tree, without starting git.

Kept apart from shims.workspace so that a run outside any repository imports neither it nor
starts git: a shim starts once per task.
"""

from __future__ import annotations

import os


def may_be_in_work_tree(cwd: str) -> bool:
    """False when no folder from cwd up holds a `.git` (folder or file): git would find no
    repository either, since the shim removes git's location variables (GIT_DIR, GIT_WORK_TREE
    ...) from its calls. Resolved first, as git resolves its working directory."""
    d = os.path.realpath(cwd)
    while True:
        if os.path.lexists(os.path.join(d, ".git")):
            return True
        parent = os.path.dirname(d)
        if parent == d:
            return False
        d = parent
