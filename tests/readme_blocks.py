"""The README's generated samples, as text (no processes, no files): the blocks between
`<!-- sample: NAME -->` and `<!-- /sample -->`, a terminal's final screen from the bytes a
program wrote to it, a run's NDJSON with its `result` line shortened, and the masking that
lets a check ignore what differs on every run. tests/readme_samples.py runs the demos."""

from __future__ import annotations

import json
import re

SAMPLE = re.compile(r"(?P<open><!-- sample: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(?P<close><!-- /sample -->)", re.S)
FENCE = "```"


class SampleError(Exception):
    pass


def fenced(text: str) -> str:
    return f"{FENCE}\n{text}\n{FENCE}\n"


def samples(readme: str) -> dict[str, str]:
    """NAME -> the text of its fenced block."""
    out = {}
    for m in SAMPLE.finditer(readme):
        body = m.group("body")
        if not (body.startswith(FENCE + "\n") and body.endswith("\n" + FENCE + "\n")):
            raise SampleError(f"sample {m.group('name')}: not one fenced block")
        out[m.group("name")] = body[len(FENCE) + 1:-len(FENCE) - 2]
    return out


def with_samples(readme: str, texts: dict[str, str]) -> str:
    """The README with each named block's text replaced; every name must have its markers, and
    every marked block a text (a sample nobody writes would go stale unseen)."""
    found = set(samples(readme))
    if found != set(texts):
        raise SampleError(f"README samples {sorted(found)} but generated {sorted(texts)}")
    return SAMPLE.sub(lambda m: m.group("open") + fenced(texts[m.group("name")]) + m.group("close"), readme)


def screen_text(written: bytes, columns: int, rows: int) -> str:
    """What a terminal of that size shows once the program has written `written` to it: the
    final screen, trailing blank lines and spaces dropped. An in-place update (a tool line
    redrawn, a live region) shows as its last state, as a person sees it."""
    import pyte

    screen = pyte.HistoryScreen(columns, rows, history=rows)
    pyte.ByteStream(screen).feed(written)
    if screen.history.top:
        raise SampleError(f"the output is longer than the {rows}-row screen: its start scrolled away")
    lines = [line.rstrip() for line in screen.display]
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


# The result envelope is long; the sample keeps what a reader looks for, up to `usage`.
RESULT_CUT_AFTER = "usage"


def ndjson_sample(events: bytes) -> str:
    """A run's event lines as printed, the `result` line cut after its `usage` (marked `,…}`)."""
    lines = events.decode("utf-8").splitlines()
    return "\n".join(_short_result(line) if line.startswith('{"type":"result"') else line for line in lines)


def _short_result(line: str) -> str:
    result = json.loads(line)
    kept = {}
    for key, value in result.items():
        kept[key] = value
        if key == RESULT_CUT_AFTER:
            break
    return json.dumps(kept, ensure_ascii=False, separators=(",", ":"))[:-1] + ",…}"


# What legitimately differs from one run to the next, each made one token. Narrow on purpose:
# a token count, a line, a word or the layout that changed must still show as a difference.
MASKS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"), "<uuid>"),
    (re.compile(r"\bfake-session-[0-9a-f]{8}\b"), "fake-session-<id>"),
    (re.compile(r"\b\d{8}T\d{6}\.\d{3}Z-[a-z]+-[0-9a-f]{6}\b"), "<run-id>"),
    (re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?Z?)?"), "<date>"),
    (re.compile(r"\b\d{2}:\d{2}:\d{2}\b"), "<clock>"),
    (re.compile(r'"duration_ms":\d+'), '"duration_ms":<n>'),
    # An elapsed time (0.9s, 850ms, 1m 02s), with the padding before it: a right-aligned one
    # is as wide as its digits.
    (re.compile(r" *\b(?:\d+h ?)?(?:\d+m ?)?\d+(?:\.\d+)?(?:ms|s)\b"), " <elapsed>"),
)


def masked(text: str) -> str:
    for pattern, token in MASKS:
        text = pattern.sub(token, text)
    return text
