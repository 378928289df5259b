"""Modal dialogs. Each returns a typed value through `dismiss()`; None means cancelled."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from tui.errors import RequestFailed, ReviewClientError
from tui.models import Approval
from tui.text import command_text, plain, safe

MAX_GRANT_MINUTES = 480  # the gateway's default maximum (8 h); the server has the last word


@dataclass(frozen=True)
class VerdictForm:
    """What the reviewer typed into the verdict dialog."""

    verdict: str  # "approve" | "deny"
    reason: str
    totp: str
    grant_minutes: int | None = None


class VerdictDialog(ModalScreen[Approval | None]):
    """Approve or deny one request: reason, TOTP code and (approve only) an optional grant in minutes.

    `submit` sends the verdict; a server error (wrong TOTP, locked out, already decided) is shown here and
    the dialog stays open. On success it dismisses with the decided `Approval`.
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    DEFAULT_CSS = """
    VerdictDialog { align: center middle; }
    VerdictDialog > Vertical {
        width: 76; max-width: 100%; height: auto; max-height: 100%; padding: 0 1;
        border: round $success; background: $surface;
    }
    VerdictDialog.deny > Vertical { border: round $error; }
    VerdictDialog .title { text-style: bold; }
    VerdictDialog .command { background: $boost; padding: 0 1; margin: 1 0; }
    VerdictDialog Label { color: $text-muted; }
    VerdictDialog Input { border: none; height: 1; padding: 0 1; margin-bottom: 1; background: $boost; }
    VerdictDialog Input:focus { border: none; background: $primary 30%; }
    VerdictDialog #error { color: $error; text-style: bold; height: auto; }
    VerdictDialog Horizontal { height: auto; align-horizontal: right; }
    VerdictDialog Button { margin-left: 2; }
    """

    def __init__(self, approval: Approval, verdict: str,
                 submit: Callable[[VerdictForm], Awaitable[Approval]]) -> None:
        super().__init__(classes=verdict)
        self.approval = approval
        self.verdict = verdict
        self.submit = submit

    def compose(self) -> ComposeResult:
        a = self.approval
        verb = "Approve" if self.verdict == "approve" else "Deny"
        with Vertical():
            title = Text(f"{verb} request {safe(a.id)} from ", style="bold")
            title.append_text(plain(f"{a.user}@{a.target}"))
            yield Static(title, classes="title")
            yield Static(command_text(a.command, a.match_span()), classes="command")
            yield Label("Reason (recorded in the audit trail)")
            yield Input(placeholder="why", id="reason")
            yield Label("TOTP code")
            yield Input(placeholder="6 digits from your authenticator", id="totp", restrict=r"[0-9]*",
                        max_length=8)
            if self.verdict == "approve":
                yield Label(f"Grant: also allow this command for N minutes (optional, ≤ {MAX_GRANT_MINUTES})")
                yield Input(placeholder="minutes", id="grant", restrict=r"[0-9]*", max_length=4)
            yield Static("", id="error")
            with Horizontal():
                yield Button(f"{verb} ⏎", id="submit", compact=True,
                             variant="success" if self.verdict == "approve" else "error")
                yield Button("Cancel (Esc)", id="cancel", compact=True)

    def on_mount(self) -> None:
        for field in self.query(Input):
            field.cursor_blink = self.app.cursor_blink  # type: ignore[attr-defined]
        self.query_one("#reason", Input).focus()

    def show_error(self, message: str) -> None:
        self.query_one("#error", Static).update(plain(message))

    def form(self) -> VerdictForm | None:
        """The typed form, or None after showing what is missing."""
        reason = self.query_one("#reason", Input).value.strip()
        totp = self.query_one("#totp", Input).value.strip()
        grant_text = self.query_one("#grant", Input).value.strip() if self.verdict == "approve" else ""
        if not reason:
            self.show_error("A reason is required.")
            self.query_one("#reason", Input).focus()
            return None
        if not (6 <= len(totp) <= 8 and totp.isdigit()):
            self.show_error("Enter the 6-digit TOTP code from your authenticator.")
            self.query_one("#totp", Input).focus()
            return None
        grant = int(grant_text) if grant_text else None
        if grant is not None and not 0 < grant <= MAX_GRANT_MINUTES:
            self.show_error(f"A grant is 1–{MAX_GRANT_MINUTES} minutes, or empty for none.")
            self.query_one("#grant", Input).focus()
            return None
        return VerdictForm(self.verdict, reason, totp, grant)

    @on(Input.Submitted)
    def next_field(self, event: Input.Submitted) -> None:
        fields = list(self.query(Input))
        index = fields.index(event.input)
        # Enter moves on to an empty required field; the grant is optional, so Enter after the code sends.
        following = fields[index + 1] if index + 1 < len(fields) else None
        if following is not None and not following.value and following.id != "grant":
            following.focus()
        else:
            self.action_submit()

    @on(Button.Pressed, "#submit")
    def action_submit(self) -> None:
        form = self.form()
        if form is not None:
            self.send(form)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)

    @work(exclusive=True, group="verdict")
    async def send(self, form: VerdictForm) -> None:
        self.query_one("#submit", Button).disabled = True
        self.show_error("Sending…")
        try:
            approval = await self.submit(form)
        except RequestFailed as exc:
            self.show_error(_verdict_error(exc))
            totp = self.query_one("#totp", Input)
            totp.value = ""
            totp.focus()
        except ReviewClientError as exc:
            self.show_error(str(exc))
        else:
            self.dismiss(approval)
        finally:
            if self.is_attached:
                self.query_one("#submit", Button).disabled = False


