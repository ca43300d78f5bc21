"""Worktree and diff (CONTRACT §10): what a run changed in a git working tree.

Every run in a git directory gets a *snapshot* at start: the tree id of the whole working tree
(tracked and untracked files, .gitignore respected), written through a private copy of the
index, so the user's checkout, index and refs are never touched. At the end a second snapshot
is taken and the two trees are diffed; only what changed between them is reported, never the
user's own uncommitted changes from before the run.

With `--worktree` the vendor runs in a fresh `git worktree` on a new branch `codex-shims/<name>`
at HEAD (`create_worktree`); `finish_worktree` removes it with its branch when the run changed
nothing, and keeps both otherwise.

Every git call is an argv list (never a shell), with `LC_ALL=C` (the lock-retry logic reads
git's English messages), and none runs anything the vendor could have planted in the
repository (hooks, fsmonitor, filter drivers, pagers, external diffs, transports): snapshots,
diffs and the worktree's checkout go through a shadow GIT_DIR, the rest carries overrides;
shims.workspace.gitsafe says how.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from shims.runtime.procs import owner_alive
from shims.runtime.scratch import private_dir, remove_tree
from shims.workspace import gitsafe
from shims.workspace.gitdir import may_be_in_work_tree, plain_repository

__all__ = [
    "Changes",
    "GitError",
    "GitNotFound",
    "NoCommitYet",
    "NotAGitRepo",
    "Snapshot",
    "WorkspaceError",
    "Worktree",
    "changes_since",
    "create_worktree",
    "finish_worktree",
    "snapshot",
]


class WorkspaceError(Exception):
    """Anything that keeps the shim from snapshotting, diffing or making a worktree."""


class NotAGitRepo(WorkspaceError):
    pass


class NoCommitYet(WorkspaceError):
    pass


class GitNotFound(WorkspaceError):
    pass


class GitError(WorkspaceError):
    def __init__(self, args: list[str], returncode: int, stderr: bytes) -> None:
        self.git_args = args
        self.returncode = returncode
        self.stderr = stderr.decode("utf-8", "replace").strip()
        super().__init__(f"`git {' '.join(args)}` failed (exit {returncode}): {self.stderr or 'no message'}")


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = gitsafe.real_env()
    if extra:
        env.update(extra)
    return env


def _argv(args: list[str]) -> list[str]:
    return ["git", *gitsafe.HARDEN, *args]


def _run(args: list[str], cwd: str, *, env: dict[str, str] | None = None, check: bool = True,
         big: bool = False) -> subprocess.CompletedProcess[bytes]:
    """Run git; raise GitError on a non-zero exit when `check`. With `big`, stderr goes to a
    file so stdout is read in one buffer (communicate() with two pipes collects chunks and
    joins them: twice the memory of a large patch)."""
    env = env or _env()
    try:
        return _run_or_raise(args, cwd, env, check, big)
    except (FileNotFoundError, NotADirectoryError) as e:
        raise _spawn_error(cwd) from e


def _spawn_error(cwd: str) -> WorkspaceError:
    """Popen's FileNotFoundError means either the program or the cwd is missing."""
    if not os.path.isdir(cwd):
        return WorkspaceError(f"{cwd} is not a directory")
    return GitNotFound("git is not installed (not found on PATH)")


def _run_or_raise(args: list[str], cwd: str, env: dict[str, str], check: bool,
                  big: bool) -> subprocess.CompletedProcess[bytes]:
    if big:
        import tempfile

        with tempfile.TemporaryFile() as err:
            proc = subprocess.run(_argv(args), cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=err)
            err.seek(0)
            proc.stderr = err.read()
    else:
        proc = subprocess.run(_argv(args), cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True)
    if check and proc.returncode != 0:
        raise GitError(args, proc.returncode, proc.stderr)
    return proc


def _line(out: bytes) -> str:
    """One path printed by git: only the final newline is git's (a path may hold others)."""
    return os.fsdecode(out[:-1] if out.endswith(b"\n") else out)


_NOT_A_REPO = re.compile(rb"not a git repository|must be run in a work tree")


def _toplevel(cwd: str) -> str:
    return _rev_parse(cwd, ["--show-toplevel"])


