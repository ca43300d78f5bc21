"""Issue 17, the views of a run (`--emit pretty`): the live view on a terminal (answer text as
it arrives, tool lines updated in place, a status line, the usage table) and plain appended
lines anywhere else, both fed by the same events. Screens are read through pyte, as a person
would see them; the live side channel must leave the stream byte for byte as it is."""

from __future__ import annotations

import errno
import io
import re

import pyte
import pytest
from conftest import ROOT

from normalize import observe as o
from normalize.assembler import Assembler
from normalize.usage import build_usage
from shims.run.pipeline import Facts, Pipeline
from shims.views.live import LiveView
from shims.views.plain import PlainView
from shims.views.render import Status, status_line

COLS, ROWS = 100, 40


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def screen_of(data: str) -> list[str]:
    """The rows a 100x40 terminal shows after `data` (a tty turns \\n into CR LF)."""
    screen = pyte.Screen(COLS, ROWS)
    screen.set_mode(pyte.modes.LNM)
    pyte.Stream(screen).feed(data)
    return [row.rstrip() for row in screen.display]


def live_view(clock: Clock) -> tuple[LiveView, io.StringIO]:
    out = io.StringIO()
    # A slow tick: the tests redraw when they look (view.refresh), not when rich's thread does.
    return LiveView(out, clock=clock, width=COLS, height=ROWS, refresh_per_second=0.5), out


def assembler(view, lines: list[bytes] | None = None) -> Assembler:
    def sink(event, line):
        if lines is not None:
            lines.append(line)
        view(event, line)

    asm = Assembler(sink, provider="claude", fallback_thread_id="t-1", cli_version="2", model="sonnet",
                    live=getattr(view, "live", None))
    asm.launched()
    return asm


COMMAND = {"type": "command_execution", "command": "pytest -q", "aggregated_output": "", "exit_code": None,
           "status": "in_progress"}
USAGE = build_usage(input_tokens=12345, cached_input_tokens=10000, cache_write_input_tokens=345, output_tokens=678,
                    reasoning_output_tokens=90, cost_usd=0.0123, cost_source="vendor")
FAILED = {"aggregated_output": "".join(f"line {i}\n" for i in range(1, 21)) + "3 failed", "exit_code": 1,
          "status": "failed"}


# ---------------------------------------------------------------- plain lines (not a terminal)


def test_plain_view_appends_each_piece_once_without_escape_codes():
    clock, out = Clock(), io.StringIO()
    view = PlainView(out, clock=clock)
    asm = assembler(view)
    asm.feed([o.Session("sess-9"), o.MessageDelta("k", "Looking at "), o.MessageDelta("k", "the tests."),
              o.ToolStarted("c1", COMMAND)])
    clock.now += 2.5
    asm.feed([o.ToolCompleted("c1", FAILED), o.UsageReport(USAGE), o.Message("All green now."), o.Completed()])
    result, code = asm.finish(o.ExitInfo(exit_code=0))
    assert view.close(result, code) == 0
    text = out.getvalue()
    assert "\x1b" not in text
    lines = text.splitlines()
    assert lines[:3] == ["── thread sess-9", "Looking at the tests.", "$ pytest -q  ✗ exit 1  2.5s"]
    assert [line for line in lines if "pytest" in line] == ["$ pytest -q  ✗ exit 1  2.5s"]  # once, when it ended
    assert lines[3:8] == ["  line 17", "  line 18", "  line 19", "  line 20", "  3 failed"]
    assert "All green now." in lines
    table = lines[lines.index("── completed · claude sonnet"):]
    assert table[1:7] == [
        "   input              2,000  uncached",
        "   cache read        10,000",
        "   cache write          345",
        "   output               678  with reasoning 90",
        "   total             13,023",
        "   cost             $0.0123  vendor",
    ]
    assert table[7] == "   session sess-9"


def test_a_cancelled_run_says_so_once():
    """The failure's words come once (its ✗ line); the heading names the status once."""
    out = io.StringIO()
    view = PlainView(out, clock=Clock())
    asm = assembler(view)
    asm.feed([o.Session("s"), o.MessageDelta("k", "Working")])
    result, code = asm.finish(o.ExitInfo(exit_code=130, cancelled="SIGINT"))
    view.close(result, code)
    text = out.getvalue()
    assert result["failure_kind"] == "cancelled" and result["error"]
    assert text.count(result["error"]) == 1, text
    assert "── cancelled · claude sonnet" in text and "(cancelled)" not in text, text


