"""`make bench`: what a shim adds to running its vendor CLI, each figure against a baseline
measured in the same run (interleaved where it is a timing), so machine load affects both alike.

  vendor       shim-claude around the REAL pinned Claude Code (vendor-clis/claude) against the
               loopback fake Anthropic API (tests/fakes/fake_anthropic.py), against that same
               launch run bare (`claude -p --output-format stream-json ...`, the argv and
               environment the shim builds, taken from the vendor package); shim-gemini around
               the real Gemini CLI against tests/fakes/fake_gemini.py, against bare
               `gemini -o stream-json ...`. An instant answer (the fakes' plain scenario), in
               the small git repository, journal on. Time to the first stdout line and wall
               time, median of interleaved runs (shim, bare, shim, bare...). Targets: at most
               15 % (Claude) / 5 % (Gemini) added to the wall time and at most 100 ms added,
               to either figure. The fake APIs run in their own processes, ended by pid.
  overhead     shim-claude / shim-gemini / shim-agy around a stand-in vendor CLI that replays a
               golden recording instantly (bench/replay_vendor.py), against running that stand-in
               directly: median added milliseconds and the ratio. The shims run in a small git
               repository with the journal on (as users run them), and also with --no-journal,
               and outside any git repository (no workspace snapshots), and as `shim-X exec
               --json` (the `codex exec` drop-in the Codex SDKs launch). The worst case: a vendor
               CLI that starts in 10 ms. Target: at most 100 ms added.
  preflight    `shim-X --preflight --vendor-bin <the pinned CLI / the agy simulator / the fake
               vendor>` for every vendor, and `shims doctor` with a config file naming the three
               CLIs: median of warm runs (after one that fills the version cache, reported as
               `cold_ms`), against starting the same python with `-c pass` (interleaved).
               Targets: under 100 ms per preflight, under 300 ms for doctor.
  throughput   `shims normalize` over 100 MB of Claude stream-json with ~100 KB tool outputs and
               over 100 MB of Gemini `message` deltas, against a bare loop that only parses each
               line with orjson (also a fresh interpreter): MB/s and the ratio. Target: >= 0.5.
  latency      a vendor line written (stand-in writing one line every 10 ms, each carrying its
               CLOCK_MONOTONIC write time) to its event read from the shim's stdout pipe:
               p50 and p99, against the same stand-in read directly (the pipe and scheduler
               floor). Target: p99 under 5 ms.
  memory       peak RSS of `shims normalize` on 10 MB against 1 GB of input (tests/rss_probe.py).
               Target: flat (1 GB peak within 1.25x of the 10 MB peak).
  mcp          `shims mcp` (the stdio MCP server stock Codex runs): its start, from launch to its
               answer to `initialize`, against importing the `mcp` SDK alone in the same python
               (interleaved); and one worker, spawn then wait through a running server (the mcp
               SDK's own client), against the same shim-claude run launched directly, around the
               stand-in vendor replaying golden/claude/tool-bash (interleaved). Target: at most
               100 ms added per worker; the start is reported against Codex's ~1 s start-up grace.
  state        the run's state store, `state.sqlite`: a fresh python that opens the SQLite store
               (shims.state.store.sqlite: import sqlite3, open, WAL, schema check) and records one
               run's entry, against the same python doing what a run does anyway (importing
               shims.run.main, the state folder's path, the redactor), interleaved; a warm state folder (the
               database exists, as on every run but the first). Target: at most 10 ms added.
  concurrency  16 shim-fake runs at once against 16 runs at once of the fake vendor CLI alone
               (tests/fakes/fake_vendor.py replaying golden/fake/tools): every shim run completes
               with its result line and every item event of the recording; total wall time and
               the ratio.
  state.postgres
               shim-claude around the stand-in (golden/claude/tool-bash) with CODEX_SHIMS_STATE_URL
               naming a PostgreSQL database on loopback (a throwaway server, tests/pg_server.py:
               needs `make postgres`), against the same run on the embedded SQLite store
               (interleaved): the run reads quota memory at its start and writes its row at its
               end. And the store alone, in one process: PostgreSQL connect + one insert + close
               against SQLite open + one insert + close. Target: at most 100 ms added to a run.

The stand-ins are started by the bench's own interpreter (a copy with a `#!` line naming it).
The packages' bytecode is compiled first (compile_bytecode), as an installed wheel has it.

BENCH_QUICK=1 shrinks sizes and run counts for a smoke run (its numbers are not the figures).
BENCH_RUNS overrides the overhead run count, BENCH_VENDOR_RUNS the real-CLI one,
BENCH_PREFLIGHT_RUNS the preflight one; BENCH_OUT the JSON path (default
bench/results/latest.json). Exit status 0 when every measurement ran, whether or not the
targets were met (the table and the JSON say which were); 1 when a measurement broke.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import inputs  # noqa: E402
import real_clis  # noqa: E402
from real_clis import CLAUDE_BIN, GEMINI_BIN  # noqa: E402

BIN = Path(sys.executable).parent
REPLAYER_SRC = ROOT / "bench" / "replay_vendor.py"
FAKES = ROOT / "tests" / "fakes"
FAKE = FAKES / "fake_vendor.py"
AGY_SIMULATOR = FAKES / "agy" / "agy"
FAKE_RECORDING = ROOT / "golden" / "fake" / "tools"
RSS_PROBE = ROOT / "tests" / "rss_probe.py"

QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
MB = 1_000_000
OVERHEAD_RUNS = int(os.environ.get("BENCH_RUNS") or (5 if QUICK else 30))
VENDOR_RUNS = int(os.environ.get("BENCH_VENDOR_RUNS") or (2 if QUICK else 12))
PREFLIGHT_RUNS = int(os.environ.get("BENCH_PREFLIGHT_RUNS") or (3 if QUICK else 12))
THROUGHPUT_BYTES = (5 if QUICK else 100) * MB
THROUGHPUT_RUNS = 1 if QUICK else 3
LATENCY_PAIRS = 30 if QUICK else 260  # two timed lines each: >= 500 samples per vendor
LATENCY_PACE_MS = 10
MEMORY_SMALL = (2 if QUICK else 10) * MB
MEMORY_LARGE = (20 if QUICK else 1000) * MB
CONCURRENCY = 16
MCP_STARTS = 2 if QUICK else 6
STATE_RUNS = 5 if QUICK else 30
MCP_WORKERS = 3 if QUICK else 20
CODEX_MCP_GRACE_MS = 1000.0  # Codex 0.169 sends the first turn without a server slower than this
CONCURRENCY_ROUNDS = 1 if QUICK else 3
PG_STATE_RUNS = 5 if QUICK else 20

TARGET_ADDED_MS = 100.0  # to any run, however fast its vendor CLI
TARGET_WALL_RATIO = {"claude": 1.15, "gemini": 1.05}  # shim / bare, on an instant answer
TARGET_PREFLIGHT_MS = 100.0
TARGET_DOCTOR_MS = 300.0
TARGET_THROUGHPUT_RATIO = 0.5
TARGET_P99_MS = 5.0
TARGET_MEMORY_RATIO = 1.25
TARGET_STATE_ADDED_MS = 10.0

BARE_PARSE = (
    "import sys, orjson\n"
    "with open(sys.argv[1], 'rb') as f:\n"
    "    for line in f:\n"
    "        orjson.loads(line)\n"
)

WORK = ROOT  # the shims' working directory: set to make_workspace()'s repository by main()
figures: dict[str, dict] = {}
notes: list[str] = []


def ratio_of(value: float, baseline: float) -> float | None:
    """value / baseline; None against a zero baseline (a bare pipe read on a quiet machine can
    take less than the clock shows), where a ratio says nothing."""
    return value / baseline if baseline > 0 else None


def figure(key: str, label: str, *, value: float, unit: str, baseline: float, ratio: float | None, samples: int,
           target: str, ok: bool | None, shown: str | None = None, base_shown: str | None = None, **details) -> None:
    """One figure with its same-run baseline; `samples`: how many measurements each side took."""
    figures[key] = {
        "figure": label,
        "value": round(value, 2),
        "unit": unit,
        "baseline": round(baseline, 2),
        "ratio": None if ratio is None else round(ratio, 3),
        "samples": samples,
        "target": target,
        "pass": ok,
        "shown": shown or f"{value:.1f} {unit}",
        "baseline_shown": base_shown or f"{baseline:.1f} {unit}",
        **details,
    }


def say(text: str) -> None:
    print(text, flush=True)


# ---------------------------------------------------------------- helpers


def with_our_python(src: Path, dest: Path) -> Path:
    """A copy of the script `src` as an executable started by this very interpreter (not by
    whatever `python3` on PATH is: a pyenv shim there costs ~100 ms a start)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    shebang = f"#!{sys.executable}\n"
    if len(shebang) > 127:
        raise SystemExit(f"bench: the interpreter path is too long for a #! line: {sys.executable}")
    text = src.read_text(encoding="utf-8")
    if text.startswith("#!"):
        text = text.split("\n", 1)[1]
    dest.write_text(shebang + text, encoding="utf-8")
    dest.chmod(0o755)
    return dest


