"""Regenerate or check the golden files with `shims normalize`.

Each case is a folder golden/<vendor>/<case>/ holding the recorded native output
(native.stdout, optional native.stderr) and meta.json ({"exit_code", "signal", "format",
"description"}). Expected files are never edited by hand: this script writes
expected.ndjson (protocol 2) and expected.v1.json (protocol 1) from the recording.

  python golden/regen.py           rewrite every expected file
  python golden/regen.py --check   exit 1 and show a diff where one differs
"""

from __future__ import annotations

import difflib
import json
import os
import subprocess
import sys
from pathlib import Path

from shims.run.vendors import recorded_version

ROOT = Path(__file__).resolve().parent

SHIMS = [os.path.join(os.path.dirname(sys.executable), "shims")]


def cases() -> list[Path]:
    return sorted(p.parent for p in ROOT.glob("*/*/meta.json"))


def normalize(case: Path, emit: str) -> bytes:
    meta = json.loads((case / "meta.json").read_text())
    vendor = case.parent.name
    argv = [*SHIMS, "normalize", vendor, "--stdout", str(case / "native.stdout"), "--emit", emit]
    if (case / "native.stderr").exists():
        argv += ["--stderr", str(case / "native.stderr")]
    if meta.get("exit_code") is not None:
        argv += ["--exit-code", str(meta["exit_code"])]
    if meta.get("signal"):
        argv += ["--signal", meta["signal"]]
    if meta.get("format"):
        argv += ["--format", meta["format"]]
    if meta.get("ended_at") is not None:
        argv += ["--ended-at", str(meta["ended_at"])]
    if meta.get("resumed"):
        argv += ["--resumed"]
    version = recorded_version(vendor, meta.get("cli_version"))
    if version:  # what a live run reads before launch (package.json, agy's remembered probe)
        argv += ["--cli-version", version]
    if meta.get("max_line_bytes"):  # the run's line cap ([journal] max_line_bytes), when not the default
        argv += ["--max-line-bytes", str(meta["max_line_bytes"])]
    proc = subprocess.run(argv, capture_output=True, check=False)
    lines = proc.stdout.splitlines()
    last = json.loads(lines[-1]) if lines else {}
    # Exit codes carry the failure kind, so only the shape of the output says it worked.
    if "Traceback" in proc.stderr.decode(errors="replace") or ("type" not in last and "status" not in last):
        raise SystemExit(f"{case}: shims normalize failed ({proc.returncode}): {proc.stderr.decode(errors='replace')}")
    return proc.stdout


def expected_outputs(case: Path) -> dict[str, bytes]:
    return {"expected.ndjson": normalize(case, "ndjson"), "expected.v1.json": normalize(case, "codex-lab-v1")}


def main(argv: list[str]) -> int:
    check = "--check" in argv
    bad = 0
    for case in cases():
        for name, data in expected_outputs(case).items():
            path = case / name
            if not check:
                path.write_bytes(data)
                continue
            old = path.read_bytes() if path.exists() else b""
            if old != data:
                bad += 1
                rel = path.relative_to(ROOT.parent)
                diff = difflib.unified_diff(
                    old.decode().splitlines(), data.decode().splitlines(), f"{rel} (committed)", f"{rel} (now)", lineterm=""
                )
                print("\n".join(diff))
    n = len(cases())
    if check:
        print(f"golden: {n} cases, {bad} expected files differ", file=sys.stderr)
        return 1 if bad else 0
    print(f"golden: regenerated {n} cases", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
