"""`shims top` (issue 17): the fleet's live table of its workers, read from the journal as it grows.

The fold of events into a row, the follower's reading of growing, ending and vanishing run
folders, the table for fixed rows, and the program itself: once into a pipe, and live in a real
pseudo-terminal (pexpect, rendered with pyte) over a real shim run and a hand-grown journal."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pexpect
import procs
import pyte
import pytest
from conftest import FAKE_VENDOR, shim_path
from snapshot import assert_snapshot

from shims.state.journal import follow
from shims.state.journal.fold import Row, elapsed_s, fold, order, split_lines
from shims.state.journal.follow import Follower
from shims.views.terminal import console
from shims.views.top import COLUMNS, top_view

SHIMS = str(Path(sys.executable).parent / "shims")
HOST = os.uname().nodename


# ----------------------------------------------------------------- a hand-grown journal


def _stamp(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def make_run(root: Path, tail: str, *, provider="claude", model="claude-opus-5-5", mode="write",
             started: float | None = None, pid: int | None = None) -> Path:
    """A run folder as a shim makes it: meta.json first (the owner is this test process, so the
    run counts as running), events appended later."""
    started = time.time() if started is None else started
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(started)) + f".{int(started * 1000) % 1000:03d}Z"
    path = root / f"{stamp}-{provider}-{tail}"
    path.mkdir(parents=True, mode=0o700)
    meta = {"run_id": path.name, "provider": provider, "model": model, "mode": mode, "started_at": _stamp(started),
            "pid": os.getpid() if pid is None else pid, "host": HOST, "status": "running"}
    (path / "meta.json").write_bytes(orjson.dumps(meta))
    return path


def append(path: Path, *events: dict | bytes) -> None:
    with open(path / "events.ndjson", "ab") as f:
        for e in events:
            f.write(e if isinstance(e, bytes) else orjson.dumps(e) + b"\n")


def finish(path: Path, result: dict) -> None:
    append(path, result)
    (path / "result.json").write_bytes(orjson.dumps(result))


def command(item_id: str, cmd: str, done: bool = False) -> dict:
    return {"type": "item.completed" if done else "item.started",
            "item": {"id": item_id, "type": "command_execution", "command": cmd, "aggregated_output": "",
                     "exit_code": 0 if done else None, "status": "completed" if done else "in_progress"}}


def turn(inp: int, out: int) -> dict:
    return {"type": "turn.completed", "usage": {"input_tokens": inp, "cached_input_tokens": 0,
                                                "cache_write_input_tokens": 0, "output_tokens": out,
                                                "reasoning_output_tokens": 0}}


def result(status="completed", *, total=1200, cost=0.0123, duration_ms=4200, kind=None, final="All done.",
           error=None, model="claude-opus-5-5") -> dict:
    return {"type": "result", "protocol_version": 2, "status": status, "final_message": final,
            "failure_kind": kind, "error": error, "provider": {"name": "claude", "model": model},
            "usage": {"total_tokens": total, "cost_usd": cost}, "duration_ms": duration_ms}


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


# ----------------------------------------------------------------- fold


def test_fold_follows_the_current_item_tokens_and_the_end():
    row = Row(run="r")
    steps = [
        ({"type": "thread.started", "thread_id": "t"}, None),
        (command("item_1", "pytest -q\nsecond line"), "$ pytest -q"),
        ({"type": "item.started", "item": {"id": "item_2", "type": "mcp_tool_call", "server": "gh", "tool": "search",
                                           "arguments": {}, "result": None, "error": None,
                                           "status": "in_progress"}}, "mcp gh.search"),
        ({"type": "item.completed", "item": {"id": "item_2", "type": "mcp_tool_call"}}, "$ pytest -q"),
        (command("item_1", "pytest -q", done=True), None),
        ({"type": "item.updated", "item": {"id": "item_3", "type": "agent_message", "text": "Hel"}}, "writing answer"),
        ({"type": "item.completed", "item": {"id": "item_3", "type": "agent_message", "text": "Hello"}}, None),
        ({"type": "item.started", "item": {"id": "item_4", "type": "file_change", "status": "in_progress",
                                           "changes": [{"path": "a.py", "kind": "update"}]}}, "edit update a.py"),
    ]
    for event, current in steps:
        row = fold(row, event)
        assert row.current == current, event
    assert row.status == "running" and row.tokens is None
    row = fold(fold(row, turn(100, 20)), turn(50, 5))
    assert row.tokens == 175 and row.cost_usd is None
    row = fold(row, result(total=180, cost=0.5, duration_ms=61000))
    assert (row.status, row.tokens, row.cost_usd, row.duration_ms, row.current, row.last) == (
        "completed", 180, 0.5, 61000, None, "All done.")
    assert elapsed_s(row, now=10**10) == 61.0


def test_fold_a_plan_updated_mid_turn_does_not_hide_the_running_command():
    plan = {"id": "item_0", "type": "todo_list", "items": [{"text": "a", "completed": False}]}
    row = fold(Row(run="r"), {"type": "item.started", "item": plan})
    assert row.current == "plan 0/1 done"
    row = fold(row, command("item_1", "cargo test"))
    row = fold(row, {"type": "item.updated", "item": {**plan, "items": [{"text": "a", "completed": True}]}})
    assert row.current == "$ cargo test"
    assert fold(row, command("item_1", "cargo test", done=True)).current == "plan 1/1 done"


def test_fold_a_failure_keeps_its_kind_and_error():
    row = fold(fold(Row(run="r"), command("i", "make")), result("failed", kind="quota_or_rate_limited", final=None,
                                                                 error="Usage limit reached.\nTry later", total=0))
    assert (row.status, row.failure_kind, row.last, row.current) == (
        "failed", "quota_or_rate_limited", "Usage limit reached.", None)


@pytest.mark.parametrize("event", [None, [], "x", {"type": "item.started"}, {"type": "item.started", "item": {"id": 3}},
                                   {"type": "turn.completed", "usage": "lots"},
                                   {"type": "turn.completed", "usage": {"input_tokens": True, "output_tokens": -4}},
                                   {"type": "item.started", "item": {"id": "x", "type": "command_execution",
                                                                     "command": ["rm", "-rf"]}}])
def test_fold_takes_damaged_events_without_failing(event):
    row = fold(Row(run="r"), event)
    assert row.status == "running" and row.tokens in (None, 0)


def test_split_lines_keeps_a_torn_tail():
    assert split_lines(b"", b'{"a":1}\n{"b"') == ([b'{"a":1}'], b'{"b"')
    assert split_lines(b'{"b"', b':2}\n') == ([b'{"b":2}'], b"")


# ----------------------------------------------------------------- the follower


def test_a_growing_journal_is_read_once_with_its_torn_last_line(tmp_path):
    run = make_run(tmp_path, "aaaaaa")
    follower = Follower(tmp_path)
    [row] = follower.poll()
    assert (row.provider, row.model, row.mode, row.status, row.current) == (
        "claude", "claude-opus-5-5", "write", "running", None)
    line = orjson.dumps(command("item_1", "npm test")) + b"\n"
    append(run, turn(10, 5), line[:20])  # the shim is mid-write
    [row] = follower.poll()
    assert row.current is None and row.tokens == 15
    append(run, line[20:])
    [row] = follower.poll()
    assert row.current == "$ npm test" and row.tokens == 15  # the turn was not counted twice
    [row] = follower.poll()
    assert row.tokens == 15
    finish(run, result(total=99))
    [row] = follower.poll()
    assert (row.status, row.tokens, row.cost_usd, row.last) == ("completed", 99, 0.0123, "All done.")


def test_a_dead_owner_without_a_result_is_interrupted(tmp_path):
    run = make_run(tmp_path, "bbbbbb", pid=dead_pid())
    append(run, command("item_1", "sleep 100"))
    [row] = Follower(tmp_path).poll()
    assert row.status == "interrupted" and row.current == "$ sleep 100"


def test_a_folder_whose_meta_is_not_written_yet_is_starting_not_interrupted(tmp_path):
    """A shim makes its run folder a moment before meta.json names it as the owner."""
    young = tmp_path / "20270101T000000.000Z-claude-111111"
    young.mkdir()
    [row] = Follower(tmp_path).poll()
    assert row.status == "running"
    old = time.time() - follow.META_GRACE_S - 1
    os.utime(young, (old, old))
    [row] = Follower(tmp_path).poll()
    assert row.status == "interrupted"


def test_a_dead_owner_whose_journal_is_read_in_parts_gets_its_result(tmp_path, monkeypatch):
    """A tick reads at most READ_BUDGET bytes: a run whose shim has ended is called interrupted
    only once its events are read to the end, not while its result line is still unread."""
    monkeypatch.setattr(follow, "READ_BUDGET", 64)
    run = make_run(tmp_path, "999999", pid=dead_pid())
    append(run, command("item_1", "make"), command("item_1", "make", done=True), turn(10, 10), result())
    follower = Follower(tmp_path)
    seen = [follower.poll()[0].status for _ in range(20)]
    assert "interrupted" not in seen and seen[-1] == "completed", seen


def test_a_dead_owner_is_never_shown_running_however_big_its_journal(tmp_path, monkeypatch):
    """A dead shim's journal does not grow: it is read to its end in one tick, so its row is
    interrupted at once, never `running` for the ticks a live run's budget would take."""
    monkeypatch.setattr(follow, "READ_BUDGET", 64)
    run = make_run(tmp_path, "dead01", pid=dead_pid())
    append(run, *(command(f"item_{i}", f"echo {i}", done=True) for i in range(50)), command("item_x", "make"))
    [row] = Follower(tmp_path).poll()
    assert row.status == "interrupted" and row.current == "$ make"