def shim_env(tmp: Path, **extra: str) -> dict[str, str]:
    """The environment of every run: the journal and config in the bench's temp dir, so a
    user's config cannot change the figures and the journal is written as users have it."""
    env = {k: v for k, v in os.environ.items() if k != "CODEX_SHIMS_CONFIG"}
    env["XDG_STATE_HOME"] = str(tmp / "state")
    env["XDG_CONFIG_HOME"] = str(tmp / "config")
    env.update(extra)
    return env


def make_workspace(tmp: Path) -> Path:
    """Where the shims run: a small git repository (one commit of 40 short files), as a user's
    project would be. Every run in a git work tree snapshots it before and after (to report
    what the run changed), a cost that grows with the tree; this is about its smallest."""
    work = tmp / "work"
    for i in range(40):
        f = work / f"pkg{i % 4}" / f"module_{i:02d}.py"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text("".join(f"def f{j}(x):\n    return x + {j}\n\n" for j in range(30)), encoding="utf-8")
    (work / "README.md").write_text("# bench workspace\n", encoding="utf-8")
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid", "-c", "init.defaultBranch=main"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "bench workspace"]):
        subprocess.run(git + args, cwd=work, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return work


def timed(argv: list[str], env: dict[str, str] | None = None, stdout=subprocess.DEVNULL, cwd: Path | None = None) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=subprocess.PIPE, env=env,
                          cwd=cwd or WORK, check=False)
    elapsed = (time.perf_counter() - t0) * 1000
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} exited {proc.returncode}: {proc.stderr.decode(errors='replace')[-500:]}")
    return elapsed


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, int(round(p / 100 * len(ordered) + 0.5)) - 1))
    return ordered[k]


def item_types(ndjson: bytes) -> list[tuple[str, str]]:
    out = []
    for line in ndjson.splitlines():
        if line.strip():
            ev = json.loads(line)
            if ev.get("type", "").startswith("item."):
                out.append((ev["type"], ev.get("item", {}).get("type", "")))
    return out


def last_event(ndjson: bytes) -> dict:
    lines = [line for line in ndjson.splitlines() if line.strip()]
    return json.loads(lines[-1]) if lines else {}


def meta(vendor: str, case: str) -> dict:
    return json.loads((inputs.GOLDEN / vendor / case / "meta.json").read_text(encoding="utf-8"))


# ---------------------------------------------------------------- overhead


