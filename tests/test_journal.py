"""The journal, replay, the usage ledger, quota memory and resume, through the real shim program
and the fake vendor CLI, with real files in a private state folder (conftest.private_state)."""

from __future__ import annotations

import calendar
import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from conftest import FAKE_VENDOR, shim_path
from state_rows import ledger_rows, quota_rows
from streamcheck import check_stream, parse_stream

SHIMS = str(Path(sys.executable).parent / "shims")


def state(env) -> Path:
    return Path(env["XDG_STATE_HOME"]) / "codex-shims"


def runs_root(env) -> Path:
    return state(env) / "runs"


def run_folders(env) -> list[str]:
    """The run folders under the journal root (it also holds the hidden sizes file)."""
    return sorted(str(p) for p in runs_root(env).iterdir() if p.is_dir())


def run_fake(env, *args, stdin=b"", extra_env=None, timeout=60):
    proc = subprocess.run([shim_path("fake"), "--vendor-bin", FAKE_VENDOR, "--emit", "ndjson", *args], input=stdin,
                          capture_output=True, env={**os.environ, **env, **(extra_env or {})}, timeout=timeout)
    events = parse_stream(proc.stdout)
    return proc, events, check_stream(events, proc.returncode)


def script(tmp_path, name, records, raw=b""):
    path = tmp_path / name
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records) + raw)
    return {"FAKE_VENDOR_SCRIPT": str(path)}


def shims(*args, env, timeout=60):
    return subprocess.run([SHIMS, *args], capture_output=True, env={**os.environ, **env}, timeout=timeout)


def ledger(env):
    return ledger_rows(state(env))


# ----------------------------------------------------------------- what a run leaves


def test_a_run_is_journaled_completely_and_privately(fake_env, tmp_path):
    request = {"protocol_version": 2, "message": "Say hello", "cwd": str(tmp_path), "role": "worker"}
    proc, events, result = run_fake(fake_env, stdin=orjson.dumps(request))
    assert proc.returncode == 0
    run = Path(result["journal"])
    assert run.parent == runs_root(fake_env)
    assert stat.S_IMODE(run.stat().st_mode) == 0o700
    for f in run.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    # the events file is exactly what the host read
    assert (run / "events.ndjson").read_bytes() == proc.stdout
    assert json.loads((run / "result.json").read_text()) == result
    assert json.loads((run / "request.json").read_text()) == request
    meta = json.loads((run / "meta.json").read_text())
    assert meta["status"] == "finished" and meta["provider"] == "fake" and meta["cwd"] == str(tmp_path)
    assert meta["argv"][:2] == [FAKE_VENDOR, "--prompt=Say hello"]
    assert "PATH" in meta["env_names"] and all("=" not in n for n in meta["env_names"])
    assert [a["exit"]["exit_code"] for a in meta["replay"]["attempts"]] == [0]
    # the vendor's bytes, with one timing record per chunk that added up to them
    out = (run / "vendor.stdout").read_bytes()
    assert b'"type":"init"' in out and out.endswith(b"\n")
    timing = [json.loads(line) for line in (run / "vendor.timing").read_text().splitlines()]
    assert sum(n for _, fd, n in timing if fd == "o") == len(out)
    assert all(a[0] <= b[0] for a, b in zip(timing, timing[1:], strict=False))
    # and the ledger has the run's usage
    (entry,) = ledger(fake_env)
    assert entry["run_id"] == run.name and entry["usage"] == result["usage"] and entry["role"] == "worker"


def test_no_journal_keeps_only_the_ledger(fake_env):
    proc, _, result = run_fake(fake_env, "--no-journal", "hi")
    assert proc.returncode == 0 and result["journal"] is None
    assert not runs_root(fake_env).exists()
    assert [e["status"] for e in ledger(fake_env)] == ["completed"]


def test_journal_flag_chooses_the_root(fake_env, tmp_path):
    proc, _, result = run_fake(fake_env, "--journal", str(tmp_path / "j"), "hi")
    assert Path(result["journal"]).parent == tmp_path / "j"


