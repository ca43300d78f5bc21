"""Golden files: every recorded case under golden/<vendor>/<case>/ through `shims normalize`.

A new case is new files, not new code. Expected files come from `make golden`; a difference
here means the translation changed: understand it before regenerating.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import orjson
import pytest
from conftest import FAKE_VENDOR, ROOT, shim_path
from streamcheck import check_stream, parse_stream

from shims.run.recording import replay_events
from shims.run.vendors import recorded_version

CASES = sorted(p.parent for p in (ROOT / "golden").glob("*/*/meta.json"))


def _ids(cases):
    return [f"{c.parent.name}/{c.name}" for c in cases]


def _replay(case: Path, **kw):
    meta = json.loads((case / "meta.json").read_text())
    stderr = (case / "native.stderr").read_bytes() if (case / "native.stderr").exists() else b""
    sig = meta.get("signal")
    return replay_events(case.parent.name, (case / "native.stdout").read_bytes(), stderr,
                         exit_code=meta.get("exit_code"), cancelled=f"SIG{sig}" if sig else None,
                         fmt=meta.get("format", "stream-json"), ended_at=meta.get("ended_at"),
                         resumed=bool(meta.get("resumed")),
                         cli_version=recorded_version(case.parent.name, meta.get("cli_version")), **kw)


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_golden_case(case: Path):
    lines: list[bytes] = []
    events, result, code = _replay(case, sink=lambda e, line: lines.append(line))
    produced = b"".join(line + b"\n" for line in lines)
    assert produced == (case / "expected.ndjson").read_bytes(), "run `make golden` only once the change is understood"
    check_stream(parse_stream(produced), code)
    v1 = json.loads((case / "expected.v1.json").read_text())
    assert set(v1) == {"status", "final_message"}
    assert v1["status"] == ("completed" if result["status"] == "completed" else "failed")


def test_golden_corpus_is_not_empty():
    assert len(CASES) >= 10


def _comparable(events: list[dict]) -> list[dict]:
    """What may differ between a live run and a replay: the fallback thread id (random live,
    derived in a replay), the wall-clock duration, where the binary was and where the run was
    journaled."""
    out = []
    for e in events:
        e = orjson.loads(orjson.dumps(e))
        if e["type"] == "result":
            e["duration_ms"] = 0
            e["vendor"].pop("argv0", None)
            e["journal"] = None
        out.append(e)
    return out


@pytest.mark.parametrize("case", [c for c in CASES if json.loads((c / "meta.json").read_text()).get("signal") is None
                                  and c.parent.name == "fake"], ids=lambda c: c.name)
def test_live_run_prints_what_the_replay_prints(case: Path, fake_env):
    """DESIGN: one translation, three doors. The fake CLI replays the recording, the shim runs it live."""
    meta = json.loads((case / "meta.json").read_text())
    env = {**os.environ, **fake_env, "FAKE_VENDOR_SCRIPT": str(case / "native.stdout"),
           "FAKE_VENDOR_EXIT": str(meta["exit_code"])}
    if (case / "native.stderr").exists():
        env["FAKE_VENDOR_STDERR"] = (case / "native.stderr").read_text(errors="replace")
    proc = subprocess.run([shim_path("fake"), "--vendor-bin", FAKE_VENDOR, "--emit", "ndjson", "hi"],
                          capture_output=True, env=env, timeout=60)
    live = parse_stream(proc.stdout)
    lines: list[bytes] = []
    _, _, code = _replay(case, sink=lambda e, line: lines.append(line + b"\n"))
    replayed = parse_stream(b"".join(lines))
    if live[0]["thread_id"] != replayed[0]["thread_id"]:  # no vendor session id: both made one up
        for events in (live, replayed):
            events[0]["thread_id"] = events[-1]["thread_id"] = "-"
    assert _comparable(live) == _comparable(replayed)
    assert proc.returncode == code


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_a_journal_of_the_case_replays_to_its_expected_events(case: Path, tmp_path):
    """`shims replay` over a journal holding the case's vendor output and facts gives the
    expected events exactly: the replay path and `shims normalize` are one translation."""
    from normalize.reconcile import zero_total
    from shims.run.recording import derived_thread_id
    from shims.run.replay import replay_run

    meta = json.loads((case / "meta.json").read_text())
    stdout = (case / "native.stdout").read_bytes()
    stderr = (case / "native.stderr").read_bytes() if (case / "native.stderr").exists() else b""
    vendor, fmt, sig = case.parent.name, meta.get("format", "stream-json"), meta.get("signal")
    cancelled = f"SIG{sig}" if sig else None
    run = tmp_path / "20261124T000000.000Z-golden-000000"
    run.mkdir()
    thread = derived_thread_id(vendor.encode(), fmt.encode(), stdout, stderr, str(meta.get("exit_code")).encode(),
                               str(cancelled).encode())
    (run / "meta.json").write_bytes(orjson.dumps({
        "facts": {"provider": vendor, "format": fmt, "thread_id": thread,
                  "previous_total": None if meta.get("resumed") else zero_total(),
                  "cli_version": recorded_version(vendor, meta.get("cli_version"))},
        "replay": {"exit": {"exit_code": meta.get("exit_code"), "cancelled": cancelled, "ended_at": meta.get("ended_at")},
                   "duration_ms": 0, "vendor_extra": {}},
    }))
    (run / "vendor.stdout").write_bytes(stdout)
    (run / "vendor.stderr").write_bytes(stderr)
    (run / "events.ndjson").write_bytes((case / "expected.ndjson").read_bytes())
    outcome = replay_run(run)
    assert outcome.replayable and outcome.identical, "\n".join(outcome.diff())


def _without_run_facts(events: list[dict]) -> list[dict]:
    """What two recordings of one scenario may differ in: the session (and so thread) id the
    CLI made up, and the CLI's own timings."""
    out = _comparable(events)
    for e in out:
        for key in ("thread_id", "session_id"):
            if key in e:
                e[key] = "-"
        if e["type"] == "result":
            e["vendor"]["duration_ms"] = e["vendor"]["duration_api_ms"] = 0
    return out


@pytest.mark.parametrize("plain,partial", [("tool-bash", "partial-tool-bash"), ("plain", "partial-plain")])
def test_the_live_views_launch_gives_the_same_stream(plain, partial):
    """Claude launched for the live view (--include-partial-messages: stream_event and
    system/status lines) prints the same events as without: those lines feed the live view only."""
    claude = ROOT / "golden" / "claude"
    assert b'"stream_event"' in (claude / partial / "native.stdout").read_bytes()
    streams = [parse_stream((claude / name / "expected.ndjson").read_bytes()) for name in (plain, partial)]
    assert _without_run_facts(streams[0]) == _without_run_facts(streams[1])
    assert "last_unknown_type" not in streams[1][-1]["vendor"]
