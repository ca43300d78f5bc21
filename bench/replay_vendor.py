"""A stand-in vendor CLI for `make bench`: replays a recorded stdout, instantly or paced.

The benchmark runs each shim with `--vendor-bin` pointing at a copy of this file (given a
`#!<the bench's python>` first line, so it starts with the same interpreter), and also runs it
directly as the baseline. Standard library only and as few imports as possible, so the
baseline is close to the cheapest possible "vendor CLI" written in Python.

Any argv is accepted and ignored, except `--version`. What to do comes from the environment,
because a shim passes its environment through but controls argv:

  BENCH_REPLAY_FILE      the recording to write to stdout (a golden case's native.stdout)
  BENCH_REPLAY_EXIT      exit status at the end (default 0)
  BENCH_REPLAY_VERSION   what `--version` prints (default "1.2.16"); each vendor's parser
                         must accept it, e.g. "2.1.331 (Claude Code)", "0.61.0", "1.2.16"
  BENCH_REPLAY_PACE_MS   paced mode: write one line of the recording every this many ms
                         instead of all at once; every "@@T@@" in a line is replaced, just
                         before the write, by time.monotonic_ns() (CLOCK_MONOTONIC, which
                         every process on the machine shares), for latency measurements
"""

import os
import sys


def write_all(data) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(1, view) :]


def paced(lines: list, pace_s: float) -> None:
    import time

    start = time.monotonic()
    for n, line in enumerate(lines):
        delay = start + n * pace_s - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        if b"@@T@@" in line:
            line = line.replace(b"@@T@@", str(time.monotonic_ns()).encode())
        write_all(line)


def main(argv: list) -> int:
    if "--version" in argv:
        write_all((os.environ.get("BENCH_REPLAY_VERSION", "1.2.16") + "\n").encode())
        return 0
    path = os.environ.get("BENCH_REPLAY_FILE")
    if path:
        with open(path, "rb") as f:
            data = f.read()
        pace_ms = float(os.environ.get("BENCH_REPLAY_PACE_MS") or 0)
        if pace_ms > 0:
            paced(data.splitlines(keepends=True), pace_ms / 1000)
        else:
            write_all(data)
    return int(os.environ.get("BENCH_REPLAY_EXIT") or 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