def test_plain_view_says_unknown_for_a_cost_nobody_reported():
    out = io.StringIO()
    view = PlainView(out)
    asm = assembler(view)
    asm.feed([o.Failed("quota_or_rate_limited", "Claude 5-hour limit reached")])
    result, code = asm.finish(o.ExitInfo(exit_code=1))
    text = out.getvalue()
    assert "✗ Claude 5-hour limit reached" in text and "failed (quota_or_rate_limited)" in text
    assert "   cost             unknown" in text.splitlines() and "$0.0000" not in text


def test_a_replay_shows_no_durations():
    out = io.StringIO()
    view = PlainView(out, clock=None)  # shims runs show
    asm = assembler(view)
    asm.feed([o.ToolStarted("c1", COMMAND), o.ToolCompleted("c1", {**FAILED, "aggregated_output": ""})])
    assert "$ pytest -q  ✗ exit 1\n" in out.getvalue()


def test_plain_view_on_a_closed_pipe_says_why_and_raises_nothing():
    class Gone(io.StringIO):
        def write(self, text):
            raise BrokenPipeError

    view = PlainView(Gone())
    assembler(view).feed([o.Message("hi")])
    assert view.broken == "SIGPIPE"


# ---------------------------------------------------------------- the live view (a terminal)


def test_live_view_shows_text_as_it_arrives_and_then_the_message_once():
    clock = Clock()
    view, out = live_view(clock)
    lines: list[bytes] = []
    asm = assembler(view, lines)
    asm.feed([o.Session("s"), o.MessageDelta("k", "Hello, "), o.MessageDelta("k", "wor")])
    view.refresh()
    assert "Hello, wor" in screen_of(out.getvalue())
    assert not any(b"agent_message" in line for line in lines)  # the stream has not said it yet
    asm.feed([o.MessageDelta("k", "ld."), o.MessageEnd("k"), o.Completed()])
    result, code = asm.finish(o.ExitInfo(exit_code=0))
    view.close(result, code)
    rows = screen_of(out.getvalue())
    assert rows.count("Hello, world.") == 1 and not any("Hello, wor" in r and r != "Hello, world." for r in rows)


def test_text_streamed_but_never_finished_stays_on_screen_marked_as_cut():
    """Claude's partial text (LiveText) that never became a message (the vendor was killed
    mid-block): the person saw it being written, so the region's end must not wipe it."""
    clock = Clock()
    view, out = live_view(clock)
    asm = assembler(view)
    asm.feed([o.Session("s"), o.LiveText("Refactoring the par"), o.LiveText("ser now")])
    view.refresh()
    result, code = asm.finish(o.ExitInfo(exit_code=None, signal=9))
    view.close(result, code)
    rows = screen_of(out.getvalue())
    assert "Refactoring the parser now" in rows, rows
    assert any("cut short" in r for r in rows), rows


def test_live_view_updates_the_tool_line_in_place():
    clock = Clock()
    view, out = live_view(clock)
    asm = assembler(view)
    asm.feed([o.Session("s"), o.ToolStarted("c1", COMMAND)])
    clock.now += 3.2
    asm.feed([o.ToolUpdated("c1", {"aggregated_output": "collecting\nrunning 20 tests\n"})])
    view.refresh()
    rows = screen_of(out.getvalue())
    assert "$ pytest -q  … 3.2s" in rows
    assert "  running 20 tests" in rows
    status = rows[rows.index("  running 20 tests") + 1]
    assert "3.2s" in status and status.endswith("$ pytest -q") and "tokens" not in status
    clock.now += 0.2
    asm.feed([o.ToolCompleted("c1", {"aggregated_output": "ok\n", "exit_code": 0, "status": "completed"}),
              o.UsageReport(USAGE), o.Completed()])
    result, code = asm.finish(o.ExitInfo(exit_code=0))
    view.close(result, code)
    rows = screen_of(out.getvalue())
    assert [r for r in rows if "pytest" in r] == ["$ pytest -q  ✓ exit 0  3.4s"]
    assert "running 20 tests" not in "\n".join(rows)  # the running lines gave way
    assert "   cost             $0.0123  vendor" in rows