def test_an_unwritable_journal_does_not_cost_the_run(fake_env, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    proc, _, result = run_fake(fake_env, "--journal", str(blocker / "runs"), "hi")
    assert proc.returncode == 0 and result["status"] == "completed"
    assert result["journal"] is None and "not journaled" in result["vendor"]["journal_error"]


def test_a_refused_run_is_journaled_too(fake_env):
    proc, _, result = run_fake(fake_env, "--cwd", "/nonexistent/dir", "hi")
    assert proc.returncode == 2
    run = Path(result["journal"])
    assert json.loads((run / "result.json").read_text())["failure_kind"] == "bad_request"
    out = shims("replay", run.name, "--check", env=fake_env)
    assert out.returncode == 1 and b"never launched" in out.stdout  # --check: nothing was checked (issue 17)
    assert shims("replay", run.name, env=fake_env).returncode == 0


# ----------------------------------------------------------------- secrets


SECRET = "sk-proj-Zq8Yv3Lr5Tn1Wx7Kp2Hs9Dm4Bc6Fg0Jt"  # in the environment under a secret-looking name
ANTHROPIC = "sk-ant-api03-QwErTy12345UiOp67890AsDfGh"  # not in the environment: caught by its shape
CONFIGURED = "plain-looking-value-42"  # only secret because the config names its variable


def test_secrets_never_reach_disk(fake_env, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('[journal]\nredact_env = ["MY_DEPLOY_PASSPHRASE_VALUE"]\n')
    records = [
        {"type": "init", "session_id": "s-1", "model": "fake-model-1", "version": "1.2.3"},
        {"type": "tool_use", "id": "t1", "name": "shell", "input": {"command": "env | grep KEY"}},
        {"type": "tool_result", "id": "t1", "output": f"OPENAI_API_KEY={SECRET}\nTOKEN={ANTHROPIC}\n"
                                                      f"Authorization: Bearer {CONFIGURED}x\nDEPLOY={CONFIGURED}\n",
         "exit_code": 0},
        {"type": "text", "text": f"The key is {SECRET}"},
        {"type": "result", "ok": True, "text": f"The key is {SECRET}"},
    ]
    env = {**fake_env, **script(tmp_path, "leak.jsonl", records), "OPENAI_API_KEY": SECRET,
           "MY_DEPLOY_PASSPHRASE_VALUE": CONFIGURED, "CODEX_SHIMS_CONFIG": str(config),
           "FAKE_VENDOR_STDERR": f"debug: using key {SECRET}"}
    proc, events, result = run_fake(env, f"please use {SECRET}")
    assert proc.returncode == 0
    # the stream is masked too (hosts forward it to logs and other models), and events.ndjson
    # stays exactly the printed bytes
    assert SECRET.encode() not in proc.stdout and ANTHROPIC.encode() not in proc.stdout
    assert b"[REDACTED" in proc.stdout
    leaked = []
    for path in state(fake_env).rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            leaked += [(path.name, s) for s in (SECRET, ANTHROPIC, CONFIGURED) if s.encode() in data]
    assert leaked == []
    run = Path(result["journal"])
    meta = json.loads((run / "meta.json").read_text())
    assert {"OPENAI_API_KEY", "MY_DEPLOY_PASSPHRASE_VALUE"} <= set(meta["redacted_env"])
    assert b"[REDACTED" in (run / "vendor.stdout").read_bytes()
    assert (run / "events.ndjson").read_bytes() == proc.stdout
    # masks keep lengths, so the redacted journal still replays to its own events
    assert shims("replay", run.name, "--check", env=fake_env).returncode == 0


def test_a_secret_the_vendor_spells_with_json_escapes_still_replays(fake_env, tmp_path):
    """The vendor's JSON spells the key with `\\uXXXX` escapes: vendor.stdout masks that spelling
    (longer than the key), the printed stream masks the decoded key. Replaying the journal must
    still give the recorded events, and `shims replay --check` pass."""
    escaped = "".join(f"\\u{ord(c):04x}" if i % 2 else c for i, c in enumerate(SECRET))
    records = [{"type": "start", "session_id": "s-esc", "model": "fake-1"},
               {"type": "tool_use", "id": "t1", "name": "shell", "input": {"command": "echo $OPENAI_API_KEY"}},
               {"type": "tool_result", "id": "t1", "output": "K", "exit_code": 0},
               {"type": "text", "text": "The key is K"},
               {"type": "result", "ok": True, "text": "The key is K"}]
    path = tmp_path / "escaped.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r).replace(b'"K"', b'"' + escaped.encode() + b'"')
                              .replace(b"is K", b"is " + escaped.encode()) + b"\n" for r in records))
    proc, events, result = run_fake({**fake_env, "FAKE_VENDOR_SCRIPT": str(path), "OPENAI_API_KEY": SECRET}, "hi")
    assert result["status"] == "completed", result["error"]
    assert SECRET.encode() not in proc.stdout and b"[REDACTED" in proc.stdout
    run = Path(result["journal"])
    assert escaped.encode() not in (run / "vendor.stdout").read_bytes()
    check = shims("replay", run.name, "--check", env=fake_env)
    assert check.returncode == 0, check.stdout.decode()[-3000:]


