"""A terminal emulator model for session output: pyte behind a bounded backlog, rendered as styled lines.

Pure (no Textual, no I/O). Session output only ever reaches the reviewer as `rich.segment.Segment`s made
from pyte's cells, with control characters made visible, so no escape sequence from a session (title
changes, OSC 52 clipboard writes, cursor games, device queries) reaches the reviewer's real terminal.

pyte parses about 0.3 MB/s on this kind of machine, far below what a session can print. So output is queued,
fed to pyte in slices by `pump()`, and when the queue holds more than the emulator could catch up with
quickly, its head is dropped and only the tail (enough for a full screen) is kept: the view stays current, and
the dropped amount is counted in `skipped` (the recording keeps everything; replay it to read it all).
"""

from __future__ import annotations

from collections import deque
from functools import lru_cache

import pyte
from pyte.screens import Margins
from rich.color import Color
from rich.segment import Segment
from rich.style import Style

from tui.text import safe

_ALT_SCREEN_MODES = {47 << 5, 1047 << 5, 1049 << 5}  # pyte shifts private modes by 5 bits
_NAMES = {"black": "black", "red": "red", "green": "green", "brown": "yellow", "yellow": "yellow",
          "blue": "blue", "magenta": "magenta", "cyan": "cyan", "white": "white"}


@lru_cache(maxsize=1024)
def _color(name: str) -> Color | None:
    if name == "default":
        return None
    if name.startswith("bright"):
        base = _NAMES.get(name[6:])
        return Color.parse(f"bright_{base}") if base else None
    if name in _NAMES:
        return Color.parse(_NAMES[name])
    if len(name) == 6:
        try:
            return Color.parse("#" + name)
        except Exception:  # noqa: BLE001 - a malformed colour is drawn in the default colour
            return None
    return None


@lru_cache(maxsize=4096)
def char_style(fg: str, bg: str, bold: bool, italics: bool, underscore: bool, strikethrough: bool,
               reverse: bool) -> Style:
    """One cached rich Style per distinct pyte cell attribute set."""
    return Style(color=_color(fg), bgcolor=_color(bg), bold=bold or None, italic=italics or None,
                 underline=underscore or None, strike=strikethrough or None, reverse=reverse or None)


CURSOR_STYLE = Style(reverse=True)
_STYLES: dict[tuple, Style] = {}  # pyte attributes (a Char without its data) -> Style


def _style_of(char) -> Style:
    key = char[1:8]  # fg, bg, bold, italics, underscore, strikethrough, reverse
    style = _STYLES.get(key)
    if style is None:
        if len(_STYLES) > 4096:  # bounded: 256-colour/true-colour output can make many
            _STYLES.clear()
        style = _STYLES[key] = char_style(*key)
    return style


_BLANK = pyte.screens.Char(" ")


class EmulatorScreen(pyte.Screen):
    """pyte's Screen plus what sessions need: a bounded scrollback of rendered lines and the alternate
    screen (full-screen programs restore the shell's screen when they exit)."""

    def __init__(self, columns: int, lines: int, scrollback: int) -> None:
        super().__init__(columns, lines)
        self.history: deque[tuple[Segment, ...]] = deque(maxlen=max(0, scrollback))
        self._saved_main: tuple[dict, tuple[int, int]] | None = None
        self.title_changes = 0  # counted, never passed on
        self.keep_history = True  # off while a flood is being skipped (see TerminalModel.pump)

    @property
    def in_alternate(self) -> bool:
        return self._saved_main is not None

    def index(self) -> None:
        top, bottom = self.margins or Margins(0, self.lines - 1)
        # Only whole-screen scrolling of the main screen feeds the scrollback (as xterm does).
        if (self.cursor.y == bottom and top == 0 and not self.in_alternate and self.history.maxlen
                and self.keep_history):
            self.history.append(tuple(render_row(self.buffer[0], self.columns)))
        super().index()

    def set_mode(self, *modes: int, **kwargs) -> None:
        if kwargs.get("private") and any((m << 5) in _ALT_SCREEN_MODES for m in modes):
            if self._saved_main is None:
                self._saved_main = ({y: dict(line) for y, line in self.buffer.items()},
                                    (self.cursor.x, self.cursor.y))
                self.erase_in_display(2)
            modes = tuple(m for m in modes if (m << 5) not in _ALT_SCREEN_MODES)
        if modes:
            super().set_mode(*modes, **kwargs)

    def reset_mode(self, *modes: int, **kwargs) -> None:
        if kwargs.get("private") and any((m << 5) in _ALT_SCREEN_MODES for m in modes):
            if self._saved_main is not None:
                saved, (x, y) = self._saved_main
                self._saved_main = None
                self.buffer.clear()
                for row, cells in saved.items():
                    if row < self.lines:
                        self.buffer[row].update({c: ch for c, ch in cells.items() if c < self.columns})
                self.cursor.x, self.cursor.y = min(x, self.columns - 1), min(y, self.lines - 1)
                self.dirty.update(range(self.lines))
            modes = tuple(m for m in modes if (m << 5) not in _ALT_SCREEN_MODES)
        if modes:
            super().reset_mode(*modes, **kwargs)

    def set_title(self, param: str) -> None:
        self.title_changes += 1  # kept out of the reviewer's terminal on purpose

    def set_icon_name(self, param: str) -> None:
        self.title_changes += 1


