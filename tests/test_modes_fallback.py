"""Worktrees and diffs, fallback, the spend cap and `shims doctor`, through the real shim program
with the fake vendor CLI and the agy simulator, in real git repositories (CONTRACT §8–§11)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson
import pytest
from conftest import FAKE_VENDOR, ROOT, shim_path
from state_rows import ledger_rows
from streamcheck import check_replay, check_stream, parse_stream

SHIMS = str(Path(sys.executable).parent / "shims")
AGY = ROOT / "tests" / "fakes" / "agy" / "agy"


def git(repo, *args):
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo, check=True,
                          capture_output=True).stdout.decode()


@pytest.fixture
def repo(tmp_path):
    r = tmp_path / "repo"
    (r / "src").mkdir(parents=True)
    (r / "README.md").write_text("hello\n")
    (r / "src" / "app.py").write_text("print('hi')\n")
    git(r, "init", "-q", "-b", "main")
    git(r, "add", "-A")
    git(r, "commit", "-q", "-m", "init")
    return r


def run_fake(env, *args, cwd=None, extra_env=None, stdin=b"", timeout=60):
    proc = subprocess.run([shim_path("fake"), "--vendor-bin", FAKE_VENDOR, "--emit", "ndjson", *args], input=stdin,
                          capture_output=True, env={**os.environ, **env, **(extra_env or {})}, cwd=cwd, timeout=timeout)
    events = parse_stream(proc.stdout)
    result = check_stream(events, proc.returncode)
    check_replay(result)
    return proc, events, result


def changes_item(events):
    items = [e["item"] for e in events if e["type"] == "item.completed" and e["item"]["type"] == "file_change"]
    return items[-1] if items else None


def user_state(repo):
    return (git(repo, "status", "--porcelain=v1", "-uall"), git(repo, "rev-parse", "HEAD"),
            git(repo, "symbolic-ref", "HEAD"), (repo / ".git" / "index").read_bytes())


# ----------------------------------------------------------------- diff collection


def test_changes_made_during_the_run_become_one_file_change_item(fake_env, repo):
    (repo / "README.md").write_text("hello\nmine, before the run\n")  # the user's own change
    (repo / "notes.txt").write_text("untracked, before the run\n")
    before = user_state(repo)
    writes = "src/app.py=print('changed')\\n;src/new.py=x = 1\\n;README.md=hello\\nmine, before the run\\nand the agent\\n"
    proc, events, result = run_fake(fake_env, "go", cwd=repo, extra_env={"FAKE_VENDOR_WRITE": writes})
    assert proc.returncode == 0 and result["status"] == "completed"
    item = changes_item(events)
    kinds = {c["path"]: c["kind"] for c in item["changes"]}
    assert kinds == {"src/app.py": "update", "src/new.py": "add", "README.md": "update"}
    assert result["diff"]["files_changed"] == 3 and result["diff"]["insertions"] == 3 and result["diff"]["deletions"] == 1
    patch = Path(result["diff"]["patch_path"])
    assert patch.parent == Path(result["journal"]) and b"src/new.py" in patch.read_bytes()
    # The diffs are in the journal's patch, the run's own lines only (Codex's item has no diff).
    readme = patch.read_text().split("diff --git a/README.md")[1].split("diff --git")[0]
    assert "+and the agent" in readme and "+mine, before the run" not in readme
    after = user_state(repo)
    assert after[1:] == before[1:], "HEAD, branch and index are the user's"


def test_deleted_and_renamed_files(fake_env, repo):
    (repo / "old_name.txt").write_text("some text that stays the same\n" * 5)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "more")
    env = {"FAKE_VENDOR_WRITE": "src/app.py=;new_name.txt=" + "some text that stays the same\\n" * 5 + ";old_name.txt="}
    proc, events, result = run_fake(fake_env, "go", cwd=repo, extra_env=env)
    changes = [(c["path"], c["kind"]) for c in changes_item(events)["changes"]]
    # A rename is the old path deleted and the new one added: Codex's FileUpdateChange has one path.
    assert sorted(changes) == [("new_name.txt", "add"), ("old_name.txt", "delete"), ("src/app.py", "delete")]
    assert result["diff"]["files_changed"] == 2 and result["diff"]["deletions"] == 1
    patch = Path(result["diff"]["patch_path"]).read_text()
    assert "-print('hi')" in patch and "rename from old_name.txt\nrename to new_name.txt\n" in patch


def test_binary_change(fake_env, repo, tmp_path):
    (repo / "blob.bin").write_bytes(b"\x00\x01\x02" * 100)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "blob")
    # The fake vendor writes text; a binary change comes from a tool the test runs mid-run.
    tool = tmp_path / "tool.py"
    tool.write_text("import sys\nopen(sys.argv[1], 'wb').write(b'\\x00\\xff' * 64)\n")
    records = [{"type": "init", "session_id": "s-bin", "model": "m", "version": "1"},
               {"type": "text", "text": "done"}, {"type": "result", "ok": True, "text": "done"}]
    script = tmp_path / "bin.jsonl"
    script.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    wrapper = tmp_path / "vendor.sh"
    wrapper.write_text(f"#!/bin/sh\n{sys.executable} {tool} blob.bin\nexec {sys.executable} {FAKE_VENDOR} \"$@\"\n")
    wrapper.chmod(0o755)
    proc = subprocess.run([shim_path("fake"), "--vendor-bin", str(wrapper), "--emit", "ndjson", "go"], cwd=repo,
                          capture_output=True, env={**os.environ, **fake_env, "FAKE_VENDOR_SCRIPT": str(script)},
                          timeout=60)
    events = parse_stream(proc.stdout)
    result = check_stream(events, proc.returncode)
    (change,) = changes_item(events)["changes"]
    assert change == {"path": "blob.bin", "kind": "update"}
    assert result["diff"] == {**result["diff"], "files_changed": 1, "insertions": 0, "deletions": 0}
    assert b"GIT binary patch" in Path(result["diff"]["patch_path"]).read_bytes()


def test_no_changes_no_item_and_no_diff(fake_env, repo):
    proc, events, result = run_fake(fake_env, "go", cwd=repo)
    assert changes_item(events) is None or changes_item(events)["changes"][0]["path"] != "README.md"
    assert result["diff"] is None


def test_outside_git_nothing_is_collected(fake_env, tmp_path):
    proc, events, result = run_fake(fake_env, "go", cwd=tmp_path, extra_env={"FAKE_VENDOR_WRITE": "a.txt=x"})
    assert result["status"] == "completed" and result["diff"] is None


# ----------------------------------------------------------------- worktrees


def worktrees(repo):
    return [line.split()[1] for line in git(repo, "worktree", "list", "--porcelain").splitlines()
            if line.startswith("worktree ")][1:]


def test_worktree_removed_when_clean(fake_env, repo):
    before = user_state(repo)
    proc, events, result = run_fake(fake_env, "--worktree", "go", cwd=repo / "src")
    assert proc.returncode == 0
    wt = result["vendor"]["worktree"]
    assert wt["kept"] is False and not Path(wt["path"]).exists()
    assert worktrees(repo) == [] and wt["branch"] not in git(repo, "branch", "--list")
    assert user_state(repo) == before


def test_worktree_kept_with_its_changes_and_the_checkout_untouched(fake_env, repo):
    (repo / "README.md").write_text("the user's uncommitted edit\n")
    before = user_state(repo)
    proc, events, result = run_fake(fake_env, "--worktree", "go", cwd=repo / "src",
                                    extra_env={"FAKE_VENDOR_WRITE": "app.py=print('agent')\\n"})
    wt = result["vendor"]["worktree"]
    assert wt["kept"] is True and Path(wt["path"]).is_dir()
    assert Path(wt["path"]).parent == Path(fake_env["XDG_STATE_HOME"]) / "codex-shims" / "worktrees"
    item = changes_item(events)
    assert "worktree" not in item  # named in result.vendor.worktree only: Codex's item has no such key
    assert [(c["path"], c["kind"]) for c in item["changes"]] == [("src/app.py", "update")]
    assert (Path(wt["path"]) / "src" / "app.py").read_text() == "print('agent')\n"
    assert (repo / "src" / "app.py").read_text() == "print('hi')\n"
    assert user_state(repo) == before
    assert worktrees(repo) == [wt["path"]] and wt["branch"] in git(repo, "branch", "--list")


def test_worktree_outside_git_is_refused_clearly(fake_env, tmp_path):
    proc, events, result = run_fake(fake_env, "--worktree", "go", cwd=tmp_path)
    assert proc.returncode == 2 and result["failure_kind"] == "bad_request"
    assert "git" in result["error"] and "turn.started" not in [e["type"] for e in events]


def test_worktree_from_the_request(fake_env, repo):
    request = {"protocol_version": 2, "message": "go", "cwd": str(repo), "worktree": True}
    proc, _, result = run_fake(fake_env, stdin=orjson.dumps(request))
    assert result["vendor"]["worktree"]["kept"] is False
    proc, _, result = run_fake(fake_env, "--no-worktree", stdin=orjson.dumps(request))
    assert "worktree" not in result["vendor"]


def test_concurrent_runs_get_their_own_worktrees(fake_env, repo):
    def one(i):
        return run_fake(fake_env, "--worktree", f"go {i}", cwd=repo,
                        extra_env={"FAKE_VENDOR_WRITE": f"out{i}.txt=run {i}\\n"})[2]

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(one, range(4)))
    paths = {r["vendor"]["worktree"]["path"] for r in results}
    branches = {r["vendor"]["worktree"]["branch"] for r in results}
    assert len(paths) == len(branches) == 4
    for i, r in enumerate(results):
        assert r["diff"]["files_changed"] == 1 and f"out{i}.txt" in Path(r["diff"]["patch_path"]).read_text()
        assert (Path(r["vendor"]["worktree"]["path"]) / f"out{i}.txt").read_text() == f"run {i}\n"
    assert sorted(worktrees(repo)) == sorted(paths)


# ----------------------------------------------------------------- fallback


@pytest.fixture
def agy_fallback(tmp_path, fake_env):
    """A config whose fallback provider is the agy simulator, signed in."""
    home = tmp_path / "home"
    (home / ".gemini" / "antigravity-cli").mkdir(parents=True)
    (home / ".gemini" / "antigravity-cli" / "antigravity-oauth-token").write_text('{"token": "fake"}')
    config = tmp_path / "config.toml"
    config.write_text(f'[agy]\nvendor_bin = "{AGY}"\n')
    return {**fake_env, "CODEX_SHIMS_CONFIG": str(config), "HOME": str(home), "AGY_SIM_VERSION": "1.2.16"}


def quota_script(tmp_path, extra=()):
    records = [{"type": "init", "session_id": "s-q", "model": "m", "version": "1"}, *extra,
               {"type": "result", "ok": False, "error_kind": "quota_or_rate_limited", "message": "Out of quota.",
                "window": "5h"}]
    path = tmp_path / "quota.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return {"FAKE_VENDOR_SCRIPT": str(path)}


def test_a_quota_failure_falls_back_to_the_next_provider(agy_fallback, tmp_path):
    proc, events, result = run_fake(agy_fallback, "--fallback", "agy", "[scenario:plain] hi", cwd=tmp_path,
                                    extra_env=quota_script(tmp_path))
    assert proc.returncode == 0 and result["status"] == "completed"
    assert result["provider"]["name"] == "agy" and result["final_message"].strip() == "Hello from the agy simulator."
    assert result["attempts"] == [{"provider": "fake", "failure_kind": "quota_or_rate_limited", "error": "Out of quota."}]
    errors = [e["item"]["message"] for e in events if e["type"] == "item.completed" and e["item"]["type"] == "error"]
    assert any("fake could not serve (quota_or_rate_limited" in m and "falling back to agy" in m for m in errors)
    assert [e["type"] for e in events].count("turn.started") == 1
    ledger = ledger_rows(Path(agy_fallback["XDG_STATE_HOME"]) / "codex-shims")
    assert [(e["provider"], e["status"]) for e in ledger] == [("fake", "failed"), ("agy", "completed")]
    run = Path(result["journal"])
    assert (run / "vendor.stdout").exists() and (run / "vendor-1-agy.stdout").exists()


def test_a_missing_binary_falls_back_without_a_launch(agy_fallback, tmp_path):
    proc, events, result = subprocess.run(
        [shim_path("fake"), "--vendor-bin", str(tmp_path / "nope"), "--emit", "ndjson", "--fallback", "agy",
         "[scenario:plain] hi"], capture_output=True, env={**os.environ, **agy_fallback}, cwd=tmp_path, timeout=60), None, None
    events = parse_stream(proc.stdout)
    result = check_stream(events, proc.returncode)
    check_replay(result)
    assert proc.returncode == 0 and result["provider"]["name"] == "agy"
    assert result["attempts"][0]["failure_kind"] == "command_missing"
    types = [e["type"] for e in events]
    assert types[:3] == ["thread.started", "turn.started", "item.completed"]


@pytest.mark.parametrize("table", ["defaults", "fake"])
def test_fallback_set_in_the_config_falls_back(agy_fallback, tmp_path, table):
    """The README's word: `fallback` is read in [defaults] and in the vendor's own table."""
    config = Path(agy_fallback["CODEX_SHIMS_CONFIG"])
    config.write_text(config.read_text() + f'[{table}]\nfallback = "agy"\n')
    proc = subprocess.run([shim_path("fake"), "--vendor-bin", str(tmp_path / "nope"), "--emit", "ndjson",
                           "[scenario:plain] hi"], capture_output=True, env={**os.environ, **agy_fallback},
                          cwd=tmp_path, timeout=60)
    result = check_stream(parse_stream(proc.stdout), proc.returncode)
    assert proc.returncode == 0 and result["provider"]["name"] == "agy"
    assert [a["failure_kind"] for a in result["attempts"]] == ["command_missing"]


def test_no_fallback_after_a_file_was_changed(agy_fallback, repo, tmp_path):
    env = {**quota_script(tmp_path), "FAKE_VENDOR_WRITE": "README.md=changed\\n"}
    proc, events, result = run_fake(agy_fallback, "--fallback", "agy", "hi", cwd=repo, extra_env=env)
    assert proc.returncode == 5 and result["failure_kind"] == "quota_or_rate_limited"
    assert result["provider"]["name"] == "fake" and result["attempts"] == []
    assert [c["path"] for c in changes_item(events)["changes"]] == ["README.md"]


def test_no_fallback_after_a_command_ran(agy_fallback, tmp_path):
    tool = [{"type": "tool_use", "id": "t1", "name": "shell", "input": {"command": "make"}},
            {"type": "tool_result", "id": "t1", "output": "ok", "exit_code": 0}]
    proc, _, result = run_fake(agy_fallback, "--fallback", "agy", "hi", cwd=tmp_path, extra_env=quota_script(tmp_path, tool))
    assert proc.returncode == 5 and result["provider"]["name"] == "fake" and result["attempts"] == []


def test_a_remembered_quota_is_skipped_without_a_launch(agy_fallback, tmp_path):
    import time

    resets = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 600))
    records = [{"type": "result", "ok": False, "error_kind": "quota_or_rate_limited", "message": "Out.", "resets_at": resets}]
    path = tmp_path / "q.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    assert run_fake(agy_fallback, "hi", cwd=tmp_path, extra_env={"FAKE_VENDOR_SCRIPT": str(path)})[0].returncode == 5
    pids = tmp_path / "pids"
    proc, _, result = run_fake(agy_fallback, "--fallback", "agy", "[scenario:plain] hi", cwd=tmp_path,
                               extra_env={"FAKE_VENDOR_PIDFILE": str(pids)})
    assert proc.returncode == 0 and result["provider"]["name"] == "agy"
    assert result["attempts"][0]["failure_kind"] == "quota_or_rate_limited" and resets in result["attempts"][0]["error"]
    assert not pids.exists()


def test_the_last_provider_failing_too_reports_every_attempt(agy_fallback, tmp_path):
    proc, _, result = run_fake(agy_fallback, "--fallback", "agy", "[scenario:authfail] hi", cwd=tmp_path,
                               extra_env={**quota_script(tmp_path), "HOME": str(tmp_path / "nohome")})
    assert result["status"] == "failed" and result["provider"]["name"] == "agy"
    assert [a["provider"] for a in result["attempts"]] == ["fake"]


def test_unknown_fallback_provider_is_a_bad_request(fake_env):
    proc, _, result = run_fake(fake_env, "--fallback", "codex", "hi")
    assert proc.returncode == 2 and "codex" in result["error"]


# ----------------------------------------------------------------- spend cap


def test_the_spend_cap_stops_a_run_from_streamed_usage(fake_env, tmp_path):
    records = [{"type": "init", "session_id": "s-c", "model": "m", "version": "1"},
               {"type": "usage", "input_tokens": 1000, "output_tokens": 100, "cost_usd": 0.75}]
    records += [{"type": "text", "text": f"still working {i}"} for i in range(100)]
    records += [{"type": "result", "ok": True, "text": "done"}]
    path = tmp_path / "cost.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    proc, events, result = run_fake(fake_env, "--max-cost-usd", "0.5", "--cancel-grace", "1", "go",
                                    extra_env={"FAKE_VENDOR_SCRIPT": str(path), "FAKE_VENDOR_PACE": "0.05"})
    assert proc.returncode == 5 and result["failure_kind"] == "quota_or_rate_limited"
    assert result["quota"]["state"] == "exhausted" and "$0.5" in result["error"] and "0.7500" in result["error"]
    assert result["usage"]["cost_usd"] == 0.75
    texts = [e for e in events if e["type"] == "item.completed" and e["item"]["type"] == "agent_message"]
    assert len(texts) < 50, "stopped long before the vendor's end"


def test_the_spend_cap_under_the_cost_lets_the_run_finish(fake_env):
    proc, _, result = run_fake(fake_env, "--max-cost-usd", "5", "go")
    assert proc.returncode == 0


def test_spend_cap_on_a_vendor_without_costs_is_refused(tmp_path, fake_env):
    proc = subprocess.run([shim_path("agy"), "--vendor-bin", str(AGY), "--emit", "ndjson", "--max-cost-usd", "1", "hi"],
                          capture_output=True, env={**os.environ, **fake_env}, timeout=60)
    result = check_stream(parse_stream(proc.stdout), proc.returncode)
    assert proc.returncode == 7 and result["failure_kind"] == "unsupported_mode" and "[prices.agy" in result["error"]


def test_spend_cap_on_agy_with_configured_prices(agy_fallback, tmp_path):
    config = Path(agy_fallback["CODEX_SHIMS_CONFIG"])
    config.write_text(config.read_text() + '\n[prices.agy."gemini-3-pro"]\ninput = 1000.0\noutput = 1000.0\n')
    proc = subprocess.run([shim_path("agy"), "--vendor-bin", str(AGY), "--emit", "ndjson", "--max-cost-usd", "0.01",
                           "--model", "gemini-3-pro", "[scenario:tool] list files"], capture_output=True,
                          env={**os.environ, **agy_fallback}, cwd=tmp_path, timeout=60)
    result = check_stream(parse_stream(proc.stdout), proc.returncode)
    assert proc.returncode == 5 and result["quota"]["state"] == "exhausted" and "--max-cost-usd" in result["error"]


# ----------------------------------------------------------------- doctor


def doctor(*args, path):
    env = {**os.environ, "PATH": path}
    for k in ("ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY"):
        env.pop(k, None)
    return subprocess.run([SHIMS, "doctor", *args], capture_output=True, env={**env, "GEMINI_API_KEY": "k"}, timeout=120)


def test_doctor_with_one_vendor_missing(tmp_path):
    bins = tmp_path / "bin"
    bins.mkdir()
    (bins / "gemini").symlink_to(ROOT / "vendor-clis" / "gemini" / "node_modules" / ".bin" / "gemini")
    (bins / "agy").symlink_to(AGY)
    path = f"{bins}:{os.path.dirname(sys.executable)}:/usr/bin:/bin"
    out = doctor(path=path)
    text = out.stdout.decode()
    assert out.returncode == 0, out.stderr
    assert "[✗] claude: not ready\n    ✗ binary: claude CLI not on PATH\n" in text
    assert "[✓] agy: ready" in text and text.rstrip().endswith("2 of 3 providers ready.")
    rows = {r["provider"]: r for r in json.loads(doctor("--json", path=path).stdout)}
    assert rows["claude"]["failure_kind"] == "command_missing" and rows["claude"]["modes"] == {}
    assert [(c["name"], c["state"]) for c in rows["claude"]["checks"]] == [("binary", "problem")]
    assert "npm install -g @anthropic-ai/claude-code" in rows["claude"]["checks"][0]["what_to_do"]
    assert rows["agy"]["ready"] and rows["agy"]["modes"] == {"read-only": None, "write": None, "full": None}
    assert rows["gemini"]["cli_version"] == "0.61.0"


def test_doctor_with_nothing_installed_exits_1(tmp_path):
    out = doctor(path=str(tmp_path))
    text = out.stdout.decode()
    assert out.returncode == 1 and text.count("CLI not on PATH") == 3 and "0 of 3 providers ready." in text


def test_doctor_modes_prints_the_table(tmp_path):
    out = doctor("--modes", path=f"{os.path.dirname(sys.executable)}:/usr/bin:/bin")
    text = out.stdout.decode()
    assert out.returncode == 0
    assert "--permission-mode acceptEdits" in text and "--approval-mode yolo" in text and "--mode accept-edits" in text
    rows = json.loads(doctor("--modes", "--json", path="/usr/bin:/bin").stdout)
    assert {(r["provider"], r["mode"]) for r in rows} == {(p, m) for p in ("claude", "gemini", "agy")
                                                         for m in ("read-only", "write", "full")}
    claude_full = next(r for r in rows if r["provider"] == "claude" and r["mode"] == "full")
    assert claude_full["supported"] == (os.geteuid() != 0)


# ----------------------------------------------------------------- found in review


def test_unreported_work_keeps_the_worktree(fake_env, repo, tmp_path):
    """A new nested repository is invisible to the diff: the worktree must not be deleted."""
    wrapper = tmp_path / "vendor.sh"
    wrapper.write_text(f"#!/bin/sh\ngit init -q newproj && echo 'fn main() {{}}' > newproj/main.rs\n"
                       f"exec {sys.executable} {FAKE_VENDOR} \"$@\"\n")
    wrapper.chmod(0o755)
    proc = subprocess.run([shim_path("fake"), "--vendor-bin", str(wrapper), "--emit", "ndjson", "--worktree", "go"],
                          cwd=repo, capture_output=True, env={**os.environ, **fake_env}, timeout=60)
    result = check_stream(parse_stream(proc.stdout), proc.returncode)
    wt = result["vendor"]["worktree"]
    assert wt["kept"] and (Path(wt["path"]) / "newproj" / "main.rs").exists()


def test_an_abandoned_clean_worktree_is_swept_by_the_next_run(fake_env, repo):
    from shims.workspace import changes as workspace
    parent = Path(fake_env["XDG_STATE_HOME"]) / "codex-shims" / "worktrees"
    parent.mkdir(parents=True)
    old = workspace.create_worktree(str(repo), str(parent), "killed-run")
    owner = Path(workspace.claim(old, str(parent)))
    data = json.loads(owner.read_text())
    owner.write_text(json.dumps({**data, "pid": 2**22 + 12345}))  # a pid that is not running
    proc, _, result = run_fake(fake_env, "--worktree", "go", cwd=repo)
    assert proc.returncode == 0
    assert not Path(old.path).exists() and old.branch not in git(repo, "branch", "--list")
    assert worktrees(repo) == [] and not owner.exists()


def test_a_journal_inside_the_repository_is_not_the_runs_change(fake_env, repo):
    proc, events, result = run_fake(fake_env, "--journal", str(repo / ".runs"), "go", cwd=repo,
                                    extra_env={"FAKE_VENDOR_WRITE": "README.md=changed\\n"})
    assert [c["path"] for c in changes_item(events)["changes"]] == ["README.md"]
    assert Path(result["journal"]).parent == repo / ".runs"


def test_no_fallback_once_the_spend_cap_is_passed(agy_fallback, tmp_path):
    usage = [{"type": "usage", "input_tokens": 10, "output_tokens": 1, "cost_usd": 0.4}]
    proc, _, result = run_fake(agy_fallback, "--fallback", "agy", "--max-cost-usd", "0.3", "hi", cwd=tmp_path,
                               extra_env=quota_script(tmp_path, usage))
    assert proc.returncode == 5 and "--max-cost-usd" in result["error"]
    assert result["provider"]["name"] == "fake" and result["attempts"] == []


@pytest.mark.parametrize("cap", ["0", "-1", "nan"])
def test_a_spend_cap_that_is_not_a_positive_amount_is_a_bad_request(fake_env, cap):
    proc, events, result = run_fake(fake_env, f"--max-cost-usd={cap}", "go")
    assert proc.returncode == 2 and result["failure_kind"] == "bad_request"
    assert "turn.started" not in [e["type"] for e in events]


def test_the_requests_worktree_comes_before_the_config(fake_env, repo, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("[defaults]\nworktree = true\n")
    env = {**fake_env, "CODEX_SHIMS_CONFIG": str(config)}
    request = {"protocol_version": 2, "message": "go", "cwd": str(repo), "worktree": False}
    assert "worktree" not in run_fake(env, stdin=orjson.dumps(request))[2]["vendor"]
    assert "worktree" in run_fake(env, "go", cwd=repo)[2]["vendor"]  # no request value: the config's
