"""`make readme-samples`: run the README's demos (tests/fakes/demos.py) and write what they
print into the README's sample blocks; `--check` compares instead (exit 1 on a difference,
after masking what differs on every run: readme_blocks.MASKS).

Each demo runs once, in a pseudo-terminal of COLUMNS x ROWS, with a private journal root and
state folder (your config file and journal play no part): its live view is the terminal's
final screen (pyte), and its NDJSON sample is the same run's journaled events.ndjson.
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE)]

from fakes.demos import DEMOS, journaled_events  # noqa: E402
from readme_blocks import masked, ndjson_sample, samples, screen_text, with_samples  # noqa: E402

README = HERE.parent / "README.md"
COLUMNS, ROWS = 100, 200
TERM = "xterm-256color"
# Sample names: <demo>-pretty and <demo>-ndjson, where <demo> is the Makefile's target.
TARGETS = {"fake": "demo", "claude": "demo-claude"}


def run_in_terminal(argv: list[str], env: dict[str, str], cwd: str) -> bytes:
    """Everything the program wrote to its terminal; it must exit 0."""
    import pexpect

    child = pexpect.spawn(argv[0], argv[1:], env=env, cwd=cwd, dimensions=(ROWS, COLUMNS), timeout=180)
    try:
        written = child.read()
    finally:
        child.close(force=True)
    if child.exitstatus != 0:
        raise RuntimeError(f"{argv[0]} exited {child.exitstatus} (signal {child.signalstatus}): {written[-2000:]!r}")
    return written


def demo_samples(demo: str, extra_env: dict[str, str] | None = None) -> dict[str, str]:
    """The two samples of one run of a demo: its live view and its NDJSON."""
    with tempfile.TemporaryDirectory(prefix="readme-samples-") as private, \
            DEMOS[demo](os.path.join(private, "runs")) as run:
        if run.env is None:  # the caller's environment, without their config, state or terminal size
            env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "CODEX_SHIMS_CONFIG")}
            env.update(XDG_STATE_HOME=os.path.join(private, "state"), XDG_CONFIG_HOME=os.path.join(private, "config"))
        else:
            env = dict(run.env)
        env.update(TERM=TERM, **(extra_env or {}))
        screen = screen_text(run_in_terminal(run.argv, env, run.cwd), COLUMNS, ROWS)
        target = TARGETS[demo]
        return {f"{target}-pretty": screen, f"{target}-ndjson": ndjson_sample(journaled_events(run.journal))}


def fresh_samples(extra_env: dict[str, str] | None = None) -> dict[str, str]:
    out: dict[str, str] = {}
    for demo in TARGETS:
        out.update(demo_samples(demo, extra_env))
    return out


def differences(readme: str, fresh: dict[str, str]) -> list[str]:
    """Unified diffs, masked, of each README sample against the fresh one (empty: the same)."""
    have = samples(readme)
    lines: list[str] = []
    for name in sorted(set(have) | set(fresh)):
        old, new = masked(have.get(name, "")).splitlines(), masked(fresh.get(name, "")).splitlines()
        lines += difflib.unified_diff(old, new, f"README.md {name}", f"fresh {name}", lineterm="")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write; exit 1 on a difference")
    args = parser.parse_args()
    readme = README.read_text(encoding="utf-8")
    fresh = fresh_samples()
    if args.check:
        diff = differences(readme, fresh)
        print("\n".join(diff) if diff else "README samples are current.")
        return 1 if diff else 0
    updated = with_samples(readme, fresh)
    if updated != readme:
        README.write_text(updated, encoding="utf-8")
    print(f"{README.name}: {'rewrote' if updated != readme else 'unchanged'} {', '.join(sorted(fresh))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
