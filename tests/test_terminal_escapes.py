"""Issue 13, terminal escapes: text from a vendor or a model never reaches a person's terminal
raw. `--emit pretty`, the `shim:` stderr lines, `shims runs show`, `shims usage`/`runs` tables
show control sequences as visible escapes (`\\e[31m` for ESC [31m; README, "Terminal escapes")."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from conftest import FAKE_VENDOR, shim_path
from hostile import TERMINAL_ESCAPES, terminal_text
from hypothesis import given, settings

from normalize import observe as o
from normalize.assembler import Assembler
from normalize.emit import visible
from shims.state.journal.fold import Row
from shims.views.live import LiveView
from shims.views.plain import PlainView
from shims.views.terminal import console
from shims.views.top import top_view

# What may reach the terminal: printable text, newlines and tabs (the layout).
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
HOSTILE = "".join(TERMINAL_ESCAPES)


def _pretty(observations, exit=o.ExitInfo(exit_code=0), live: bool = False) -> str:
    """What `--emit pretty` prints: the plain lines (off a terminal), or the live view's output
    (on one), given as the text a 300x40 terminal then shows."""
    out = io.StringIO()
    emitter = LiveView(out, width=300, height=40) if live else PlainView(out)
    asm = Assembler(emitter, provider="claude", fallback_thread_id="t", cli_version="1", model="m",
                    live=getattr(emitter, "live", None))
    asm.launched()
    asm.feed(observations)
    result, code = asm.finish(exit)
    emitter.close(result, code)
    if not live:
        return out.getvalue()
    import pyte

    screen = pyte.Screen(300, 40)
    screen.set_mode(pyte.modes.LNM)
    pyte.Stream(screen).feed(out.getvalue())
    return "\n".join(row.rstrip() for row in screen.display)


@settings(max_examples=150, deadline=None)
@given(terminal_text)
def test_pretty_never_prints_a_raw_control_sequence(text):
    shown = _pretty([
        o.Session(f"s{text}"),
        o.Message(text),
        o.ToolStarted("c1", {"type": "command_execution", "command": text, "aggregated_output": "", "exit_code": None}),
        o.ToolCompleted("c1", {"aggregated_output": text, "exit_code": 1, "status": "failed"}),
        o.Failed("provider_failed", text),
    ], o.ExitInfo(exit_code=1))
    assert RAW_CONTROL.search(shown) is None, repr(shown)


@pytest.mark.parametrize("live", [False, True], ids=["plain", "live"])
def test_pretty_shows_each_escape_visibly(live):
    # live: the message streamed in deltas first; what the screen shows, after the terminal obeyed
    shown = _pretty([o.MessageDelta("k", HOSTILE[:40]), o.MessageDelta("k", HOSTILE[40:]), o.MessageEnd("k"),
                     o.Completed()], live=live)
    assert RAW_CONTROL.search(shown) is None
    assert "\\e]52;c;ZWNobyBwd25lZA==\\a" in shown  # the clipboard write, as text
    assert "\\e[31mred\\e[0m" in shown and "abc\\b\\b\\bxyz" in shown and "line\\rover" in shown
    assert "\\x9b31m" in shown and "\\x7f" in shown and "\\eP+q544e\\e\\" in shown


def test_visible_keeps_layout_and_ordinary_text():
    assert visible("a\n\tb — ünïcode \\e") == "a\n\tb — ünïcode \\e"
    assert visible("a\nb", keep="\t") == "a\\nb"


# rich's own colours, which `shims top` on a terminal writes around the cells it styles.
RICH_SGR = re.compile("\x1b\\[[0-9;]*m")


@settings(max_examples=100, deadline=None)
@given(terminal_text)
def test_top_never_shows_vendor_text_raw(text):
    """`shims top`: a vendor's model, a request's mode, a tool's command and a final message
    stay visible escapes on a colour terminal too; only rich's own colour codes are written."""
    rows = [Row(run="20270101T000000.000Z-claude-abcdef", provider=text, model=f"m{text}", mode=text,
                started_at=0.0, open_items=(("i", f"$ {text}"),)),
            Row(run="20270101T000000.000Z-gemini-fedcba", provider="gemini", status="failed", failure_kind=text,
                started_at=0.0, ended_at=1.0, last=text)]
    for terminal in (False, True):
        out = io.StringIO()
        console(out, width=200, terminal=terminal).print(top_view(rows, 5.0, linger_s=60))
        shown = RICH_SGR.sub("", out.getvalue())
        assert RAW_CONTROL.search(shown) is None, repr(shown)


def test_top_shows_each_escape_visibly():
    row = Row(run="20270101T000000.000Z-claude-abcdef", model=HOSTILE, open_items=(("i", f"$ {HOSTILE}"),))
    out = io.StringIO()
    console(out, width=1000, terminal=False).print(top_view([row], 5.0, linger_s=60))
    shown = out.getvalue()
    assert "\\e]52;c;ZWNobyBwd25lZA==\\a" in shown and "$ \\e[2J\\e[H" in shown


def _run(env, *args, stdin=b"", emit="ndjson"):
    return subprocess.run([shim_path("fake"), "--vendor-bin", FAKE_VENDOR, "--emit", emit, *args], input=stdin,
                          capture_output=True, env={**os.environ, **env}, timeout=60)


def _script(tmp_path, records) -> dict[str, str]:
    path = tmp_path / "s.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return {"FAKE_VENDOR_SCRIPT": str(path)}


def _shims(*args, env):
    return subprocess.run([str(Path(sys.executable).parent / "shims"), *args], capture_output=True,
                          env={**os.environ, **env}, timeout=60)