# ----------------------------------------------------------------- replay


def test_replay_of_a_live_run_of_every_fake_golden_case(fake_env):
    """Each recorded fake conversation, played live by the fake CLI through the shim, then
    replayed from its journal: the same events, byte for byte."""
    golden = Path(__file__).parent.parent / "golden" / "fake"
    cases = [d for d in sorted(golden.iterdir()) if (d / "meta.json").exists()]
    played = 0
    for case in cases:
        meta = json.loads((case / "meta.json").read_text())
        if meta.get("signal"):
            continue  # cancelled recordings need a live signal; test_kill_paths covers those runs
        env = {**fake_env, "FAKE_VENDOR_SCRIPT": str(case / "native.stdout"), "FAKE_VENDOR_EXIT": str(meta["exit_code"])}
        stderr = (case / "native.stderr").read_text() if (case / "native.stderr").exists() else ""
        if stderr:
            env["FAKE_VENDOR_STDERR"] = stderr
        # (the quota case teaches quota memory to refuse the next runs: not what this test is about)
        proc, _, result = run_fake(env, "--ignore-quota-state", "hi")
        out = shims("replay", Path(result["journal"]).name, "--check", env=fake_env)
        assert out.returncode == 0, (case.name, out.stdout.decode())
        assert b"identical" in out.stdout
        played += 1
    assert played >= 8


def test_replay_shows_a_difference(fake_env, tmp_path):
    proc, _, result = run_fake(fake_env, "hi")
    run = Path(result["journal"])
    events = (run / "events.ndjson").read_bytes().replace(b"Hello! You said", b"Hullo! You said")
    (run / "events.ndjson").write_bytes(events)
    out = shims("replay", "last", env=fake_env)
    assert out.returncode == 0 and b"differs" in out.stdout and b"+" in out.stdout
    check = shims("replay", run.name[:20], "--check", env=fake_env)
    assert check.returncode == 1 and b"Hullo" in check.stdout


def test_replay_shows_a_difference_with_control_characters_visible(fake_env):
    """The diff quotes event lines, which JSON leaves C1 controls (U+009B is CSI) and DEL raw
    in: on a person's terminal they are shown, never obeyed (was: printed raw)."""
    prompt = "clear \u009b2J\u009b]52;c;cHduZWQ=\u0007 del \x7f"
    proc, _, result = run_fake(fake_env, prompt)
    run = Path(result["journal"])
    events = (run / "events.ndjson").read_bytes()
    assert "\u009b".encode() in events  # the stream keeps the text (JSON-escaped where JSON must)
    (run / "events.ndjson").write_bytes(events.replace(b"Hello! You said", b"Hullo! You said"))
    out = shims("replay", run.name, env=fake_env)
    assert b"differs" in out.stdout and b"Hullo" in out.stdout
    shown = out.stdout.decode()
    assert "\u009b" not in shown and "\x7f" not in shown, shown
    assert "\\x9b2J" in shown