def test_a_dead_owner_that_stopped_long_ago_is_not_opened(tmp_path):
    run = make_run(tmp_path, "dead02", pid=dead_pid())
    append(run, command("item_1", "make"))
    old = time.time() - 3600
    for f in (run / "events.ndjson", run / "meta.json", run):
        os.utime(f, (old, old))
    assert Follower(tmp_path, linger_s=60).poll() == []


def test_an_event_line_past_max_line_is_skipped_not_held(tmp_path, monkeypatch):
    monkeypatch.setattr(follow, "MAX_LINE", 300)  # more than an ordinary event line
    monkeypatch.setattr(follow, "READ_BUDGET", 64)
    run = make_run(tmp_path, "888888")
    follower = Follower(tmp_path)
    append(run, command("item_1", "cat " + "x" * 1000))
    for _ in range(30):
        [row] = follower.poll()
    append(run, command("item_2", "ls"))
    for _ in range(3):
        [row] = follower.poll()
    assert row.open_items == (("item_2", "$ ls"),)


def test_a_run_pruned_while_shown_leaves_the_table(tmp_path):
    keep, gone = make_run(tmp_path, "cccccc"), make_run(tmp_path, "dddddd")
    append(gone, command("item_1", "ls"))
    follower = Follower(tmp_path)
    assert [r.run for r in follower.poll()] == [keep.name, gone.name]
    for f in gone.iterdir():
        f.unlink()
    gone.rmdir()
    assert [r.run for r in follower.poll()] == [keep.name]


