"""Approvals: the pending queue, oldest first, with age and time left; approve or deny through a dialog."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.binding import Binding
from textual.widgets import DataTable, Static

from tui.models import Approval
from tui.screens.base import BastionScreen
from tui.screens.dialogs import VerdictDialog, VerdictForm
from tui.text import command_text, duration, plain, safe

COLUMNS = (("age", "Age"), ("left", "Left"), ("who", "Requester"), ("target", "Target"),
           ("command", "Command"), ("rule", "Rule"), ("reason", "Reason"))


class ApprovalsScreen(BastionScreen):
    """The queue. `a` approves, `d` denies the selected request (reason + TOTP [+ grant])."""

    TITLE = "Approvals"
    AUTO_FOCUS = "#queue"
    BINDINGS = [
        Binding("a", "decide('approve')", "Approve"),
        Binding("d", "decide('deny')", "Deny"),
        Binding("w", "watch", "Watch session"),
    ]

    def compose_body(self):
        yield DataTable(id="queue", cursor_type="row", zebra_stripes=True)
        yield Static("", id="detail", classes="detail")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        table.focus()
        self.watch(self.tui, "approvals_version", self._render_rows)
        self.set_interval(1.0, self._tick, name="approvals-tick")

    def _times(self, a: Approval) -> tuple[Text, Text]:
        now = self.tui.clock.now()
        age = Text(duration(now - a.requested_at), justify="right")
        if a.expires_at is None:
            return age, Text("—", justify="right")
        left = a.expires_at - now
        style = "bold red" if left < 60 else ("yellow" if left < 120 else "")
        return age, Text(duration(left) if left > 0 else "expired", style=style, justify="right")

    def _render_rows(self, _version: object = None) -> None:
        table = self.query_one(DataTable)
        pending = self.tui.pending()
        selected = self.selected()
        wanted = [str(a.id) for a in pending]
        table.clear()
        for a in pending:
            age, left = self._times(a)
            table.add_row(age, left, plain(a.user, "bold"), plain(a.target),
                          command_text(a.command, a.match_span(), limit=48 if self.size.width >= 110 else 28),
                          plain(", ".join(a.rules), "yellow"), plain(a.reason, "dim"), key=str(a.id))
        if selected is not None and str(selected.id) in wanted:
            table.move_cursor(row=wanted.index(str(selected.id)))
        self._show_detail()

    def on_resize(self) -> None:
        self._render_rows()

    def _tick(self) -> None:
        table = self.query_one(DataTable)
        for a in self.tui.pending():
            if str(a.id) in table.rows:
                age, left = self._times(a)
                table.update_cell(str(a.id), "age", age)
                table.update_cell(str(a.id), "left", left)

    def selected(self) -> Approval | None:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        return self.tui.approvals.get(str(key.value))

    @on(DataTable.RowHighlighted)
    def _show_detail(self) -> None:
        detail = self.query_one("#detail", Static)
        a = self.selected()
        if a is None:
            detail.update(Text("No pending requests. New ones ring the bell and pop up on every screen.",
                               style="dim"))
            return
        text = Text()
        text.append(f"{safe(a.id)}  ", style="bold")
        text.append_text(plain(f"{a.user}@{a.target}"))
        text.append(f"  session {safe(a.session_id)}", style="dim")
        if a.approvers_required > 1:
            text.append(f"  approvals {len(a.approvals)}/{a.approvers_required}", style="bold magenta")
        text.append("\n$ ")
        text.append_text(command_text(a.command, a.match_span()))
        text.append("\nrule ")
        text.append_text(plain(", ".join(a.rules) or "—", "yellow"))
        text.append(": ")
        text.append_text(plain(a.reason))
        text.append("\na approve · d deny · w watch the session", style="dim")
        detail.update(text)

    @on(DataTable.RowSelected)
    def _enter(self) -> None:
        self.action_decide("approve")

    def action_decide(self, verdict: str) -> None:
        approval = self.selected()
        if approval is None:
            self.notify("Nothing selected.", severity="warning")
            return

        async def submit(form: VerdictForm) -> Approval:
            return await self.client.decide(approval.id, form.verdict, form.reason, form.totp, form.grant_minutes)

        def done(result: Approval | None) -> None:
            if result is None:
                return
            self.tui.forget(result)
            grant = ""
            if result.grant_until:
                grant = f", granted for {duration(result.grant_until - self.tui.clock.now())}"
            self.notify(safe(f"{result.id} {result.state}{grant}: {result.command}"), title="Verdict sent",
                        markup=False)

        self.app.push_screen(VerdictDialog(approval, verdict, submit), done)

    async def action_watch(self) -> None:
        approval = self.selected()
        if approval is None:
            return
        sessions = await self.client.list_sessions()
        session = next((s for s in sessions if s.id == approval.session_id), None)
        if session is None:
            self.notify(f"Session {safe(approval.session_id)} is not listed.", severity="warning", markup=False)
            return
        await self.tui.watch_session(session)
