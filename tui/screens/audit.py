"""Audit: search decided commands by user, target, action, time and text."""

from __future__ import annotations

import re
import time
from calendar import timegm

from rich.text import Text
from textual import on, work
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Input, Select, Static

from tui.errors import ReviewClientError
from tui.models import AuditQuery, Command
from tui.screens.base import BastionScreen
from tui.text import ACTION_STYLES, clock_time, plain, safe

ACTIONS = ("allow", "deny", "review")
_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
COLUMNS = (("at", "When"), ("user", "User"), ("target", "Target"), ("action", "Action"), ("text", "Command"),
           ("rule", "Rule"), ("reason", "Reason"), ("session", "Session"))


def parse_when(text: str, now: float) -> float | None:
    """`""` → None; `15m`, `2h`, `3d` → that long ago; `2026-01-01` or `2026-01-01 10:30` (UTC) → that time."""
    text = text.strip()
    if not text:
        return None
    relative = _RELATIVE.match(text)
    if relative:
        return now - float(relative.group(1)) * _UNITS[relative.group(2)]
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d"):
        try:
            return float(timegm(time.strptime(text, fmt)))
        except ValueError:
            continue
    raise ValueError(f"cannot read the time {text!r} (try 15m, 2h, 3d or 2026-01-01 10:30)")


class AuditScreen(BastionScreen):
    """Filters on top, results below; Enter in any field searches, `r` replays the selected session."""

    TITLE = "Audit"
    AUTO_FOCUS = "#results"
    BINDINGS = [
        Binding("ctrl+s", "search", "Search"),
        Binding("r", "replay", "Replay session"),
        Binding("slash", "focus_filters", "Filters"),
        Binding("escape", "focus_results", "Results", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.results: dict[str, Command] = {}

    def compose_body(self):
        with Horizontal(classes="toolbar", id="filters1"):
            yield Input(placeholder="user", id="user")
            yield Input(placeholder="target", id="target")
            yield Select([(a, a) for a in ACTIONS], prompt="any action", id="action", allow_blank=True,
                         compact=True)
        with Horizontal(classes="toolbar", id="filters2"):
            yield Input(placeholder="text in command or reason", id="text")
            yield Input(placeholder="since (15m, 2h, 2026-01-01)", id="since")
            yield Input(placeholder="until", id="until")
        yield DataTable(id="results", cursor_type="row", zebra_stripes=True)
        yield Static("", id="detail", classes="detail")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        for field in self.query(Input):
            field.cursor_blink = self.tui.cursor_blink
        self.action_search()

    def query_from_fields(self) -> AuditQuery:
        now = self.tui.clock.now()
        action = self.query_one("#action", Select).value
        return AuditQuery(
            user=self.query_one("#user", Input).value.strip(),
            target=self.query_one("#target", Input).value.strip(),
            action=action if isinstance(action, str) else "",
            text=self.query_one("#text", Input).value.strip(),
            since=parse_when(self.query_one("#since", Input).value, now),
            until=parse_when(self.query_one("#until", Input).value, now),
        )

    @on(Input.Submitted)
    @on(Select.Changed)
    def action_search(self) -> None:
        try:
            query = self.query_from_fields()
        except ValueError as exc:
            self.query_one("#detail", Static).update(plain(str(exc), "red"))
            return
        self.run_search(query)
        self.query_one(DataTable).focus()

    @work(exclusive=True, group="audit")
    async def run_search(self, query: AuditQuery) -> None:
        try:
            commands = await self.client.search_audit(query)
        except ReviewClientError as exc:
            self.query_one("#detail", Static).update(plain(str(exc), "red"))
            return
        now = self.tui.clock.now()
        table = self.query_one(DataTable)
        table.clear()
        self.results = {str(c.id): c for c in commands}
        for c in commands:
            table.add_row(Text(clock_time(c.at, now)), plain(c.user, "bold"), plain(c.target),
                          Text(c.action, style=ACTION_STYLES.get(c.action, "")), plain(c.text),
                          plain(", ".join(c.rules), "yellow"), plain(c.reason, "dim"), plain(c.session_id, "dim"),
                          key=str(c.id))
        self._detail()
        if not commands:
            self.query_one("#detail", Static).update(Text("No matching commands.", style="dim"))

    @on(DataTable.RowHighlighted)
    def _detail(self) -> None:
        command = self.selected()
        if command is None:
            return
        text = Text()
        text.append(f"{safe(command.id)}  ", style="bold")
        text.append(command.action, style=ACTION_STYLES.get(command.action, ""))
        text.append_text(plain(f"  {command.user}@{command.target}  session {command.session_id}"))
        text.append(f"  policy {safe(command.policy_version)}", style="dim")
        if command.opaque:
            text.append("  opaque", style="bold magenta")
        text.append("\n$ ")
        text.append_text(plain(command.text))
        if command.reason:
            text.append("\n")
            text.append_text(plain(command.reason, "dim"))
        self.query_one("#detail", Static).update(text)

    def selected(self) -> Command | None:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        return self.results.get(str(key.value))

    async def action_replay(self) -> None:
        command = self.selected()
        if command is not None and command.session_id:
            await self.tui.replay_session(command.session_id)

    def action_focus_filters(self) -> None:
        self.query_one("#user", Input).focus()

    def action_focus_results(self) -> None:
        self.query_one(DataTable).focus()
