"""Issue 13, the state folder: `codex-shims/` and everything under it is private whatever the
umask, and a symbolic link planted in it is never written through; the run still completes and
says which path it refused."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from conftest import FAKE_VENDOR, shim_path

from shims.state.private_files import private_dir, replace_private_file


def _state(env) -> Path:
    return Path(env["XDG_STATE_HOME"]) / "codex-shims"


def _run(env, *args, umask=None, stdin=b""):
    def preexec():
        if umask is not None:
            os.umask(umask)

    return subprocess.run([shim_path("fake"), "--vendor-bin", FAKE_VENDOR, "--emit", "ndjson", *args], input=stdin,
                          capture_output=True, env={**os.environ, **env}, timeout=60, preexec_fn=preexec)


def _quota_script(tmp_path) -> dict[str, str]:
    records = [{"type": "init", "session_id": "s-q"},
               {"type": "result", "ok": False, "error_kind": "quota_or_rate_limited", "message": "limit",
                "resets_at": "2099-01-01T00:00:00Z", "window": "5h"}]
    path = tmp_path / "quota.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return {"FAKE_VENDOR_SCRIPT": str(path)}


@pytest.mark.parametrize("umask", [0o000, 0o077, 0o022])
def test_everything_under_the_state_folder_is_private_whatever_the_umask(fake_env, tmp_path, umask):
    assert _run(fake_env, "hi", umask=umask).returncode == 0
    _run({**fake_env, **_quota_script(tmp_path)}, "--ignore-quota-state", "hi", umask=umask)
    top = _state(fake_env)
    seen = {"state.sqlite3", "meta.json", "events.ndjson"}  # -wal, -shm: gone with the last connection
    found = set()
    for path in [top, *top.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if path.is_symlink():
            continue
        found.add(path.name)
        assert mode == (0o700 if path.is_dir() else 0o600), (str(path), oct(mode))
    assert seen <= found


def test_gemini_home_is_private_whatever_the_umask(tmp_path):
    from shims.gemini.command import prepare_home

    env = {"HOME": str(tmp_path / "home"), "XDG_STATE_HOME": str(tmp_path / "state")}
    old = os.umask(0)
    try:
        home = prepare_home(env)
    finally:
        os.umask(old)
    for path in (tmp_path / "state" / "codex-shims", Path(home), Path(home) / ".gemini"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
    assert stat.S_IMODE((Path(home) / ".gemini" / "settings.json").stat().st_mode) == 0o600


def _victim(tmp_path) -> Path:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep").write_text("mine")
    return victim


def _untouched(victim: Path) -> None:
    assert sorted(p.name for p in victim.iterdir()) == ["keep"]
    assert (victim / "keep").read_text() == "mine"


@pytest.mark.parametrize("planted", ["codex-shims", "codex-shims/runs"])
def test_a_planted_state_or_runs_folder_link_is_not_written_through(fake_env, tmp_path, planted):
    victim = _victim(tmp_path)
    link = Path(fake_env["XDG_STATE_HOME"]) / planted
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(victim)
    proc = _run(fake_env, "hi")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.splitlines()[-1])
    assert result["status"] == "completed"
    assert "symbolic link" in result["vendor"]["journal_error"] and str(link) in result["vendor"]["journal_error"]
    if planted == "codex-shims":  # the state store lives there too: said on stderr and in the result
        assert b"shim: could not update the usage ledger" in proc.stderr and b"symbolic link" in proc.stderr
        assert "symbolic link" in result["vendor"]["state_error"] and str(link) in result["vendor"]["state_error"]
    _untouched(victim)


@pytest.mark.parametrize("name", ["state.sqlite3", "state.sqlite3-wal", "state.sqlite3-shm", "ledger.ndjson",
                                  "quota.json", "versions.json"])
def test_a_planted_state_file_link_is_not_written_through(fake_env, tmp_path, name):
    victim = tmp_path / "victim-file"
    victim.write_text("mine")
    top = _state(fake_env)
    top.mkdir(parents=True)
    (top / name).symlink_to(victim)
    if name == "versions.json":
        from shims.state import version_cache
        os.environ["XDG_STATE_HOME"] = fake_env["XDG_STATE_HOME"]
        assert version_cache.remembered(str(top), FAKE_VENDOR, lambda p: "1.0") == "1.0"
    else:
        # The store's files, and the old ones it would import: a link at any of them is refused.
        env = {**fake_env, **_quota_script(tmp_path)} if name.startswith("quota") else fake_env
        proc = _run(env, "--ignore-quota-state", "hi")
        result = json.loads(proc.stdout.splitlines()[-1])
        assert result["type"] == "result" and result["status"] in ("completed", "failed")
        assert b"symbolic link" in proc.stderr and str(top / name).encode() in proc.stderr
        assert str(top / name) in result["vendor"]["state_error"]
    assert victim.read_text() == "mine"


def test_replace_never_follows_a_link_at_the_target_or_a_temp_name(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("mine")
    target = tmp_path / "state.json"
    target.symlink_to(victim)
    for pid_name in (f"{target}.{os.getpid()}.tmp", str(tmp_path / f".state.json.{os.getpid()}.tmp")):
        os.symlink(victim, pid_name)  # the names a predictable temp file would have had
    replace_private_file(str(target), b"new")
    assert victim.read_text() == "mine"
    assert not target.is_symlink() and target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_a_planted_gemini_home_link_is_refused(tmp_path):
    from shims.gemini.command import prepare_home

    victim = _victim(tmp_path)
    home = tmp_path / "state" / "codex-shims" / "gemini-home"
    home.parent.mkdir(parents=True)
    home.symlink_to(victim)
    with pytest.raises(OSError, match="symbolic link"):
        prepare_home({"HOME": str(tmp_path / "home"), "XDG_STATE_HOME": str(tmp_path / "state")})
    _untouched(victim)


def test_private_dir_refuses_links_in_the_state_folder_only(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "linked-state"))
    (tmp_path / "real").mkdir()
    (tmp_path / "linked-state").symlink_to(tmp_path / "real")  # the user's own link above it: fine
    assert private_dir(str(tmp_path / "linked-state" / "codex-shims" / "runs"))
    assert stat.S_IMODE((tmp_path / "real" / "codex-shims").stat().st_mode) == 0o700


def test_worktrees_folder_link_is_refused(fake_env, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(repo)]
    subprocess.run([*git, "init", "-q"], check=True)
    (repo / "f").write_text("x")
    subprocess.run([*git, "add", "f"], check=True)
    subprocess.run([*git, "commit", "-qm", "x"], check=True)
    victim = _victim(tmp_path)
    top = _state(fake_env)
    top.mkdir(parents=True)
    (top / "worktrees").symlink_to(victim)
    proc = _run(fake_env, "--worktree", "--cwd", str(repo), "hi")
    result = json.loads(proc.stdout.splitlines()[-1])
    assert result["status"] == "failed" and "symbolic link" in result["error"]
    _untouched(victim)


def test_a_planted_state_folder_link_is_refused_below_a_linked_state_home(fake_env, tmp_path):
    # XDG_STATE_HOME itself reached through the user's own link; codex-shims in it planted
    real = tmp_path / "real-state"
    real.mkdir()
    linked = tmp_path / "linked-state"
    linked.symlink_to(real)
    victim = _victim(tmp_path)
    (real / "codex-shims").symlink_to(victim)
    proc = _run({**fake_env, "XDG_STATE_HOME": str(linked)}, "hi")
    result = json.loads(proc.stdout.splitlines()[-1])
    assert result["status"] == "completed" and "symbolic link" in result["vendor"]["journal_error"]
    _untouched(victim)


def test_a_journal_root_the_user_names_outside_the_state_folder_may_be_a_link(fake_env, tmp_path):
    (tmp_path / "real-journal").mkdir()
    (tmp_path / "my-journal").symlink_to(tmp_path / "real-journal")
    proc = _run(fake_env, "--journal", str(tmp_path / "my-journal"), "hi")
    result = json.loads(proc.stdout.splitlines()[-1])
    assert result["status"] == "completed" and "journal_error" not in result["vendor"]
    assert Path(result["journal"]).parent == tmp_path / "real-journal"


def test_a_worktree_owner_file_is_private_and_never_written_through_a_link(tmp_path):
    """The owner file beside a --worktree worktree (read back by later runs' sweep) is a state
    file like the others: 0600 whatever the umask, and a link planted at its name is refused,
    its target left as it was (was: open(..., "w") wrote through the link, 0644 under umask 022)."""
    from shims.workspace.changes import Worktree, claim

    parent = tmp_path / "worktrees"
    parent.mkdir(mode=0o700)
    wt = Worktree(repo_root=str(tmp_path / "repo"), path=str(parent / "run-1"), branch="codex-shims/run-1",
                  cwd=str(parent / "run-1"))
    old = os.umask(0)
    try:
        owner = claim(wt, str(parent))
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(owner).st_mode) == 0o600
    assert json.loads(Path(owner).read_text())["path"] == wt.path
    os.remove(owner)
    target = tmp_path / "victim"
    target.write_text("keep me\n")
    (parent / "run-1.owner").symlink_to(target)
    with pytest.raises(OSError, match="symbolic link"):
        claim(wt, str(parent))
    assert target.read_text() == "keep me\n"


def test_a_worktree_that_could_not_be_claimed_is_not_left_behind(fake_env, tmp_path):
    """--worktree makes the worktree, then its owner file; when the owner file cannot be
    written (a planted link, a full disk) the run is refused, and the worktree and its branch
    just made are removed, not left for no sweep to find (it has no owner file)."""
    from test_workspace import git, make_repo

    repo = make_repo(tmp_path / "repo", {"a.txt": "a\n"})
    code = ("import sys, errno\n"
            "import shims.workspace.changes as w\n"
            "def refuse(wt, parent): raise OSError(errno.ELOOP, 'refusing to write through a symbolic link')\n"
            "w.claim = refuse\n"
            "from shims import run as app\n"
            f"sys.exit(app.run('fake', app.ShimOptions(prompt='hi', cwd={str(repo)!r}, worktree=True, emit='ndjson', "
            f"vendor_bin={FAKE_VENDOR!r})))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, env={**os.environ, **fake_env}, timeout=60)
    result = json.loads(proc.stdout.splitlines()[-1])
    assert (proc.returncode, result["failure_kind"]) == (2, "bad_request") and "--worktree" in result["error"]
    worktrees = Path(fake_env["XDG_STATE_HOME"]) / "codex-shims" / "worktrees"
    assert [p.name for p in worktrees.iterdir()] == []
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1
    assert "codex-shims/" not in git(repo, "branch", "--list", "--all")