def _rev_parse(cwd: str, args: list[str]) -> str:
    proc = _run(["rev-parse", *args], cwd, check=False)
    if proc.returncode != 0:
        if _NOT_A_REPO.search(proc.stderr):
            raise NotAGitRepo(f"{cwd} is not inside a git repository; --worktree needs one")
        raise GitError(["rev-parse", *args], proc.returncode, proc.stderr)
    return _line(proc.stdout)


def _locate(cwd: str) -> tuple[str, str, str, str]:
    """cwd's repository: (top level, index file, git dir, common dir), checked against the
    layouts git makes (gitsafe.trusted_git_dirs). One git call at most (a process start is most
    of a snapshot's cost in a small repository), none for a plain repository."""
    plain = plain_repository(cwd)
    if plain is not None:
        root, index = plain
        git_dir = os.path.dirname(index)
        return root, index, git_dir, git_dir
    args = ["--show-toplevel", "--absolute-git-dir", "--git-common-dir", "--git-path", "index"]
    lines = _rev_parse(cwd, args).split("\n")
    if len(lines) != 4:  # a newline in a path: ask for each on its own
        lines = [_rev_parse(cwd, [a]) for a in ("--show-toplevel", "--absolute-git-dir", "--git-common-dir")]
        lines.append(_rev_parse(cwd, ["--git-path", "index"]))
    # --git-common-dir and --git-path are relative to git's working directory, the physical one
    here = os.path.realpath(cwd)
    root, git_dir = lines[0], lines[1]
    common, index = (os.path.normpath(os.path.join(here, p)) for p in lines[2:])
    try:
        git_dir, common = gitsafe.trusted_git_dirs(root, git_dir, common)
    except gitsafe.LayoutError as e:
        raise WorkspaceError(str(e)) from None
    return root, index, git_dir, common


def _carried_config(root: str) -> tuple[str, str]:
    """The shadow config for root's repository: gitsafe's fixed settings and the inert keys of
    the real configuration (every scope, includes followed, as git reads them there)."""
    proc = _run(["config", "-z", "--get-regexp", gitsafe.CARRIED_PATTERN], root, check=False)
    if proc.returncode not in (0, 1):  # 1: none of the keys is set
        raise GitError(["config", "--get-regexp", "..."], proc.returncode, proc.stderr)
    return gitsafe.shadow_config(gitsafe.read_carried_config(proc.stdout, root))


# ---------------------------------------------------------------------------------------------
# Snapshot and diff


@dataclass(slots=True)
class Snapshot:
    root: str  # repository top level (of the worktree when cwd is in one)
    index: str  # the repository's own index file (copied, never written)
    tree: str  # tree id of the working tree at snapshot time
    exclude: tuple[str, ...] = ()  # paths (relative to root) that are the shim's own files
    git_dir: str = ""  # where the index and HEAD are, found and checked when the snapshot was taken
    common_dir: str = ""  # objects, info/exclude, info/attributes
    # the shadow config and excludes file (gitsafe), read at the opening snapshot, kept for the closing one
    config: str = ""
    excludes: str = ""


@dataclass(slots=True)
class Changes:
    """files: contract file_change entries {path, kind, diff, move_path?}, paths relative to
    the repository root; patch: the whole `--binary` patch, for `git apply`."""

    files: list[dict] = field(default_factory=list)
    insertions: int = 0
    deletions: int = 0
    patch: bytes = b""

    def item(self) -> dict | None:
        """The file_change item, in Codex's shape: {path, kind} per file, a rename as the old
        path deleted and the new one added (Codex's FileUpdateChange has no second path). The
        diffs are in the patch the journal keeps (result.diff.patch_path)."""
        if not self.files:
            return None
        changes: list[dict] = []
        for f in self.files:
            if "move_path" in f:
                changes += [{"path": f["path"], "kind": "delete"}, {"path": f["move_path"], "kind": "add"}]
            else:
                changes.append({"path": f["path"], "kind": f["kind"]})
        return {"type": "file_change", "changes": changes, "status": "completed"}

    def summary(self, patch_path: str | None) -> dict | None:
        if not self.files:
            return None
        return {"files_changed": len(self.files), "insertions": self.insertions,
                "deletions": self.deletions, "patch_path": patch_path}