def test_an_ended_run_lingers_then_leaves(tmp_path):
    now = [time.time()]
    run = make_run(tmp_path, "eeeeee")
    follower = Follower(tmp_path, linger_s=30, clock=lambda: now[0])
    finish(run, result())
    [row] = follower.poll()
    assert row.status == "completed"
    now[0] += 29
    assert len(follower.poll()) == 1
    now[0] += 2
    assert follower.poll() == []


def test_two_hundred_old_runs_are_not_read_at_every_tick(tmp_path, monkeypatch):
    old = time.time() - 3600
    for i in range(200):
        run = make_run(tmp_path, f"{i:06x}", started=old + i)
        finish(run, result())
        os.utime(run / "result.json", (old + i + 5, old + i + 5))
    live = make_run(tmp_path, "ffffff")
    append(live, command("item_1", "cargo build"))
    opened: list[str] = []
    real_open = follow.open_private
    monkeypatch.setattr(follow, "open_private", lambda p, flags: opened.append(p) or real_open(p, flags))
    real_read = follow.read_private
    monkeypatch.setattr(follow, "read_private", lambda p: opened.append(p) or real_read(p))
    follower = Follower(tmp_path, linger_s=60)
    assert [r.run for r in follower.poll()] == [live.name]
    opened.clear()
    assert [r.current for r in follower.poll()] == ["$ cargo build"]
    assert {os.path.dirname(p) for p in opened} <= {str(live)}


def test_a_planted_link_is_not_read(tmp_path):
    run = make_run(tmp_path, "abcabc")
    elsewhere = tmp_path / "elsewhere.ndjson"
    elsewhere.write_bytes(orjson.dumps(command("item_1", "cat secrets")) + b"\n")
    (run / "events.ndjson").symlink_to(elsewhere)
    [row] = Follower(tmp_path).poll()
    assert row.current is None and "events.ndjson" in row.note
    assert "events.ndjson" in _plain(top_view([row], time.time(), linger_s=60))


# ----------------------------------------------------------------- the table


def _plain(renderable, width=120) -> str:
    out = io.StringIO()
    console(out, width=width, terminal=False).print(renderable)
    return out.getvalue()


