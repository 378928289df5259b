"""Replay: a recording from the gateway or a local file, with play/pause, speed, seek, markers, idle cap."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import events, work
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Static

from bastion.errors import BastionError
from bastion.recording.asciicast import parse

from tui.errors import ReviewClientError
from tui.player import Event, Player, Step
from tui.screens.base import BastionScreen
from tui.screens.dialogs import OpenRecording
from tui.term import TerminalModel
from tui.text import media_time, plain, safe
from tui.widgets.terminal_view import TerminalView

IDLE_CAPS = (2.0, 5.0, None)  # seconds; None keeps the recording's real pauses
FRAME_SECONDS = 1 / 30


class ProgressLine(Static):
    """`▶ 00:12 / 01:30 ━━━━━━━╸────── 2× idle≤2s` with marker ticks; a click seeks there."""

    DEFAULT_CSS = """
    ProgressLine { height: 2; padding: 0 1; background: $boost; }
    """

    def draw(self, player: Player | None, marker: str) -> None:
        if player is None:
            self.update(Text("No recording loaded: press o to open one, or r on a session.", style="dim"))
            return
        head = Text(no_wrap=True)
        head.append("▶ " if player.playing else "❚❚ ", style="bold green" if player.playing else "bold yellow")
        head.append(f"{media_time(player.position)} / {media_time(player.duration)}  ")
        tail = Text(f"  {player.speed:g}×  idle≤{player.idle_cap:g}s" if player.idle_cap
                    else f"  {player.speed:g}×  real time", no_wrap=True)
        width = max(10, (self.size.width or 80) - 2 - head.cell_len - tail.cell_len)
        bar = ["─"] * width
        done = int(width * (player.position / player.duration)) if player.duration else 0
        for i in range(min(done, width)):
            bar[i] = "━"
        for m in player.markers:
            at = min(width - 1, int(width * m.t / player.duration)) if player.duration else 0
            bar[at] = "◆"
        line = head
        line.append("".join(bar[:done]), style="bold cyan")
        line.append("".join(bar[done:]), style="dim")
        line.append_text(tail)
        line.append("\n")
        line.append("◆ ", style="magenta")
        line.append_text(plain(marker or "no marker yet", "" if marker else "dim"))
        self.update(line)

    def on_click(self, event: events.Click) -> None:
        self.post_message(SeekTo(event.x, self.size.width))


class SeekTo(Message):
    """A click on the progress line, at column `x` of `width`."""

    def __init__(self, x: int, width: int) -> None:
        super().__init__()
        self.x, self.width = x, width


class ReplayScreen(BastionScreen):
    """Plays one recording through the same emulator as the live view."""

    TITLE = "Replay"
    AUTO_FOCUS = "TerminalView"
    BINDINGS = [
        Binding("space", "toggle", "Play/pause"),
        Binding("left", "skip(-5)", "-5s"),
        Binding("right", "skip(5)", "+5s"),
        Binding("minus", "slower", "Slower"),
        Binding("plus,equals_sign", "faster", "Faster", key_display="+"),
        Binding("p", "marker(-1)", "Prev marker"),
        Binding("n", "marker(1)", "Next marker"),
        Binding("i", "idle_cap", "Idle cap"),
        Binding("home", "restart", "Start", show=False),
        Binding("o", "open", "Open"),
    ]

    def __init__(self, replay_file: Path | None = None) -> None:
        super().__init__()
        self.player: Player | None = None
        self.header: dict = {}
        self.source = ""
        self.marker = ""
        self.model = TerminalModel(80, 24, scrollback=2000, backlog_limit=8 * 1024 * 1024)
        self.view = TerminalView(self.model)
        self._initial_file = replay_file
        self._last_tick: float | None = None

    def compose_body(self):
        yield Static(Text("Replay", style="bold"), id="replay-title", classes="hint")
        yield self.view
        yield ProgressLine(id="progress")

    def on_mount(self) -> None:
        self._draw()
        # The clock only runs while playing, so an idle replay screen costs nothing.
        self._timer = self.set_interval(FRAME_SECONDS, self._tick, name="replay-tick", pause=True)
        if self._initial_file is not None:
            self.load_file(self._initial_file)

    # --- loading -------------------------------------------------------------------------------------
    def load_file(self, path: Path) -> None:
        try:
            with path.open("rb") as handle:
                header, events_ = parse(handle)
        except (BastionError, OSError) as exc:
            self.notify(safe(f"{path}: {exc}"), title="Cannot replay", severity="error", markup=False)
            return
        self.load(header, events_, path.name)

    @work(exclusive=True, group="replay-fetch")
    async def load_remote(self, session_id: str) -> None:
        client = self.tui.client
        if client is None:
            return
        self.query_one("#replay-title", Static).update(plain(f"Fetching the recording of {session_id}…", "dim"))
        try:
            text = await client.fetch_recording(session_id)
            header, events_ = parse(text.encode("utf-8").splitlines(keepends=True))
        except (ReviewClientError, BastionError) as exc:
            self.notify(safe(f"{session_id}: {exc}"), title="Cannot replay", severity="error", markup=False)
            return
        self.load(header, events_, f"session {session_id}")

    def load(self, header: dict, events_: list[Event], source: str) -> None:
        """Start a recording from the beginning, playing (a reviewer came here to watch it)."""
        self.header, self.source = header, source
        self.player = Player(events_)
        self.marker = ""
        self._reset_model()
        self.player.playing = True
        self._run_clock()
        title = Text(no_wrap=True)
        title.append_text(plain(source, "bold"))
        title.append(f"  {header.get('width')}x{header.get('height')}", style="dim")
        if header.get("title"):
            title.append_text(plain(f"  {header['title']}", "dim"))
        self.query_one("#replay-title", Static).update(title)
        self._draw()

    def _reset_model(self) -> None:
        self.model.reset()
        width, height = self.header.get("width", 80), self.header.get("height", 24)
        self.model.resize(int(width), int(height))

    # --- the clock -----------------------------------------------------------------------------------
    def _tick(self) -> None:
        now = self.tui.clock.monotonic()
        last, self._last_tick = self._last_tick, now
        if self.player is None or not self.player.playing:
            self._timer.pause()
            return
        if last is not None:
            self._apply(Step(False, self.player.advance(now - last)))

    def _run_clock(self) -> None:
        if self.player is not None and self.player.playing:
            self._last_tick = None
            self._timer.resume()

    def _apply(self, step: Step) -> None:
        if step.reset:
            self._reset_model()
        for _t, code, data in step.events:
            if code == "o":
                self.model.write(data)
            elif code == "r":
                cols, _, rows = data.partition("x")
                if cols.isdigit() and rows.isdigit():
                    self.model.resize(int(cols), int(rows))
        current = self.player.current_marker() if self.player else None
        self.marker = current.label if current else ""
        self._draw()

    def _draw(self) -> None:
        self.query_one(ProgressLine).draw(self.player, self.marker)

    # --- controls ------------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("toggle", "skip", "slower", "faster", "marker", "idle_cap", "restart"):
            return True if self.player is not None else None  # shown greyed until a recording is loaded
        return True

    def action_toggle(self) -> None:
        if self.player is not None:
            self._apply(self.player.toggle())
            self._run_clock()

    def action_skip(self, seconds: float) -> None:
        if self.player is not None:
            self._apply(self.player.skip(seconds))

    def action_restart(self) -> None:
        if self.player is not None:
            self._apply(self.player.seek(0.0))

    def action_faster(self) -> None:
        if self.player is not None:
            self.player.faster()
            self._draw()

    def action_slower(self) -> None:
        if self.player is not None:
            self.player.slower()
            self._draw()

    def action_marker(self, direction: int) -> None:
        if self.player is None:
            return
        marker, step = self.player.next_marker() if direction > 0 else self.player.previous_marker()
        self._apply(step)
        if marker is None:
            self.notify("No further marker." if direction > 0 else "Back at the start.", timeout=2)

    def action_idle_cap(self) -> None:
        if self.player is None:
            return
        index = IDLE_CAPS.index(self.player.idle_cap) if self.player.idle_cap in IDLE_CAPS else -1
        self._apply(self.player.set_idle_cap(IDLE_CAPS[(index + 1) % len(IDLE_CAPS)]))

    def action_open(self) -> None:
        def chosen(value: str | None) -> None:
            if not value:
                return
            path = Path(value).expanduser()
            if path.suffix == ".cast" or path.exists() or self.tui.client is None:
                self.load_file(path)
            else:
                self.load_remote(value)

        self.app.push_screen(OpenRecording(), chosen)

    def on_seek_to(self, message: SeekTo) -> None:
        if self.player is not None and message.width > 0:
            self._apply(self.player.seek(self.player.duration * message.x / message.width))