def snapshot(cwd: str, exclude: tuple[str, ...] = ()) -> Snapshot | None:
    """The working tree of cwd's repository as a tree id, or None when cwd is not inside a git
    work tree (also a missing directory, or git not installed). Other git failures (a corrupt
    index, dubious ownership, a layout gitsafe does not trust) raise WorkspaceError."""
    if not os.path.isdir(cwd) or not may_be_in_work_tree(cwd):
        return None
    try:
        root, index, git_dir, common = _locate(cwd)
    except (NotAGitRepo, GitNotFound):
        return None
    # The shim's own files (a journal root or state folder inside the repository) are not the
    # run's changes, and must not block a fallback as if the vendor had changed something.
    inside = tuple(os.path.relpath(p, root) for p in exclude if _is_inside(p, root))
    config, excludes = _carried_config(root)
    snap = Snapshot(root=root, index=index, tree="", exclude=inside, git_dir=git_dir, common_dir=common,
                    config=config, excludes=excludes)
    with private_dir("codex-shims-index-") as tmp:
        snap.tree = _write_tree(snap, _shadow(snap, tmp))
    return snap


def _is_inside(path: str, root: str) -> bool:
    path, root = os.path.realpath(path), os.path.realpath(root)
    return path == root or path.startswith(root + os.sep)


def changes_since(snap: Snapshot) -> Changes:
    """What changed in snap's working tree since snap: the difference between snap's tree and
    one taken now. Changes that existed before the snapshot are not reported; a file that was
    already dirty is reported relative to its dirty state. Locations and config are snap's,
    never looked up again: what the vendor wrote meanwhile decides nothing but file contents."""
    with private_dir("codex-shims-index-") as tmp:
        env = _shadow(snap, tmp)
        return _diff_trees(snap.root, snap.tree, _write_tree(snap, env), env)


def _shadow(snap: Snapshot, tmp: str) -> dict[str, str]:
    """The environment for plumbing on snap's work tree through a shadow GIT_DIR (gitsafe),
    with a private copy of the index in tmp."""
    tmp_index = os.path.join(tmp, "index")
    try:
        _copy_keeping_mtime(snap.index, tmp_index)
    except FileNotFoundError:
        pass  # no index yet (fresh repository): `git add -A` starts one
    return gitsafe.shadow(tmp, config=snap.config, excludes=snap.excludes, git_dir=snap.git_dir,
                          common_dir=snap.common_dir, work_tree=snap.root, index=tmp_index)


def _write_tree(snap: Snapshot, env: dict[str, str]) -> str:
    _add_all(snap.root, env, snap.exclude)
    return _run(["write-tree"], snap.root, env=env).stdout.strip().decode("ascii")


def _add_all(root: str, env: dict[str, str], exclude: tuple[str, ...] = ()) -> None:
    # one unreadable file must not cost the whole snapshot: it keeps its old entry
    add = ["add", "-A", "--ignore-errors", *(["--", ".", *(f":(exclude){p}" for p in exclude)] if exclude else [])]
    proc = _run(add, root, env=env, check=False)
    if proc.returncode != 0 and b"fatal:" in proc.stderr:
        raise GitError(add, proc.returncode, proc.stderr)


def _copy_keeping_mtime(src: str, dst: str) -> None:
    """Copy a file and its times. The mtime matters: git's racy-clean check compares entries
    against the index file's own mtime, and a newer one would let a same-second edit pass as
    clean."""
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        st = os.fstat(fin.fileno())
        while os.sendfile(fout.fileno(), fin.fileno(), None, 1 << 24):
            pass
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))


# Plumbing, not `git diff`: diff-tree ignores porcelain config (diff.noprefix, diff.external,
# color.diff=always, diff.relative, diff.mnemonicPrefix) that would change the output we parse
# and the patch `git apply` must take. The prefixes are spelled out all the same.
_DIFF = ["diff-tree", "-r", "-M", "--no-ext-diff", "--no-textconv", "--no-color",
         "--src-prefix=a/", "--dst-prefix=b/"]

_KINDS = {"A": "add", "D": "delete", "M": "update", "T": "update", "R": "update", "C": "add"}


@dataclass(slots=True)
class _Entry:
    status: str
    old: bytes
    new: bytes
    added: int
    deleted: int


