"""Terminal screen bytes -> clean text, through a terminal emulator (pyte).

agy's TUI output under a pseudo-terminal is a screen, not a text stream: carriage returns,
cursor moves, line erases, colours, OSC titles, a braille spinner redrawn in place, box drawing.
Replaying it on an emulated terminal and reading what the screen finally shows is exact where
regexes over the byte stream guess. Lines made only of spinner or box glyphs are dropped.
"""

from __future__ import annotations

import pyte

SPINNER = set("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏⠁⠂⠄⡀⢀⠠⠐⠈")
BOX = set("╭─╮│╰╯┌┐└┘├┤┬┴┼━┃═║╔╗╚╝")
COLS = 2000  # as the shim's pty (agy-headless-bridge found 200 columns split words)
ROWS = 50


class ScreenText:
    def __init__(self, cols: int = COLS, rows: int = ROWS, history: int = 100_000) -> None:
        self._screen = pyte.HistoryScreen(cols, rows, history=history, ratio=0.5)
        self._screen.set_mode(pyte.modes.LNM)  # a bare \n also returns the carriage, as on a pipe
        self._stream = pyte.ByteStream(self._screen)

    def feed(self, data: bytes) -> None:
        self._stream.feed(data)

    def lines(self) -> list[str]:
        """Every line the screen showed, scrolled-off history first, trailing blanks removed."""
        scr = self._screen
        history = ["".join(ch.data for ch in (row[x] for x in range(scr.columns))) for row in scr.history.top]
        return [line.rstrip() for line in [*history, *scr.display]]

    def text(self) -> str:
        kept = []
        for line in self.lines():
            stripped = line.strip()
            if stripped and set(stripped.replace(" ", "")) <= SPINNER | BOX:
                continue  # spinner frames and box borders are decoration
            if len(stripped) >= 2 and stripped[0] in BOX and stripped[-1] in BOX:
                continue  # a line inside a box: the TUI's banner or a panel, not the answer
            if stripped[:1] in SPINNER:
                continue  # a spinner with its status text ("⠹ Thinking...")
            kept.append(line.rstrip())
        while kept and not kept[-1].strip():
            kept.pop()
        while kept and not kept[0].strip():
            kept.pop(0)
        return "\n".join(kept)

