"""The run's git workspace (CONTRACT §10), as a context manager: a snapshot of the work tree
(made in a fresh worktree with --worktree) in; what the run changed since, out. A worktree is
finished however the run ends: kept when changed, removed when clean."""

from __future__ import annotations

import os
from typing import Any

from normalize.failures import FailureKind
from shims.run.outcome import Refusal
from shims.run.stderr import stderr_last

NOT_LOOKED = object()  # the workspace has not been compared with its snapshot yet


class Workspace:
    def __init__(self, snapshot: Any = None, worktree: Any = None, owner_file: str = "") -> None:
        self.snapshot = snapshot  # shims.workspace.changes.Snapshot, None: changes are not collected
        self.worktree = worktree  # shims.workspace.changes.Worktree until finished
        self.owner_file = owner_file

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.worktree is not None:  # the run ended before its changes were looked at
            from shims.workspace import changes as workspace
            try:
                workspace.finish_worktree(self.worktree, changed=self.changes() is not None)
                workspace.release(self.owner_file)
            except (workspace.WorkspaceError, OSError):
                pass

    def changes(self) -> Any:
        """What the run changed in the git workspace so far (shims.workspace.changes.Changes), or None."""
        if self.snapshot is None:
            return None
        from shims.workspace import changes as workspace
        try:
            changes = workspace.changes_since(self.snapshot)
        except (workspace.WorkspaceError, OSError) as exc:
            stderr_last(f"changes could not be collected: {exc}")
            return None
        return changes if changes.files else None

    def close(self, changes: Any = NOT_LOOKED, journal: Any = None) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """The run's changes as one file_change item and result.diff (None when unchanged), and
        what the result's `vendor` says of the worktree; the patch goes to the journal."""
        extra: dict[str, Any] = {}
        if changes is NOT_LOOKED:  # the fallback decision looked already when it could have
            changes = self.changes()
        if self.worktree is not None:
            from shims.workspace import changes as workspace
            try:
                kept = workspace.finish_worktree(self.worktree, changed=changes is not None)
            except (workspace.WorkspaceError, OSError) as exc:
                kept = self.worktree.path  # not removed: kept, and said why
                extra["worktree_error"] = str(exc)
            extra["worktree"] = {"path": self.worktree.path, "branch": self.worktree.branch, "kept": bool(kept)}
            self.worktree = None
            workspace.release(self.owner_file)
        if changes is None:
            return None, extra
        patch_path = journal.write_patch(changes.patch) if journal else None
        return {"item": changes.item(), "summary": changes.summary(patch_path)}, extra


def open_workspace(cwd: str, *, worktree: bool, state_dir: str | None, name: str | None, vendor: str,
                   own: tuple[str, ...]) -> Workspace:
    """The workspace of a run in `cwd` (its cwd becomes the worktree's with `worktree`), or the
    Refusal of a worktree that cannot be made. `own`: the shim's folders, not the run's changes."""
    from shims.workspace.gitdir import may_be_in_work_tree

    if not worktree and not may_be_in_work_tree(cwd):
        return Workspace()  # nothing to snapshot, and no git module to load
    from shims.workspace import changes as workspace
    made = Workspace()
    if worktree:
        if state_dir is None:
            raise Refusal(FailureKind.BAD_REQUEST, "--worktree needs a state folder; the config file is unusable.")
        parent = os.path.join(state_dir, "worktrees")
        try:
            from shims.state.journal.store import new_run_id
            from shims.state.private_files import private_dir

            private_dir(parent)  # 0700, and never a planted link
            workspace.sweep_abandoned(parent)
            made.worktree = workspace.create_worktree(cwd, parent, name or new_run_id(vendor))
            made.owner_file = workspace.claim(made.worktree, parent)
        except (workspace.WorkspaceError, OSError) as exc:
            made.__exit__()  # a worktree made before its owner file failed
            raise Refusal(FailureKind.BAD_REQUEST, f"--worktree: {exc}") from None
        cwd = made.worktree.cwd
    try:
        made.snapshot = workspace.snapshot(cwd, exclude=own)
    except (workspace.WorkspaceError, OSError) as exc:
        stderr_last(f"changes will not be collected: {exc}")
    return made