_VERDICT_ERRORS = {
    "bad_totp": "The TOTP code is wrong. Try the current code.",
    "totp_replayed": "That TOTP code was already used. Wait for the next one.",
    "locked_out": "Too many wrong codes: you are locked out for 15 minutes.",
    "own_request": "You cannot decide your own request.",
    "already_decided": "Someone already decided this request.",
    "already_approved": "You already approved this request; it needs another reviewer.",
    "grant_too_long": "That grant is longer than the gateway allows.",
    "not_enrolled": "You have no TOTP enrolment (ask an admin: bastion reviewer enroll NAME).",
}


def _verdict_error(exc: RequestFailed) -> str:
    known = _VERDICT_ERRORS.get(exc.code)
    if known and exc.message and exc.code in ("grant_too_long",):
        return f"{known} ({exc.message})"
    return known or exc.message or exc.code


class ConfirmTerminate(ModalScreen[str | None]):
    """Ask before terminating a session; returns the reason, or None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    DEFAULT_CSS = """
    ConfirmTerminate { align: center middle; }
    ConfirmTerminate > Vertical {
        width: 70; max-width: 100%; height: auto; padding: 0 1; border: round $error; background: $surface;
    }
    ConfirmTerminate Input { border: none; height: 1; padding: 0 1; margin-bottom: 1; background: $boost; }
    ConfirmTerminate #error { color: $error; height: auto; }
    ConfirmTerminate Horizontal { height: auto; margin-top: 1; align-horizontal: right; }
    ConfirmTerminate Button { margin-left: 2; }
    """

    def __init__(self, description: Text) -> None:
        super().__init__()
        self.description = description

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text("Terminate this session?", style="bold"))
            yield Static(self.description)
            yield Label("Reason (the session's client reads it)")
            yield Input(placeholder="why", id="reason")
            yield Static("", id="error")
            with Horizontal():
                yield Button("Terminate ⏎", id="yes", variant="error", compact=True)
                yield Button("Cancel (Esc)", id="cancel", compact=True)

    def on_mount(self) -> None:
        field = self.query_one(Input)
        field.cursor_blink = self.app.cursor_blink  # type: ignore[attr-defined]
        field.focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#yes")
    def confirm(self) -> None:
        reason = self.query_one(Input).value.strip()
        if not reason:
            self.query_one("#error", Static).update("A reason is required.")
            return
        self.dismiss(reason)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class OpenRecording(ModalScreen[str | None]):
    """Ask for a session id (from the gateway) or a local `.cast` path; returns what was typed."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    DEFAULT_CSS = """
    OpenRecording { align: center middle; }
    OpenRecording > Vertical {
        width: 70; max-width: 100%; height: auto; padding: 0 1; border: round $primary; background: $surface;
    }
    OpenRecording Input { border: none; height: 1; padding: 0 1; background: $boost; }
    """

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Replay: a session id from the gateway, or a path to a .cast file")
            yield Input(placeholder="s-7f3a or ./recordings/s-7f3a.cast", id="what")

    def on_mount(self) -> None:
        field = self.query_one(Input)
        field.cursor_blink = self.app.cursor_blink  # type: ignore[attr-defined]
        field.focus()

    @on(Input.Submitted)
    def done(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)