def test_live_view_status_line_counts_tokens_the_vendor_reported():
    clock = Clock()
    view, out = live_view(clock)
    asm = assembler(view)
    asm.feed([o.Session("s"), o.LiveText("Thinking about it"), o.LiveUsage(21103)])
    clock.now += 1.25
    view.refresh()
    rows = [r for r in screen_of(out.getvalue()) if r]
    assert rows[-2:] == ["Thinking about it", f"{rows[-1][0]} 1.2s · 21,103 tokens"]


def test_status_line_shows_only_what_is_known():
    assert status_line(Status(12.34)).plain.endswith(" 12.3s")
    line = status_line(Status(2.0, tokens=1234, cost_usd=0.5, tool=COMMAND)).plain
    assert line.endswith(" 2.0s · 1,234 tokens · $0.5000 · $ pytest -q")


def test_live_view_keeps_streamed_escapes_visible():
    clock = Clock()
    view, out = live_view(clock)
    asm = assembler(view)
    asm.feed([o.Session("s"), o.MessageDelta("k", "red \x1b[31mX\x1b[0m \x1b]52;c;ZWNobw==\x07 \x1b[2J")])
    view.refresh()
    rows = screen_of(out.getvalue())
    assert "red \\e[31mX\\e[0m \\e]52;c;ZWNobw==\\a \\e[2J" in rows
    asm.feed([o.MessageEnd("k"), o.Completed()])
    view.close(*asm.finish(o.ExitInfo(exit_code=0)))
    assert "red \\e[31mX\\e[0m \\e]52;c;ZWNobw==\\a \\e[2J" in screen_of(out.getvalue())


def test_live_view_on_a_terminal_that_went_away_says_why():
    class Hungup(io.StringIO):
        def write(self, text):
            raise OSError(errno.EIO, "Input/output error")

        def isatty(self):
            return True

    view = LiveView(Hungup(), width=COLS, height=ROWS)
    asm = assembler(view)
    asm.feed([o.Session("s"), o.Message("hi")])
    assert view.broken == "EIO"
    view.close(*asm.finish(o.ExitInfo(exit_code=0)))


def test_a_fast_stream_is_not_redrawn_per_delta():
    """Thousands of deltas cost a redraw per tick, not per delta."""
    clock = Clock()
    out = io.StringIO()
    view = LiveView(out, clock=clock, width=COLS, height=ROWS)
    asm = assembler(view)
    asm.feed([o.Session("s")])
    asm.feed(o.MessageDelta("k", f"word{i} ") for i in range(20000))
    asm.feed([o.MessageEnd("k"), o.Completed()])
    view.close(*asm.finish(o.ExitInfo(exit_code=0)))
    redraws = out.getvalue().count("\x1b[2K")  # rich erases the region's lines before each redraw
    assert redraws < 2000
    assert "word19999" in out.getvalue()


# ---------------------------------------------------------------- the stream stays as it is


def _stream(vendor: str, case: str, live) -> list[bytes]:
    native = (ROOT / "golden" / vendor / case / "native.stdout").read_bytes()
    lines: list[bytes] = []
    pipe = Pipeline(Facts(provider=vendor, thread_id="t-1"), lambda e, line: lines.append(line), live=live)
    pipe.asm.launched()
    for line in native.splitlines():
        pipe.line(line)
    pipe.finish(o.ExitInfo(exit_code=0))
    return lines


@pytest.mark.parametrize("vendor,case", [("claude", "partial-tool-bash"), ("claude", "partial-plain"),
                                         ("gemini", "plain"), ("gemini", "shell")])
