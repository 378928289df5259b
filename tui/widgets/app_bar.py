"""`AppBar`: the top line of every screen — who is connected where, which screen, and the approval count.

The pending count is always visible (the issue asks for it on every screen); it turns loud when non-zero.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from tui.text import safe


class AppBar(Static):
    """Reads `app.pending_count`, `app.connection` and the screen's `TITLE`; re-renders when they change."""

    DEFAULT_CSS = """
    AppBar {
        dock: top;
        height: 1;
        width: 1fr;
        background: $panel;
        color: $foreground;
    }
    """

    def on_mount(self) -> None:
        self.watch(self.app, "pending_count", self._update)
        self.watch(self.app, "connection", self._update)

    def _update(self, _value: object = None) -> None:
        app = self.app
        pending = getattr(app, "pending_count", 0)
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(" bastion-tui ", style="bold reverse")
        text.append(f" {safe(getattr(app, 'connection', ''))}  ", style="dim")
        text.append(safe(getattr(self.screen, "TITLE", "") or ""), style="bold")
        badge = f" ⚑ {pending} pending " if pending else " ✓ no pending approvals "
        width = self.size.width or 80
        text.pad_right(max(0, width - text.cell_len - len(badge)))
        text.append(badge, style="bold black on yellow" if pending else "dim")
        self.update(text)

    def on_resize(self) -> None:
        self._update()