def fixed_rows() -> list[Row]:
    t0 = 1_800_000_000.0
    return [
        Row(run="20270115T080000.000Z-claude-1a2b3c", provider="claude", model="claude-opus-5-5", mode="write",
            started_at=t0 - 125, open_items=(("item_4", "$ pytest -q tests/test_api.py"),), tokens=48_213),
        Row(run="20270115T080100.000Z-gemini-4d5e6f", provider="gemini", model="gemini-2.5-pro", mode="read-only",
            started_at=t0 - 9.4, open_items=(("item_2", "writing answer"),)),
        Row(run="20270115T075500.000Z-agy-778899", provider="agy", model=None, mode=None, started_at=t0 - 400,
            status="failed", failure_kind="quota_or_rate_limited", tokens=0, duration_ms=3100,
            ended_at=t0 - 30, last="Usage limit reached; resets at 09:00."),
        Row(run="20270115T075000.000Z-claude-aabbcc", provider="claude", model="claude-sonnet-4-6", mode="full",
            started_at=t0 - 700, status="completed", tokens=1_204_551, cost_usd=1.8312, duration_ms=3_723_000,
            ended_at=t0 - 5, last="Fixed the flaky test and pushed the branch."),
    ]


def test_the_table_for_fixed_rows_matches_its_snapshot():
    text = _plain(top_view(order(fixed_rows()), 1_800_000_000.0, linger_s=60, keys=True))
    assert_snapshot("top_table.txt", text)


def test_the_table_past_the_screen_says_how_many_are_not_shown():
    text = _plain(top_view(fixed_rows(), 1_800_000_000.0, linger_s=60, max_rows=3))
    assert "1a2b3c" in text and "4d5e6f" in text and "aabbcc" not in text and "… 2 more" in text


def test_a_narrow_terminal_leaves_out_mode_provider_and_cost_before_what_workers_do():
    text = _plain(top_view(fixed_rows(), 1_800_000_000.0, linger_s=60, width=80), width=80)
    header = text.splitlines()[1].split()
    assert header == ["run", "model", "elapsed", "tokens", "status", "current"]
    assert "$ pytest -q tests/tes…" in text and max(len(line) for line in text.splitlines()) <= 80
    wide = _plain(top_view(fixed_rows(), 1_800_000_000.0, linger_s=60, width=120), width=120)
    assert wide.splitlines()[1].split() == list(COLUMNS)


@pytest.mark.parametrize("width", [60, 40])
def test_a_very_narrow_terminal_still_shows_what_each_worker_is_doing(width):
    text = _plain(top_view(fixed_rows(), 1_800_000_000.0, linger_s=60, width=width), width=width)
    header = next(line.split() for line in text.splitlines() if line.startswith("run "))
    assert header[-1] == "current" and "status" in header, text
    assert "$ pytest" in text and max(len(line) for line in text.splitlines()) <= width, text


def test_the_table_with_no_runs_says_so_and_where_it_looked():
    assert "No run is going on under /j/runs," in _plain(top_view([], time.time(), linger_s=60, root="/j/runs"))


# ----------------------------------------------------------------- the program


