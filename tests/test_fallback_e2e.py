"""Fallback, worktrees and the spend cap with the REAL Claude Code and Gemini CLIs (pinned, from
vendor-clis/) against their fake APIs on 127.0.0.1 (CONTRACT §10, §11)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import procs
import pytest
from conftest import shim_path
from fakes.claude_env import CLAUDE_BIN, claude_env
from fakes.fake_anthropic import FakeAnthropic
from fakes.fake_gemini import FakeGemini
from fakes.gemini_env import GEMINI_BIN
from state_rows import ledger_rows
from streamcheck import run_stream

pytestmark = [pytest.mark.realcli, pytest.mark.slow]

GEMINI_MODEL = "gemini-2.5-flash"


@pytest.fixture(scope="module")
def apis():
    with FakeAnthropic() as anthropic, FakeGemini() as gemini:
        yield anthropic, gemini


@pytest.fixture
def both(apis, mark, tmp_path):
    """shim-claude with Gemini configured as its fallback provider."""
    anthropic, gemini = apis
    anthropic.reset()
    gemini.reset()
    home, work = tmp_path / "home", tmp_path / "work"
    (home / "tmp").mkdir(parents=True)
    work.mkdir()
    config = tmp_path / "config.toml"
    config.write_text(f'[gemini]\nvendor_bin = "{GEMINI_BIN}"\nmodel = "{GEMINI_MODEL}"\n')

    class Runner:
        workdir = work
        claude_api, gemini_api = anthropic, gemini

        @staticmethod
        def env(oauth=True):
            return {**claude_env(anthropic.base_url, home, oauth=oauth), "GEMINI_API_KEY": "fake-gemini-key",
                    "GOOGLE_GEMINI_BASE_URL": gemini.base_url, "NO_COLOR": "1", "TMPDIR": str(home / "tmp"),
                    "CODEX_SHIMS_CONFIG": str(config), procs.MARK_ENV: mark}

        @staticmethod
        def stream(*args, cwd=None, vendor="claude", oauth=True):
            binary = CLAUDE_BIN if vendor == "claude" else GEMINI_BIN
            extra = ["--model", GEMINI_MODEL] if vendor == "gemini" else []
            return run_stream([shim_path(vendor), "--vendor-bin", str(binary), *extra, "--emit", "ndjson", *args],
                              env=Runner.env(oauth), cwd=cwd or work, timeout=180)

    return Runner


def git(repo, *args):
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo, check=True,
                          capture_output=True).stdout.decode()


def committed_repo(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "hello.txt").write_text("hello\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "init")
    return repo


def test_a_quota_exhausted_claude_falls_back_to_gemini(both):
    rc, events, result = both.stream("--fallback", "gemini", "[scenario:usagelimit] Say hello")
    assert rc == 0 and result["status"] == "completed", result["error"]
    assert result["provider"]["name"] == "gemini" and result["provider"]["model"] == GEMINI_MODEL
    assert result["final_message"]
    (attempt,) = result["attempts"]
    assert attempt["provider"] == "claude" and attempt["failure_kind"] == "quota_or_rate_limited"
    notes = [e["item"]["message"] for e in events if e["type"] == "item.completed" and e["item"]["type"] == "error"]
    assert any("claude could not serve (quota_or_rate_limited" in n and "falling back to gemini" in n for n in notes)
    assert [e["type"] for e in events].count("turn.started") == 1
    ledger = ledger_rows(Path(result["journal"]).parent.parent)
    assert [(e["provider"], e["failure_kind"]) for e in ledger] == [("claude", "quota_or_rate_limited"), ("gemini", None)]


def test_claude_in_a_worktree_keeps_its_change_and_leaves_the_checkout_alone(both, tmp_path):
    repo = committed_repo(tmp_path)
    (repo / "hello.txt").write_text("hello\nthe user's own edit\n")
    rc, events, result = both.stream("--mode", "write", "--worktree", "[scenario:write] write a file", cwd=repo,
                                     oauth=False)
    assert rc == 0, result["error"]
    wt = result["vendor"]["worktree"]
    assert wt["kept"] and (Path(wt["path"]) / "created-by-claude.txt").read_text() == "hello\n"
    assert not (repo / "created-by-claude.txt").exists()
    assert (repo / "hello.txt").read_text() == "hello\nthe user's own edit\n"
    assert git(repo, "status", "--porcelain").strip() == "M hello.txt"
    # The run's changes are the last file_change item (after Claude's own Write item), paths from the root.
    diff_items = [e["item"] for e in events if e["type"] == "item.completed" and e["item"]["type"] == "file_change"]
    assert [(c["path"], c["kind"]) for c in diff_items[-1]["changes"]] == [("created-by-claude.txt", "add")]
    assert result["diff"]["files_changed"] == 1 and result["diff"]["insertions"] == 1
    # a read-only run in a worktree changes nothing: the worktree is removed
    rc, _, clean = both.stream("--mode", "read-only", "--worktree", "[scenario:read] read hello.txt", cwd=repo,
                               oauth=False)
    assert rc == 0 and clean["vendor"]["worktree"]["kept"] is False and not Path(clean["vendor"]["worktree"]["path"]).exists()


def test_claude_changes_in_place_are_reported_without_the_users_earlier_edits(both, tmp_path):
    repo = committed_repo(tmp_path)
    (repo / "notes.md").write_text("the user's untracked notes\n")
    rc, events, result = both.stream("--mode", "write", "[scenario:edit] edit hello.txt", cwd=repo, oauth=False)
    assert rc == 0, result["error"]
    item = [e["item"] for e in events if e["type"] == "item.completed" and e["item"]["type"] == "file_change"][-1]
    assert [(c["path"], c["kind"]) for c in item["changes"]] == [("hello.txt", "update")]
    patch = Path(result["diff"]["patch_path"]).read_text()
    assert "+hello, edited" in patch and "notes.md" not in patch
    assert (repo / "hello.txt").read_text().startswith("hello, edited")


def test_the_spend_cap_reaches_claude_and_is_never_a_reason_to_fall_back(both):
    rc, _, result = both.stream("--max-cost-usd", "0.000001", "--fallback", "gemini", "--mode", "write",
                                "[scenario:tool] run it", oauth=False)
    assert rc == 5 and result["failure_kind"] == "quota_or_rate_limited", result["error"]
    assert result["quota"]["state"] == "exhausted" and "spend cap" in result["error"]
    assert result["provider"]["name"] == "claude" and result["attempts"] == []


def test_the_spend_cap_on_gemini_is_checked_when_it_reports_usage(both):
    rc, _, result = both.stream("--max-cost-usd", "0.0000001", "[scenario:plain] hi", vendor="gemini")
    assert rc == 5 and result["failure_kind"] == "quota_or_rate_limited" and "--max-cost-usd" in result["error"]
    assert result["final_message"], "the answer it gave is kept"
