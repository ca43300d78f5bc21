"""Hypothesis strategies for hostile input, shared by the attack tests (issue 9: hardening).

Every request field, flag value and vendor line is attacker-controlled once a model writes the
request (the MCP server). These strategies produce the shapes that break naive code: strings a
CLI option parser would read as an option, terminal control sequences, odd bytes, secrets in
every JSON spelling, numbers outside 64-bit and float range.
"""

from __future__ import annotations

import json

from hypothesis import strategies as st

# Flags of the real vendor CLIs that grant more than the mode asked for, or change where the
# vendor reads its instructions: what an injected option would try first.
ESCALATING_FLAGS = (
    "--dangerously-skip-permissions",
    "--permission-mode=bypassPermissions",
    "--allowedTools=Bash",
    "--yolo",
    "--approval-mode=yolo",
    "-y",
    "--mode=full",
    "--add-dir=/",
    "--settings={}",
    "--mcp-config={}",
    "-p",
    "--help",
    "--version",
    "-",
    "--",
)

# A value a CLI option parser may take for an option: a leading dash, then anything.
option_like = st.one_of(
    st.sampled_from(ESCALATING_FLAGS),
    st.builds(lambda dashes, rest: dashes + rest, st.sampled_from(("-", "--")),
              st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=24)),
)

# Terminal control: CSI, OSC (title, hyperlinks, OSC 52 clipboard writes), BEL, backspace,
# carriage return, DEL, C1 controls.
TERMINAL_ESCAPES = (
    "\x1b[2J\x1b[H",  # clear screen, cursor home
    "\x1b[31mred\x1b[0m",
    "\x1b]0;owned title\x07",
    "\x1b]52;c;ZWNobyBwd25lZA==\x07",  # OSC 52: write "echo pwned" to the clipboard
    "\x1b]8;;https://example.invalid\x1b\\link\x1b]8;;\x1b\\",
    "\x07",
    "abc\x08\x08\x08xyz",
    "line\rover",
    "\x7f",
    "\x9b31m",  # C1 CSI
    "\x1bP+q544e\x1b\\",  # DCS: terminfo query
)

terminal_text = st.lists(
    st.one_of(st.sampled_from(TERMINAL_ESCAPES), st.text(max_size=8)), min_size=1, max_size=6
).map("".join)

# Text with every class of odd character: controls, NUL, bidi overrides, lone surrogates.
hostile_text = st.text(
    st.one_of(
        st.characters(codec="utf-8", exclude_categories=("Cs",)),
        st.sampled_from(("\x00", "\x1b", "\u202e", "\ufeff", "\u2028", "\x85")),
    ),
    max_size=40,
)

# Bytes that are not UTF-8 (argv on POSIX is bytes; Python shows them as surrogate escapes).
non_utf8_bytes = st.binary(min_size=1, max_size=16).filter(lambda b: _not_utf8(b))


def _not_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def json_spellings(secret: str):
    """A strategy over the ways a JSON writer may spell `secret` inside a string: plain, `\\/`
    for slashes, `\\uXXXX` for some or all characters (JavaScript's JSON.stringify leaves
    ASCII alone; other writers escape more)."""

    def spell(choices: list[int]) -> str:
        out = []
        for ch, how in zip(secret, choices, strict=False):
            if how == 1:
                out.append(f"\\u{ord(ch):04x}")
            elif how == 2:
                out.append(f"\\u{ord(ch):04X}")
            elif how == 3 and ch == "/":
                out.append("\\/")
            else:
                out.append(json.dumps(ch)[1:-1])
        return "".join(out)

    return st.lists(st.integers(0, 3), min_size=len(secret), max_size=len(secret)).map(spell)


# Numbers past what orjson (64-bit integers) and floats take, as JSON text.
odd_numbers = st.one_of(
    st.sampled_from(("18446744073709551616", "-9223372036854775809", "1e400", "-1e400", "1e-400",
                     "123456789012345678901234567890", "0.1e99999")),
    st.integers(min_value=2**64, max_value=2**200).map(str),
)


def _cut(data: bytes, at: int) -> bytes:
    return data[: max(1, min(at, len(data) - 1))]


_REQUEST = b'{"protocol_version":1,"cwd":"/tmp","message":"Fix the tests"}'

# Stdin instead of a clean request: NUL bytes, UTF-16/32 with and without a byte-order mark,
# JSON cut short or with a trailing comma, bytes that are not UTF-8, text that only opens with
# a brace. Each must give a completed run or a bad_request, never a traceback.
hostile_stdin = st.one_of(
    st.builds(_cut, st.just(_REQUEST), st.integers(1, len(_REQUEST))),
    st.sampled_from((
        b'{"protocol_version": 2, "message": "hi",}',
        b'{"message": "a\\u0000b"}',
        b'{"message": "\\ud800"}',
        b"hello\x00world",
        b"{placeholder} text",
        b"{}",
    )),
    st.builds(lambda text, codec: text.encode(codec), st.text(min_size=1, max_size=20),
              st.sampled_from(("utf-16", "utf-16-le", "utf-32", "utf-8-sig"))),
    non_utf8_bytes,
    st.builds(lambda head, tail: head + tail, st.sampled_from((b"{", b'{"', b'{"protocol_version":1,', b"\xef\xbb\xbf{")),
              st.binary(max_size=32)),
)


# JSON tokens orjson refuses or cannot write again, as raw JSON text (issue 13): numbers out
# of range, NaN/Infinity, the largest integers orjson reads (their sums are past 64 bits), lone
# UTF-16 surrogate escapes (JavaScript's JSON.stringify of a cut emoji), raw bytes that are not
# UTF-8 inside a string, and nesting deeper than orjson reads (1024) or writes (254).
def _nested(depth: int, leaf: str = "0") -> str:
    return "[" * depth + leaf + "]" * depth


hostile_json_tokens = st.one_of(
    odd_numbers,
    st.sampled_from(("NaN", "Infinity", "-Infinity", str(2**64 - 1), str(2**63), "-1", "1e308", "-0.0")),
    st.sampled_from(('"\\ud83d"', '"\\udc00 tail"', '"cut \\ud83d\\ud83d emoji"', '"\\ude00\\ud83d"', '"ok \\ud83d\\ude00"')),
    st.builds(lambda depth: _nested(depth), st.sampled_from((255, 600, 1025, 5000, 100_000))),
    st.builds(lambda depth: _nested(depth, '{"a":"\\ud83d"}'), st.integers(1, 300)),
)
# Bytes to splice into a JSON string: not UTF-8, or UTF-8 of a lone surrogate (CESU-style).
hostile_string_bytes = st.one_of(non_utf8_bytes.map(lambda b: b.replace(b'"', b"").replace(b"\\", b"")),
                                 st.sampled_from((b"\xed\xa0\xbd", b"\xed\xb8\x80", b"\xff", b"\xc3")))


def escaped_nested(spelling: str, levels: int) -> str:
    """`spelling` (already the text inside one JSON string) as it reads after `levels` more
    rounds of JSON encoding: a JSON document carried inside a JSON string, inside another..."""
    for _ in range(levels):
        spelling = json.dumps(spelling)[1:-1]
    return spelling