def bench_overhead(tmp: Path, replayer: Path) -> None:
    say(f"overhead: {OVERHEAD_RUNS} interleaved runs per vendor (stand-in alone; shim in a small git repo, "
        "journal on; the same with --no-journal; shim outside any git repo, journal on)")
    plain = tmp / "plain"
    plain.mkdir(exist_ok=True)
    for vendor, (case, version) in inputs.CASES.items():
        m = meta(vendor, case)
        assert m.get("format", "stream-json") == "stream-json", (vendor, case)
        recording = inputs.GOLDEN / vendor / case
        env = shim_env(tmp, BENCH_REPLAY_FILE=str(recording / "native.stdout"),
                       BENCH_REPLAY_EXIT=str(m.get("exit_code") or 0), BENCH_REPLAY_VERSION=version)
        bare = [str(replayer), "-p", "bench"]
        shim = [str(BIN / f"shim-{vendor}"), "--vendor-bin", str(replayer), "--emit", "ndjson", "bench"]
        # `exec --json`: the `codex exec` drop-in the Codex SDKs launch (its own argv parser).
        exec_json = [str(BIN / f"shim-{vendor}"), "exec", "--json", "--vendor-bin", str(replayer), "bench"]
        argvs = {"bare": bare, "journal": shim, "no_journal": shim[:-1] + ["--no-journal", "bench"], "no_git": shim,
                 "exec": exec_json}
        cwds = {"no_git": plain}

        # Warm the page cache, and check the shim's stream is the golden one (same items, completed).
        expected = item_types((recording / "expected.ndjson").read_bytes())
        for name, argv in argvs.items():
            out = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, env=env,
                                 cwd=cwds.get(name, WORK), check=False)
            if name != "bare" and (out.returncode != 0 or item_types(out.stdout) != expected):
                raise RuntimeError(f"shim-{vendor} ({name}) did not reproduce golden/{vendor}/{case}: "
                                   f"exit {out.returncode}, {out.stderr.decode(errors='replace')[-300:]}")
        times: dict[str, list[float]] = {name: [] for name in argvs}
        order = list(argvs)
        for i in range(OVERHEAD_RUNS):
            k = i % len(order)
            for name in order[k:] + order[:k]:  # rotate, so none always runs first
                times[name].append(timed(argvs[name], env, cwd=cwds.get(name)))
        base = statistics.median(times["bare"])
        variants = (("journal", "", "git repo, journal on"), ("no_journal", ".no_journal", "git repo, --no-journal"),
                    ("no_git", ".no_git", "no git repo, journal on"), ("exec", ".exec", "exec --json, git repo"))
        for name, suffix, label in variants:
            med = statistics.median(times[name])
            added = med - base
            figure(f"overhead.{vendor}{suffix}", f"overhead shim-{vendor} ({label})", value=added, unit="ms",
                   baseline=base, ratio=ratio_of(med, base), samples=OVERHEAD_RUNS,
                   target=f"<= {TARGET_ADDED_MS:.0f} ms added", ok=added <= TARGET_ADDED_MS,
                   shown=f"+{added:.1f} ms ({med:.1f} ms)", shim_median_ms=round(med, 1),
                   baseline_median_ms=round(base, 1), runs=OVERHEAD_RUNS,
                   recording=f"golden/{vendor}/{case}", shim_p90_ms=round(percentile(times[name], 90), 1),
                   baseline_p90_ms=round(percentile(times["bare"], 90), 1))
            say(f"  shim-{vendor:<7}{label:<24} median {med:7.1f} ms, stand-in alone {base:6.1f} ms, "
                f"added {added:+7.1f} ms, ratio {med / base:.2f}")


# ---------------------------------------------------------------- the real vendor CLIs


def bench_vendors(tmp: Path) -> None:
    say(f"vendor: the shims around the real pinned CLIs vs those CLIs run bare, on the loopback fake APIs; "
        f"{VENDOR_RUNS} interleaved runs each, in the small git repo, journal on")
    for vendor, (program, api_script, offline_env, flags) in real_clis.REAL_CLIS.items():
        if not program.exists():
            raise RuntimeError(f"the pinned {vendor} CLI is missing ({program}): run `make vendor-clis`")
        home = tmp / f"{vendor}-home"
        (home / "tmp").mkdir(parents=True, exist_ok=True)
        with real_clis.fake_api(api_script, tmp / f"{vendor}-api.log") as url:
            env = shim_env(tmp, **offline_env(url, home))
            shim = [str(BIN / f"shim-{vendor}"), "--vendor-bin", str(program), *flags, "--emit", "ndjson",
                    real_clis.PROMPT]
            launch = real_clis.vendor_launch(vendor, program, flags[1] if flags else "", env, WORK)
            bare, bare_env = launch["argv"], launch["env"]
            try:
                # Warm both (page cache, the shim's version cache and Gemini home), and check the
                # bare run is the very launch the shim ran: the same argv, the same variables.
                real_clis.first_line_and_end(bare, bare_env, WORK)
                _, _, out = real_clis.first_line_and_end(shim, env, WORK)
                if last_event(out).get("status") != "completed":
                    raise RuntimeError(f"shim-{vendor} did not complete on the fake API: {out[-300:]!r}")
                ran = real_clis.newest_run_meta(Path(env["XDG_STATE_HOME"]))
                if ran["argv"] != bare or sorted(ran["env_names"]) != sorted(bare_env):
                    raise RuntimeError(f"shim-{vendor} ran {ran['argv']} with {sorted(ran['env_names'])}, "
                                       f"not the bare {bare} with {sorted(bare_env)}")
                first: dict[str, list[float]] = {"shim": [], "bare": []}
                wall: dict[str, list[float]] = {"shim": [], "bare": []}
                for i in range(VENDOR_RUNS):
                    for name in ("shim", "bare") if i % 2 == 0 else ("bare", "shim"):
                        argv, run_env = (shim, env) if name == "shim" else (bare, bare_env)
                        t_first, t_wall, _ = real_clis.first_line_and_end(argv, run_env, WORK)
                        first[name].append(t_first)
                        wall[name].append(t_wall)
            finally:
                if launch.get("scratch"):
                    shutil.rmtree(launch["scratch"], ignore_errors=True)
        common = {"runs": VENDOR_RUNS, "cli": str(program.relative_to(ROOT)), "api": f"tests/fakes/{api_script.name}",
                  "bare_argv": [Path(bare[0]).name, *bare[1:]], "journal": True, "git_repo": True}
        max_ratio = TARGET_WALL_RATIO[vendor]
        for key, label, times, ratio_target in (("wall", "wall time", wall, max_ratio),
                                                ("first_event", "time to first event", first, None)):
            med, base = statistics.median(times["shim"]), statistics.median(times["bare"])
            added, ratio = med - base, ratio_of(med, base)
            ok = added <= TARGET_ADDED_MS and (ratio_target is None or (ratio is not None and ratio <= ratio_target))
            target = f"<= {TARGET_ADDED_MS:.0f} ms added"
            if ratio_target is not None:
                target = f"<= {(ratio_target - 1) * 100:.0f} % and " + target
            figure(f"vendor.{vendor}.{key}", f"shim-{vendor} vs bare {vendor}, {label}", value=added, unit="ms",
                   baseline=base, ratio=ratio, samples=VENDOR_RUNS, target=target, ok=ok,
                   shown=f"+{added:.1f} ms ({med:.1f} ms)" if added >= 0 else f"{added:.1f} ms ({med:.1f} ms)",
                   shim_median_ms=round(med, 1), baseline_median_ms=round(base, 1),
                   shim_p90_ms=round(percentile(times["shim"], 90), 1),
                   baseline_p90_ms=round(percentile(times["bare"], 90), 1), **common)
            say(f"  shim-{vendor:<7}{label:<21} median {med:7.1f} ms, bare {vendor} {base:7.1f} ms, "
                f"added {added:+7.1f} ms, ratio {med / base:.3f}")