def _diff_trees(root: str, t1: str, t2: str, env: dict[str, str]) -> Changes:
    if t1 == t2:
        return Changes()
    entries = _entries(_run([*_DIFF, "--raw", "--numstat", "-z", t1, t2], root, env=env).stdout)
    if not entries:
        return Changes()
    patch = _run([*_DIFF, "-p", "--binary", t1, t2], root, env=env, big=True).stdout
    texts = _file_diffs(root, t1, t2, entries, env)
    files: list[dict] = []
    for e, text in zip(entries, texts, strict=True):
        kind = _KINDS.get(e.status, "update")
        if e.status == "R":
            f = {"path": _show(e.old), "kind": kind, "move_path": _show(e.new)}
        else:
            f = {"path": _show(e.new), "kind": kind}
        f["diff"] = text
        files.append(f)
    return Changes(files=files, insertions=sum(e.added for e in entries),
                   deletions=sum(e.deleted for e in entries), patch=patch)


def _show(path: bytes) -> str:
    # Items are JSON: a non-UTF-8 name cannot travel as surrogates, so it shows U+FFFD.
    return path.decode("utf-8", "replace")


def _entries(out: bytes) -> list[_Entry]:
    """`--raw --numstat -z` output: all raw records, then one numstat record per raw record in
    the same order. Fields are read by position, so names may hold any byte."""
    tokens = out.split(b"\0")
    raw: list[tuple[str, bytes, bytes]] = []
    counts: list[tuple[int, int]] = []
    i = 0
    while i < len(tokens) and tokens[i]:
        tok = tokens[i]
        if tok.startswith(b":"):
            status = tok.split(b" ")[4][:1].decode("ascii")
            if status in ("R", "C"):
                raw.append((status, tokens[i + 1], tokens[i + 2]))
                i += 3
            else:
                raw.append((status, tokens[i + 1], tokens[i + 1]))
                i += 2
        else:
            added, deleted, path = tok.split(b"\t", 2)
            counts.append((_count(added), _count(deleted)))
            i += 1 if path else 3  # a rename's numstat has an empty path, then old and new
    if len(raw) != len(counts):
        raise WorkspaceError(f"git diff-tree gave {len(raw)} raw records but {len(counts)} numstat records")
    return [_Entry(s, old, new, a, d) for (s, old, new), (a, d) in zip(raw, counts, strict=True)]


def _count(field: bytes) -> int:
    return 0 if field == b"-" else int(field)  # "-": a binary file


def _file_diffs(root: str, t1: str, t2: str, entries: list[_Entry], env: dict[str, str]) -> list[str]:
    """Each entry's section of the text patch. Sections are matched to entries by their
    `diff --git` header, in order: a typechange (file <-> symlink) prints two sections for one
    entry, so counting sections would misalign every later file."""
    headers = [_diff_header(e.old, e.new) for e in entries]
    parts: list[list[str]] = [[] for _ in entries]
    at = -1
    for header, text in _sections(root, [*_DIFF, "-p", t1, t2], env):
        if at + 1 < len(entries) and header == headers[at + 1]:
            at += 1
        elif at < 0 or header != headers[at]:
            at = min(at + 1, len(entries) - 1)  # an unforeseen header: keep the order
        parts[at].append(text)
    return ["".join(p) for p in parts]


_SECTION = b"\ndiff --git "
_CHUNK = 1 << 20


def _sections(root: str, args: list[str], env: dict[str, str]) -> Iterator[tuple[bytes, str]]:
    """Stream a patch as (header line, section text) pairs. Read in chunks so a huge file's
    diff exists once as bytes and once as text, never as a whole-patch copy besides."""
    import tempfile

    with tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(_argv(args), cwd=root, env=env, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=err)
        except (FileNotFoundError, NotADirectoryError) as e:
            raise _spawn_error(root) from e
        assert proc.stdout is not None
        try:
            cur = bytearray()
            while True:
                chunk = proc.stdout.read(_CHUNK)
                scan = max(len(cur) - len(_SECTION) + 1, 0)
                cur += chunk
                while (pos := cur.find(_SECTION, scan)) >= 0:
                    yield _section(cur, pos + 1)
                    del cur[: pos + 1]
                    scan = 0
                if not chunk:
                    if cur:
                        yield _section(cur, len(cur))
                    break
        finally:
            proc.stdout.close()
            rc = proc.wait()
        if rc != 0:
            err.seek(0)
            raise GitError(args, rc, err.read())


def _section(buf: bytearray, end: int) -> tuple[bytes, str]:
    nl = buf.find(b"\n", 0, end)
    header = bytes(buf[: nl if nl >= 0 else end])
    # decode straight from the buffer: slicing a bytearray would copy the section once more
    with memoryview(buf) as mv, mv[:end] as part:
        return header, str(part, "utf-8", "replace")