def test_into_a_pipe_it_prints_once_without_escape_codes(tmp_path):
    run = make_run(tmp_path, "0a0b0c")
    append(run, command("item_1", "go test ./..."))
    proc = subprocess.run(f"'{SHIMS}' top --root '{tmp_path}' | cat", shell=True, capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout.decode()
    assert "0a0b0c" in text and "$ go test ./..." in text and "running" in text
    assert "\x1b" not in text
    assert all(line == line.rstrip() for line in text.splitlines())  # no padding to the line's end


class Screen:
    """The pty's output as a person sees it: pyte's 120x30 screen."""

    def __init__(self, child: pexpect.spawn) -> None:
        self.child = child
        self.screen = pyte.Screen(120, 30)
        self.stream = pyte.ByteStream(self.screen)

    def text(self) -> str:
        return "\n".join(self.screen.display)

    def wait_for(self, pattern: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.stream.feed(self.child.read_nonblocking(65536, timeout=0.2))
            except pexpect.TIMEOUT:
                pass
            if re.search(pattern, self.text()):
                return self.text()
        raise AssertionError(f"{pattern!r} never showed; the screen:\n{self.text()}")

    def row(self, tail: str) -> str:
        return next((line for line in self.screen.display if line.startswith(tail)), "")


def spawn_top(root: Path, env: dict) -> pexpect.spawn:
    return pexpect.spawn(SHIMS, ["top", "--root", str(root), "--interval", "0.2"], env={**os.environ, **env},
                         dimensions=(30, 120), timeout=30)


def test_once_on_a_narrow_terminal_keeps_within_its_width(tmp_path):
    """`--once` at a 60-column terminal: the table is drawn for 60 columns, not 4096 that the
    terminal would wrap mid-cell."""
    run = make_run(tmp_path, "0a0b0c")
    append(run, command("item_1", "go test ./... -run TestAVeryLongNameThatGoesOnAndOn"))
    child = pexpect.spawn(SHIMS, ["top", "--root", str(tmp_path), "--once"], env=dict(os.environ),
                          dimensions=(30, 60), timeout=30)
    out = child.read().decode()
    child.close()
    assert child.exitstatus == 0, out
    lines = [line for line in out.replace("\r", "").splitlines() if line.strip()]
    assert any("0a0b0c" in line and "go test" in line for line in lines), out
    assert max(len(re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", line)) for line in lines) <= 60, out


def echo_on(child: pexpect.spawn) -> bool:
    import termios

    return bool(termios.tcgetattr(child.child_fd)[3] & termios.ECHO)


def quit_with(screen: Screen, how: str) -> tuple[int, bool]:
    """The exit status, and whether the terminal is as it was once the program is gone: keys
    echoed again, the cursor shown, the main screen back."""
    child = screen.child
    if how == "q":
        child.send("q")
    elif how == "ctrl-c":
        child.sendintr()
    else:
        child.kill(15)
    child.expect(pexpect.EOF)
    screen.stream.feed(child.before)
    child.wait()
    restored = echo_on(child) and not screen.screen.cursor.hidden and ALT_SCREEN not in screen.screen.mode
    child.close()
    return (child.exitstatus if child.exitstatus is not None else 128 + child.signalstatus), restored


ALT_SCREEN = 1049 << 5  # how pyte keeps the private mode `ESC [ ? 1049 h` (the alternate screen)


@pytest.mark.slow
def test_live_over_a_real_shim_run_and_a_growing_journal(fake_env, tmp_path):
    root = tmp_path / "runs"
    gate = tmp_path / "go-on"
    env = {**fake_env, "FAKE_VENDOR_HOLD": f"3:{gate}"}  # held after the tool_use line: `$ echo hello` runs
    child = spawn_top(root, fake_env)
    shim = None
    try:
        screen = Screen(child)
        screen.wait_for(r"shims top\s+0 running")
        assert not echo_on(child)  # keys are read one at a time, not echoed
        shim = subprocess.Popen([shim_path("fake"), "--vendor-bin", FAKE_VENDOR, "--journal", str(root), "Say hello"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                env={**os.environ, **env})
        # The model is the vendor's default, known once the result names it.
        screen.wait_for(r"fake\s+-\s+-\s+[\d.]+s\s+-\s+-\s+running\s+\$ echo hello")
        hand = make_run(root, "c0ffee")
        screen.wait_for(r"c0ffee\s+claude\s+claude-opus-5-5\s+write\s+[\d.]+s\s+-\s+-\s+running")
        append(hand, command("item_1", "pytest -q"), turn(1000, 200))
        screen.wait_for(r"c0ffee.*1,200\s+-\s+running\s+\$ pytest -q")
        gate.touch()
        assert shim.wait(timeout=30) == 0, shim.stderr.read()
        text = screen.wait_for(r"fake-model-1.*175\s+\$0\.0012\s+completed\s+Hello! You said: Say hello")
        assert "1 running · 1 ended" in text
        finish(hand, result("failed", kind="quota_or_rate_limited", total=1300, cost=0.02, final=None,
                            error="Usage limit reached."))
        screen.wait_for(r"c0ffee.*1,300\s+\$0\.0200\s+failed\s+quota_or_rate_limited: Usage limit")
        assert quit_with(screen, "q") == (0, True)
    finally:
        if shim is not None and shim.poll() is None:
            shim.kill()
            shim.wait()
        if child.isalive():
            child.close(force=True)


@pytest.mark.slow
@pytest.mark.parametrize(("how", "code"), [("ctrl-c", 130), ("sigterm", 143)])
def test_the_terminal_is_restored_however_it_ends(how, code, mark, tmp_path):
    make_run(tmp_path, "123456")
    child = spawn_top(tmp_path, {procs.MARK_ENV: mark})
    try:
        screen = Screen(child)
        screen.wait_for(r"123456\s+claude")
        assert not echo_on(child) and screen.screen.cursor.hidden and ALT_SCREEN in screen.screen.mode
        assert quit_with(screen, how) == (code, True)
    finally:
        if child.isalive():
            child.close(force=True)
