"""`make demo-claude`: shim-claude around the real pinned Claude Code CLI, offline, against the
fake Anthropic API on 127.0.0.1. Prints the live view, then the same run's protocol-2 stream."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent)]

from fakes.claude_env import CLAUDE_BIN, claude_env  # noqa: E402
from fakes.fake_anthropic import FakeAnthropic  # noqa: E402

SHIM = Path(sys.executable).parent / "shim-claude"


def main() -> int:
    prompt = sys.argv[1] if len(sys.argv) > 1 else "[scenario:tool] Run a command and tell me what it printed"
    with FakeAnthropic() as api, tempfile.TemporaryDirectory() as tmp:
        env = claude_env(api.base_url, tmp)
        for emit in ("pretty", "ndjson"):
            print(f"$ shim-claude --mode write --emit {emit} {prompt!r}", flush=True)
            subprocess.run([str(SHIM), "--vendor-bin", str(CLAUDE_BIN), "--mode", "write", "--emit", emit, prompt],
                           env=env, cwd=tmp, check=False, stdin=subprocess.DEVNULL)
            print(flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