def test_the_live_channel_leaves_the_stream_byte_for_byte(vendor, case):
    seen: list = []
    with_live = _stream(vendor, case, seen.append)
    assert with_live == _stream(vendor, case, None)
    texts = "".join(ob.text for ob in seen if type(ob) in (o.LiveText, o.MessageDelta))
    assert texts  # the live view did get the answer as it arrived
    if vendor == "claude":
        import orjson

        result = orjson.loads(with_live[-1])
        assert texts.endswith(result["final_message"])
        usage = [ob for ob in seen if type(ob) is o.LiveUsage]
        assert usage[-1].total_tokens == result["usage"]["total_tokens"]


def test_partial_message_lines_change_nothing_in_the_result():
    from shims.claude.parse import ClaudeParser

    parser = ClaudeParser()
    for line in (b'{"type":"system","subtype":"status","status":"requesting"}',
                 b'{"type":"system","subtype":"thinking_tokens","tokens":12}',
                 b'{"type":"stream_event","event":{"type":"content_block_delta","index":0,'
                 b'"delta":{"type":"thinking_delta","thinking":"hm"}}}'):
        assert parser.feed(line) == []


def test_claude_is_asked_for_partial_messages_only_for_the_live_view():
    from normalize.request import RunSpec
    from shims.claude.command import build_launch

    assert "--include-partial-messages" not in build_launch(RunSpec(prompt="hi"), "claude").argv
    assert "--include-partial-messages" in build_launch(RunSpec(prompt="hi", live_text=True), "claude").argv



def test_a_declined_command_says_so_without_a_made_up_exit_code():
    clock = Clock()
    view, out = live_view(clock)
    asm = assembler(view)
    long_line = "rejected " + "x" * 300
    asm.feed([o.Session("s"), o.ToolStarted("c1", COMMAND),
              o.ToolCompleted("c1", {"aggregated_output": long_line, "exit_code": None, "status": "declined"})])
    view.close(*asm.finish(o.ExitInfo(exit_code=0)))
    rows = screen_of(out.getvalue())
    assert "$ pytest -q  ⊘  0.0s" in rows
    under = rows[rows.index("$ pytest -q  ⊘  0.0s") + 1]
    assert under.startswith("  rejected xxx") and under.endswith("…")  # cut at the screen's edge, not wrapped


def test_hostile_partial_message_lines_reach_the_live_view_harmless():
    """Claude's stream_event lines as a hostile or broken CLI could write them: escapes in the
    text, counts that are negative, booleans or absurd. The view shows the text escaped and
    never a negative or boolean-made token count; nothing raises."""
    import orjson

    def event(e: dict) -> bytes:
        return orjson.dumps({"type": "stream_event", "event": e, "session_id": "s"})

    lines = [
        orjson.dumps({"type": "system", "subtype": "init", "session_id": "s", "model": "m"}),
        event({"type": "message_start", "message": {"usage": {"input_tokens": -500, "output_tokens": True,
                                                              "cache_read_input_tokens": "7"}}}),
        event({"type": "content_block_delta", "delta": {"type": "text_delta", "text": "ok \x1b]52;c;eA==\x07\x1b[2J"}}),
        b'{"type":"stream_event","event":{"type":"message_delta","usage":{"output_tokens":' + b"9" * 30 + b"}}}",
        event({"type": "message_delta", "usage": {"output_tokens": 2**62}}),
        event({"type": "content_block_delta", "delta": {"type": "text_delta", "text": 12}}),
        event("not an event"),
        b'{"type":"stream_event","event":{"type":"message_delta","usage":{"output_tokens":-3}}}',
    ]
    seen: list = []
    pipe = Pipeline(Facts(provider="claude", thread_id="t-1"), lambda e, line: None, live=seen.append)
    pipe.asm.launched()
    for line in lines:
        pipe.line(line)
    usage = [ob.total_tokens for ob in seen if type(ob) is o.LiveUsage]
    assert usage and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in usage), usage
    clock = Clock()
    view, out = live_view(clock)
    for ob in seen:
        view.live(ob)
    view({"type": "thread.started", "thread_id": "t-1"}, b"")
    view.refresh()
    rows = screen_of(out.getvalue())
    assert any("ok \\e]52;c;eA==\\a\\e[2J" in r for r in rows), rows
    status = next(r for r in rows if "tokens" in r)
    assert re.search(r"· [0-9][0-9,]* tokens", status) and " -" not in status.split("tokens")[0], status
