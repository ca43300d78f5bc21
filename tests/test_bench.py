"""`make bench` still runs: a BENCH_QUICK=1 smoke run completes and records every figure.

No time is asserted (the figures are ratios against baselines measured in the same run, and a
test machine's load would make any threshold flaky); only that each measurement ran, and the
one correctness figure: no concurrent shim run lost its result or an event.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import procs
import pytest

ROOT = Path(__file__).resolve().parent.parent

VENDORS = ("claude", "gemini", "agy")
REAL_CLIS = ("claude", "gemini")  # the shims around the pinned vendor CLIs, against those CLIs bare
PREFLIGHT = ("claude", "gemini", "agy", "fake")
FIGURES = (
    [f"vendor.{v}.{f}" for v in REAL_CLIS for f in ("wall", "first_event")]
    + [f"overhead.{v}{s}" for v in VENDORS for s in ("", ".no_journal", ".no_git", ".exec")]
    + [f"preflight.{v}" for v in PREFLIGHT] + ["doctor"]
    + ["throughput.claude", "throughput.gemini"]
    + [f"latency.{v}.{p}" for v in VENDORS for p in ("p50", "p99")]
    + ["memory.claude", "memory.gemini", "concurrency", "mcp.start", "mcp.worker", "state.sqlite",
       "state.postgres", "state.postgres.store"]
)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_quick_bench_writes_every_figure(tmp_path, mark):
    out = tmp_path / "latest.json"
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "BENCH_QUICK": "1", "BENCH_OUT": str(out), "TMPDIR": str(scratch), procs.MARK_ENV: mark}
    env.pop("BENCH_RUNS", None)
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py")], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=280, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "BENCH_QUICK=1" in proc.stdout  # a smoke run says it is one

    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["quick"] is True and data["error"] is None
    assert sorted(data["figures"]) == sorted(FIGURES)
    for key, fig in data["figures"].items():
        # What every figure must have, not sizes the machine decides: a bare pipe read can
        # round to a 0.0 ms baseline on a quiet machine, which leaves its ratio undefined.
        assert isinstance(fig["value"], int | float), key
        # Added milliseconds can come out below zero when the shim's cost is within the noise.
        assert fig["value"] >= 0 or key.startswith(("vendor.", "overhead.", "mcp.worker", "state.")), key
        assert fig["target"] and fig["unit"], key
        assert isinstance(fig["baseline"], int | float) and fig["baseline"] >= 0, key  # measured in the same run
        assert fig["ratio"] is None or fig["ratio"] >= 0, key
        assert fig["ratio"] is not None or fig["baseline"] == 0, key  # undefined only against a zero baseline
        assert isinstance(fig["samples"], int) and fig["samples"] >= 1, key
        assert isinstance(fig["pass"], bool) or key.endswith(".p50"), key  # p50 has no target
    for v in REAL_CLIS:
        for f in ("wall", "first_event"):
            fig = data["figures"][f"vendor.{v}.{f}"]
            assert fig["shim_median_ms"] > 0 and fig["baseline_median_ms"] > 0, (v, f)
            assert fig["bare_argv"][0] == v and fig["runs"] >= 2, (v, f)  # the real CLI, run bare
            assert fig["value"] == pytest.approx(fig["shim_median_ms"] - fig["baseline_median_ms"], abs=0.2)
    for key in [f"preflight.{v}" for v in PREFLIGHT] + ["doctor"]:
        fig = data["figures"][key]
        assert fig["value"] > 0 and fig["cold_ms"] > 0 and fig["runs"] >= 3, key  # warm runs after a cold one
    for v in VENDORS:
        assert data["figures"][f"latency.{v}.p99"]["samples"] >= data["figures"][f"latency.{v}.p99"]["timed_lines"]
    worker = data["figures"]["mcp.worker"]  # added ms: the worker through the server, minus the shim alone
    assert worker["shim_median_ms"] > 0 and worker["baseline_median_ms"] > 0 and worker["runs"] >= 2
    assert worker["value"] == pytest.approx(worker["shim_median_ms"] - worker["baseline_median_ms"], abs=0.2)
    assert data["figures"]["mcp.start"]["value"] > 0 and data["figures"]["mcp.start"]["baseline"] > 0
    state = data["figures"]["state.sqlite"]  # added ms: open + insert, minus the imports alone
    assert state["store_median_ms"] > 0 and state["baseline_median_ms"] > 0
    conc = data["figures"]["concurrency"]
    assert conc["completed"] == conc["runs"] == 16 and conc["events_lost"] == 0
    assert list(scratch.iterdir()) == []  # the generated inputs, journal and workspace are gone


def test_a_zero_baseline_leaves_the_ratio_undefined_instead_of_breaking_the_run():
    """A bare pipe read on a quiet machine can take less than the clock shows: the figure is
    still recorded, with no ratio, rather than a ZeroDivisionError ending `make bench`."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "bench" / "run.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.ratio_of(0.35, 0.0) is None
    assert bench.ratio_of(0.35, 0.07) == 0.35 / 0.07
    bench.figure("latency.x.p50", "latency x p50", value=0.35, unit="ms", baseline=0.0,
                 ratio=bench.ratio_of(0.35, 0.0), samples=60, target="—", ok=None)
    assert bench.figures["latency.x.p50"]["ratio"] is None
    assert bench.figures["latency.x.p50"]["samples"] == 60