# ---------------------------------------------------------------- preflight and doctor


def bench_preflight(tmp: Path) -> None:
    """Warm readiness answers: each command once (filling the version cache: `cold_ms`), then
    PREFLIGHT_RUNS times, interleaved with a bare start of the same python."""
    say(f"preflight: shim-X --preflight per vendor and shims doctor, median of {PREFLIGHT_RUNS} warm runs, "
        "interleaved with `python -c pass`")
    agy = with_our_python(AGY_SIMULATOR, tmp / "bin" / "agy")
    fake = with_our_python(FAKE, tmp / "bin" / "fake-vendor")
    config_home = tmp / "doctor-config"
    (config_home / "codex-shims").mkdir(parents=True, exist_ok=True)
    (config_home / "codex-shims" / "config.toml").write_text(
        "".join(f'[{v}]\nvendor_bin = "{p}"\n' for v, p in (("claude", CLAUDE_BIN), ("gemini", GEMINI_BIN), ("agy", agy))),
        encoding="utf-8")
    # Credentials present (fake values: nothing is called), a state folder of its own so the first
    # run finds no remembered version, no config file but for doctor.
    env = shim_env(tmp, XDG_STATE_HOME=str(tmp / "preflight-state"), XDG_CONFIG_HOME=str(tmp / "preflight-config"),
                   ANTHROPIC_API_KEY="sk-ant-api03-bench-not-a-key", GEMINI_API_KEY="bench-not-a-key")
    doctor_env = {**env, "XDG_CONFIG_HOME": str(config_home)}
    commands = {
        f"preflight.{vendor}": ([str(BIN / f"shim-{vendor}"), "--preflight", "--vendor-bin", str(program)], env,
                                f"shim-{vendor} --preflight", TARGET_PREFLIGHT_MS)
        for vendor, program in (("claude", CLAUDE_BIN), ("gemini", GEMINI_BIN), ("agy", agy), ("fake", fake))
    }
    commands["doctor"] = ([str(BIN / "shims"), "doctor"], doctor_env, "shims doctor (config names the CLIs)",
                          TARGET_DOCTOR_MS)
    python_start = [sys.executable, "-c", "pass"]
    for key, (argv, run_env, label, target) in commands.items():
        cold = timed(argv, run_env)
        out = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, env=run_env, cwd=WORK, check=False)
        if key != "doctor" and not json.loads(out.stdout).get("ready"):
            raise RuntimeError(f"{label} is not ready: {out.stdout.decode(errors='replace')[-300:]}")
        warm, base = [], []
        for i in range(PREFLIGHT_RUNS):
            if i % 2:
                base.append(timed(python_start))
            warm.append(timed(argv, run_env))
            if not i % 2:
                base.append(timed(python_start))
        med, floor = statistics.median(warm), statistics.median(base)
        figure(key, f"{label}, warm", value=med, unit="ms", baseline=floor, ratio=ratio_of(med, floor),
               samples=PREFLIGHT_RUNS, target=f"< {target:.0f} ms", ok=med < target, runs=PREFLIGHT_RUNS,
               cold_ms=round(cold, 1), p90_ms=round(percentile(warm, 90), 1), baseline_is="python -c pass")
        say(f"  {label:<38} warm median {med:7.1f} ms (first run {cold:7.1f} ms), python -c pass {floor:5.1f} ms")


# ---------------------------------------------------------------- the state store


# What a run has anyway before it opens the store (the run's modules, the state folder's path,
# the redactor that masks what is kept): the figure is what the store adds to that.
STATE_BASE = ("import shims.run.main\n"
              "from shims.state.folder import state_dir; state_dir()\n"
              "from shims.state.redact import current; current()\n")
STATE_PROBE = STATE_BASE + (
    "import sys\n"
    "from shims.state.store.sqlite import SqliteStore\n"
    "store = SqliteStore(sys.argv[1])\n"
    "store.record_run({'at': '2026-12-04T00:00:00Z', 'provider': 'fake', 'model': 'm', 'session_id': 's',\n"
    "                  'usage': {'input_tokens': 1, 'output_tokens': 1, 'total_tokens': 2}})\n"
    "store.close()\n"
)


def bench_state(tmp: Path) -> None:
    """Opening the SQLite store and one insert, in a fresh interpreter, against the imports a run
    has anyway (interleaved)."""
    say(f"state: SQLite store open + one insert, median of {STATE_RUNS} fresh interpreters, interleaved with "
        "what a run has anyway (shims.run.main imported)")
    folder = tmp / "state-bench" / "codex-shims"
    env = shim_env(tmp, XDG_STATE_HOME=str(folder.parent))
    store_argv = [sys.executable, "-c", STATE_PROBE, str(folder)]
    base_argv = [sys.executable, "-c", STATE_BASE]
    timed(store_argv, env)  # the first run makes the database: not what every run pays
    store, base = [], []
    for i in range(STATE_RUNS):
        if i % 2:
            base.append(timed(base_argv, env))
        store.append(timed(store_argv, env))
        if not i % 2:
            base.append(timed(base_argv, env))
    med, floor = statistics.median(store), statistics.median(base)
    added = med - floor
    figure("state.sqlite", "state store: SQLite open + one insert", value=added, unit="ms", baseline=floor,
           ratio=ratio_of(med, floor), samples=STATE_RUNS, target=f"<= {TARGET_STATE_ADDED_MS:.0f} ms added",
           ok=added <= TARGET_STATE_ADDED_MS, shown=f"{added:+.1f} ms", store_median_ms=round(med, 2),
           baseline_median_ms=round(floor, 2), baseline_is="python importing shims.run.main, with the state folder's path and the redactor")
    say(f"  open + insert {med:7.1f} ms, run start alone {floor:7.1f} ms: added {added:+6.1f} ms, ratio {med / floor:.2f}")