def test_shim_stderr_lines_show_escapes(fake_env, tmp_path):
    records = [{"type": "init", "session_id": "s-e"},
               {"type": "result", "ok": False, "error_kind": "provider_failed", "message": f"boom {HOSTILE}"}]
    proc = _run({**fake_env, **_script(tmp_path, records), "FAKE_VENDOR_EXIT": "1"}, "hi")
    lines = [line for line in proc.stderr.decode().split("\n") if line.startswith("shim:")]
    assert lines and "boom" in lines[-1]
    assert RAW_CONTROL.search(proc.stderr.decode().replace("\n", "")) is None, proc.stderr
    assert "\\e]52;c;" in lines[-1]


def test_pretty_emit_of_a_live_run_and_runs_show_and_usage(fake_env, tmp_path):
    records = [{"type": "init", "session_id": "s-e", "model": f"m{HOSTILE}"},
               {"type": "text", "text": f"hello {HOSTILE}"},
               {"type": "result", "ok": True, "text": f"done {HOSTILE}"}]
    env = {**fake_env, **_script(tmp_path, records)}
    request = orjson.dumps({"protocol_version": 2, "message": "hi", "role": f"r{HOSTILE}"})
    proc = _run(env, stdin=request, emit="pretty")
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout.decode()
    assert "hello \\e[2J\\e[H\\e[31mred" in text and RAW_CONTROL.search(text) is None
    assert _run(env, stdin=request).returncode == 0
    for args in (("runs", "show", "last"), ("runs",), ("usage", "--by", "role,model"), ("usage", "--by", "role", "--csv"),
                 ("top",)):
        out = _shims(*args, env=env)
        assert out.returncode == 0, (args, out.stderr)
        assert RAW_CONTROL.search(out.stdout.decode()) is None, (args, out.stdout)
        if args[0] == "usage":  # shown, not dropped: the reader can tell which role it was
            assert "\\e[2J" in out.stdout.decode(), out.stdout


def test_state_commands_show_a_hostile_state_path_escaped(tmp_path):
    """`shims state migrate|check` print the store's path (the user's XDG_STATE_HOME, whatever
    it holds) and the driver's messages: escaped like everything else on a terminal."""
    env = {"XDG_STATE_HOME": str(tmp_path / "x\x1b]52;c;eA==\x07y"), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    for args in (("state", "migrate"), ("state", "check")):
        out = _shims(*args, env=env)
        assert out.returncode == 0, (args, out.stderr)
        assert RAW_CONTROL.search(out.stdout.decode().replace("\n", "")) is None, (args, out.stdout)
        assert "x\\e]52;c;eA==\\ay" in out.stdout.decode(), out.stdout


def test_doctor_views_show_vendor_text_escaped():
    """`shims doctor` quotes the vendor: its --version text, its errors, its quota messages,
    and a mode's refusal; on a terminal only rich's own colour codes are raw."""
    from shims.run.doctor_checks import Setup, report
    from shims.views.doctor import doctor_view, modes_view
    from shims.views.terminal import show

    answer = {"ready": False, "provider": "agy", "cli_version": f"1.2{HOSTILE}", "auth": "login",
              "quota": {"state": "exhausted", "resets_at": None, "window": None, "message": f"gone{HOSTILE}"},
              "failure_kind": "quota_or_rate_limited", "error": f"e{HOSTILE}"}
    reports = [report(answer, program=f"/bin/agy{HOSTILE}", remembered_quota=False, modes={"full": f"no{HOSTILE}"},
                      output_schema=f"s{HOSTILE}", setup=Setup("agy", "/c.toml", None, "i", "s"), now=0.0)]
    modes = [{"provider": "agy", "mode": "full", "args": [f"--x{HOSTILE}"], "meaning": f"m{HOSTILE}",
              "supported": False, "why_not": f"w{HOSTILE}"}]
    for view in (doctor_view(reports), modes_view(modes)):
        for terminal in (False, True):
            out = io.StringIO()
            show(view, out, width=100, terminal=terminal)
            text = re.sub(r"\x1b\[[0-9;]*m", "", out.getvalue()) if terminal else out.getvalue()
            assert RAW_CONTROL.search(text) is None, (terminal, text)
            assert "\\e[31mred\\e[0m" in text


def _hostile_postgres(message: bytes):
    """A loopback "server" that answers every connection with a PostgreSQL ErrorResponse
    carrying `message` (after refusing SSL and GSS encryption, as a plain server does)."""
    import socket
    import struct
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                while True:
                    head = conn.recv(8)
                    if len(head) < 8:
                        break
                    length, code = struct.unpack("!ii", head)
                    conn.recv(length - 8)
                    if code in (80877103, 80877104):  # SSLRequest, GSSENCRequest: "no"
                        conn.sendall(b"N")
                        continue
                    body = b"SFATAL\0C28000\0M" + message + b"\0\0"
                    conn.sendall(b"E" + struct.pack("!i", len(body) + 4) + body)
                    break

    threading.Thread(target=serve, daemon=True).start()
    return listener


def test_a_database_servers_error_is_shown_escaped(tmp_path):
    from shims.state.store.postgres import PostgresStore

    listener = _hostile_postgres(HOSTILE.encode())
    try:
        store = PostgresStore(f"postgresql://shims@127.0.0.1:{listener.getsockname()[1]}/shims", str(tmp_path))
        store.record_run({"run_id": "r1", "at": "2026-12-04T10:00:00Z"})
        facts = store.check()
    finally:
        listener.close()
    assert "outbox (1 row)" in store.note
    for said in (store.note, facts["problem"]):
        assert RAW_CONTROL.search(said) is None, said
        assert "\\e[" in said  # ESC shown, not sent
