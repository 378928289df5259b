"""`TerminalView`: draws a `TerminalModel` line by line, repainting at most `fps` times a second.

Output is only queued when it arrives (`TerminalModel.write` is cheap); a timer emulates queued output for
a bounded slice of each frame and repaints once if anything changed. A flood therefore costs at most that
slice per frame, and keys and mouse stay responsive.
"""

from __future__ import annotations

import time

from rich.segment import Segment
from textual.binding import Binding
from textual.geometry import Size
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from tui.term import TerminalModel


class TerminalView(Widget, can_focus=True):
    """A read-only terminal: the session's screen, with its scrollback on shift+PgUp/PgDn or the wheel."""

    DEFAULT_CSS = """
    TerminalView {
        background: $background;
        color: $foreground;
        width: 1fr;
        height: 1fr;
        overflow: hidden;
    }
    TerminalView:focus {
        background-tint: $foreground 3%;
    }
    """

    BINDINGS = [
        Binding("shift+pageup,shift+up", "scroll_back(1)", "Scroll back", show=False),
        Binding("shift+pagedown,shift+down", "scroll_back(-1)", "Scroll forward", show=False),
        Binding("end", "scroll_live", "Live", show=False),
    ]

    scroll = reactive(0, repaint=True)  # lines scrolled back into history; 0 = following live output

    def __init__(self, model: TerminalModel, *, fps: float = 30.0, slice_seconds: float = 0.010,
                 name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.model = model
        self.fps = fps
        self.slice_seconds = slice_seconds
        self.repaints = 0  # for the benchmark and tests
        self._style = None
        self._style_frame = -1

    def on_mount(self) -> None:
        self.set_interval(1.0 / self.fps, self.frame, name="terminal-frame")

    def frame(self) -> None:
        """One frame: emulate queued output for at most `slice_seconds`, then repaint once if it changed."""
        model = self.model
        if model.backlog:
            deadline = time.perf_counter() + self.slice_seconds
            # Small pieces, so the slice really bounds the time (pyte does ~0.3 MB/s here).
            while model.backlog and time.perf_counter() < deadline:
                model.pump(256)
        if model.changed:
            model.changed = False
            self.repaints += 1
            self.refresh()

    def notify_style_update(self) -> None:
        # Focus (its background tint) or a theme change restyles the widget without a new frame: the
        # cached style must go, or lines repainted now would mix the old background with the new.
        self._style = None
        super().notify_style_update()

    def set_model(self, model: TerminalModel) -> None:
        self.model = model
        self.scroll = 0
        self.refresh()

    def get_content_width(self, container: Size, viewport: Size) -> int:
        return self.model.columns

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return self.model.lines

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        scroll = min(self.scroll, self.model.history_size)
        segments = self.model.row(y, scroll) if y < self.model.lines else []
        strip = Strip(segments) if segments else Strip([Segment(" " * width)])
        return strip.adjust_cell_length(width).apply_style(self._base_style())

    def _base_style(self):
        # `rich_style` walks the DOM (~0.4 ms); one lookup per repaint, not one per line.
        if self._style_frame != self.repaints or self._style is None:
            self._style, self._style_frame = self.rich_style, self.repaints
        return self._style

    # --- scrollback ----------------------------------------------------------------------------------
    def action_scroll_back(self, pages: int) -> None:
        step = max(1, self.size.height - 1) * pages
        self.scroll = max(0, min(self.model.history_size, self.scroll + step))

    def action_scroll_live(self) -> None:
        self.scroll = 0

    def on_mouse_scroll_up(self) -> None:
        self.scroll = min(self.model.history_size, self.scroll + 3)

    def on_mouse_scroll_down(self) -> None:
        self.scroll = max(0, self.scroll - 3)