# ---------------------------------------------------------------- throughput


def bench_throughput(tmp: Path) -> None:
    size_mb = THROUGHPUT_BYTES // MB
    say(f"throughput: shims normalize vs a bare orjson loop over {size_mb} MB, median of {THROUGHPUT_RUNS}")
    gens: dict[str, tuple[Callable[[Path, int], int], str]] = {
        "claude": (inputs.claude_big_tools, "Claude stream-json, ~100 KB tool outputs"),
        "gemini": (inputs.gemini_deltas, "Gemini message deltas"),
    }
    for vendor, (gen, what) in gens.items():
        path = tmp / f"throughput-{vendor}.jsonl"
        try:
            size = gen(path, THROUGHPUT_BYTES)
            shim = [str(BIN / "shims"), "normalize", vendor, "--stdout", str(path)]
            bare = [sys.executable, "-c", BARE_PARSE, str(path)]
            out = subprocess.run(shim, stdin=subprocess.DEVNULL, capture_output=True, check=False)
            if out.returncode != 0 or last_event(out.stdout).get("status") != "completed":
                raise RuntimeError(f"shims normalize {vendor} failed on the throughput input: exit {out.returncode}")
            timed(bare)
            shim_ms, bare_ms = [], []
            for _ in range(THROUGHPUT_RUNS):
                bare_ms.append(timed(bare))
                shim_ms.append(timed(shim))
            s, b = statistics.median(shim_ms), statistics.median(bare_ms)
            shim_rate, bare_rate = size / MB / (s / 1000), size / MB / (b / 1000)
            ratio = shim_rate / bare_rate
            figure(f"throughput.{vendor}", f"throughput normalize {vendor} ({size / MB:.0f} MB)", value=shim_rate,
                   unit="MB/s", baseline=bare_rate, ratio=ratio, samples=THROUGHPUT_RUNS, target=f">= {TARGET_THROUGHPUT_RATIO} x bare parse",
                   ok=ratio >= TARGET_THROUGHPUT_RATIO, input=what, input_bytes=size, runs=THROUGHPUT_RUNS,
                   shim_median_ms=round(s, 1), bare_median_ms=round(b, 1))
            say(f"  {vendor:<7}{size / MB:6.0f} MB: normalize {shim_rate:7.1f} MB/s ({s:.0f} ms), "
                f"bare parse {bare_rate:7.1f} MB/s ({b:.0f} ms), ratio {ratio:.2f}")
        finally:
            path.unlink(missing_ok=True)


# ---------------------------------------------------------------- latency

_STAMP_RE = re.compile(rb"t(\d{10,})")


def stamped_delays(argv: list[str], env: dict[str, str]) -> list[float]:
    """Run `argv`, reading its stdout as it comes; for every line carrying write times, the
    milliseconds from the latest of them to the moment the line was read here."""
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, cwd=WORK, bufsize=0)
    fd = proc.stdout.fileno()
    arrivals: list[tuple[int, bytes]] = []
    while True:
        data = os.read(fd, 1 << 16)
        if not data:
            break
        arrivals.append((time.monotonic_ns(), data))
    err = proc.stderr.read()
    rc = proc.wait()
    if rc != 0:
        raise RuntimeError(f"{Path(argv[0]).name} exited {rc} in the latency run: {err.decode(errors='replace')[-300:]}")
    samples, buf = [], b""
    for at, data in arrivals:
        buf += data
        *complete, buf = buf.split(b"\n")
        for line in complete:
            stamps = [int(s) for s in _STAMP_RE.findall(line)]
            if stamps:
                samples.append((at - max(stamps)) / 1e6)
    return samples


def bench_latency(tmp: Path, replayer: Path) -> None:
    say(f"latency: stand-in writes one line every {LATENCY_PACE_MS} ms, {2 * LATENCY_PAIRS} timed lines per vendor; "
        "baseline: the same stand-in read directly (the pipe and scheduler floor)")
    for vendor, (_case, version) in inputs.CASES.items():
        path = tmp / f"paced-{vendor}.jsonl"
        timed_lines = inputs.PACED[vendor](path, LATENCY_PAIRS)
        env = shim_env(tmp, BENCH_REPLAY_FILE=str(path), BENCH_REPLAY_VERSION=version,
                       BENCH_REPLAY_PACE_MS=str(LATENCY_PACE_MS))
        try:
            bare = stamped_delays([str(replayer), "-p", "bench"], env)
            samples = stamped_delays([str(BIN / f"shim-{vendor}"), "--vendor-bin", str(replayer), "--emit", "ndjson",
                                      "bench"], env)
        finally:
            path.unlink(missing_ok=True)
        if len(samples) < timed_lines:
            notes.append(f"latency {vendor}: {len(samples)} of {timed_lines} timed lines came out as events")
        common = {"samples": len(samples), "timed_lines": timed_lines, "pace_ms": LATENCY_PACE_MS,
                  "max_ms": round(max(samples), 3), "baseline_max_ms": round(max(bare), 3), "journal": True}
        for p, target in ((50, None), (99, TARGET_P99_MS)):
            value, base = percentile(samples, p), percentile(bare, p)
            figure(f"latency.{vendor}.p{p}", f"latency shim-{vendor} p{p}", value=value, unit="ms", baseline=base,
                   ratio=ratio_of(value, base), target="—" if target is None else f"< {target:.0f} ms",
                   ok=None if target is None else value < target, shown=f"{value:.2f} ms",
                   base_shown=f"{base:.2f} ms", **common)
        say(f"  shim-{vendor:<7}{len(samples)} events: p50 {percentile(samples, 50):.2f} ms, "
            f"p99 {percentile(samples, 99):.2f} ms, max {max(samples):.2f} ms; stand-in read directly: "
            f"p50 {percentile(bare, 50):.2f} ms, p99 {percentile(bare, 99):.2f} ms")


