"""`bastion-tui`: the app, its factory and the command line.

`create_app()` is the one way the app is built — by `main()`, the tests and the snapshots — so what the
tests see is what reviewers run. The app owns what every screen shows (the connection line and the pending
approval queue, whose count is always visible) and follows the gateway's approval events; screens own their
own data and talk to the client themselves.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterable
from functools import partial
from pathlib import Path

import click
from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.reactive import reactive
from textual.screen import Screen

from bastion.clock import Clock, SystemClock
from bastion.errors import BastionError

from tui.client import ReviewAPI
from tui.errors import ReviewClientError
from tui.models import Approval, Session
from tui.text import safe

SCREENS = ("sessions", "live", "approvals", "replay", "audit")


class BastionTui(App[None]):
    """The reviewers' console. `client` is None for offline replay of a local file."""

    CSS_PATH = "app.tcss"
    TITLE = "bastion-tui"
    ENABLE_COMMAND_PALETTE = True
    BINDINGS = [
        Binding("1", "go('sessions')", "Sessions"),
        Binding("2", "go('live')", "Live"),
        Binding("3", "go('approvals')", "Approvals"),
        Binding("4", "go('replay')", "Replay"),
        Binding("5", "go('audit')", "Audit"),
        # F1-F5 work even while typing in a field (digits then go to the field).
        *(Binding(f"f{i}", f"go({mode!r})", mode.title(), show=False, priority=True)
          for i, mode in enumerate(("sessions", "live", "approvals", "replay", "audit"), start=1)),
        Binding("ctrl+q", "quit", "Quit", priority=True, show=False),
    ]

    pending_count: reactive[int] = reactive(0)
    connection: reactive[str] = reactive("")
    approvals_version: reactive[int] = reactive(0)

    def __init__(self, client: ReviewAPI | None, *, clock: Clock, cursor_blink: bool = True,
                 connect: bool = True, replay_file: Path | None = None, start: str = "sessions") -> None:
        super().__init__()
        from tui.screens.approvals import ApprovalsScreen
        from tui.screens.audit import AuditScreen
        from tui.screens.live import LiveScreen
        from tui.screens.replay import ReplayScreen
        from tui.screens.sessions import SessionsScreen

        self.client = client
        self.clock = clock
        self.cursor_blink = cursor_blink
        self._connect = connect
        self.approvals: dict[str, Approval] = {}  # the pending queue, by str(id)
        self.live_screen = LiveScreen()
        self.replay_screen = ReplayScreen(replay_file)
        self.add_mode("sessions", SessionsScreen)
        self.add_mode("live", lambda: self.live_screen)
        self.add_mode("approvals", ApprovalsScreen)
        self.add_mode("replay", lambda: self.replay_screen)
        self.add_mode("audit", AuditScreen)
        self._start = "replay" if client is None else start
        if client is not None:
            self.connection = f"{client.reviewer}@{client.endpoint}"
        else:
            self.connection = f"offline replay of {replay_file.name}" if replay_file else "offline"

    async def on_mount(self) -> None:
        await self.switch_mode(self._start)
        if self.client is not None:
            self.follow_approvals()

    # --- navigation ----------------------------------------------------------------------------------
    async def action_go(self, mode: str) -> None:
        if self.current_mode != mode:
            await self.switch_mode(mode)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "go" and self.client is None:
            return parameters == ("replay",) or None  # offline: only the replay screen
        return True

    async def watch_session(self, session: Session) -> None:
        """Open (or focus) the session's tab in the live view."""
        await self.action_go("live")
        await self.live_screen.open(session)

    async def replay_session(self, session_id: str) -> None:
        await self.action_go("replay")
        self.replay_screen.load_remote(session_id)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The palette lists every screen and every binding of the current screen, next to Textual's own."""
        yield from super().get_system_commands(screen)
        for mode in SCREENS:
            if self.check_action("go", (mode,)):
                yield SystemCommand(f"Go to {mode.title()}", f"switch to the {mode} screen",
                                    partial(self.run_action, f"go({mode!r})"))
        seen: set[str] = set()
        for key, active in screen.active_bindings.items():
            binding = active.binding
            if not binding.description or binding.action.startswith("go(") or binding.action in seen:
                continue
            if not active.enabled:
                continue
            seen.add(binding.action)
            yield SystemCommand(binding.description, f"key: {binding.key_display or key}",
                                partial(active.node.run_action, binding.action))

    # --- the approval queue --------------------------------------------------------------------------
    @work(group="approvals", exclusive=True)
    async def follow_approvals(self) -> None:
        client = self.client
        assert client is not None
        try:
            if self._connect:
                await client.connect()
            await client.subscribe_approvals()
            await self.reload_approvals()
            async for event in client.approval_events():
                if event.kind == "lagged" or event.approval is None:
                    await self.reload_approvals()
                    continue
                approval = event.approval
                key = str(approval.id)
                if approval.state == "pending":
                    is_new = key not in self.approvals
                    self.approvals[key] = approval
                    if is_new:
                        self.announce(approval)
                else:
                    self.approvals.pop(key, None)
                self._queue_changed()
        except ReviewClientError as exc:
            self.notify(safe(str(exc)), title="Gateway", severity="error", timeout=30, markup=False)
        failure = getattr(client, "failure", None)
        self.connection = f"{client.reviewer}@{client.endpoint} — disconnected"
        if failure is not None:
            self.notify(safe(str(failure)), title="Disconnected", severity="error", timeout=60, markup=False)

    async def reload_approvals(self) -> None:
        assert self.client is not None
        pending = await self.client.list_approvals("pending")
        self.approvals = {str(a.id): a for a in pending}
        self._queue_changed()

    def announce(self, approval: Approval) -> None:
        """A new request: the terminal bell and a toast, whatever screen is showing."""
        self.bell()
        self.notify(safe(f"{approval.user}@{approval.target}: {approval.command}"),
                    title=f"Approval needed ({', '.join(approval.rules) or 'review'}) — press 3",
                    severity="warning", timeout=12, markup=False)

    def _queue_changed(self) -> None:
        self.pending_count = len(self.approvals)
        self.approvals_version += 1

    def pending(self) -> list[Approval]:
        """The queue, oldest first."""
        return sorted(self.approvals.values(), key=lambda a: (a.requested_at, str(a.id)))

    def forget(self, approval: Approval) -> None:
        """Drop a decided request now (the server's `approval.changed` will agree)."""
        if approval.state != "pending":
            self.approvals.pop(str(approval.id), None)
            self._queue_changed()


