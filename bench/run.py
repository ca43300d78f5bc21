"""`make bench`: what a shim adds to running its vendor CLI.

For now one figure: start-up and end-to-end overhead of `shim-fake` around the fake vendor CLI
replaying a recorded stream instantly, against running that fake CLI directly, in the same
process and interleaved so machine load affects both alike. Reported as the median added
milliseconds and the ratio; results also written to bench/results/latest.json.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FAKE = ROOT / "tests" / "fakes" / "fake_vendor.py"
SHIM = Path(sys.executable).parent / "shim-fake"
RECORDING = ROOT / "golden" / "fake" / "tools" / "native.stdout"
RUNS = int(os.environ.get("BENCH_RUNS", "30"))


def timed(argv: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=True)
    return (time.perf_counter() - t0) * 1000


def main() -> int:
    env = {**os.environ, "FAKE_VENDOR_SCRIPT": str(RECORDING)}
    bare_argv = [str(FAKE), "-p", "bench"]
    shim_argv = [str(SHIM), "--vendor-bin", str(FAKE), "--emit", "ndjson", "bench"]
    timed(bare_argv, env), timed(shim_argv, env)  # warm the page cache
    bare, shim = [], []
    for _ in range(RUNS):
        bare.append(timed(bare_argv, env))
        shim.append(timed(shim_argv, env))
    mb, ms = statistics.median(bare), statistics.median(shim)
    result = {
        "runs": RUNS,
        "bare_fake_cli_median_ms": round(mb, 1),
        "shim_median_ms": round(ms, 1),
        "added_median_ms": round(ms - mb, 1),
        "ratio": round(ms / mb, 2),
    }
    print(f"{'figure':<28}{'baseline (fake CLI)':>22}{'shim-fake':>12}{'added':>10}{'ratio':>8}")
    print(f"{'end-to-end, median of ' + str(RUNS):<28}{mb:>19.1f} ms{ms:>9.1f} ms{ms - mb:>7.1f} ms{ms / mb:>8.2f}")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