# ---------------------------------------------------------------- memory


def peak_rss_kib(argv: list[str]) -> tuple[int, float]:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, str(RSS_PROBE), *argv], stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    elapsed = time.perf_counter() - t0
    lines = proc.stderr.decode(errors="replace").strip().splitlines()
    if proc.returncode != 0 or not lines or not lines[-1].startswith("rss_kib "):
        raise RuntimeError(f"rss probe of {argv[:3]} failed: exit {proc.returncode}, {lines[-3:]}")
    return int(lines[-1].split()[1]), elapsed


def bench_memory(tmp: Path) -> None:
    large = MEMORY_LARGE
    free = shutil.disk_usage(tmp).free
    if free < large + 512 * MB:
        large = max(MEMORY_SMALL * 2, (free - 512 * MB) // (100 * MB) * (100 * MB))
        notes.append(f"memory: only {free / MB:.0f} MB free on disk, so the large input is {large / MB:.0f} MB, "
                     f"not {MEMORY_LARGE / MB:.0f} MB")
    say(f"memory: peak RSS of shims normalize on {MEMORY_SMALL / MB:.0f} MB vs {large / MB:.0f} MB")
    gens = {"claude": inputs.claude_big_tools, "gemini": inputs.gemini_deltas}
    for vendor, gen in gens.items():
        rss, secs, sizes = {}, {}, {}
        for name, want in (("small", MEMORY_SMALL), ("large", large)):
            path = tmp / f"memory-{vendor}-{name}.jsonl"
            try:
                sizes[name] = gen(path, want)
                rss[name], secs[name] = peak_rss_kib([str(BIN / "shims"), "normalize", vendor, "--stdout", str(path)])
            finally:
                path.unlink(missing_ok=True)
        small_mib, large_mib = rss["small"] / 1024, rss["large"] / 1024
        ratio = large_mib / small_mib
        figure(f"memory.{vendor}", f"peak RSS normalize {vendor} {sizes['large'] / MB:.0f} MB vs "
               f"{sizes['small'] / MB:.0f} MB", value=large_mib, unit="MiB", baseline=small_mib, ratio=ratio, samples=1,
               target=f"flat (<= {TARGET_MEMORY_RATIO} x)", ok=ratio <= TARGET_MEMORY_RATIO,
               small_input_bytes=sizes["small"], large_input_bytes=sizes["large"],
               large_run_s=round(secs["large"], 1))
        say(f"  {vendor:<7}{sizes['small'] / MB:5.0f} MB input: {small_mib:7.1f} MiB; "
            f"{sizes['large'] / MB:5.0f} MB input: {large_mib:7.1f} MiB (ratio {ratio:.2f}, {secs['large']:.1f} s)")


# ---------------------------------------------------------------- concurrency


def bench_mcp(tmp: Path, replayer: Path) -> None:
    """`shims mcp`: its start against the SDK's own import, and a worker through it against the
    same shim run directly."""
    import anyio
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    say(f"mcp: {MCP_STARTS} server starts and {MCP_WORKERS} workers through one server, each interleaved with "
        "its baseline")
    case, version = inputs.CASES["claude"]
    config = tmp / "mcp-config.toml"
    config.write_text(f'[claude]\nvendor_bin = "{replayer}"\n', encoding="utf-8")
    env = shim_env(tmp, CODEX_SHIMS_CONFIG=str(config), BENCH_REPLAY_VERSION=version,
                   BENCH_REPLAY_FILE=str(inputs.GOLDEN / "claude" / case / "native.stdout"), BENCH_REPLAY_EXIT="0")
    server = StdioServerParameters(command=str(BIN / "shims"), args=["mcp"], env=env, cwd=str(WORK))
    sdk_import = [sys.executable, "-c", "import mcp.server.lowlevel, mcp.server.stdio"]
    direct = [str(BIN / "shim-claude"), "--vendor-bin", str(replayer), "--emit", "ndjson", "bench"]

    async def start_once() -> float:
        t0 = time.perf_counter()
        async with stdio_client(server) as (r, w), ClientSession(r, w) as session:
            await session.initialize()
            return (time.perf_counter() - t0) * 1000

    async def worker_once(session) -> float:
        t0 = time.perf_counter()
        spawned = await session.call_tool("spawn", {"provider": "claude", "task": "bench", "cwd": str(WORK)})
        view = (await session.call_tool("wait", {"agent_id": spawned.structured_content["agent_id"]})).structured_content
        if view["status"] != "completed":
            raise RuntimeError(f"a worker through shims mcp did not complete: {view}")
        return (time.perf_counter() - t0) * 1000

    async def direct_once() -> float:
        t0 = time.perf_counter()
        out = await anyio.run_process(direct, env=env, cwd=WORK, check=False)
        if out.returncode != 0:
            raise RuntimeError(f"shim-claude exited {out.returncode}: {out.stderr.decode(errors='replace')[-300:]}")
        return (time.perf_counter() - t0) * 1000

    async def measure() -> dict[str, list[float]]:
        times: dict[str, list[float]] = {"start": [], "import": [], "worker": [], "direct": []}
        for i in range(MCP_STARTS + 1):  # the first of each warms the page cache
            for name in ("start", "import") if i % 2 == 0 else ("import", "start"):
                took = await start_once() if name == "start" else await _timed_async(sdk_import, env)
                if i:
                    times[name].append(took)
        async with stdio_client(server) as (r, w), ClientSession(r, w) as session:
            await session.initialize()
            for i in range(MCP_WORKERS + 1):
                for name in ("worker", "direct") if i % 2 == 0 else ("direct", "worker"):
                    took = await worker_once(session) if name == "worker" else await direct_once()
                    if i:
                        times[name].append(took)
        return times

    times = anyio.run(measure)
    start, imported = statistics.median(times["start"]), statistics.median(times["import"])
    figure("mcp.start", "shims mcp start (launch to initialize answered)", value=start, unit="ms", baseline=imported,
           ratio=ratio_of(start, imported), samples=MCP_STARTS, target=f"< {CODEX_MCP_GRACE_MS:.0f} ms (Codex's grace)",
           ok=start < CODEX_MCP_GRACE_MS, shown=f"{start:.0f} ms", base_shown=f"{imported:.0f} ms (the SDK's import)",
           runs=MCP_STARTS)
    worker, alone = statistics.median(times["worker"]), statistics.median(times["direct"])
    added = worker - alone
    figure("mcp.worker", "a worker through shims mcp (spawn + wait) vs the shim run directly", value=added, unit="ms",
           baseline=alone, ratio=ratio_of(worker, alone), samples=MCP_WORKERS,
           target=f"<= {TARGET_ADDED_MS:.0f} ms added", ok=added <= TARGET_ADDED_MS,
           shown=f"+{added:.1f} ms ({worker:.1f} ms)", shim_median_ms=round(worker, 1), baseline_median_ms=round(alone, 1),
           runs=MCP_WORKERS, recording=f"golden/claude/{case}")
    say(f"  start median {start:7.1f} ms, the SDK's import alone {imported:7.1f} ms")
    say(f"  worker median {worker:7.1f} ms, the shim run directly {alone:7.1f} ms, added {added:+7.1f} ms")


async def _timed_async(argv: list[str], env: dict[str, str]) -> float:
    import anyio

    t0 = time.perf_counter()
    await anyio.run_process(argv, env=env, check=True)
    return (time.perf_counter() - t0) * 1000


def run_all(argvs: list[list[str]], env: dict[str, str], outdir: Path) -> tuple[float, list[tuple[int, bytes]]]:
    """Start every command at once, wait for all; wall time and each (exit code, stdout)."""
    outdir.mkdir(parents=True, exist_ok=True)
    files = [open(outdir / f"{i}.out", "wb+") for i in range(len(argvs))]  # noqa: SIM115 - closed below
    try:
        t0 = time.perf_counter()
        procs = [subprocess.Popen(a, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.DEVNULL, env=env, cwd=WORK)
                 for a, f in zip(argvs, files, strict=True)]
        codes = [p.wait() for p in procs]
        wall = (time.perf_counter() - t0) * 1000
        outs = []
        for f in files:
            f.seek(0)
            outs.append(f.read())
        return wall, list(zip(codes, outs, strict=True))
    finally:
        for f in files:
            f.close()
        shutil.rmtree(outdir, ignore_errors=True)


def bench_concurrency(tmp: Path) -> None:
    fake = with_our_python(FAKE, tmp / "bin" / "fake-vendor")
    say(f"concurrency: {CONCURRENCY} shim-fake runs at once vs {CONCURRENCY} bare fake runs at once, "
        f"{CONCURRENCY_ROUNDS} round(s), on {os.cpu_count()} CPUs")
    env = shim_env(tmp, FAKE_VENDOR_SCRIPT=str(FAKE_RECORDING / "native.stdout"))
    expected = item_types((FAKE_RECORDING / "expected.ndjson").read_bytes())
    bare = [[str(fake), "-p", f"bench {i}"] for i in range(CONCURRENCY)]
    shim = [[str(BIN / "shim-fake"), "--vendor-bin", str(fake), "--emit", "ndjson", f"bench {i}"]
            for i in range(CONCURRENCY)]
    run_all(bare[:1], env, tmp / "warm"), run_all(shim[:1], env, tmp / "warm")
    bare_ms, shim_ms, complete, lost, runs = [], [], 0, 0, 0
    for r in range(CONCURRENCY_ROUNDS):
        wall, results = run_all(bare, env, tmp / f"bare{r}")
        bare_ms.append(wall)
        if any(code != 0 for code, _ in results):
            raise RuntimeError("a bare fake vendor run failed")
        wall, results = run_all(shim, env, tmp / f"shim{r}")
        shim_ms.append(wall)
        for code, out in results:
            runs += 1
            got = item_types(out)
            last = last_event(out) if out.strip() else {}
            if code == 0 and last.get("type") == "result" and last.get("status") == "completed":
                complete += 1
            lost += max(0, len(expected) - len(got)) if got != expected else 0
            if got != expected:
                notes.append(f"concurrency: a shim-fake run gave {len(got)} item events, the recording {len(expected)}")
    s, b = statistics.median(shim_ms), statistics.median(bare_ms)
    ok = complete == runs and lost == 0
    figure("concurrency", f"{CONCURRENCY} shim-fake at once vs {CONCURRENCY} bare", value=s, unit="ms", baseline=b,
           ratio=ratio_of(s, b), samples=CONCURRENCY_ROUNDS, target="all complete, no event lost", ok=ok, runs=runs,
           completed=complete,
           events_lost=lost, items_per_run=len(expected), rounds=CONCURRENCY_ROUNDS, cpus=os.cpu_count(),
           shown=f"{s:.0f} ms ({complete}/{runs} ok)", base_shown=f"{b:.0f} ms")
    say(f"  {complete}/{runs} shim runs completed with all {len(expected)} item events; wall {s:.0f} ms "
        f"vs bare {b:.0f} ms (ratio {s / b:.2f})")


# ---------------------------------------------------------------- report


def bench_state_postgres(tmp: Path, replayer: Path) -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    import pg_server

    from shims.state.store.postgres import PostgresStore
    from shims.state.store.sqlite import SqliteStore

    say(f"state: {PG_STATE_RUNS} interleaved runs of shim-claude with the state in PostgreSQL on loopback and in "
        "SQLite; the store alone (connect or open, one insert, close)")
    server = pg_server.started()
    try:
        url = server.new_database()
        case, version = inputs.CASES["claude"]
        recording = inputs.GOLDEN / "claude" / case
        env = shim_env(tmp / "state-bench", BENCH_REPLAY_FILE=str(recording / "native.stdout"),
                       BENCH_REPLAY_EXIT=str(meta("claude", case).get("exit_code") or 0), BENCH_REPLAY_VERSION=version)
        envs = {"sqlite": env, "postgres": {**env, "CODEX_SHIMS_STATE_URL": url}}
        shim = [str(BIN / "shim-claude"), "--vendor-bin", str(replayer), "--emit", "ndjson", "bench"]
        for name, e in envs.items():  # warm, and the row must reach the database, not the outbox
            out = subprocess.run(shim, stdin=subprocess.DEVNULL, capture_output=True, env=e, cwd=WORK, check=False)
            said = last_event(out.stdout).get("vendor", {}).get("state_error")
            if out.returncode != 0 or said:
                raise RuntimeError(f"shim-claude ({name} state) exited {out.returncode}: {said}")
        times: dict[str, list[float]] = {name: [] for name in envs}
        for i in range(PG_STATE_RUNS):
            for name in (list(envs) if i % 2 else list(envs)[::-1]):
                times[name].append(timed(shim, envs[name]))
        base, med = statistics.median(times["sqlite"]), statistics.median(times["postgres"])
        figure("state.postgres", "shim-claude, state in PostgreSQL (loopback) vs SQLite", value=med - base, unit="ms",
               baseline=base, ratio=ratio_of(med, base), samples=PG_STATE_RUNS, target=f"<= {TARGET_ADDED_MS:.0f} ms added",
               ok=med - base <= TARGET_ADDED_MS, shown=f"+{med - base:.1f} ms ({med:.1f} ms)",
               postgres_median_ms=round(med, 1), sqlite_median_ms=round(base, 1))
        say(f"  run median {med:7.1f} ms with PostgreSQL, {base:7.1f} ms with SQLite, added {med - base:+.1f} ms")

        entry = {"run_id": "", "at": "2026-12-04T10:00:00Z", "provider": "claude", "account": "default",
                 "usage": {"input_tokens": 1, "output_tokens": 1, "total_tokens": 2}}
        stores = {"sqlite": lambda: SqliteStore(str(tmp / "state-bench" / "sqlite")),
                  "postgres": lambda: PostgresStore(url, str(tmp / "state-bench" / "pg"))}
        alone: dict[str, list[float]] = {name: [] for name in stores}
        for i in range(PG_STATE_RUNS * 5):
            for name, make in stores.items():
                t0 = time.perf_counter()
                store = make()
                store.record_run({**entry, "run_id": f"{name}-{i}"})
                store.close()
                alone[name].append((time.perf_counter() - t0) * 1000)
        pg, lite = statistics.median(alone["postgres"]), statistics.median(alone["sqlite"])
        figure("state.postgres.store", "PostgreSQL connect + insert vs SQLite open + insert", value=pg, unit="ms",
               baseline=lite, ratio=ratio_of(pg, lite), samples=PG_STATE_RUNS * 5, target=f"<= {TARGET_ADDED_MS:.0f} ms", ok=pg <= TARGET_ADDED_MS,
               shown=f"{pg:.2f} ms", base_shown=f"{lite:.2f} ms")
        say(f"  store alone: PostgreSQL connect + insert {pg:.2f} ms, SQLite open + insert {lite:.2f} ms (medians)")
    finally:
        server.destroy()


def table() -> str:
    rows = [("figure", "value", "baseline", "ratio", "target", "result")]
    for f in figures.values():
        ratio = "—" if f["ratio"] is None else f"{f['ratio']:.2f}"
        result = "—" if f["pass"] is None else ("pass" if f["pass"] else "FAIL")
        rows.append((f["figure"], f["shown"], f["baseline_shown"], ratio, f["target"], result))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def compile_bytecode() -> None:
    """The packages' bytecode, as an installed wheel has it (pip compiles at install). An
    editable install gets it written at first import, unless PYTHONDONTWRITEBYTECODE is set:
    then every shim start would compile every module again, and the overhead figures would
    measure the compiler."""
    for package in ("normalize", "shims"):
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / package)], check=True,
                       stdout=subprocess.DEVNULL)


