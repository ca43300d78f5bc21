"""The shim's own git calls run nothing the vendor planted (issue 13).

A vendor allowed only to edit files can write `.git/config` (or a file it includes, or
`config.worktree`), `.git/info/attributes`, `.git/hooks/` and `.gitattributes`; the user's global
config may name drivers and hooks too. Every mechanism git has for running a program is planted
here as a script that leaves a marker file; the shim's snapshot, diff and worktree calls —
the opening snapshot, the closing snapshot and diff, the next run's opening snapshot, --worktree
create, finish and the sweep of abandoned worktrees — must leave no marker, and still report the
changes right.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import FAKE_VENDOR, shim_path
from hostile import hostile_text
from hypothesis import given, settings
from streamcheck import check_stream, parse_stream
from test_workspace import by_path, git, hermetic_git, make_repo, write  # noqa: F401 - autouse fixture

from shims.workspace import changes as workspace
from shims.workspace.changes import changes_since, create_worktree, finish_worktree, snapshot
from shims.workspace.gitdir import plain_repository

# Every way a git command could be made to start a program, as config. `{bin}` is a folder of
# scripts, one per mechanism, each leaving `<marks>/<name>` (and passing stdin through, as a
# clean or smudge filter would).
CONFIG = {
    "core.fsmonitor": "{bin}/fsmonitor",
    "filter.evil.clean": "{bin}/filter-clean",
    "filter.evil.smudge": "{bin}/filter-smudge",
    "filter.evil.required": "true",
    "filter.proc.process": "{bin}/filter-process",
    "filter.proc.required": "true",
    "core.hooksPath": "{hooks}",
    "core.pager": "{bin}/core-pager",
    "pager.diff": "{bin}/pager-cmd",
    "pager.branch": "{bin}/pager-cmd",
    "pager.worktree": "{bin}/pager-cmd",
    "pager.status": "{bin}/pager-cmd",
    "diff.external": "{bin}/diff-external",
    "diff.evil.textconv": "{bin}/textconv",
    "diff.evil.command": "{bin}/diff-command",
    "diff.proc.textconv": "{bin}/textconv",
    "core.sshCommand": "{bin}/ssh-command",
    "credential.helper": "{bin}/credential-helper",
    "core.askPass": "{bin}/askpass",
    "core.editor": "{bin}/editor",
    "sequence.editor": "{bin}/editor",
    "gc.auto": "1",
    "gc.autoPackLimit": "1",
    "gc.autoDetach": "false",
    "maintenance.auto": "true",
    "core.alternateRefsCommand": "{bin}/alternate-refs",
    "uploadpack.packObjectsHook": "{bin}/pack-objects-hook",
    # a remote whose transport runs a command, for anything that would fetch
    "protocol.ext.allow": "always",
    "remote.origin.url": "ext::{bin}/transport",
    "remote.origin.promisor": "true",
}

HOOKS = ("post-checkout", "reference-transaction", "post-index-change", "pre-auto-gc", "pre-commit",
         "post-commit", "post-rewrite", "fsmonitor-watchman", "push-to-checkout", "post-merge")

_PASS_THROUGH = ("filter-clean", "filter-smudge", "core-pager", "pager-cmd")

ATTRIBUTES = "* filter=evil diff=evil\n*.txt filter=proc diff=proc\n"


class Plant:
    """Scripts and markers for one test; `plant_*` write the mechanisms into a repository."""

    def __init__(self, base: Path) -> None:
        self.bin, self.hooks, self.marks = base / "bin", base / "hooks", base / "marks"
        for d in (self.bin, self.hooks, self.marks):
            d.mkdir(parents=True, exist_ok=True)
        names = {Path(v.split("::")[-1]).name for v in CONFIG.values() if "{bin}" in v}
        for name in names:
            self._script(self.bin / name, name)
        for hook in HOOKS:
            self._script(self.hooks / hook, "hook-" + hook)

    def _script(self, path: Path, name: str) -> None:
        # a filter or a pager passes its input through; anything else (a transport, a hook
        # given input) must not wait for input that never ends
        tail = "exec cat" if name in _PASS_THROUGH else "exit 0"
        path.write_text(f"#!/bin/sh\ntouch '{self.marks}/{name}'\n{tail}\n")
        path.chmod(0o755)

    def config_text(self) -> str:
        lines = []
        for key, value in CONFIG.items():
            section, _, rest = key.partition(".")
            sub, _, name = rest.rpartition(".")
            head = f'[{section} "{sub}"]' if sub else f"[{section}]"
            lines.append(f"{head}\n\t{name} = \"{value.format(bin=self.bin, hooks=self.hooks)}\"\n")
        return "".join(lines)

    def plant_config(self, git_dir: Path, how: str) -> None:
        """how: `config` (the repository's own), `include` (a file it includes),
        `worktree` (config.worktree with extensions.worktreeConfig)."""
        config = git_dir / "config"
        if how == "config":
            with config.open("a") as f:
                f.write(self.config_text())
        elif how == "include":
            inc = git_dir / "evil.inc"
            inc.write_text(self.config_text())
            with config.open("a") as f:
                f.write(f"[include]\n\tpath = {inc}\n")
        elif how == "worktree":
            with config.open("a") as f:
                f.write("[core]\n\trepositoryformatversion = 1\n[extensions]\n\tworktreeConfig = true\n")
            (git_dir / "config.worktree").write_text(self.config_text())
        else:
            raise ValueError(how)

    def plant_hooks(self, git_dir: Path) -> None:
        (git_dir / "hooks").mkdir(exist_ok=True)
        for hook in HOOKS:
            shutil.copy(self.hooks / hook, git_dir / "hooks" / hook)

    def plant_attributes(self, work_tree: Path, git_dir: Path) -> None:
        (work_tree / ".gitattributes").write_text(ATTRIBUTES)
        (git_dir / "info").mkdir(exist_ok=True)
        (git_dir / "info" / "attributes").write_text(ATTRIBUTES)

    def plant_all(self, work_tree: Path, git_dir: Path, how: str) -> None:
        self.plant_config(git_dir, how)
        self.plant_hooks(git_dir)
        self.plant_attributes(work_tree, git_dir)

    def fired(self) -> list[str]:
        return sorted(os.listdir(self.marks))


def test_the_planted_mechanisms_do_run_under_plain_git(tmp_path):
    """The test's own premise: each planted mechanism is live for a git that reads the
    repository's config (so an empty marker folder below means the shim defeated it)."""
    plant = Plant(tmp_path / "p")
    repo = make_repo(tmp_path / "r", {"a.txt": "a\n", "b.bin": "b\n"})
    plant.plant_all(repo, repo / ".git", "config")
    write(repo / "a.txt", "a2\n")
    write(repo / "b.bin", "b2\n")
    # (an empty filter.<x>.process disables that driver: the diff then reaches the external tools)
    lenient = ["-c", "filter.evil.required=false", "-c", "filter.proc.required=false", "-c", "filter.proc.process="]
    subprocess.run(["git", "add", "b.bin"], cwd=repo, capture_output=True)
    subprocess.run(["git", "add", "a.txt"], cwd=repo, capture_output=True)
    subprocess.run(["git", *lenient, "add", "-A"], cwd=repo, capture_output=True)
    subprocess.run(["git", *lenient, "diff", "HEAD"], cwd=repo, capture_output=True)
    subprocess.run(["git", "branch", "x"], cwd=repo, capture_output=True)
    subprocess.run(["git", "ls-remote", "origin"], cwd=repo, capture_output=True)
    subprocess.run(["git", *lenient, "worktree", "add", "-q", str(tmp_path / "wt")], cwd=repo, capture_output=True)
    fired = plant.fired()
    for name in ("fsmonitor", "filter-clean", "filter-smudge", "filter-process", "diff-external", "diff-command",
                 "hook-post-index-change", "hook-reference-transaction", "hook-post-checkout",
                 "transport"):
        assert name in fired, (name, fired)


# --- snapshot and diff -----------------------------------------------------------------------

PLACES = ("config", "include", "worktree")


def _edit(repo: Path) -> None:
    write(repo / "a.txt", "a changed\n")
    write(repo / "new.txt", "new\n")
    write(repo / "b.bin", b"b\x00changed")


def _assert_edit_reported(ch) -> None:
    files = by_path(ch)
    assert set(files) >= {"a.txt", "new.txt", "b.bin"}
    assert "+a changed\n" in files["a.txt"]["diff"] and "+new\n" in files["new.txt"]["diff"]


@pytest.mark.parametrize("how", PLACES)
def test_opening_snapshot_and_diff_run_nothing_planted_before(tmp_path, how):
    plant = Plant(tmp_path / "p")
    repo = make_repo(tmp_path / "r", {"a.txt": "a\n", "b.bin": "b\n"})
    plant.plant_all(repo, repo / ".git", how)
    write(repo / "a.txt", "dirty before the run\n")  # stat-dirty: add must read (and would filter) it
    snap = snapshot(str(repo))
    _edit(repo)
    ch = changes_since(snap)
    assert plant.fired() == []
    _assert_edit_reported(ch)


@pytest.mark.parametrize("how", PLACES)
def test_closing_snapshot_and_diff_run_nothing_planted_during_the_run(tmp_path, how):
    plant = Plant(tmp_path / "p")
    repo = make_repo(tmp_path / "r", {"a.txt": "a\n", "b.bin": "b\n"})
    snap = snapshot(str(repo))
    plant.plant_all(repo, repo / ".git", how)  # the vendor, during the run
    _edit(repo)
    ch = changes_since(snap)
    assert plant.fired() == []
    _assert_edit_reported(ch)
    assert ".gitattributes" in by_path(ch)  # the vendor's attributes file is a change like any other


def test_the_users_global_config_runs_nothing_either(tmp_path, monkeypatch):
    plant = Plant(tmp_path / "p")
    glob = tmp_path / "global"
    glob.write_text("[user]\n\tname = T\n\temail = t@t\n" + plant.config_text())
    repo = make_repo(tmp_path / "r", {"a.txt": "a\n", "b.bin": "b\n"})
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(glob))
    plant.plant_attributes(repo, repo / ".git")
    snap = snapshot(str(repo))
    _edit(repo)
    ch = changes_since(snap)
    wt = create_worktree(str(repo), str(tmp_path / "wts"), "g")
    assert finish_worktree(wt, changed=False) is None
    assert plant.fired() == []
    _assert_edit_reported(ch)


