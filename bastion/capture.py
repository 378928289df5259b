"""The command line a user submits in an interactive shell, read off a terminal emulator (pyte).

Best effort by nature: the gateway sees keystrokes and screen output, not the shell's own line buffer.
It reads what the user sees — the text between the end of the prompt and the end of the (possibly
wrapped) input line — so history recall, tab completion and line editing are covered. Known limits,
documented in the README: continuation lines (PS2) are read one at a time, type-ahead before the prompt
is drawn can shift the prompt boundary, and programs other than the shell that read lines (a REPL,
`cat`) are checked as if their lines were shell commands. When the reader cannot find the line it
says so (`text=None`), and the caller treats that line as opaque — never as allowed.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

import pyte

# DEC private modes that switch to the alternate screen (full-screen programs: vim, less, top).
# pyte keeps private modes in `screen.mode` shifted left by 5 bits.
_ALT_SCREEN_MODES = frozenset(m << 5 for m in (47, 1047, 1049))
_MAX_LINE_CHARS = 64 * 1024


@dataclass(frozen=True)
class SubmittedLine:
    """What the user submitted with Enter: the text, or None when it could not be read reliably."""

    text: str | None
    fullscreen: bool = False


class CommandLineReader:
    """Tracks the session's screen and where the user's input line starts."""

    def __init__(self, width: int = 80, height: int = 24) -> None:
        self._screen = pyte.Screen(max(width, 2), max(height, 2))
        self._stream = pyte.Stream(self._screen)
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._anchor: tuple[int, int] | None = None  # (row, column) where the typed line begins
        self._prompt = ""                            # the screen text left of the anchor

    def feed_output(self, data: bytes) -> None:
        """Everything the client is shown (already masked) goes through here, in order."""
        text = self._decoder.decode(data)
        if text:
            self._stream.feed(text)

    def resize(self, width: int, height: int) -> None:
        self._screen.resize(max(height, 2), max(width, 2))

    @property
    def fullscreen(self) -> bool:
        return bool(_ALT_SCREEN_MODES & self._screen.mode)

    def note_input(self) -> None:
        """The user typed something: the first keystroke of a line fixes where the line starts."""
        if self._anchor is None:
            cursor = self._screen.cursor
            self._anchor = (cursor.y, cursor.x)
            self._prompt = self._screen.display[cursor.y][: cursor.x]

    def submit(self) -> SubmittedLine:
        """Enter was pressed: the submitted line, read off the screen; then start a new line."""
        try:
            if self.fullscreen:
                return SubmittedLine(None, fullscreen=True)
            return SubmittedLine(self._read_line())
        finally:
            self._anchor = None
            self._prompt = ""

    def _read_line(self) -> str | None:
        display = self._screen.display
        cursor_row = self._screen.cursor.y
        if self._anchor is None:
            # Enter with nothing typed since the last line: the line is whatever follows the prompt,
            # which we cannot tell apart from the prompt itself. An empty-looking line is the usual case.
            row_text = display[cursor_row].rstrip()
            return "" if not row_text or row_text.endswith(("$", "#", ">", "%")) else None
        # The prompt row may have scrolled up or been redrawn (Ctrl-L): find it by its text, searching
        # up from the cursor row.
        prompt = self._prompt
        start_row = None
        for row in range(cursor_row, -1, -1):
            if display[row].startswith(prompt):
                start_row = row
                break
            if cursor_row - row > 64:
                break
        if start_row is None:
            return None
        parts = [display[start_row][len(prompt):]]
        parts.extend(display[row] for row in range(start_row + 1, cursor_row + 1))
        # pyte pads every row to the screen width, so rows between the prompt row and the cursor row are
        # soft-wrapped continuations that join without a separator.
        text = "".join(parts).rstrip()
        if len(text) > _MAX_LINE_CHARS:
            return None
        return text.strip()