def main() -> int:
    started = time.perf_counter()
    load_start = os.getloadavg()
    out_path = Path(os.environ.get("BENCH_OUT") or ROOT / "bench" / "results" / "latest.json")
    if QUICK:
        say("BENCH_QUICK=1: a smoke run with small inputs and few runs; these are not the benchmark's figures.")
    failed = None
    compile_bytecode()
    with tempfile.TemporaryDirectory(prefix="shims-bench-") as name:
        tmp = Path(name)
        replayer = with_our_python(REPLAYER_SRC, tmp / "bin" / "replay-vendor")
        global WORK
        WORK = make_workspace(tmp)
        steps = [lambda: bench_vendors(tmp), lambda: bench_overhead(tmp, replayer), lambda: bench_preflight(tmp),
                 lambda: bench_state(tmp), lambda: bench_throughput(tmp),
                 lambda: bench_latency(tmp, replayer), lambda: bench_memory(tmp), lambda: bench_concurrency(tmp),
                 lambda: bench_mcp(tmp, replayer), lambda: bench_state_postgres(tmp, replayer)]
        for step in steps:
            try:
                step()
            except Exception as exc:  # noqa: BLE001 - report it, still write what was measured
                failed = f"{type(exc).__name__}: {exc}"
                say(f"bench: {failed}")
                break
    elapsed = time.perf_counter() - started
    say("")
    say(table())
    for note in notes:
        say(f"note: {note}")
    load_end = os.getloadavg()
    say(f"({'quick smoke run, ' if QUICK else ''}{elapsed:.0f} s on {os.cpu_count()} CPUs, "
        f"python {platform.python_version()}; 1-minute load average {load_start[0]:.1f} at the start, "
        f"{load_end[0]:.1f} at the end: other work on the machine moves the absolute times, less the ratios)")
    result = {
        "command": "BENCH_QUICK=1 make bench" if QUICK else "make bench",
        "quick": QUICK,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "loadavg_start": [round(x, 2) for x in load_start], "loadavg_end": [round(x, 2) for x in load_end]},
        "elapsed_s": round(elapsed, 1),
        "figures": figures,
        "notes": notes,
        "error": failed,
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    say(f"written to {out_path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
