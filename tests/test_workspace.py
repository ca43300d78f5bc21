"""shims.workspace.changes on real git repositories: snapshots, tree diffs and worktrees (CONTRACT §10)."""

from __future__ import annotations

import os
import subprocess
import threading
import tracemalloc
from pathlib import Path

import pytest

from shims.workspace import changes as workspace
from shims.workspace.changes import (
    Changes,
    NoCommitYet,
    NotAGitRepo,
    changes_since,
    create_worktree,
    finish_worktree,
    snapshot,
)


@pytest.fixture(autouse=True)
def hermetic_git(tmp_path_factory, monkeypatch):
    """The developer's own git config (hooks, diff settings, signing) stays out of the tests;
    the ceiling keeps a folder of tmp_path from being taken for part of an outer repository."""
    cfg = tmp_path_factory.mktemp("gitconfig") / "config"
    cfg.write_text("[user]\n\tname = Test\n\temail = test@example.com\n[init]\n\tdefaultBranch = main\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(cfg))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path_factory.getbasetemp()))
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        monkeypatch.delenv(var, raising=False)


def git(cwd, *args: str, env: dict | None = None) -> str:
    proc = subprocess.run(["git", "-c", "core.quotepath=false", *args], cwd=cwd, capture_output=True,
                          env={**os.environ, **(env or {})})
    assert proc.returncode == 0, f"git {args}: {proc.stderr.decode()}"
    return proc.stdout.decode("utf-8", "replace")


def make_repo(path: Path, files: dict[str, bytes | str] | None = None, commit: bool = True) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q")
    for name, content in (files or {}).items():
        write(path / name, content)
    if commit:
        git(path, "add", "-A")
        git(path, "commit", "-q", "--allow-empty", "-m", "base")
    return path


def write(p: Path, content: bytes | str) -> None:
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(content.encode() if isinstance(content, str) else content)


def user_state(repo: Path) -> tuple:
    """Everything create/finish/snapshot promise not to touch. Read without optional locks so
    the reading itself does not refresh the index."""
    index = repo / ".git" / "index"
    files = {
        str(p.relative_to(repo)): p.read_bytes()
        for p in sorted(repo.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(repo).parts
    }
    return (
        index.read_bytes() if index.exists() else None,
        git(repo, "rev-parse", "HEAD"),
        git(repo, "symbolic-ref", "HEAD"),
        git(repo, "--no-optional-locks", "status", "--porcelain=v1", "-uall"),
        files,
    )


def shim_branches(repo: Path) -> list[str]:
    return git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/codex-shims/").split()


def by_path(changes: Changes) -> dict[str, dict]:
    return {f["path"]: f for f in changes.files}


def assert_patch_rebuilds(repo: Path, t1: str, t2: str, patch: bytes, scratch: Path) -> None:
    """The patch applied to a checkout of the first tree gives exactly the second tree."""
    target = make_repo(scratch, commit=False)
    idx = str(scratch.parent / (scratch.name + ".index"))
    git(repo, "read-tree", t1, env={"GIT_INDEX_FILE": idx})
    git(repo, "checkout-index", "-a", f"--prefix={target}/", env={"GIT_INDEX_FILE": idx})
    pfile = scratch.parent / (scratch.name + ".patch")
    pfile.write_bytes(patch)
    git(target, "apply", "--check", str(pfile))
    git(target, "apply", str(pfile))
    git(target, "add", "-A")
    assert git(target, "write-tree").strip() == t2


BASE = {
    "mod.txt": "one\ntwo\nthree\n",
    "del.txt": "gone\nsoon\n",
    "old_name.txt": "".join(f"line {i}\n" for i in range(20)),
    "bin.dat": b"\x00\x01\x02binary\x00data\xff" * 10,
    "keep.txt": "untouched\n",
}


# --- snapshot and diff ---------------------------------------------------------------------


def test_every_kind_of_change(tmp_path):
    repo = make_repo(tmp_path / "r", BASE)
    snap = snapshot(str(repo))
    assert snap is not None and snap.root == str(repo)

    write(repo / "mod.txt", "one\nTWO\nthree\nfour\n")
    write(repo / "new.txt", "fresh\nfile\n")
    (repo / "del.txt").unlink()
    os.makedirs(repo / "sub")
    os.rename(repo / "old_name.txt", repo / "sub" / "new name.txt")
    write(repo / "bin.dat", b"\x00\x01\x02BINARY\x00data\xfe" * 10)

    ch = changes_since(snap)
    files = by_path(ch)
    assert set(files) == {"mod.txt", "new.txt", "del.txt", "old_name.txt", "bin.dat"}
    assert files["mod.txt"]["kind"] == "update"
    assert files["new.txt"]["kind"] == "add"
    assert files["del.txt"]["kind"] == "delete"
    assert files["old_name.txt"]["kind"] == "update"
    assert files["old_name.txt"]["move_path"] == "sub/new name.txt"
    assert files["bin.dat"]["kind"] == "update"
    assert all("move_path" not in f for p, f in files.items() if p != "old_name.txt")

    assert "-two\n" in files["mod.txt"]["diff"] and "+TWO\n" in files["mod.txt"]["diff"]
    assert "+four\n" in files["mod.txt"]["diff"]
    assert files["mod.txt"]["diff"].startswith("diff --git a/mod.txt b/mod.txt\n")
    assert "+fresh\n+file\n" in files["new.txt"]["diff"]
    assert "-gone\n-soon\n" in files["del.txt"]["diff"]
    assert "rename from old_name.txt\nrename to sub/new name.txt\n" in files["old_name.txt"]["diff"]
    assert "Binary files a/bin.dat and b/bin.dat differ" in files["bin.dat"]["diff"]
    # each file's diff is its own section only
    assert all(f["diff"].count("diff --git ") == 1 for f in ch.files)

    # numstat: mod +2 -1, new +2, del -2, rename and binary 0/0
    assert (ch.insertions, ch.deletions) == (4, 3)
    # The item is Codex's shape: {path, kind} only, the rename as a delete and an add.
    assert ch.item() == {"type": "file_change", "status": "completed", "changes": [
        {"path": "bin.dat", "kind": "update"}, {"path": "del.txt", "kind": "delete"},
        {"path": "mod.txt", "kind": "update"}, {"path": "new.txt", "kind": "add"},
        {"path": "old_name.txt", "kind": "delete"}, {"path": "sub/new name.txt", "kind": "add"}]}
    assert ch.summary("/j/patch.diff") == {"files_changed": 5, "insertions": 4, "deletions": 3,
                                          "patch_path": "/j/patch.diff"}
    assert b"GIT binary patch" in ch.patch

    t2 = snapshot(str(repo)).tree
    assert_patch_rebuilds(repo, snap.tree, t2, ch.patch, tmp_path / "apply")
    # and the patch is exactly what separates the changed working tree from the first tree
    pfile = tmp_path / "p.patch"
    pfile.write_bytes(ch.patch)
    git(repo, "apply", "--check", "-R", str(pfile))


def test_nearly_identical_rename_is_a_move(tmp_path):
    repo = make_repo(tmp_path / "r", BASE)
    snap = snapshot(str(repo))
    text = (repo / "old_name.txt").read_text().replace("line 7\n", "line seven\n")
    (repo / "old_name.txt").unlink()
    write(repo / "moved.txt", text)
    ch = changes_since(snap)
    assert [(f["path"], f["kind"], f.get("move_path")) for f in ch.files] == [
        ("old_name.txt", "update", "moved.txt")
    ]
    assert "-line 7\n+line seven\n" in ch.files[0]["diff"]
    assert (ch.insertions, ch.deletions) == (1, 1)


def test_typechange_and_mode_change(tmp_path):
    repo = make_repo(tmp_path / "r", {"link": "was a file\n", "script.sh": "echo hi\n", "z.txt": "z\n"})
    snap = snapshot(str(repo))
    (repo / "link").unlink()
    os.symlink("z.txt", repo / "link")
    os.chmod(repo / "script.sh", 0o755)
    write(repo / "z.txt", "zz\n")
    ch = changes_since(snap)
    files = by_path(ch)
    assert {p: f["kind"] for p, f in files.items()} == {"link": "update", "script.sh": "update",
                                                       "z.txt": "update"}
    # a typechange prints two sections (delete + add) for one path; both belong to it
    assert files["link"]["diff"].count("diff --git a/link b/link") == 2
    assert "-was a file" in files["link"]["diff"] and "+z.txt" in files["link"]["diff"]
    assert "new mode 100755" in files["script.sh"]["diff"]
    assert "+zz" in files["z.txt"]["diff"] and "diff --git" not in files["z.txt"]["diff"][1:]
    assert_patch_rebuilds(repo, snap.tree, snapshot(str(repo)).tree, ch.patch, tmp_path / "apply")


def test_the_users_git_config_does_not_change_the_output(tmp_path):
    repo = make_repo(tmp_path / "r", BASE)
    for key, value in [("diff.noprefix", "true"), ("diff.mnemonicPrefix", "true"), ("color.ui", "always"),
                       ("color.diff", "always"), ("diff.external", "false"), ("diff.renames", "false"),
                       ("diff.relative", "true"), ("core.autocrlf", "true"), ("core.safecrlf", "true")]:
        git(repo, "config", key, value)
    snap = snapshot(str(repo))
    write(repo / "mod.txt", "one\nTWO\nthree\n")
    os.rename(repo / "old_name.txt", repo / "renamed.txt")
    write(repo / "lf.txt", "safecrlf would refuse this\n")
    ch = changes_since(snap)
    assert {(f["path"], f["kind"], f.get("move_path")) for f in ch.files} == {
        ("mod.txt", "update", None), ("old_name.txt", "update", "renamed.txt"), ("lf.txt", "add", None)}
    assert by_path(ch)["mod.txt"]["diff"].startswith("diff --git a/mod.txt b/mod.txt\n")
    assert "\x1b[" not in "".join(f["diff"] for f in ch.files) and b"\x1b[" not in ch.patch


def test_changes_made_before_the_snapshot_are_not_reported(tmp_path):
    repo = make_repo(tmp_path / "r", {"a.txt": "1\n2\n3\n", "staged.txt": "s\n"})
    write(repo / "a.txt", "1\nX\n3\n")  # the user's own edit
    write(repo / "untracked.txt", "mine\n")
    write(repo / "staged.txt", "s2\n")
    git(repo, "add", "staged.txt")
    snap = snapshot(str(repo))

    nothing = changes_since(snap)
    assert nothing.files == [] and nothing.item() is None and nothing.summary("p") is None

    write(repo / "a.txt", "1\nX\n3\n4\n")
    ch = changes_since(snap)
    assert [(f["path"], f["kind"]) for f in ch.files] == [("a.txt", "update")]
    diff = ch.files[0]["diff"]
    assert "+4\n" in diff and " X\n" in diff  # relative to the dirty state
    assert "-2\n" not in diff and "+X\n" not in diff
    assert (ch.insertions, ch.deletions) == (1, 0)


def test_ignored_files_are_not_reported(tmp_path):
    repo = make_repo(tmp_path / "r", {".gitignore": "*.log\nbuild/\n", "a.txt": "a\n"})
    snap = snapshot(str(repo))
    write(repo / "debug.log", "noise\n")
    write(repo / "build" / "out.o", b"\x00obj")
    write(repo / "src" / "real.py", "print(1)\n")
    ch = changes_since(snap)
    assert [f["path"] for f in ch.files] == ["src/real.py"]


def test_names_with_spaces_unicode_quotes_and_newlines(tmp_path):
    repo = make_repo(tmp_path / "r", {"dir with space/old é.txt": "x\n" * 5, 'q"uote.txt': "q\n"})
    snap = snapshot(str(repo))
    names = ["dir with space/файл ü.txt", "new\nline.txt", "tab\there.txt", "back\\slash.txt"]
    for n in names:
        write(repo / n, f"content of {n!r}\n")
    os.rename(repo / 'q"uote.txt', repo / 'q"uote moved.txt')
    write(repo / "dir with space" / "old é.txt", "x\n" * 5 + "y\n")
    ch = changes_since(snap)
    files = by_path(ch)
    assert set(files) == {*names, 'q"uote.txt', "dir with space/old é.txt"}
    for n in names:
        assert files[n]["kind"] == "add"
        assert f"+content of {n!r}\n" in files[n]["diff"]
    assert files['q"uote.txt']["move_path"] == 'q"uote moved.txt'
    assert files["dir with space/old é.txt"]["diff"].endswith("+y\n")
    assert files["new\nline.txt"]["diff"].startswith('diff --git "a/new\\nline.txt" "b/new\\nline.txt"\n')
    assert_patch_rebuilds(repo, snap.tree, snapshot(str(repo)).tree, ch.patch, tmp_path / "apply")


def test_a_file_git_cannot_add_does_not_cost_the_snapshot(tmp_path):
    """A nested repository without a commit (a vendor ran `git init` in a subfolder) makes plain
    `git add -A` die; the rest of the tree is still snapshotted and diffed."""
    repo = make_repo(tmp_path / "r", {"a.txt": "a\n"})
    make_repo(repo / "nested", {"n.txt": "n\n"}, commit=False)
    snap = snapshot(str(repo))
    write(repo / "a.txt", "a2\n")
    assert [f["path"] for f in changes_since(snap).files] == ["a.txt"]


def test_rewriting_identical_content_is_no_change(tmp_path):
    repo = make_repo(tmp_path / "r", BASE)
    snap = snapshot(str(repo))
    for name, content in BASE.items():
        write(repo / name, content)
    ch = changes_since(snap)
    assert ch.files == [] and ch.patch == b"" and (ch.insertions, ch.deletions) == (0, 0)
    assert ch.item() is None and ch.summary(None) is None


def test_not_a_repository(tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    assert snapshot(str(plain)) is None
    assert snapshot(str(tmp_path / "missing")) is None


def test_git_missing_gives_no_snapshot(tmp_path, monkeypatch):
    repo = make_repo(tmp_path / "r", {"a": "a\n"})
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    assert snapshot(str(repo)) is None


def test_empty_repository(tmp_path):
    repo = make_repo(tmp_path / "r", commit=False)
    assert not (repo / ".git" / "index").exists()
    snap = snapshot(str(repo))
    assert snap is not None
    assert snap.tree == "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # the empty tree
    assert not (repo / ".git" / "index").exists()
    write(repo / "first.txt", "hello\n")
    ch = changes_since(snap)
    assert [(f["path"], f["kind"]) for f in ch.files] == [("first.txt", "add")]
    assert ch.summary(None) == {"files_changed": 1, "insertions": 1, "deletions": 0, "patch_path": None}
    assert not (repo / ".git" / "index").exists()


def test_snapshot_from_a_subfolder_reports_repo_relative_paths(tmp_path):
    repo = make_repo(tmp_path / "r", {"pkg/inner/a.txt": "a\n", "top.txt": "t\n"})
    snap = snapshot(str(repo / "pkg" / "inner"))
    assert snap.root == str(repo)
    write(repo / "top.txt", "t2\n")
    write(repo / "pkg" / "inner" / "a.txt", "a2\n")
    assert [f["path"] for f in changes_since(snap).files] == ["pkg/inner/a.txt", "top.txt"]


def test_snapshot_through_a_symlinked_folder_uses_the_repositorys_own_index(tmp_path):
    """git resolves paths against the physical folder; a symlink into the repository must not
    send the index copy to a wrong (missing) file, which would silently rebuild it from scratch."""
    repo = make_repo(tmp_path / "r", {"pkg/inner/a.txt": "a\n"})
    (tmp_path / "elsewhere").mkdir()
    link = tmp_path / "elsewhere" / "link"
    link.symlink_to(repo / "pkg" / "inner")
    snap = snapshot(str(link))
    assert (snap.root, snap.index) == (str(repo), str(repo / ".git" / "index"))
    write(repo / "pkg" / "inner" / "a.txt", "a2\n")
    assert [f["path"] for f in changes_since(snap).files] == ["pkg/inner/a.txt"]


def test_snapshot_in_a_linked_worktree_uses_its_own_index(tmp_path):
    repo = make_repo(tmp_path / "r", {"a.txt": "a\n"})
    git(repo, "worktree", "add", "-q", str(tmp_path / "wt"))
    snap = snapshot(str(tmp_path / "wt"))
    assert snap.index == str(repo / ".git" / "worktrees" / "wt" / "index")
    write(tmp_path / "wt" / "a.txt", "changed\n")
    assert [f["path"] for f in changes_since(snap).files] == ["a.txt"]
    assert git(repo, "status", "--porcelain") == ""


def test_snapshot_and_diff_leave_the_user_checkout_alone(tmp_path):
    repo = make_repo(tmp_path / "r", BASE)
    write(repo / "mod.txt", "dirty\n")
    write(repo / "u.txt", "untracked\n")
    write(repo / "keep.txt", "staged\n")
    git(repo, "add", "keep.txt")
    git(repo, "--no-optional-locks", "status")
    before = user_state(repo)
    snap = snapshot(str(repo))
    assert user_state(repo) == before
    write(repo / "later.txt", "x\n")
    before = user_state(repo)
    ch = changes_since(snap)
    assert [f["path"] for f in ch.files] == ["later.txt"]
    assert user_state(repo) == before
    assert not list((repo / ".git").glob("*.lock"))


def test_git_failure_is_raised_with_its_message(tmp_path):
    repo = make_repo(tmp_path / "r", {"a": "a\n"})
    (repo / ".git" / "index").write_bytes(b"DIRC garbage")
    with pytest.raises(workspace.GitError, match="index"):
        snapshot(str(repo))


def test_a_large_file_is_not_copied_needlessly(tmp_path):
    repo = make_repo(tmp_path / "r", {"a": "a\n"})
    snap = snapshot(str(repo))
    size = 16 * 1024 * 1024
    line = b"x" * 63 + b"\n"
    write(repo / "big.txt", line * (size // len(line)))
    tracemalloc.start()
    try:
        ch = changes_since(snap)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert ch.insertions == size // len(line)
    assert len(ch.patch) > size and len(ch.files[0]["diff"]) > size
    assert peak < 4 * size, f"peak {peak / size:.1f}x the file's size"


# --- worktree ------------------------------------------------------------------------------


def dirty_repo(tmp_path) -> Path:
    repo = make_repo(tmp_path / "r", {"pkg/sub/code.py": "x = 1\n", "README": "hi\n"})
    write(repo / "README", "the user's own edit\n")
    write(repo / "pkg" / "sub" / "wip.py", "untracked\n")
    git(repo, "--no-optional-locks", "status")
    return repo


def test_worktree_on_a_new_branch_at_head(tmp_path):
    repo = dirty_repo(tmp_path)
    head = git(repo, "rev-parse", "HEAD").strip()
    before = user_state(repo)
    wt = create_worktree(str(repo / "pkg" / "sub"), str(tmp_path / "wts"), "run1")
    assert user_state(repo) == before

    assert wt.repo_root == str(repo)
    assert wt.path == str(tmp_path / "wts" / "run1") and os.path.isdir(wt.path)
    assert wt.branch == "codex-shims/run1"
    assert wt.cwd == os.path.join(wt.path, "pkg", "sub") and os.path.isdir(wt.cwd)
    assert git(wt.path, "symbolic-ref", "HEAD").strip() == "refs/heads/codex-shims/run1"
    assert git(repo, "rev-parse", "codex-shims/run1").strip() == head
    # the worktree starts at HEAD: none of the user's uncommitted changes are in it
    assert Path(wt.path, "README").read_text() == "hi\n"
    assert not Path(wt.cwd, "wip.py").exists()
    assert git(wt.path, "status", "--porcelain=v1", "-uall") == ""


def test_unchanged_worktree_is_removed_with_its_branch(tmp_path):
    repo = dirty_repo(tmp_path)
    before = user_state(repo)
    wt = create_worktree(str(repo), str(tmp_path / "wts"), "quiet")
    assert wt.cwd == wt.path
    snap = snapshot(wt.cwd)
    assert snap.root == wt.path
    ch = changes_since(snap)
    assert finish_worktree(wt, bool(ch.files)) is None
    assert not os.path.exists(wt.path)
    assert shim_branches(repo) == []
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1
    assert user_state(repo) == before


def test_changed_worktree_is_kept(tmp_path):
    repo = dirty_repo(tmp_path)
    before = user_state(repo)
    wt = create_worktree(str(repo / "pkg"), str(tmp_path / "wts"), "busy")
    snap = snapshot(wt.cwd)
    write(Path(wt.cwd) / "sub" / "code.py", "x = 2\n")
    write(Path(wt.cwd) / "added.py", "y = 1\n")
    ch = changes_since(snap)
    assert {(f["path"], f["kind"]) for f in ch.files} == {("pkg/sub/code.py", "update"), ("pkg/added.py", "add")}
    assert finish_worktree(wt, bool(ch.files)) == wt.path
    assert Path(wt.path, "pkg", "added.py").exists()
    assert shim_branches(repo) == ["codex-shims/busy"]
    assert user_state(repo) == before


def test_committed_work_in_the_worktree_still_counts(tmp_path):
    repo = dirty_repo(tmp_path)
    wt = create_worktree(str(repo), str(tmp_path / "wts"), "committer")
    snap = snapshot(wt.cwd)
    write(Path(wt.path, "README"), "vendor committed this\n")
    git(wt.path, "commit", "-qam", "vendor")
    ch = changes_since(snap)
    assert [f["path"] for f in ch.files] == ["README"]


def test_worktree_cwd_missing_from_head_is_made(tmp_path):
    repo = dirty_repo(tmp_path)
    (repo / "only_untracked").mkdir()
    wt = create_worktree(str(repo / "only_untracked"), str(tmp_path / "wts"), "mk")
    assert wt.cwd == os.path.join(wt.path, "only_untracked") and os.path.isdir(wt.cwd)


def test_worktree_refuses_a_non_repository(tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(NotAGitRepo, match="is not inside a git repository; --worktree needs one"):
        create_worktree(str(plain), str(tmp_path / "wts"), "x")
    assert not (tmp_path / "wts").exists()


def test_worktree_refuses_a_repository_without_commits(tmp_path):
    repo = make_repo(tmp_path / "r", {"a": "a\n"}, commit=False)
    with pytest.raises(NoCommitYet, match="no commit yet"):
        create_worktree(str(repo), str(tmp_path / "wts"), "x")


def test_worktree_name_taken_is_a_clear_error_and_leaves_nothing(tmp_path):
    repo = dirty_repo(tmp_path)
    (tmp_path / "wts" / "taken").mkdir(parents=True)
    (tmp_path / "wts" / "taken" / "file").write_text("occupied")
    with pytest.raises(workspace.GitError, match="already exists"):
        create_worktree(str(repo), str(tmp_path / "wts"), "taken")
    assert shim_branches(repo) == []


def test_concurrent_worktrees_on_one_repository(tmp_path):
    repo = dirty_repo(tmp_path)
    git(repo, "pack-refs", "--all")  # deleting branches then has to rewrite packed-refs
    before = user_state(repo)
    n = 4
    start = threading.Barrier(n)
    made: dict[int, object] = {}
    errors: list[BaseException] = []

    def run(i: int, action) -> None:
        try:
            start.wait()
            made[i] = action(i)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    def go(action) -> None:
        threads = [threading.Thread(target=run, args=(i, action)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors

    go(lambda i: create_worktree(str(repo / "pkg"), str(tmp_path / "wts"), f"w{i}"))
    wts = [made[i] for i in range(n)]
    assert len({w.path for w in wts}) == n and len({w.branch for w in wts}) == n
    assert all(os.path.isdir(w.cwd) for w in wts)
    assert shim_branches(repo) == [f"codex-shims/w{i}" for i in range(n)]

    made.clear()
    go(lambda i: finish_worktree(wts[i], changed=False))
    assert all(v is None for v in made.values())
    assert shim_branches(repo) == []
    assert not any(os.path.exists(w.path) for w in wts)
    assert user_state(repo) == before


def test_a_lock_held_for_a_moment_is_waited_out(tmp_path):
    """Another git (the user's, a concurrent shim's) holding a lock briefly is not a failure."""
    repo = dirty_repo(tmp_path)
    git(repo, "pack-refs", "--all")
    ref_lock = repo / ".git" / "refs" / "heads" / "codex-shims" / "held.lock"
    ref_lock.parent.mkdir(parents=True)
    ref_lock.write_text("")
    threading.Timer(0.4, ref_lock.unlink).start()
    wt = create_worktree(str(repo), str(tmp_path / "wts"), "held")
    assert not ref_lock.exists()

    # git itself waits one second for packed-refs.lock (core.packedRefsTimeout); hold it longer
    packed_lock = repo / ".git" / "packed-refs.lock"
    packed_lock.write_text("")
    threading.Timer(1.6, packed_lock.unlink).start()
    assert finish_worktree(wt, changed=False) is None
    assert shim_branches(repo) == []


def test_a_lock_that_stays_is_reported(tmp_path, monkeypatch):
    monkeypatch.setattr(workspace, "_ATTEMPTS", 2)
    repo = dirty_repo(tmp_path)
    ref_lock = repo / ".git" / "refs" / "heads" / "codex-shims" / "stuck.lock"
    ref_lock.parent.mkdir(parents=True)
    ref_lock.write_text("")
    with pytest.raises(workspace.GitError, match=r"stuck\.lock"):
        create_worktree(str(repo), str(tmp_path / "wts"), "stuck")
    assert not (tmp_path / "wts" / "stuck").exists()


def test_missing_folder_or_git_is_a_clear_error(tmp_path, monkeypatch):
    repo = make_repo(tmp_path / "r", {"a": "a\n"})
    with pytest.raises(workspace.WorkspaceError, match="is not a directory"):
        create_worktree(str(tmp_path / "missing"), str(tmp_path / "wts"), "x")
    snap = snapshot(str(repo))
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    with pytest.raises(workspace.GitNotFound, match="git is not installed"):
        changes_since(snap)
    with pytest.raises(workspace.GitNotFound):
        create_worktree(str(repo), str(tmp_path / "wts"), "x")


def test_plain_repositories_are_located_without_git_as_git_would(tmp_path, monkeypatch):
    """shims.workspace.gitdir.plain_repository answers for plain layouts exactly as `git rev-parse` does,
    and declines (so git is asked) for every other one."""
    from shims.workspace.gitdir import plain_repository

    monkeypatch.delenv("GIT_CEILING_DIRECTORIES", raising=False)
    repo = make_repo(tmp_path / "r", {"pkg/a.txt": "a\n"})
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "link").symlink_to(repo / "pkg")
    git(repo, "worktree", "add", "-q", str(tmp_path / "wt"))
    sub_src = make_repo(tmp_path / "subsrc", {"s.txt": "s\n"})
    git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(sub_src), "mod")
    bare = tmp_path / "r" / "pkg" / "inner.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    odd = make_repo(tmp_path / "odd", {"o.txt": "o\n"})
    git(odd, "config", "core.worktree", str(odd))
    (tmp_path / "plain").mkdir()

    def rev_parse(cwd):
        proc = subprocess.run(["git", "rev-parse", "--show-toplevel", "--git-path", "index"], cwd=cwd,
                              capture_output=True, text=True)
        if proc.returncode:
            return None
        top, index = proc.stdout.splitlines()
        return top, os.path.normpath(os.path.join(os.path.realpath(cwd), index))

    plain = [repo, repo / "pkg", tmp_path / "elsewhere" / "link"]
    declined = [tmp_path / "wt", repo / "mod", repo / ".git", repo / ".git" / "objects", bare, odd, tmp_path / "plain"]
    for cwd in plain:
        assert plain_repository(str(cwd)) == rev_parse(cwd) == (str(repo), str(repo / ".git" / "index")), cwd
    for cwd in declined:
        assert plain_repository(str(cwd)) is None, cwd
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    assert plain_repository(str(repo / "pkg")) is None


def test_a_split_index_is_read_through_its_shared_base(tmp_path):
    """git looks for a split index's `sharedindex.<id>` next to the index file: the private
    copy must find it, or every tracked file would look deleted."""
    repo = make_repo(tmp_path / "r", {"a.txt": "a\n", "b.txt": "b\n"})
    git(repo, "config", "core.splitIndex", "true")
    git(repo, "update-index", "--split-index")
    write(repo / "c.txt", "c\n")
    git(repo, "add", "c.txt")
    assert list((repo / ".git").glob("sharedindex.*"))
    snap = snapshot(str(repo))
    write(repo / "a.txt", "a2\n")
    assert [(f["path"], f["kind"]) for f in changes_since(snap).files] == [("a.txt", "update")]
    assert not list((repo / ".git").glob("*.lock"))


def test_sha256_repository(tmp_path):
    repo = tmp_path / "r"
    repo.mkdir()
    git(repo, "init", "-q", "--object-format=sha256")
    write(repo / "a.txt", "a\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    snap = snapshot(str(repo))
    assert len(snap.tree) == 64
    write(repo / "a.txt", "a2\n")
    assert [f["path"] for f in changes_since(snap).files] == ["a.txt"]
    wt = create_worktree(str(repo), str(tmp_path / "wts"), "s")
    assert Path(wt.path, "a.txt").read_text() == "a\n"
    assert finish_worktree(wt, changed=False) is None


def test_submodules_in_snapshots_and_worktrees(tmp_path):
    sub_src = make_repo(tmp_path / "subsrc", {"s.txt": "s\n"})
    repo = make_repo(tmp_path / "r", {"a.txt": "a\n"})
    git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(sub_src), "mod")
    git(repo, "commit", "-qm", "sub")
    snap = snapshot(str(repo))
    write(repo / "a.txt", "a2\n")
    write(repo / "mod" / "s.txt", "inside the submodule\n")  # the submodule's own change: not the superproject's
    assert [f["path"] for f in changes_since(snap).files] == ["a.txt"]
    # from inside the submodule: its own repository (a .git file without commondir)
    inner = snapshot(str(repo / "mod"))
    assert inner.root == str(repo / "mod") and inner.git_dir == str(repo / ".git" / "modules" / "mod")
    write(repo / "mod" / "t.txt", "t\n")
    assert [f["path"] for f in changes_since(inner).files] == ["t.txt"]
    wt = create_worktree(str(repo), str(tmp_path / "wts"), "sm")
    assert os.path.isdir(os.path.join(wt.path, "mod"))  # unpopulated, as `git worktree add` leaves it
    assert finish_worktree(wt, changed=False) is None