def render_row(line: dict, columns: int, cursor_x: int | None = None) -> list[Segment]:
    """One pyte buffer line as segments `columns` cells wide, runs of equal style merged."""
    segments: list[Segment] = []
    run: list[str] = []
    run_style: Style | None = None
    default = getattr(line, "default", None) or _BLANK
    get = line.get
    for x in range(columns):
        char = get(x, default)
        data = char[0]
        if data == "":
            continue  # the right half of a wide character
        style = _style_of(char)
        if not data.isprintable():
            data = safe(data) if data != "\t" else " "
        if x == cursor_x:
            style = style + CURSOR_STYLE
        if style is not run_style and style != run_style:
            if run:
                segments.append(Segment("".join(run), run_style))
            run, run_style = [data], style
        else:
            run.append(data)
    if run:
        segments.append(Segment("".join(run), run_style))
    return segments


class TerminalModel:
    """One session's terminal: queue output with `write()`, emulate with `pump()`, read rows with `row()`.

    `scrollback` bounds the kept history (lines); `backlog_limit` bounds queued, not yet emulated output
    (characters) — past it the head is dropped and counted in `skipped`.
    """

    FLOOD_BACKLOG = 16 * 1024  # queued characters beyond which output counts as a flood

    def __init__(self, columns: int = 80, lines: int = 24, *, scrollback: int = 2000,
                 backlog_limit: int = 64 * 1024) -> None:
        self.screen = EmulatorScreen(columns, lines, scrollback)
        self.stream = pyte.Stream(self.screen)
        self.backlog_limit = backlog_limit
        self._pending: deque[str] = deque()
        self._pending_size = 0
        self.skipped = 0  # characters dropped unseen
        self.fed = 0  # characters emulated
        self.changed = True  # set on every change; the view clears it when it repaints

    # --- input ---------------------------------------------------------------------------------------
    def write(self, text: str) -> None:
        if not text:
            return
        self._pending.append(text)
        self._pending_size += len(text)
        if self._pending_size > self.backlog_limit:
            self._drop_head()

    def _drop_head(self) -> None:
        joined = "".join(self._pending)
        # Keep enough for a few full screens; start at a line boundary so we never begin mid-sequence.
        keep = max(4 * self.screen.columns * self.screen.lines, 4096)
        tail = joined[-keep:]
        newline = tail.find("\n")
        if 0 <= newline < len(tail) - 1:
            tail = tail[newline + 1:]
        self.skipped += len(joined) - len(tail)
        # The dropped part may have left colours on; the kept tail starts from plain attributes.
        self._pending = deque(["\x1b[0m", tail])
        self._pending_size = len(tail) + 4

    @property
    def backlog(self) -> int:
        """Characters queued but not yet emulated."""
        return self._pending_size

    def pump(self, max_chars: int = 4096) -> int:
        """Emulate up to about `max_chars` of queued output; returns how many characters were fed."""
        fed = 0
        # While output is being skipped to keep up, lines scrolling past are not rendered into the
        # scrollback: that rendering would cost more than emulating them, and most of the flood is
        # skipped anyway (the recording has it all).
        self.screen.keep_history = self._pending_size <= self.FLOOD_BACKLOG
        while self._pending and fed < max_chars:
            chunk = self._pending.popleft()
            room = max_chars - fed
            if len(chunk) > room:
                self._pending.appendleft(chunk[room:])
                chunk = chunk[:room]
            self._pending_size -= len(chunk)
            self.stream.feed(chunk)
            fed += len(chunk)
        if fed:
            self.fed += fed
            self.changed = True
        return fed

    def resize(self, columns: int, lines: int) -> None:
        """An `r` event: the session's terminal changed size (queued output is emulated first)."""
        while self._pending:
            self.pump(1 << 20)
        if (columns, lines) != (self.screen.columns, self.screen.lines) and columns > 0 and lines > 0:
            self.screen.resize(lines, columns)
            self.changed = True

    def reset(self) -> None:
        """Back to a blank screen (replay seeks backwards this way)."""
        scrollback = self.screen.history.maxlen or 0
        self.screen = EmulatorScreen(self.screen.columns, self.screen.lines, scrollback)
        self.stream = pyte.Stream(self.screen)
        self._pending.clear()
        self._pending_size = 0
        self.changed = True

    # --- output --------------------------------------------------------------------------------------
    @property
    def columns(self) -> int:
        return self.screen.columns

    @property
    def lines(self) -> int:
        return self.screen.lines

    @property
    def history_size(self) -> int:
        return len(self.screen.history)

    def row(self, y: int, scroll: int = 0) -> list[Segment]:
        """Row `y` of the view scrolled `scroll` lines back into history (0 = the live screen)."""
        history = self.screen.history
        index = len(history) - scroll + y
        if index < len(history):
            return list(history[index]) if index >= 0 else []
        screen_y = index - len(history)
        if screen_y >= self.screen.lines:
            return []
        cursor = self.screen.cursor
        cursor_x = cursor.x if (scroll == 0 and not cursor.hidden and cursor.y == screen_y) else None
        return render_row(self.screen.buffer[screen_y], self.screen.columns, cursor_x)

    def text(self) -> str:
        """The visible screen as plain text (for tests and tmux-free debugging)."""
        return "\n".join(line.rstrip() for line in self.screen.display)
