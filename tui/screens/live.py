"""Live view: watched sessions in tabs, each its masked output through the emulator beside its decisions."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Static, TabbedContent, TabPane

from tui.errors import ReviewClientError
from tui.models import Session, WatchEnded
from tui.screens.base import BastionScreen
from tui.screens.dialogs import ConfirmTerminate
from tui.term import TerminalModel
from tui.text import ACTION_STYLES, media_time, plain, safe
from tui.widgets.terminal_view import TerminalView

SCROLLBACK_LINES = 5000
DECISION_WORDS = ("allow", "deny", "review", "approve", "approved", "denied", "expired", "terminated")


def pane_id(session_id: str) -> str:
    return "live-" + "".join(c if c.isalnum() or c in "-_" else "_" for c in session_id)


class LivePane(TabPane):
    """One watched session: it owns the watch, the terminal model and the decision list."""

    DEFAULT_CSS = """
    LivePane { padding: 0; }
    LivePane .info { height: 1; width: 1fr; padding: 0 1; background: $boost; }
    LivePane Horizontal { height: 1fr; }
    LivePane #decisions { width: 44; height: 1fr; border-left: solid $primary-muted; }
    LivePane.narrow #decisions { display: none; }
    """

    def __init__(self, session: Session) -> None:
        super().__init__(safe(f"{session.user}@{session.target}"), id=pane_id(session.id))
        self.session = session
        self.model = TerminalModel(100, 30, scrollback=SCROLLBACK_LINES)
        self.status = "connecting"
        self.view = TerminalView(self.model)

    def compose(self):
        yield Static("", classes="info")
        with Horizontal():
            yield self.view
            yield DataTable(id="decisions", cursor_type="row", show_cursor=False)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_column("t", key="t")
        table.add_column("Decision", key="action")
        table.add_column("Command", key="text")
        self._info()
        self.set_interval(0.5, self._info, name="live-info")
        self.follow()

    def on_resize(self) -> None:
        self.set_class(self.size.width < 110, "narrow")

    def _info(self) -> None:
        s = self.session
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append_text(plain(f"{s.user}@{s.target}", "bold"))
        text.append(f"  {safe(s.id)}  {s.kind}  ", style="dim")
        style = "bold green" if self.status == "live" else ("red" if "terminated" in self.status else "yellow")
        text.append(f"● {self.status}", style=style)
        if self.model.skipped:
            text.append(f"  ⋯ {self.model.skipped / 1e6:.1f} MB skipped to keep up (replay has it all)",
                        style="yellow")
        if self.view.scroll:
            text.append(f"  ↑ {self.view.scroll} lines back (End: live)", style="magenta")
        info = self.query_one(".info", Static)
        if text != getattr(self, "_last_info", None):  # an unchanged line costs no repaint
            self._last_info = text
            info.update(text)

    @work(exclusive=True, group="watch")
    async def follow(self) -> None:
        """Watch the session; on `lagged`, watch again (the server catches up from the recording)."""
        client = self.app.client  # type: ignore[attr-defined]
        for _attempt in range(3):
            try:
                watch = await client.watch(self.session.id)
            except ReviewClientError as exc:
                self.status = f"cannot watch: {exc}"
                return
            self.watch_handle = watch
            header = watch.header
            width, height = header.get("width"), header.get("height")
            self.model.reset()
            self.query_one(DataTable).clear()
            if isinstance(width, int) and isinstance(height, int):
                self.model.resize(width, height)
            self.status = "live" if watch.live else "ended"
            ended: WatchEnded | None = None
            async for event in watch.events():
                if isinstance(event, WatchEnded):
                    ended = event
                    break
                if event.code == "o":
                    self.model.write(event.data)
                elif event.code == "r":
                    cols, _, rows = event.data.partition("x")
                    if cols.isdigit() and rows.isdigit():
                        self.model.resize(int(cols), int(rows))
                elif event.code == "m":
                    self._marker(event.t, event.data)
            if ended is None:
                self.status = "disconnected"
                return
            if not ended.lagged:
                exit_text = "" if ended.exit_status is None else f", exit {ended.exit_status}"
                self.status = f"ended: {ended.status or 'closed'}{exit_text}"
                return
            self.status = "fell behind; catching up"
        self.status = "fell behind repeatedly; use Replay"

    def _marker(self, t: float, label: str) -> None:
        word, _, rest = label.partition(" ")
        table = self.query_one(DataTable)
        if word in DECISION_WORDS:
            rule, _, command = rest.partition(": ")
            action = Text(word, style=ACTION_STYLES.get(word, ""))
            action.append_text(plain(f" {rule}", "dim"))
            table.add_row(Text(media_time(t), style="dim"), action, plain(command or rest))
        else:
            table.add_row(Text(media_time(t), style="dim"), plain(word, "dim"), plain(rest, "dim"))
        table.scroll_end(animate=False)

    async def stop(self) -> None:
        handle = getattr(self, "watch_handle", None)
        self.workers.cancel_group(self, "watch")
        if handle is not None:
            await handle.close()


class LiveScreen(BastionScreen):
    """Tabs of watched sessions. `x` terminates the session in front (after a confirmation)."""

    TITLE = "Live"
    AUTO_FOCUS = "TerminalView"
    BINDINGS = [
        Binding("x", "terminate", "Terminate"),
        Binding("c", "close_tab", "Close tab"),
        Binding("right_square_bracket", "tab(1)", "Next tab"),
        Binding("left_square_bracket", "tab(-1)", "Prev tab"),
        Binding("shift+pageup", "scroll_back(1)", "Scroll back"),
        Binding("shift+pagedown", "scroll_back(-1)", "Scroll fwd", show=False),
    ]

    def compose_body(self):
        yield Static(Text("No session watched yet: pick one on Sessions (1) and press Enter or w.",
                          style="dim"), id="empty", classes="hint")
        yield TabbedContent(id="tabs")

    def panes(self) -> list[LivePane]:
        return list(self.query(LivePane))

    def current(self) -> LivePane | None:
        tabs = self.query_one(TabbedContent)
        pane = tabs.active_pane
        return pane if isinstance(pane, LivePane) else None

    async def open(self, session: Session) -> LivePane:
        tabs = self.query_one(TabbedContent)
        pane = next((p for p in self.panes() if p.session.id == session.id), None)
        if pane is None:
            pane = LivePane(session)
            await tabs.add_pane(pane)
            self.query_one("#empty").display = False
        self._activate(pane)
        return pane

    def _activate(self, pane: LivePane) -> None:
        tabs = self.query_one(TabbedContent)
        tabs.active = pane.id or ""
        # Adding a tab makes Tabs post its own activation, which lands later and would win: set it again
        # once pending messages are through.
        self.call_after_refresh(setattr, tabs, "active", pane.id or "")
        self.call_after_refresh(pane.view.focus)

    async def action_close_tab(self) -> None:
        pane = self.current()
        if pane is None:
            return
        await pane.stop()
        await self.query_one(TabbedContent).remove_pane(pane.id or "")
        self.query_one("#empty").display = not self.panes()

    def action_tab(self, step: int) -> None:
        panes = self.panes()
        current = self.current()
        if not panes or current is None:
            return
        self._activate(panes[(panes.index(current) + step) % len(panes)])

    def action_scroll_back(self, pages: int) -> None:
        pane = self.current()
        if pane is not None:
            pane.view.action_scroll_back(pages)

    def action_terminate(self) -> None:
        pane = self.current()
        if pane is None:
            self.notify("No session in front.", severity="warning")
            return
        session = pane.session
        if not session.live or pane.status.startswith("ended"):
            self.notify("That session has already ended.", severity="warning")
            return
        description = plain(f"{session.user}@{session.target}  ({session.id})", "bold")

        async def done(reason: str | None) -> None:
            if reason is None:
                return
            try:
                await self.client.terminate(session.id, reason)
            except ReviewClientError as exc:
                self.notify(safe(str(exc)), title="Terminate failed", severity="error", markup=False)
                return
            self.notify(safe(f"Terminated {session.user}@{session.target}: {reason}"), markup=False)

        self.app.push_screen(ConfirmTerminate(description), done)
