"""Record the fake vendor's native output into golden cases (provenance of golden/fake/*).

Each case runs tests/fakes/fake_vendor.py with a script and misbehaviour and stores what it
wrote, exactly as a shim would have read it. Re-run after changing the fake, then `make golden`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FAKE = HERE.parent.parent / "tests" / "fakes" / "fake_vendor.py"
SCRIPTS = HERE / "scripts"

CASES = {
    # name: (description, env, prompt, send SIGINT/SIGTERM after seconds, signal name for meta)
    "basic": ("default conversation: message, shell tool, answer, usage", {}, "Say hello", None),
    "tools": ("every tool kind: edit, write, search, todo, mcp, a failing shell, reasoning, warning",
              {"FAKE_VENDOR_SCRIPT": str(SCRIPTS / "tools.ndjson")}, "Use tools", None),
    "deltas": ("streamed text chunks forming messages around a tool call",
               {"FAKE_VENDOR_SCRIPT": str(SCRIPTS / "deltas.ndjson")}, "Stream", None),
    "quota": ("5-hour quota exhausted with a reset time", {"FAKE_VENDOR_SCRIPT": str(SCRIPTS / "quota.ndjson"),
              "FAKE_VENDOR_EXIT": "1"}, "Hi", None),
    "big-output": ("a 40 KB tool output and a 12 KB answer: the 16 KiB line cap and 8 KiB final cut",
                   {"FAKE_VENDOR_SCRIPT": str(SCRIPTS / "big.ndjson")}, "Big", None),
    "garbage": ("non-JSON lines, invalid UTF-8 and a JSON array among valid lines",
                {"FAKE_VENDOR_MISBEHAVE": "garbage"}, "Hi", None),
    "crash-mid-line": ("the CLI dies halfway through a line, exit 1",
                       {"FAKE_VENDOR_MISBEHAVE": "crash-mid-line", "FAKE_VENDOR_CRASH_AFTER": "3",
                        "FAKE_VENDOR_STDERR": "panic: connection reset by peer"}, "Hi", None),
    "empty": ("exit 0 with no output at all", {"FAKE_VENDOR_MISBEHAVE": "exit0-empty"}, "Hi", None),
    "signed-out": ("exit 41 with a stderr hint", {"FAKE_VENDOR_SCRIPT": os.devnull, "FAKE_VENDOR_EXIT": "41",
                   "FAKE_VENDOR_STDERR": "Error: please sign in"}, "Hi", None),
    "no-newline": ("last line without a trailing newline", {"FAKE_VENDOR_MISBEHAVE": "no-newline"}, "Hi", None),
    "hostile-json": ("lines orjson refuses: lone surrogates, a bad byte, 2000-deep nesting, numbers past 64 bits and "
                     "float range, NaN and Infinity (issue 13)", {"FAKE_VENDOR_SCRIPT": str(SCRIPTS / "hostile.ndjson")},
                     "Hi", None),
    "sigint": ("shim cancelled by SIGINT while the CLI streamed slowly; the CLI wrote an interrupted result",
               {"FAKE_VENDOR_MISBEHAVE": "slow"}, "Hi", ("INT", 0.5)),
    "sigterm": ("shim cancelled by SIGTERM; the CLI died with no result line",
                {"FAKE_VENDOR_MISBEHAVE": "slow"}, "Hi", ("TERM", 0.5)),
}


def record(name: str) -> None:
    desc, env, prompt, sig = CASES[name]
    case = HERE / name
    case.mkdir(exist_ok=True)
    proc = subprocess.Popen([sys.executable, str(FAKE), "-p", prompt], env={**os.environ, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    if sig:
        time.sleep(sig[1])
        proc.send_signal(signal.SIGINT if sig[0] == "INT" else signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    (case / "native.stdout").write_bytes(out)
    if err:
        (case / "native.stderr").write_bytes(err)
    elif (case / "native.stderr").exists():
        (case / "native.stderr").unlink()
    rc = proc.returncode
    meta = {"description": desc, "exit_code": rc if rc >= 0 else None, "signal": sig[0] if sig else None,
            "format": "stream-json"}
    (case / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")


if __name__ == "__main__":
    for n in sys.argv[1:] or CASES:
        record(n)
