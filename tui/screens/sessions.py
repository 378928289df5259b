"""Sessions: live and recent gateway sessions, filtered and searched; live rows update in place."""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Input, Static

from tui.errors import ReviewClientError
from tui.models import Session
from tui.screens.base import BastionScreen
from tui.text import STATUS_STYLES, clock_time, duration, plain, safe

FILTERS = ("all", "live", "recent")
COLUMNS = (("live", ""), ("user", "User"), ("target", "Target"), ("started", "Started"),
           ("duration", "Duration"), ("commands", "Cmds"), ("denied", "Deny"), ("held", "Held"),
           ("status", "Status"), ("what", "Command / id"))


class SessionsScreen(BastionScreen):
    """The session list. Enter or `w` watches a session live; `r` replays its recording."""

    TITLE = "Sessions"
    AUTO_FOCUS = "#sessions"
    BINDINGS = [
        Binding("w", "watch", "Watch"),
        Binding("r", "replay", "Replay"),
        Binding("f", "cycle_filter", "Filter"),
        Binding("slash", "search", "Search"),
        Binding("escape", "clear_search", "Clear search", show=False),
        Binding("ctrl+r", "reload", "Reload", show=False),
    ]

    REFRESH_SECONDS = 2.0

    def __init__(self) -> None:
        super().__init__()
        self.sessions: dict[str, Session] = {}
        self.status_filter = "all"
        self.search = ""

    def compose_body(self):
        with Horizontal(classes="toolbar"):
            yield Input(placeholder="/ search user, target, command, status", id="search")
            yield Static("", id="filter", classes="hint")
        yield DataTable(id="sessions", cursor_type="row", zebra_stripes=True)
        yield Static("", id="summary", classes="hint")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        self.query_one("#search", Input).cursor_blink = self.tui.cursor_blink
        self._show_filter()
        table.focus()
        self.reload()
        self.set_interval(self.REFRESH_SECONDS, self.reload, name="sessions-reload")
        self.set_interval(1.0, self._tick, name="sessions-tick")

    @work(exclusive=True, group="sessions-reload")
    async def reload(self) -> None:
        try:
            sessions = await self.client.list_sessions(limit=200)
        except ReviewClientError as exc:
            self.query_one("#summary", Static).update(plain(str(exc), "red"))
            return
        self.sessions = {s.id: s for s in sessions}
        self._render_rows()

    def action_reload(self) -> None:
        self.reload()

    # --- rows ----------------------------------------------------------------------------------------
    def visible(self) -> list[Session]:
        rows = list(self.sessions.values())
        if self.status_filter == "live":
            rows = [s for s in rows if s.live]
        elif self.status_filter == "recent":
            rows = [s for s in rows if not s.live]
        if self.search:
            needle = self.search.lower()
            rows = [s for s in rows if needle in " ".join((s.id, s.user, s.target, s.command, s.status,
                                                            s.account, s.kind)).lower()]
        return sorted(rows, key=lambda s: (not s.live, -s.started_at, s.id))

    def _cells(self, s: Session) -> dict[str, Text]:
        now = self.tui.clock.now()
        return {
            "live": Text("●", style="bold green") if s.live else Text("○", style="dim"),
            "user": plain(s.user, "bold"),
            "target": plain(s.target),
            "started": Text(clock_time(s.started_at, now)),
            "duration": Text(duration(s.duration(now)), justify="right"),
            "commands": Text(str(s.commands), justify="right"),
            "denied": Text(str(s.denied), style="red" if s.denied else "dim", justify="right"),
            "held": Text(str(s.held), style="yellow" if s.held else "dim", justify="right"),
            "status": Text(s.status, style=STATUS_STYLES.get(s.status, "")),
            "what": plain(s.command if s.kind == "exec" and s.command else f"{s.kind} {s.id}",
                          "" if s.kind == "exec" else "dim"),
        }

    def _render_rows(self) -> None:
        table = self.query_one(DataTable)
        rows = self.visible()
        wanted = [s.id for s in rows]
        current = [str(key.value) for key in table.rows]
        if wanted == current:
            # Same rows in the same order: update in place so the cursor and scroll stay put.
            for s in rows:
                for key, cell in self._cells(s).items():
                    table.update_cell(s.id, key, cell)
        else:
            selected = self.selected()
            table.clear()
            for s in rows:
                cells = self._cells(s)
                table.add_row(*(cells[key] for key, _ in COLUMNS), key=s.id)
            if selected is not None and selected.id in wanted:
                table.move_cursor(row=wanted.index(selected.id))
        live = sum(1 for s in self.sessions.values() if s.live)
        self.query_one("#summary", Static).update(
            Text(f"{len(rows)} shown · {live} live · {len(self.sessions)} total", no_wrap=True))

    def _tick(self) -> None:
        table = self.query_one(DataTable)
        now = self.tui.clock.now()
        for s in self.sessions.values():
            if s.live and s.id in table.rows:
                table.update_cell(s.id, "duration", Text(duration(s.duration(now)), justify="right"))

    def selected(self) -> Session | None:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        return self.sessions.get(str(key.value))

    # --- actions -------------------------------------------------------------------------------------
    @on(DataTable.RowSelected)
    async def _selected(self) -> None:
        await self.action_watch()

    async def action_watch(self) -> None:
        session = self.selected()
        if session is not None:
            await self.tui.watch_session(session)

    async def action_replay(self) -> None:
        session = self.selected()
        if session is not None:
            await self.tui.replay_session(session.id)

    def action_cycle_filter(self) -> None:
        self.status_filter = FILTERS[(FILTERS.index(self.status_filter) + 1) % len(FILTERS)]
        self._show_filter()
        self._render_rows()

    def _show_filter(self) -> None:
        label = Text("showing: ")
        for name in FILTERS:
            label.append(f" {name} ", style="bold reverse" if name == self.status_filter else "dim")
        self.query_one("#filter", Static).update(label)

    def action_search(self) -> None:
        self.query_one("#search", Input).focus()

    def action_clear_search(self) -> None:
        field = self.query_one("#search", Input)
        field.value = ""
        self.query_one(DataTable).focus()

    @on(Input.Changed, "#search")
    def _search_changed(self, event: Input.Changed) -> None:
        self.search = safe(event.value.strip())
        self._render_rows()

    @on(Input.Submitted, "#search")
    def _search_done(self) -> None:
        self.query_one(DataTable).focus()