_ESCAPES = {7: b"\\a", 8: b"\\b", 9: b"\\t", 10: b"\\n", 11: b"\\v", 12: b"\\f", 13: b"\\r",
            0x22: b'\\"', 0x5C: b"\\\\"}


def _quote(name: bytes) -> bytes:
    """git's C-style quoting of a name with core.quotepath=false: control bytes, DEL, `"` and
    `\\` are escaped, bytes >= 0x80 pass through."""
    if not any(c < 0x20 or c in (0x22, 0x5C, 0x7F) for c in name):
        return name
    out = bytearray(b'"')
    for c in name:
        if c in _ESCAPES:
            out += _ESCAPES[c]
        elif c < 0x20 or c == 0x7F:
            out += b"\\%03o" % c
        else:
            out.append(c)
    out += b'"'
    return bytes(out)


def _diff_header(old: bytes, new: bytes) -> bytes:
    return b"diff --git " + _quote(b"a/" + old) + b" " + _quote(b"b/" + new)


# ---------------------------------------------------------------------------------------------
# Worktree


@dataclass(slots=True)
class Worktree:
    repo_root: str  # the user's repository top level
    path: str  # the new worktree folder
    branch: str  # the new branch
    cwd: str  # where the vendor runs: the request's subfolder, inside the worktree
    head: str = ""  # the commit it was made at
    git_dir: str = ""  # its administrative folder, <common_dir>/worktrees/<id>
    common_dir: str = ""  # the repository's


BRANCH_PREFIX = "codex-shims/"

# Another git process holding a lock we need (packed-refs.lock, config.lock, index.lock, a
# ref's lock): concurrent shims on one repository, or the user's own git, for a moment.
_LOCKED = re.compile(
    r"(?i)(unable to create|could not lock|cannot lock|unable to lock)[^\n]*\.lock|\.lock'?: file exists"
)
_ATTEMPTS = 8


def _run_retrying(args: list[str], cwd: str) -> subprocess.CompletedProcess[bytes]:
    for attempt in range(_ATTEMPTS):
        try:
            return _run(args, cwd)
        except GitError as e:
            if attempt == _ATTEMPTS - 1 or not _LOCKED.search(e.stderr):
                raise
        jitter = 0.5 + int.from_bytes(os.urandom(2), "big") / 65536
        time.sleep(min(0.05 * 2**attempt, 1.0) * jitter)
    raise AssertionError("unreachable")


