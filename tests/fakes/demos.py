"""`make demo` and `make demo-claude`, declared once: `python tests/fakes/demos.py fake|claude`
runs one at your terminal (the live view), and tests/readme_samples.py runs the same runs in a
pseudo-terminal for the README's samples.

- fake: shim-fake on the bundled fake vendor (tests/fakes/fake_vendor.py).
- claude: shim-claude around the real pinned Claude Code CLI, offline against the fake
  Anthropic API on 127.0.0.1; it prints the live view, then the same run's protocol-2 stream
  (its journal's events.ndjson).

Each runs in a fresh scratch folder (a demo changes nothing of yours, and is not slowed by
snapshotting a big repository).
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(HERE.parent)]

from fakes.claude_env import CLAUDE_BIN, claude_env  # noqa: E402

BIN = Path(sys.executable).parent
FAKE_VENDOR = HERE / "fake_vendor.py"
CLAUDE_PROMPT = "[scenario:tool] Run a command and tell me what it printed"


@dataclass(frozen=True, slots=True)
class DemoRun:
    argv: list[str]
    env: dict[str, str] | None  # None: the caller's environment
    cwd: str
    journal: str | None  # the run's journal root (--journal); None: the config's

    def shown(self) -> str:
        """The command line as a person would type it in the checkout."""
        words = [Path(self.argv[0]).name]
        for word in self.argv[1:]:
            path = Path(word)
            words.append(str(path.relative_to(ROOT)) if path.is_absolute() and path.is_relative_to(ROOT) else word)
        return shlex.join(words)


@contextmanager
def fake_demo(journal: str | None = None) -> Iterator[DemoRun]:
    """Without a journal root the run is journaled where yours are (`shims runs` lists it)."""
    with tempfile.TemporaryDirectory(prefix="shims-demo-") as scratch:
        where = ["--journal", journal] if journal else []
        yield DemoRun([str(BIN / "shim-fake"), "--vendor-bin", str(FAKE_VENDOR), "--emit", "pretty", *where,
                       "Say hello"], None, scratch, journal)


@contextmanager
def claude_demo(journal: str | None = None, prompt: str = CLAUDE_PROMPT) -> Iterator[DemoRun]:
    from fakes.fake_anthropic import FakeAnthropic

    with FakeAnthropic() as api, tempfile.TemporaryDirectory(prefix="shims-demo-") as scratch:
        journal = journal or os.path.join(scratch, "runs")
        # TERM as yours: the live view is drawn for the terminal it runs in.
        env = claude_env(api.base_url, scratch, extra={"TERM": os.environ.get("TERM", "dumb")})
        yield DemoRun([str(BIN / "shim-claude"), "--vendor-bin", str(CLAUDE_BIN), "--mode", "write", "--emit",
                       "pretty", "--journal", journal, prompt], env, scratch, journal)


DEMOS = {"fake": fake_demo, "claude": claude_demo}


def journaled_events(journal: str) -> bytes:
    """events.ndjson of the one run under a demo's journal root: the stream it printed."""
    runs = [p for p in Path(journal).iterdir() if p.is_dir()]
    if len(runs) != 1:
        raise RuntimeError(f"expected one run under {journal}, found {len(runs)}")
    return (runs[0] / "events.ndjson").read_bytes()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("demo", choices=sorted(DEMOS))
    parser.add_argument("--journal", help="journal root for the run (default: in the scratch folder)")
    args = parser.parse_args()
    with DEMOS[args.demo](args.journal) as demo:
        print(f"$ {demo.shown()}", flush=True)
        subprocess.run(demo.argv, env=demo.env, cwd=demo.cwd, check=False, stdin=subprocess.DEVNULL)
        if args.demo == "claude":
            print("\nThe same run as the protocol-2 stream (its journal's events.ndjson):\n", flush=True)
            sys.stdout.buffer.write(journaled_events(demo.journal))
    return 0


if __name__ == "__main__":
    sys.exit(main())