def create_app(client: ReviewAPI | None, *, clock: Clock | None = None, cursor_blink: bool = True,
               connect: bool = True, replay_file: Path | None = None, start: str = "sessions") -> BastionTui:
    """Build the app exactly as `main()` does (tests pass a fake client and a fixed clock)."""
    return BastionTui(client, clock=clock or SystemClock(), cursor_blink=cursor_blink, connect=connect,
                      replay_file=replay_file, start=start)


# --- command line --------------------------------------------------------------------------------------
def _fail(message: str) -> None:
    click.echo(f"bastion-tui: {message}", err=True)
    sys.exit(1)


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--host", help="gateway host (default from the config file, else 127.0.0.1)")
@click.option("--port", type=int, help="gateway port (default 2222)")
@click.option("--user", help="your reviewer name on the gateway (default: login name)")
@click.option("--identity", "-i", type=click.Path(dir_okay=False), help="SSH private key (default: your keys)")
@click.option("--known-hosts", type=click.Path(dir_okay=False), help="known_hosts file for the gateway key")
@click.option("--config", "config_file", type=click.Path(dir_okay=False),
              help="config file (default $BASTION_TUI_CONFIG or ~/.config/bastion/tui.yaml)")
@click.option("--demo", is_flag=True, help="run against a built-in fake gateway (no network)")
@click.pass_context
def main(ctx: click.Context, host: str | None, port: int | None, user: str | None, identity: str | None,
         known_hosts: str | None, config_file: str | None, demo: bool) -> None:
    """The on-call reviewers' console for a bastion gateway: live sessions, approvals, replay, audit."""
    if ctx.invoked_subcommand is not None:
        return
    if demo:
        from tui.fake import FakeReviewClient

        async def run_demo() -> None:
            clock = SystemClock()
            client = FakeReviewClient(clock)
            client.endpoint = "demo (fake gateway)"
            app = create_app(client, clock=clock)
            client.start_demo()
            await app.run_async()
            await client.close()

        asyncio.run(run_demo())
        return
    from tui.client import SshReviewClient
    from tui.config import load_config

    try:
        config = load_config(Path(config_file) if config_file else None,
                             overrides={"host": host, "port": port, "user": user, "identity": identity,
                                        "known_hosts": known_hosts})
    except BastionError as exc:
        _fail(str(exc))
        return

    async def run() -> str | None:
        client = SshReviewClient(config.host, config.port, config.user, config.identity, config.known_hosts)
        try:
            await client.connect()
        except ReviewClientError as exc:
            return str(exc)
        app = create_app(client, clock=SystemClock(), connect=False)
        try:
            await app.run_async()
        finally:
            await client.close()
        return None

    error = asyncio.run(run())
    if error:
        _fail(error)


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def replay(file: Path) -> None:
    """Replay a local .cast recording, with no gateway at all."""
    from bastion.recording.asciicast import parse

    try:
        with file.open("rb") as handle:
            parse(handle)  # fail here, in one line, rather than inside the app
    except (BastionError, OSError) as exc:
        _fail(f"{file}: {exc}")
    create_app(None, replay_file=file).run()


if __name__ == "__main__":
    main()
