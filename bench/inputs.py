"""Recorded-looking vendor streams for `make bench`, built from golden recordings.

Every generator starts from real lines of a golden case (so the shapes are the vendor's own)
and changes only ids, texts and sizes. Large streams are written straight to a file, a block
at a time, so making a 1 GB input costs a few hundred kilobytes of memory.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "golden"

# The golden case each vendor's stand-in replays for the overhead figure, and the version
# string its `--version` answers (each vendor's version parser must accept it; shim-agy picks
# stream-json output only for agy >= 1.1.8).
CASES = {
    "claude": ("tool-bash", "2.1.331 (Claude Code)"),
    "gemini": ("shell", "0.61.0"),
    "agy": ("tool-full", "1.2.16"),
}

STAMP = "@@T@@"  # replaced by time.monotonic_ns() when the paced replayer writes the line


def golden_lines(vendor: str, case: str) -> list[dict]:
    text = (GOLDEN / vendor / case / "native.stdout").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def dumps(obj: dict) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


def tool_output(size: int) -> str:
    """About `size` characters of plausible command output: numbered lines of text."""
    line = "{:06d}  drwxr-xr-x  build/artifacts/module_{:06d}/generated_source_file.py  4096 bytes\n"
    parts, total, n = [], 0, 0
    while total < size:
        piece = line.format(n, n)
        parts.append(piece)
        total += len(piece)
        n += 1
    return "".join(parts)[:size]


# ---------------------------------------------------------------- claude


def _claude_parts() -> tuple[dict, dict, dict, dict, dict]:
    """init, assistant text, assistant tool_use, user tool_result, result (golden tool-bash)."""
    lines = golden_lines("claude", "tool-bash")
    init = lines[0]
    text = next(m for m in lines if m.get("type") == "assistant" and m["message"]["content"][0]["type"] == "text")
    use = next(m for m in lines if m.get("type") == "assistant" and m["message"]["content"][0]["type"] == "tool_use")
    res = next(m for m in lines if m.get("type") == "user")
    result = lines[-1]
    return init, text, use, res, result


def _claude_pair(use: dict, res: dict, call_id: str, command: str, output: str) -> tuple[dict, dict]:
    use, res = copy.deepcopy(use), copy.deepcopy(res)
    block = use["message"]["content"][0]
    block["id"] = call_id
    block["input"]["command"] = command
    rblock = res["message"]["content"][0]
    rblock["tool_use_id"] = call_id
    rblock["content"] = output
    if isinstance(res.get("tool_use_result"), dict):
        res["tool_use_result"]["stdout"] = output  # Claude Code repeats the output here
    return use, res


def claude_big_tools(path: Path, size: int, output_bytes: int = 50_000) -> int:
    """Claude stream-json of about `size` bytes: init, then rounds of a short assistant text,
    a Bash tool_use and its ~100 KB user tool_result line (the output twice, as Claude Code
    writes it), then the result line. Returns the byte count written."""
    init, text, use, res, result = _claude_parts()
    output = tool_output(output_bytes)
    marker = "XXXXXXXX"  # numbers the round: one message id and one tool call id per round
    text, use = copy.deepcopy(text), copy.deepcopy(use)
    text["message"]["id"] = use["message"]["id"] = f"msg_bench_{marker}"
    use_t, res_t = _claude_pair(use, res, f"toolu_bench_{marker}", "ls -l build/artifacts", output)
    block = dumps(text) + dumps(use_t) + dumps(res_t)
    head, tail = dumps(init), dumps(result)

    def blocks() -> Iterator[bytes]:
        n = 0
        while True:
            yield block.replace(marker.encode(), f"{n:08d}".encode())
            n += 1

    return _write(path, head, blocks(), tail, size)


def claude_paced(path: Path, pairs: int) -> int:
    """Claude stream-json for the latency figure: `pairs` Bash tool_use / tool_result rounds
    whose command and output carry the write time (the golden result line gives the answer).
    Returns the number of timed lines."""
    init, _text, use, res, result = _claude_parts()
    with open(path, "wb") as f:
        f.write(dumps(init))
        for n in range(pairs):
            u, r = _claude_pair(use, res, f"toolu_bench_{n:06d}", f"echo t{STAMP}", f"t{STAMP}")
            f.write(dumps(u) + dumps(r))
        f.write(dumps(result))
    return 2 * pairs


# ---------------------------------------------------------------- gemini


def _gemini_parts() -> tuple[dict, dict, dict, dict, dict, dict]:
    """init, user message, assistant delta, tool_use, tool_result, result (golden shell)."""
    lines = golden_lines("gemini", "shell")
    init = lines[0]
    user = next(m for m in lines if m.get("type") == "message" and m.get("role") == "user")
    delta = next(m for m in lines if m.get("type") == "message" and m.get("delta"))
    use = next(m for m in lines if m.get("type") == "tool_use")
    res = next(m for m in lines if m.get("type") == "tool_result")
    return init, user, delta, use, res, lines[-1]


def _gemini_pair(use: dict, res: dict, call_id: str, command: str, output: str) -> tuple[dict, dict]:
    use, res = copy.deepcopy(use), copy.deepcopy(res)
    use["tool_id"] = res["tool_id"] = call_id
    use["parameters"]["command"] = command
    res["output"] = output
    return use, res


def gemini_deltas(path: Path, size: int, deltas_per_message: int = 200) -> int:
    """Gemini stream-json of about `size` bytes, nearly all assistant `message` delta lines of
    ~120 characters; every `deltas_per_message` deltas a shell tool call ends the message (as
    in a real turn). Returns the byte count written."""
    init, user, delta, use, res, result = _gemini_parts()
    words = "The build now passes; next I will update the parser so that streamed chunks are joined. "
    lines = []
    for n in range(deltas_per_message):
        d = dict(delta)
        d["content"] = f"{n:03d} " + (words * 2)[n % 40 : n % 40 + 116]
        lines.append(dumps(d))
    marker = "bench_call_XXXXXXXX"
    u, r = _gemini_pair(use, res, marker, "make test", "ok: 412 passed\n")
    block = b"".join(lines) + dumps(u) + dumps(r)
    head, tail = dumps(init) + dumps(user), dumps(result)

    def blocks() -> Iterator[bytes]:
        n = 0
        while True:
            yield block.replace(marker.encode(), f"bench_call_{n:08d}".encode())
            n += 1

    return _write(path, head, blocks(), tail, size)


def gemini_paced(path: Path, pairs: int) -> int:
    """Gemini stream-json: `pairs` shell tool_use / tool_result rounds, then a short answer."""
    init, user, delta, use, res, result = _gemini_parts()
    with open(path, "wb") as f:
        f.write(dumps(init) + dumps(user))
        for n in range(pairs):
            u, r = _gemini_pair(use, res, f"bench_call_{n:06d}", f"echo t{STAMP}", f"t{STAMP}")
            f.write(dumps(u) + dumps(r))
        f.write(dumps({**delta, "content": "All commands ran."}) + dumps(result))
    return 2 * pairs


# ---------------------------------------------------------------- agy


def agy_paced(path: Path, pairs: int) -> int:
    """agy stream-json: `pairs` run_command steps (ACTIVE, then DONE with the output)."""
    lines = golden_lines("agy", "tool-full")
    init, result = lines[0], lines[-1]
    steps = [m for m in lines if m.get("event") == "step_update" and m["step_update"].get("step_type") == "tool"]
    active = next(m for m in steps if m["step_update"]["state"] == "ACTIVE")
    done = next(m for m in steps if m["step_update"]["state"] == "DONE")
    with open(path, "wb") as f:
        f.write(dumps(init))
        for n in range(pairs):
            a, d = copy.deepcopy(active), copy.deepcopy(done)
            for m in (a, d):
                m["step_update"]["step_index"] = n + 1
                m["step_update"]["tool_info"]["parameters"]["CommandLine"] = f"echo t{STAMP}"
            d["step_update"]["tool_info"]["output"] = f"t{STAMP}\r\n"
            f.write(dumps(a) + dumps(d))
        f.write(dumps(result))
    return 2 * pairs


PACED = {"claude": claude_paced, "gemini": gemini_paced, "agy": agy_paced}


# ---------------------------------------------------------------- helpers


def _write(path: Path, head: bytes, blocks: Iterator[bytes], tail: bytes, size: int) -> int:
    """head, then blocks until `size` bytes are reached (at least one), then tail."""
    written = 0
    with open(path, "wb", buffering=1 << 20) as f:
        f.write(head)
        written += len(head)
        for block in blocks:
            f.write(block)
            written += len(block)
            if written + len(tail) >= size:
                break
        f.write(tail)
        written += len(tail)
    return written