def test_replay_of_an_unknown_run_is_a_clear_error(fake_env):
    out = shims("replay", "nope", env=fake_env)
    assert out.returncode == 2 and b"No run" in out.stderr


def test_a_killed_shim_leaves_a_readable_journal(fake_env, tmp_path):
    records = [{"type": "init", "session_id": "s-kill", "model": "m", "version": "1"}]
    records += [{"type": "text", "text": f"line {i}"} for i in range(200)]
    env = {**os.environ, **fake_env, **script(tmp_path, "slow.jsonl", records), "FAKE_VENDOR_PACE": "0.05"}
    proc = subprocess.Popen([shim_path("fake"), "--vendor-bin", FAKE_VENDOR, "--emit", "ndjson", "hi"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    seen = b""
    while seen.count(b"\n") < 6:
        seen += proc.stdout.read1(4096)
    os.killpg(proc.pid, signal.SIGKILL)  # what codex-lab does: the whole group, no warning
    proc.wait(timeout=10)
    proc.stdout.close()
    (run,) = list(runs_root(fake_env).iterdir())
    meta = json.loads((run / "meta.json").read_text())
    assert meta["status"] == "running" and not (run / "result.json").exists()
    events = [json.loads(line) for line in (run / "events.ndjson").read_text().splitlines()]
    assert len(events) >= 6 and events[0]["type"] == "thread.started"
    assert (run / "vendor.stdout").read_bytes().startswith(orjson.dumps(records[0]) + b"\n")
    listing = shims("runs", "--json", env=fake_env)
    assert json.loads(listing.stdout)[0]["status"] == "interrupted"
    out = shims("replay", run.name, "--check", env=fake_env)
    assert out.returncode == 0 and b"interrupted" in out.stdout
    shown = shims("runs", "show", run.name, env=fake_env)
    assert shown.returncode == 0 and b"line 0" in shown.stdout and b"interrupted" in shown.stdout


# ----------------------------------------------------------------- runs, retention


def test_runs_lists_and_shows(fake_env):
    run_fake(fake_env, "first")
    run_fake(fake_env, "--model", "fake-model-2", "second")
    out = shims("runs", env=fake_env)
    lines = out.stdout.decode().splitlines()
    assert lines[0].split()[:5] == ["run", "started", "provider", "model", "status"]
    assert len(lines) == 3 and "completed" in lines[2]
    rows = json.loads(shims("runs", "--json", env=fake_env).stdout)
    assert [r["status"] for r in rows] == ["completed", "completed"]
    assert rows[0]["total_tokens"] == 175
    shown = shims("runs", "show", "last", env=fake_env).stdout.decode()
    assert "Hello! You said: second" in shown and "argv" in shown and "completed" in shown


def test_retention_keeps_the_newest_runs(fake_env, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("[journal]\nkeep_runs = 3\n")
    env = {**fake_env, "CODEX_SHIMS_CONFIG": str(config)}
    journals = [run_fake(env, f"run {i}")[2]["journal"] for i in range(5)]
    assert run_folders(fake_env) == sorted(journals[-3:])
    assert len(ledger(fake_env)) == 5  # accounting outlives the transcripts


def test_retention_by_bytes(fake_env, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("[journal]\nkeep_bytes = 1\n")
    env = {**fake_env, "CODEX_SHIMS_CONFIG": str(config)}
    for i in range(3):
        last = run_fake(env, f"run {i}")[2]["journal"]
    assert run_folders(fake_env) == [last]


def test_retention_uses_recorded_sizes_and_survives_a_damaged_record(fake_env, tmp_path):
    """Finished runs note their size (read by the next start instead of measuring every run);
    a torn or damaged sizes file only means measuring."""
    from shims.state.journal.store import SIZES_NAME, _size

    journals = [run_fake(fake_env, f"run {i}")[2]["journal"] for i in range(3)]
    sizes_file = runs_root(fake_env) / SIZES_NAME
    recorded = [json.loads(line) for line in sizes_file.read_text().splitlines()]
    assert recorded == [[os.path.basename(j), _size(j)] for j in journals]
    assert stat.S_IMODE(sizes_file.stat().st_mode) == 0o600
    one_run = max(size for _, size in recorded)

    sizes_file.write_bytes(b'["' + os.path.basename(journals[0]).encode() + b'", 1' + b"\n{garbage\n[1, 2]\n")
    config = tmp_path / "config.toml"
    config.write_text(f"[journal]\nkeep_bytes = {one_run + one_run // 2}\n")  # one old run besides the new one
    last = run_fake({**fake_env, "CODEX_SHIMS_CONFIG": str(config)}, "run 3")[2]["journal"]
    assert run_folders(fake_env) == sorted([journals[2], last])


# ----------------------------------------------------------------- usage


def test_usage_sums_by_provider_model_day_and_role(fake_env, tmp_path):
    for role, model in (("worker", "m-1"), ("worker", "m-1"), ("reviewer", "m-2")):
        records = [
            {"type": "init", "session_id": f"s-{role}-{model}", "model": model, "version": "1"},
            {"type": "usage", "input_tokens": 100, "cache_read": 20, "cache_write": 0, "output_tokens": 10,
             "reasoning": 5, "cost_usd": 0.25, "model": model},
            {"type": "result", "ok": True, "text": "ok"},
        ]
        env = {**fake_env, **script(tmp_path, f"{role}.jsonl", records)}
        request = {"protocol_version": 2, "message": "x", "role": role, "cwd": str(tmp_path)}
        assert run_fake(env, stdin=orjson.dumps(request))[0].returncode == 0
    rows = json.loads(shims("usage", "--json", env=fake_env).stdout)
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert [(r["provider"], r["model"], r["day"], r["runs"]) for r in rows] == [("fake", "m-1", today, 2), ("fake", "m-2", today, 1)]
    assert rows[0]["input_tokens"] == 240 and rows[0]["cached_input_tokens"] == 40
    assert rows[0]["output_tokens"] == 30 and rows[0]["reasoning_output_tokens"] == 10 and rows[0]["cost_usd"] == 0.5
    by_role = json.loads(shims("usage", "--by", "role", "--json", env=fake_env).stdout)
    assert {r["role"]: r["runs"] for r in by_role} == {"reviewer": 1, "worker": 2}
    table = shims("usage", env=fake_env).stdout.decode().splitlines()
    assert any(line.split()[:2] == ["fake", "m-1"] for line in table)
    assert next(line for line in table if line.startswith("Total")).split()[-1] == "$0.7500"
    assert json.loads(shims("usage", "--since", "1h", "--json", env=fake_env).stdout) == rows
    assert shims("usage", "--since", "2999-01-01", "--json", env=fake_env).stdout.strip() == b"[]"
    bad = shims("usage", "--since", "yesterday", env=fake_env)
    assert bad.returncode == 2 and b"--since" in bad.stderr


# ----------------------------------------------------------------- resume and running totals


def _turn(session, usage, total):
    records = [{"type": "init", "session_id": session, "model": "fake-model-1", "version": "1"}]
    if usage is not None:
        records.append({"type": "usage", **usage})
    records += [{"type": "total", **total}, {"type": "result", "ok": True, "text": "done"}]
    return records


def test_resume_measures_usage_against_the_journal(fake_env, tmp_path):
    """A vendor that reports only its running total (like agy's json output): each run's
    share is the difference, so the ledger adds up to the vendor's final total exactly."""
    totals = [{"input_tokens": 100, "output_tokens": 10}, {"input_tokens": 250, "output_tokens": 30},
              {"input_tokens": 400, "output_tokens": 35}]
    results = []
    for i, total in enumerate(totals):
        env = {**fake_env, **script(tmp_path, f"t{i}.jsonl", _turn("s-run", None, total))}
        args = ["--resume", "s-run" if i == 1 else "last"] if i else []
        proc, _, result = run_fake(env, *args, "go", timeout=60)
        assert proc.returncode == 0
        results.append(result)
    assert [r["usage"]["input_tokens"] for r in results] == [100, 150, 150]
    assert [r["usage"]["output_tokens"] for r in results] == [10, 20, 5]
    assert all(r["usage"]["scope"] == "invocation" for r in results)
    assert results[2]["vendor"]["session_usage"]["previous_total"]["input_tokens"] == 250
    (row,) = json.loads(shims("usage", "--by", "session", "--json", env=fake_env).stdout)
    assert (row["input_tokens"], row["output_tokens"]) == (400, 35)


@pytest.mark.parametrize("session", ["--dangerously-skip-permissions", "s\x00x"], ids=["option-like", "NUL"])
def test_resume_last_checks_the_remembered_session_like_a_given_one(fake_env, tmp_path, session):
    """`--resume last` takes the session id a vendor reported in an earlier run (vendor output:
    hostile). It reaches the vendor's argv like `--resume ID`, and is refused the same way
    (was: launched with it; a NUL in it was a ValueError traceback, exit 1)."""
    records = [{"type": "init", "session_id": session, "model": "m", "version": "1"}, {"type": "result", "ok": True, "text": "ok"}]
    proc, _, first = run_fake({**fake_env, **script(tmp_path, "first.jsonl", records)}, "go")
    assert first["status"] == "completed" and ledger(fake_env)[-1]["session_id"] == session
    pidfile = tmp_path / "pids"
    proc, events, result = run_fake({**fake_env, "FAKE_VENDOR_PIDFILE": str(pidfile)}, "--resume", "last", "again")
    assert b"Traceback" not in proc.stderr, proc.stderr.decode(errors="replace")
    assert (proc.returncode, result["failure_kind"]) == (2, "bad_request"), result["error"]
    assert "--resume last" in result["error"]
    assert not pidfile.exists(), "the vendor was launched"


def test_a_running_total_that_does_not_add_up_is_reported(fake_env, tmp_path):
    env = {**fake_env, **script(tmp_path, "a.jsonl", _turn("s-x", {"input_tokens": 100, "output_tokens": 10},
                                                          {"input_tokens": 100, "output_tokens": 10}))}
    assert "usage_mismatch" not in run_fake(env, "go")[2]["vendor"]
    env = {**fake_env, **script(tmp_path, "b.jsonl", _turn("s-x", {"input_tokens": 100, "output_tokens": 10},
                                                          {"input_tokens": 300, "output_tokens": 20}))}
    proc, events, result = run_fake(env, "--resume", "s-x", "go")
    assert proc.returncode == 0
    (check,) = result["vendor"]["usage_mismatch"]
    assert check["fields"] == {"input_tokens": [200, 300], "output_tokens": [20, 20]} or check["fields"]["input_tokens"] == [200, 300]
    errors = [e["item"]["message"] for e in events if e["type"] == "item.completed" and e["item"]["type"] == "error"]
    assert any("Usage mismatch" in m and "input_tokens 200 vs 300" in m for m in errors)


def test_resume_last_without_an_earlier_session_is_a_bad_request(fake_env, tmp_path):
    proc, _, result = run_fake(fake_env, "--resume", "last", "go")
    assert proc.returncode == 2 and "no earlier fake session" in result["error"]


# ----------------------------------------------------------------- quota memory


def _quota_script(tmp_path, resets_in_s):
    resets = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + resets_in_s))
    return script(tmp_path, "quota.jsonl", [
        {"type": "init", "session_id": "s-q", "model": "m", "version": "1"},
        {"type": "result", "ok": False, "error_kind": "quota_or_rate_limited", "message": "Out of quota.",
         "resets_at": resets, "window": "5h"},
    ]), resets


def test_quota_memory_fails_fast_until_the_reset(fake_env, tmp_path):
    # A reset far enough away that no machine, however loaded, reaches it during the test.
    quota_env, resets = _quota_script(tmp_path, 600)
    pids = tmp_path / "pids"
    env = {**fake_env, **quota_env, "FAKE_VENDOR_PIDFILE": str(pids)}
    proc, _, first = run_fake(env, "go")
    assert proc.returncode == 5 and first["quota"]["resets_at"] == resets
    launches = pids.read_text().count("\n")
    # the second launch fails fast: same kind, same reset, no vendor process started
    proc, events, second = run_fake({**fake_env, "FAKE_VENDOR_PIDFILE": str(pids)}, "go again")
    assert proc.returncode == 5 and second["failure_kind"] == "quota_or_rate_limited"
    assert second["quota"]["resets_at"] == resets and second["quota"]["state"] == "exhausted"
    assert 1 <= second["quota"]["retry_after_s"] <= 600
    assert "--ignore-quota-state" in second["error"] and first["journal"].split("/")[-1] in second["error"]
    assert "turn.started" not in [e["type"] for e in events]
    assert pids.read_text().count("\n") == launches
    pre = subprocess.run([shim_path("fake"), "--vendor-bin", FAKE_VENDOR, "--preflight"], capture_output=True,
                         env={**os.environ, **fake_env}, timeout=30)
    answer = json.loads(pre.stdout)
    assert pre.returncode == 5 and answer["failure_kind"] == "quota_or_rate_limited" and answer["quota"]["resets_at"] == resets
    # another account is not affected
    assert run_fake({**fake_env, "FAKE_VENDOR_ACCOUNT": "other"}, "go")[0].returncode == 0
    assert run_fake(fake_env, "go")[0].returncode == 5, "still remembered for this account"


def test_quota_memory_launches_again_after_the_reset(fake_env, tmp_path):
    """Once the remembered reset has passed, the provider is launched again, and its success
    clears the memory. (Apart from the test above: a short reset there made it race the clock
    on a loaded machine.)"""
    quota_env, resets = _quota_script(tmp_path, 4)
    pids = tmp_path / "pids"
    proc, _, first = run_fake({**fake_env, **quota_env, "FAKE_VENDOR_PIDFILE": str(pids)}, "go")
    assert proc.returncode == 5 and first["quota"]["resets_at"] == resets
    assert quota_rows(state(fake_env)) != {}
    launches = pids.read_text().count("\n")
    while time.time() < calendar.timegm(time.strptime(resets, "%Y-%m-%dT%H:%M:%SZ")) + 0.2:
        time.sleep(0.2)
    proc, _, third = run_fake({**fake_env, "FAKE_VENDOR_PIDFILE": str(pids)}, "go later")
    assert proc.returncode == 0 and third["status"] == "completed"
    assert pids.read_text().count("\n") > launches
    assert quota_rows(state(fake_env)) == {}


def test_ignore_quota_state_launches_anyway(fake_env, tmp_path):
    quota_env, _ = _quota_script(tmp_path, 600)
    assert run_fake({**fake_env, **quota_env}, "go")[0].returncode == 5
    assert run_fake(fake_env, "go")[0].returncode == 5
    proc, _, result = run_fake(fake_env, "--ignore-quota-state", "go")
    assert proc.returncode == 0 and result["status"] == "completed"
    assert run_fake(fake_env, "go")[0].returncode == 0, "a success clears the memory"


def test_a_broken_old_quota_memory_file_is_ignored(fake_env):
    path = state(fake_env) / "quota.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"fake": "oops"}')
    proc, _, result = run_fake(fake_env, "go")
    assert proc.returncode == 0 and result["status"] == "completed"
    assert "state_error" not in result["vendor"]
    assert (state(fake_env) / "quota.json.imported").read_text() == '{"fake": "oops"}', "kept, imported as nothing"


def test_a_damaged_old_run_does_not_break_listing_retention_or_new_runs(fake_env, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("[journal]\nkeep_runs = 2\n")
    env = {**fake_env, "CODEX_SHIMS_CONFIG": str(config)}
    first = Path(run_fake(env, "one")[2]["journal"])
    (first / "meta.json").write_text("[1]")
    (first / "result.json").unlink()
    assert shims("runs", "--json", env=env).returncode == 0
    assert shims("replay", first.name, env=env).returncode == 0
    for i in range(3):
        assert run_fake(env, f"more {i}")[0].returncode == 0
    db = sqlite3.connect(state(fake_env) / "state.sqlite3")  # entries no shim writes: skipped, not a crash
    with db:
        db.executemany("INSERT INTO runs (entry) VALUES (?)", [('{"at": 5}',), ('{"usage": {"input_tokens": "12a"}}',),
                                                                ("[1]",), ("not json",)])
    db.close()
    assert shims("usage", env=env).returncode == 0


def test_a_quota_failure_without_a_reset_time_is_not_remembered(fake_env, tmp_path):
    env = {**fake_env, **script(tmp_path, "q.jsonl", [
        {"type": "result", "ok": False, "error_kind": "quota_or_rate_limited", "message": "Slow down."}])}
    assert run_fake(env, "go")[0].returncode == 5
    assert run_fake(fake_env, "go")[0].returncode == 0


@pytest.mark.parametrize("emit", ["codex-lab-v1"])
def test_remembered_quota_under_protocol_1(fake_env, tmp_path, emit):
    quota_env, resets = _quota_script(tmp_path, 30)
    run_fake({**fake_env, **quota_env}, "go")
    proc = subprocess.run([shim_path("fake"), "--vendor-bin", FAKE_VENDOR, "--emit", emit, "go"], capture_output=True,
                          env={**os.environ, **fake_env}, timeout=30)
    answer = json.loads(proc.stdout)
    assert proc.returncode == 0 and answer["status"] == "failed"
    assert answer["final_message"].startswith("quota_or_rate_limited:") and resets in answer["final_message"]


def test_prune_with_recorded_sizes_removes_what_measuring_would_and_compacts_the_record(tmp_path):
    from shims.state.journal import store
    def make_runs(root, n):
        paths = []
        for i in range(n):
            run = root / f"20261124T1200{i // 60:02d}.{i % 60:03d}Z-fake-{i:06x}"
            run.mkdir(parents=True)
            (run / "events.ndjson").write_bytes(b"x" * (100 + i))
            (run / "result.json").write_text("{}")
            paths.append(str(run))
        return paths

    measured, recorded = tmp_path / "measured", tmp_path / "recorded"
    make_runs(measured, 100)
    for run in make_runs(recorded, 100):
        store.record_size(run)
    removed = [os.path.basename(p) for p in store.prune(measured, keep_runs=500, keep_bytes=3000)]
    assert removed == [os.path.basename(p) for p in store.prune(recorded, keep_runs=500, keep_bytes=3000)]
    assert len(removed) > 50
    lines = (recorded / store.SIZES_NAME).read_text().splitlines()
    assert len(lines) == 100  # compacted on a later start, once gone runs outnumber the living
    store.prune(recorded, keep_runs=3, keep_bytes=10**9)
    store.prune(recorded, keep_runs=3, keep_bytes=10**9)
    left = sorted(p.name for p in recorded.iterdir() if p.is_dir())
    assert len(left) == 2
    kept = [json.loads(line)[0] for line in (recorded / store.SIZES_NAME).read_text().splitlines()]
    assert kept == left