def test_content_settings_still_apply_through_the_shadow(tmp_path, monkeypatch):
    """What the shim keeps of the configuration: an excludes file and line-ending settings, from
    any scope; attributes from .gitattributes for the built-in conversions."""
    ignore = tmp_path / "global-ignore"
    ignore.write_text("*.secret\n")
    glob = tmp_path / "global"
    glob.write_text(f"[user]\n\tname = T\n\temail = t@t\n[core]\n\texcludesFile = {ignore}\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(glob))
    repo = make_repo(tmp_path / "r", {"a.txt": "a\n", ".gitattributes": "*.crlf text eol=lf\n"})
    git(repo, "config", "core.autocrlf", "input")
    (repo / ".git" / "info" / "exclude").write_text("*.local\n")
    snap = snapshot(str(repo))
    write(repo / "k.secret", "token\n")
    write(repo / "k.local", "mine\n")
    write(repo / "w.crlf", "one\r\ntwo\r\n")
    write(repo / "a.txt", "a\r\nb\r\n")
    ch = changes_since(snap)
    files = by_path(ch)
    assert set(files) == {"w.crlf", "a.txt"}
    assert "\r" not in files["w.crlf"]["diff"] and "\r" not in files["a.txt"]["diff"]


def test_excludes_rank_as_git_ranks_them(tmp_path, monkeypatch):
    """The excludes file and info/exclude, merged into one for the shadow, still decide as git
    does: info/exclude over the excludes file, .gitignore over both, `!` re-including."""
    ignore = tmp_path / "global-ignore"
    ignore.write_text("*.log\n!shown.tmp\nbuild/\n")
    glob = tmp_path / "global"
    glob.write_text(f"[user]\n\tname = T\n\temail = t@t\n[core]\n\texcludesFile = {ignore}\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(glob))
    repo = make_repo(tmp_path / "r", {"a.txt": "a\n", ".gitignore": "!build/\n"})
    (repo / ".git" / "info" / "exclude").write_text("*.tmp\n!keep.log\n")
    snap = snapshot(str(repo))
    for name in ("x.log", "keep.log", "shown.tmp", "other.tmp", "build/out.o", "plain.txt"):
        write(repo / name, name)
    reported = sorted(f["path"] for f in changes_since(snap).files)
    assert reported == sorted(git(repo, "ls-files", "-o", "--exclude-standard").split())
    assert reported == ["build/out.o", "keep.log", "plain.txt"]


def test_a_fifo_as_excludes_file_does_not_hang_the_snapshot(tmp_path):
    repo = make_repo(tmp_path / "r", {"a.txt": "a\n"})
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    git(repo, "config", "core.excludesFile", str(fifo))
    (repo / ".git" / "info" / "exclude").unlink()
    os.mkfifo(repo / ".git" / "info" / "exclude")
    done: list = []
    t = threading.Thread(target=lambda: done.append(snapshot(str(repo))), daemon=True)
    t.start()
    t.join(20)
    if t.is_alive():  # release the git blocked on the FIFO, then fail
        for f in (fifo, repo / ".git" / "info" / "exclude"):
            with open(f, "w"):
                pass
        t.join(20)
        pytest.fail("the snapshot blocked on a FIFO")
    assert done and done[0] is not None


def test_a_program_named_git_in_the_work_tree_is_not_run(tmp_path, monkeypatch):
    """A PATH with an empty or `.` entry (a trailing colon is enough) would find `./git` in the
    folder git is started in: the work tree."""
    plant = Plant(tmp_path / "p")
    repo = make_repo(tmp_path / "r", {"a.txt": "a\n"})
    fake = repo / "git"
    fake.write_text(f"#!/bin/sh\ntouch '{plant.marks}/dot-git'\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", "." + os.pathsep + os.environ["PATH"] + os.pathsep)
    snap = snapshot(str(repo))
    write(repo / "a.txt", "a2\n")
    assert "a.txt" in by_path(changes_since(snap))
    wt = create_worktree(str(repo), str(tmp_path / "wts"), "p")
    assert finish_worktree(wt, changed=False) is None
    assert plant.fired() == []


# --- locations -------------------------------------------------------------------------------


def _object_count(git_dir: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(git_dir / "objects"))


def test_a_planted_commondir_sends_no_read_or_write_elsewhere(tmp_path):
    other = make_repo(tmp_path / "other", {"o.txt": "o\n"})
    plant = Plant(tmp_path / "p")
    plant.plant_all(other, other / ".git", "config")
    repo = make_repo(tmp_path / "r", {"a.txt": "a\n"})
    (repo / ".git" / "commondir").write_text(str(other / ".git") + "\n")
    before = _object_count(other / ".git")
    write(repo / "fresh.txt", "content only this repository has\n")
    assert plain_repository(str(repo)) is None
    with pytest.raises(workspace.WorkspaceError, match="common directory"):
        snapshot(str(repo))
    assert _object_count(other / ".git") == before
    assert plant.fired() == []


def test_a_planted_core_worktree_does_not_widen_the_snapshot(tmp_path):
    """core.worktree pointing at a parent folder would make `add -A` hash every file there
    (the user's home, say) into the repository and the journal's patch."""
    home = tmp_path / "home"
    write(home / ".ssh" / "id_test", "PRIVATE KEY\n")
    repo = make_repo(home / "proj", {"a.txt": "a\n"})
    git(repo, "config", "core.worktree", str(home))
    before = _object_count(repo / ".git")
    with pytest.raises(workspace.WorkspaceError, match="core.worktree"):
        snapshot(str(repo))
    assert _object_count(repo / ".git") == before


def test_a_rewritten_dot_git_file_in_the_worktree_is_not_followed(tmp_path):
    """The vendor runs in the worktree and may point its `.git` file at another repository:
    the closing snapshot and the removal keep to the folders found when the run started."""
    repo = make_repo(tmp_path / "r", {"a.txt": "a\n"})
    other = make_repo(tmp_path / "other", {"o.txt": "o\n"})
    wt = create_worktree(str(repo), str(tmp_path / "wts"), "moved")
    snap = snapshot(wt.cwd)
    dot = Path(wt.path) / ".git"
    dot.write_text(f"gitdir: {other / '.git'}\n")
    before = _object_count(other / ".git")
    write(Path(wt.path) / "a.txt", "vendor\n")
    assert [f["path"] for f in changes_since(snap).files] == ["a.txt"]
    assert _object_count(other / ".git") == before
    assert finish_worktree(wt, changed=False) == wt.path  # not ours to judge: kept
    assert (other / ".git" / "HEAD").exists() and (other / "o.txt").exists()


# --- worktrees -------------------------------------------------------------------------------


@pytest.mark.parametrize("how", PLACES)
def test_worktree_create_and_finish_run_nothing_planted(tmp_path, how):
    plant = Plant(tmp_path / "p")
    repo = make_repo(tmp_path / "r", {"a.txt": "a\n", "b.bin": "b\n", ".gitattributes": ATTRIBUTES})
    plant.plant_all(repo, repo / ".git", how)
    wt = create_worktree(str(repo), str(tmp_path / "wts"), "w1")
    assert Path(wt.path, "a.txt").read_text() == "a\n"  # checked out, without the smudge filter
    snap = snapshot(wt.cwd)
    assert finish_worktree(wt, changed=bool(changes_since(snap).files)) is None
    assert not os.path.exists(wt.path) and "codex-shims/w1" not in git(repo, "branch", "--list")

    wt = create_worktree(str(repo), str(tmp_path / "wts"), "w2")
    snap = snapshot(wt.cwd)
    # the vendor in the worktree plants in its own config.worktree and attributes as well
    plant.plant_all(Path(wt.path), Path(wt.git_dir), "worktree")
    write(Path(wt.path) / "a.txt", "vendor\n")
    ch = changes_since(snap)
    assert finish_worktree(wt, changed=bool(ch.files)) == wt.path
    assert plant.fired() == []
    assert "a.txt" in by_path(ch)


def test_a_missing_object_in_a_partial_clone_fetches_nothing(tmp_path):
    """A lazy fetch would start the promisor remote's transport (here: a command)."""
    plant = Plant(tmp_path / "p")
    repo = make_repo(tmp_path / "r", {"a.txt": "a\n"})
    plant.plant_config(repo / ".git", "config")
    git(repo, "config", "core.repositoryformatversion", "1")
    git(repo, "config", "extensions.partialClone", "origin")
    blob = git(repo, "rev-parse", "HEAD:a.txt").strip()
    (repo / ".git" / "objects" / blob[:2] / blob[2:]).unlink()
    with pytest.raises(workspace.WorkspaceError):
        create_worktree(str(repo), str(tmp_path / "wts"), "lazy")
    assert plant.fired() == []
    assert "codex-shims/lazy" not in git(repo, "branch", "--list")


def test_work_the_diff_cannot_see_keeps_the_worktree(tmp_path):
    """finish_worktree(changed=False) still keeps a worktree holding a new nested repository,
    a commit, or another branch checked out."""
    repo = make_repo(tmp_path / "r", {"a.txt": "a\n"})
    wt = create_worktree(str(repo), str(tmp_path / "wts"), "nested")
    make_repo(Path(wt.path) / "newproj", {"main.rs": "fn main() {}\n"}, commit=False)
    assert finish_worktree(wt, changed=False) == wt.path

    wt = create_worktree(str(repo), str(tmp_path / "wts"), "committed")
    write(Path(wt.path) / "a.txt", "vendor\n")
    git(wt.path, "commit", "-qam", "vendor")
    git(wt.path, "reset", "-q", "--hard", "HEAD")
    assert finish_worktree(wt, changed=False) == wt.path
    assert "codex-shims/committed" in git(repo, "branch", "--list")

    wt = create_worktree(str(repo), str(tmp_path / "wts"), "switched")
    git(wt.path, "checkout", "-q", "-b", "elsewhere")
    assert finish_worktree(wt, changed=False) == wt.path


def test_abandoned_worktree_sweep_runs_nothing_planted(tmp_path):
    plant = Plant(tmp_path / "p")
    repo = make_repo(tmp_path / "r", {"a.txt": "a\n"})
    parent = tmp_path / "wts"
    clean = create_worktree(str(repo), str(parent), "clean")
    dirty = create_worktree(str(repo), str(parent), "dirty")
    for wt in (clean, dirty):
        owner = Path(workspace.claim(wt, str(parent)))
        owner.write_text(json.dumps({**json.loads(owner.read_text()), "pid": 2**22 + 12345}))
        plant.plant_all(Path(wt.path), Path(wt.git_dir), "worktree")
    plant.plant_all(repo, repo / ".git", "config")
    (Path(clean.path) / ".gitattributes").unlink()  # one stays exactly as checked out
    write(Path(dirty.path) / "work.txt", "vendor work\n")
    assert workspace.sweep_abandoned(str(parent)) == [clean.path]
    assert plant.fired() == []
    assert not os.path.exists(clean.path) and os.path.exists(Path(dirty.path) / "work.txt")


def test_a_forged_owner_file_removes_nothing_outside_the_worktrees_folder(tmp_path):
    repo = make_repo(tmp_path / "r", {"a.txt": "a\n"})
    parent = tmp_path / "wts"
    wt = create_worktree(str(repo), str(parent), "real")
    owner = Path(workspace.claim(wt, str(parent)))
    data = {**json.loads(owner.read_text()), "pid": 2**22 + 12345}
    victim = make_repo(tmp_path / "victim", {"v.txt": "v\n"})
    (parent / "forged.owner").write_text(json.dumps({**data, "path": str(victim)}))
    owner.write_text(json.dumps({**data, "git_dir": str(victim / ".git")}))
    workspace.sweep_abandoned(str(parent))
    assert (victim / "v.txt").exists() and (victim / ".git" / "HEAD").exists()


# --- through the shim ------------------------------------------------------------------------


def _vendor_that_plants(tmp_path: Path, plant: Plant) -> Path:
    """A vendor CLI that, in its working folder, plants every mechanism into the repository's
    config, hooks and attributes, edits a file, then answers as the fake vendor."""
    config = tmp_path / "planted.config"
    config.write_text(plant.config_text())
    script = tmp_path / "vendor.sh"
    script.write_text(
        "#!/bin/sh\nset -e\n"
        'gd=$(git rev-parse --git-common-dir)\n'
        f'cat {config} >> "$gd/config"\n'
        f'mkdir -p "$gd/hooks" && cp {plant.hooks}/* "$gd/hooks/"\n'
        f"printf '{ATTRIBUTES}' > .gitattributes\n"
        'echo "vendor edit" >> README.md\n'
        f'exec {sys.executable} {FAKE_VENDOR} "$@"\n')
    script.chmod(0o755)
    return script


def _run_shim(fake_env: dict, cwd: Path, vendor: Path | str, *args: str):
    proc = subprocess.run([shim_path("fake"), "--vendor-bin", str(vendor), "--emit", "ndjson", *args, "go"],
                          cwd=cwd, capture_output=True, env={**os.environ, **fake_env}, timeout=60)
    events = parse_stream(proc.stdout)
    return events, check_stream(events, proc.returncode)


@pytest.mark.parametrize("worktree", [False, True])
def test_a_run_that_plants_everything_then_the_next_run(fake_env, tmp_path, worktree):
    plant = Plant(tmp_path / "p")
    repo = make_repo(tmp_path / "r", {"README.md": "hello\n", "src/app.py": "print(1)\n"})
    flags = ("--worktree",) if worktree else ()
    events, result = _run_shim(fake_env, repo, _vendor_that_plants(tmp_path, plant), *flags)
    changes = [e["item"] for e in events if e["type"] == "item.completed" and e["item"]["type"] == "file_change"]
    assert {c["path"] for c in changes[-1]["changes"]} >= {"README.md", ".gitattributes"}
    assert plant.fired() == []
    if not worktree:
        git(repo, "config", "core.hooksPath", str(plant.hooks))  # belt and braces for the next run
    # the next run in the same repository: its opening snapshot (and worktree) meet it all
    write(repo / "README.md", "hello\nagain\n")
    _, result = _run_shim(fake_env, repo, FAKE_VENDOR, *flags)
    assert result["status"] == "completed"
    assert plant.fired() == []


# --- the shadow config itself ----------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(value=hostile_text.filter(lambda v: "\x00" not in v))
def test_a_carried_value_stays_one_value(tmp_path_factory, value):
    """Whatever a planted core.autocrlf holds (quotes, backslashes, newlines, a `[section]`),
    the shadow config gives git exactly that value back and nothing else: no key of the
    value's making, and the fixed settings unchanged."""
    from shims.workspace import gitsafe
    value = value + "\n[core]\n\tfsmonitor = /planted\n[filter \"x\"]\n\tclean = /planted"
    text, _ = gitsafe.shadow_config({"core.autocrlf": value})
    cfg = tmp_path_factory.mktemp("cfg") / "config"
    cfg.write_text(text, encoding="utf-8", errors="surrogateescape")
    out = subprocess.run(["git", "config", "--file", str(cfg), "-z", "--list"], capture_output=True, check=True,
                         env={"PATH": os.environ["PATH"]}).stdout
    pairs = dict(rec.split(b"\n", 1) for rec in out.split(b"\0") if rec)
    assert pairs[b"core.autocrlf"] == value.encode("utf-8", "surrogateescape")
    assert pairs[b"core.fsmonitor"] == b"false" and pairs[b"core.hookspath"] == b"/dev/null"
    assert not [k for k in pairs if k.startswith(b"filter.")]
