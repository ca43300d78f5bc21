"""The real pinned vendor CLIs for `make bench`, run offline: their loopback fake APIs as processes
of their own, the vendor's launch exactly as a shim builds it, and a run timed to its first
stdout line and to its end. Process handling only; bench/run.py keeps the figures."""

from __future__ import annotations

import contextlib
import json
import select
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FAKES = ROOT / "tests" / "fakes"
sys.path.insert(0, str(ROOT / "tests"))

from fakes.claude_env import CLAUDE_BIN, claude_env  # noqa: E402 - how the tests run the real CLIs offline
from fakes.gemini_env import GEMINI_BIN, gemini_env  # noqa: E402

# vendor -> the pinned CLI, its loopback fake API, the environment that runs the CLI offline
# against it (tests/fakes), and the shim flags of the run. Claude keeps its temporary files in
# TMPDIR (as gemini_env has it, a folder in the home): the bench leaves nothing behind. Gemini
# gets a model so the answer is one call (its default `auto` asks a classifier model first).
REAL_CLIS: dict[str, tuple[Path, Path, Callable[[str, Path], dict[str, str]], list[str]]] = {
    "claude": (CLAUDE_BIN, FAKES / "fake_anthropic.py",
               lambda url, home: claude_env(url, home, extra={"TMPDIR": str(home / "tmp")}), []),
    "gemini": (GEMINI_BIN, FAKES / "fake_gemini.py", lambda url, home: gemini_env(url, home),
               ["--model", "gemini-2.5-flash"]),
}
PROMPT = "Say hello"  # the fakes' `plain` scenario: an instant answer

# The vendor's launch exactly as the shim builds it (its vendor package's build_launch, in a
# fresh interpreter with the run's environment): the bare run is the shim's own child.
VENDOR_LAUNCH = (
    "import os, sys, orjson\n"
    "from normalize.request import RunSpec\n"
    "from shims.run import vendors\n"
    "vendor, program, model, prompt = sys.argv[1:]\n"
    "spec = RunSpec(prompt=prompt, model=model or None, cwd=os.getcwd())\n"
    "launch = vendors.command_module(vendor).build_launch(spec, program)\n"
    "sys.stdout.buffer.write(orjson.dumps({'argv': launch.argv, 'env': launch.env, 'scratch': launch.scratch_dir}))\n"
)


@contextlib.contextmanager
def fake_api(script: Path, log: Path) -> Iterator[str]:
    """A fake vendor API (tests/fakes) serving on 127.0.0.1 in a process of its own: its base
    URL while the block runs; then that process is ended, by its pid."""
    with open(log, "wb") as err:
        proc = subprocess.Popen([sys.executable, str(script)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=err)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 20)
        line = proc.stdout.readline().decode(errors="replace") if ready else ""
        if not line.startswith("listening http://127.0.0.1:"):
            raise RuntimeError(f"{script.name} did not start: {line!r} {log.read_text(errors='replace')[-300:]}")
        yield line.split()[1]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()


def first_line_and_end(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, bytes]:
    """Run `argv` to its result line: milliseconds to its first stdout line, to its exit, and
    its stdout. A run that fails or ends without a `result` line raises."""
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, env=env, cwd=cwd)
        first = proc.stdout.readline()
        t1 = time.perf_counter()
        out = first + proc.stdout.read()
        proc.stdout.close()
        rc = proc.wait()
        t2 = time.perf_counter()
        last = out.splitlines()[-1:]
        if rc != 0 or not last or json.loads(last[0]).get("type") != "result":
            err.seek(0)
            raise RuntimeError(f"{Path(argv[0]).name} exited {rc}, last line {last}: "
                               f"{err.read().decode(errors='replace')[-500:]}")
    return (t1 - t0) * 1000, (t2 - t0) * 1000, out


def vendor_launch(vendor: str, program: Path, model: str, env: dict[str, str], cwd: Path) -> dict:
    """{argv, env, scratch}: what the shim would start for PROMPT (`scratch`: a folder to remove)."""
    out = subprocess.run([sys.executable, "-c", VENDOR_LAUNCH, vendor, str(program), model, PROMPT],
                         stdin=subprocess.DEVNULL, capture_output=True, env=env, cwd=cwd, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"building {vendor}'s launch failed: {out.stderr.decode(errors='replace')[-500:]}")
    return json.loads(out.stdout)


def newest_run_meta(state: Path) -> dict:
    """The journal's meta.json of the latest run under the state folder `state`."""
    runs = sorted((state / "codex-shims" / "runs").iterdir())
    return json.loads((runs[-1] / "meta.json").read_text(encoding="utf-8"))
