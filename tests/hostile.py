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


def escaped_nested(spelling: str, levels: int) -> str:
    """`spelling` (already the text inside one JSON string) as it reads after `levels` more
    rounds of JSON encoding: a JSON document carried inside a JSON string, inside another..."""
    for _ in range(levels):
        spelling = json.dumps(spelling)[1:-1]
    return spelling