def create_worktree(cwd: str, parent_dir: str, name: str) -> Worktree:
    """A new worktree `<parent_dir>/<name>` on a new branch `codex-shims/<name>` at HEAD of
    cwd's repository. The user's checkout (working files, index, HEAD) is not touched.

    The worktree starts at HEAD: the user's uncommitted changes (modified, staged or untracked
    files) are NOT in it. Raises NotAGitRepo when cwd is not in a repository, NoCommitYet when
    the repository has no commit to branch from, GitError when git refuses (the branch or the
    folder already exists). `cwd` of the result is cwd's subfolder inside the worktree, made
    when HEAD does not have it (an untracked or empty folder).

    git only registers the worktree (`worktree add --no-checkout`: no post-checkout hook, no
    checkout through filter drivers); its index and files are written by plumbing through a
    shadow GIT_DIR (gitsafe), as every snapshot is."""
    if not name or name in (".", "..") or "/" in name or os.sep in name:
        raise ValueError(f"worktree name must be one path component, not {name!r}")
    root = _toplevel(cwd)
    prefix = _line(_run(["rev-parse", "--show-prefix"], cwd).stdout)
    head = _run(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"], root, check=False)
    if head.returncode != 0:
        raise NoCommitYet(f"{root} has no commit yet; --worktree branches from HEAD, so commit something first")
    commit = head.stdout.strip().decode("ascii")
    common = _common_dir(root)
    config, excludes = _carried_config(root)
    branch = BRANCH_PREFIX + name
    path = os.path.join(os.path.abspath(parent_dir), name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    # Branch and worktree in two steps (what `worktree add -b <branch> <path> HEAD` does): a
    # lock-contention retry of `add -b` would meet the branch its failed try already made.
    # Branching from the resolved id keeps both steps on the same commit if HEAD moves.
    _run_retrying(["branch", "--no-track", branch, commit], root)
    wt = Worktree(repo_root=root, path=path, branch=branch, cwd=path, head=commit, common_dir=common)
    added = False
    try:
        _run_retrying(["worktree", "add", "--no-checkout", path, branch], root)
        added = True
        wt.git_dir = _admin_dir(path, common)
        with private_dir("codex-shims-index-") as tmp:
            env = gitsafe.shadow(tmp, config=config, excludes=excludes, git_dir=wt.git_dir, common_dir=common,
                                 work_tree=path, index=os.path.join(wt.git_dir, "index"))
            _run(["read-tree", commit], path, env=env)
            _run(["checkout-index", "--all", "--index"], path, env=env)
    except BaseException:
        # The folder is removed only when this call made it: a taken name is someone else's.
        if added:
            _unregister(wt)
        _delete_branch(wt)
        raise
    wt.cwd = os.path.normpath(os.path.join(path, prefix)) if prefix else path
    os.makedirs(wt.cwd, exist_ok=True)
    return wt


def _admin_dir(path: str, common: str) -> str:
    """The administrative folder that the `.git` file of the worktree at path names, checked
    to be one of common's worktrees and to point back at path (gitsafe.trusted_git_dirs)."""
    try:
        with open(os.path.join(path, ".git"), "rb") as f:
            text = os.fsdecode(f.read(1 << 16))
    except OSError as e:
        raise WorkspaceError(f"{path}/.git cannot be read: {e.strerror}") from None
    if not text.startswith("gitdir: "):
        raise WorkspaceError(f"{path}/.git is not a worktree's .git file")
    git_dir = os.path.join(path, text[len("gitdir: "):].rstrip("\n"))
    try:
        return gitsafe.trusted_git_dirs(path, git_dir, common)[0]
    except gitsafe.LayoutError as e:
        raise WorkspaceError(str(e)) from None


def finish_worktree(wt: Worktree, changed: bool) -> str | None:
    """Keep a changed worktree (and its branch) and return its path; remove an unchanged one
    with its branch and return None. Files git ignores (build output) go with the worktree.

    Removal is the shim's own, not `git worktree remove`, which runs `git status` with the
    repository's config (fsmonitor, filters, hooks the vendor may have written): the worktree
    goes only when plumbing through a shadow GIT_DIR finds exactly HEAD's files in it and
    nothing else git would keep (`_untouched`); work the diff did not see (a new nested
    repository, an unreadable file, a commit, another branch checked out) keeps it."""
    if changed:
        return wt.path
    if os.path.lexists(wt.path):
        if not _untouched(wt):
            return wt.path
        remove_tree(wt.path)
        if os.path.lexists(wt.path):
            return wt.path  # something in it could not be removed: keep the rest too
    _unregister(wt)
    _delete_branch(wt)
    return None


def _untouched(wt: Worktree) -> bool:
    """The worktree is its branch at wt.head, checked out, plus files git ignores: what `git
    worktree remove` (without --force) asks of `git status`."""
    try:
        if _admin_dir(wt.path, wt.common_dir) != wt.git_dir:
            return False  # its .git was rewritten: not ours to judge, nor to delete
        with open(os.path.join(wt.git_dir, "HEAD"), "rb") as f:
            if f.read(4096).strip() != b"ref: refs/heads/" + os.fsencode(wt.branch):
                return False
        tip = _run(["rev-parse", "--verify", "--quiet", "refs/heads/" + wt.branch], wt.repo_root, check=False)
        if tip.stdout.strip().decode("ascii", "replace") != wt.head:
            return False
        config, excludes = _carried_config(wt.repo_root)
        snap = Snapshot(root=wt.path, index=os.path.join(wt.git_dir, "index"), tree="", git_dir=wt.git_dir,
                        common_dir=wt.common_dir, config=config, excludes=excludes)
        with private_dir("codex-shims-index-") as tmp:
            env = _shadow(snap, tmp)
            _add_all(wt.path, env)
            # what `add -A` could not take: a nested repository without a commit, a file it
            # cannot read
            left = _run(["ls-files", "-z", "--others", "--exclude-standard", "--directory",
                         "--no-empty-directory"], wt.path, env=env).stdout
            tree = _run(["write-tree"], wt.path, env=env).stdout.strip()
            base = _run(["rev-parse", "--verify", wt.head + "^{tree}"], wt.path, env=env).stdout.strip()
    except (WorkspaceError, OSError):
        return False
    return not left and tree == base


def _unregister(wt: Worktree) -> None:
    """Remove the worktree's folder and its administrative folder (what `git worktree remove`
    does after its checks), the latter only when it is one of the repository's worktrees and
    names wt.path: never a folder a rewritten `.git` file or owner file points at."""
    remove_tree(wt.path)
    admin = wt.git_dir
    if not admin or os.path.dirname(admin) != os.path.join(wt.common_dir, "worktrees"):
        return
    try:
        with open(os.path.join(admin, "gitdir"), "rb") as f:
            back = os.fsdecode(f.read(1 << 16).strip())
    except OSError:
        return
    if os.path.realpath(back) != os.path.realpath(os.path.join(wt.path, ".git")):
        return
    # The emptied .git/worktrees/ stays (git removes it): a concurrent `worktree add` may be
    # about to make its own folder in it.
    remove_tree(admin)


def _delete_branch(wt: Worktree) -> None:
    """Delete the branch if it is still at wt.head (a branch that moved holds work: kept)."""
    ref = "refs/heads/" + wt.branch
    try:
        _run_retrying(["update-ref", "-d", ref, wt.head], wt.repo_root)
    except GitError:
        tip = _run(["rev-parse", "--verify", "--quiet", ref], wt.repo_root, check=False)
        if tip.returncode == 0 and tip.stdout.strip().decode("ascii", "replace") == wt.head:
            raise


# ------------------------------------------------------------------------- abandoned worktrees
# A shim killed with SIGKILL (codex-lab's cancel) cannot remove its worktree. Each worktree has
# an owner file next to it; later --worktree runs remove the clean worktrees of dead owners and
# leave changed ones where they are (their branch keeps the work).


def claim(wt: Worktree, parent_dir: str) -> str:
    from shims.state.private_files import write_private_file

    path = os.path.join(parent_dir, os.path.basename(wt.path) + ".owner")
    # A state file like the others: 0600, never written through a link planted at its name.
    write_private_file(path, json.dumps({"pid": os.getpid(), "host": os.uname().nodename, "repo_root": wt.repo_root,
                                         "path": wt.path, "branch": wt.branch, "cwd": wt.cwd, "head": wt.head,
                                         "git_dir": wt.git_dir, "common_dir": wt.common_dir}).encode())
    return path


def release(owner_file: str) -> None:
    try:
        os.remove(owner_file)
    except OSError:
        pass


def sweep_abandoned(parent_dir: str) -> list[str]:
    """Remove the clean worktrees whose owner process is gone; returns the paths removed. Only
    `<parent_dir>/<name>` of an owner file `<name>.owner` is ever removed, and only through
    finish_worktree's checks."""
    removed: list[str] = []
    try:
        names = [n for n in os.listdir(parent_dir) if n.endswith(".owner")]
    except OSError:
        return removed
    for name in names:
        owner_file = os.path.join(parent_dir, name)
        try:
            wt = _owned(owner_file, os.path.join(os.path.abspath(parent_dir), name[: -len(".owner")]))
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if wt is None:
            continue  # another machine's, or its shim still runs
        try:
            if finish_worktree(wt, changed=False) is None:
                removed.append(wt.path)
        except (WorkspaceError, OSError):
            continue  # the next run tries again
        release(owner_file)
    return removed


def _owned(owner_file: str, path: str) -> Worktree | None:
    with open(owner_file, encoding="utf-8") as f:
        owner = json.load(f)
    if owner.get("host") != os.uname().nodename or owner_alive(owner.get("pid"), owner.get("host")):
        return None
    if os.path.normpath(owner["path"]) != path:
        raise ValueError(f"{owner_file} names another folder")
    wt = Worktree(*(str(owner[k]) for k in ("repo_root", "path", "branch", "cwd", "head")))
    wt.common_dir = str(owner.get("common_dir") or _common_dir(wt.repo_root))
    # an owner file of an older shim has no git_dir: the worktree's own .git file says it
    wt.git_dir = str(owner.get("git_dir") or (_admin_dir(path, wt.common_dir) if os.path.lexists(path) else ""))
    return wt


def _common_dir(root: str) -> str:
    return os.path.realpath(os.path.join(os.path.realpath(root), _rev_parse(root, ["--git-common-dir"])))
