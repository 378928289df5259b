"""Pilot tests: the reviewer's actions end to end against the fake gateway (approve, deny, wrong TOTP,
grant, terminate, notifications, replay controls and markers)."""

from __future__ import annotations

from textual.widgets import DataTable, Input, Static

from tui.screens.approvals import ApprovalsScreen
from tui.screens.dialogs import ConfirmTerminate, VerdictDialog
from tui.screens.live import LivePane, LiveScreen
from tui.screens.replay import ReplayScreen
from tui.screens.sessions import SessionsScreen

from tests.tui.conftest import BellCounter

SIZE = (100, 30)  # smaller than the snapshots: rendering is most of a pilot test's time


async def _settle(pilot, times: int = 3) -> None:
    # Several short pauses: each lets the fake's answers (delivered on later loop turns) and the
    # messages they cause be processed.
    for _ in range(times):
        await pilot.pause(0.02)


async def _fill_verdict(pilot, reason: str, totp: str, grant: str = "") -> None:
    dialog = pilot.app.screen
    assert isinstance(dialog, VerdictDialog)
    await pilot.press(*reason, "enter")
    await pilot.press(*totp)
    if grant and dialog.verdict == "approve":
        await pilot.press("tab", *grant)  # Enter after the code sends; Tab reaches the optional grant
    dialog.action_submit()
    await _settle(pilot)


def _decide_calls(fake) -> list[dict]:
    return [params for op, params in fake.calls if op == "approvals.decide"]


async def test_approve_with_valid_totp_removes_the_request(make_app, fake):
    app = make_app("approvals")
    async with app.run_test(size=SIZE) as pilot:
        await _settle(pilot)
        assert app.pending_count == 2
        assert isinstance(app.screen, ApprovalsScreen)
        await pilot.press("a")
        await _settle(pilot)
        await _fill_verdict(pilot, "planned restart", "123456")
        assert not isinstance(app.screen, VerdictDialog)
        assert _decide_calls(fake) == [{"approval_id": "ap-101", "verdict": "approve", "reason": "planned restart",
                                         "totp": "123456"}]
        assert app.pending_count == 1
        assert [str(k.value) for k in app.screen.query_one(DataTable).rows] == ["ap-102"]


async def test_deny_sends_deny_without_grant_field(make_app, fake):
    app = make_app("approvals")
    async with app.run_test(size=SIZE) as pilot:
        await _settle(pilot)
        await pilot.press("down", "d")
        await _settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, VerdictDialog) and dialog.verdict == "deny"
        assert not dialog.query("#grant")
        await _fill_verdict(pilot, "no writes on friday", "123456")
        assert _decide_calls(fake)[0]["verdict"] == "deny"
        assert _decide_calls(fake)[0]["approval_id"] == "ap-102"
        assert fake.approvals[1]["state"] == "denied"
        assert app.pending_count == 1


async def test_wrong_totp_keeps_the_dialog_open_with_the_error(make_app, fake):
    app = make_app("approvals")
    async with app.run_test(size=SIZE) as pilot:
        await _settle(pilot)
        await pilot.press("a")
        await _settle(pilot)
        await _fill_verdict(pilot, "ok", "999999")
        dialog = app.screen
        assert isinstance(dialog, VerdictDialog)
        error = str(dialog.query_one("#error", Static).render())
        assert "TOTP code is wrong" in error
        assert dialog.query_one("#totp", Input).value == ""  # cleared for the next try
        assert app.focused is dialog.query_one("#totp", Input)
        assert app.pending_count == 2
        # The second try with the right code goes through.
        await pilot.press(*"123456")
        dialog.action_submit()
        await _settle(pilot)
        assert not isinstance(app.screen, VerdictDialog)
        assert app.pending_count == 1


async def test_missing_reason_or_short_code_is_caught_before_sending(make_app, fake):
    app = make_app("approvals")
    async with app.run_test(size=SIZE) as pilot:
        await _settle(pilot)
        await pilot.press("a")
        await _settle(pilot)
        dialog = app.screen
        dialog.action_submit()
        await _settle(pilot)
        assert "reason is required" in str(dialog.query_one("#error", Static).render())
        await pilot.press(*"fine", "enter", *"12")
        dialog.action_submit()
        await _settle(pilot)
        assert "6-digit" in str(dialog.query_one("#error", Static).render())
        assert _decide_calls(fake) == []
        await pilot.press("escape")
        await _settle(pilot)
        assert isinstance(app.screen, ApprovalsScreen)


async def test_grant_minutes_are_sent_and_reported(make_app, fake, clock):
    app = make_app("approvals")
    async with app.run_test(size=SIZE) as pilot:
        await _settle(pilot)
        await pilot.press("a")
        await _settle(pilot)
        await _fill_verdict(pilot, "routine", "123456", grant="30")
        assert _decide_calls(fake)[0]["grant_minutes"] == 30
        assert fake.approvals[0]["grant_until"] == clock.now() + 1800
        assert fake.approvals[0]["state"] == "approved"


async def test_new_request_rings_and_notifies_on_every_screen(make_app, fake):
    app = make_app("sessions")
    async with app.run_test(size=SIZE) as pilot:
        bells = BellCounter(app)
        await _settle(pilot)
        for key in ("1", "2", "4", "5"):
            await pilot.press(key)
            await _settle(pilot)
            before = len(app._notifications)
            fake.push_approval()
            await _settle(pilot)
            assert len(app._notifications) == before + 1
            assert "Approval needed" in list(app._notifications)[-1].title
        assert bells.count == 4
        assert app.pending_count == 6
        # A decided request leaves the queue when the server says so.
        fake.push("approval.changed", {**fake.approvals[-1], "state": "expired"})
        await _settle(pilot)
        assert app.pending_count == 5


async def test_terminate_asks_first_then_terminates(make_app, fake):
    app = make_app("sessions")
    async with app.run_test(size=SIZE) as pilot:
        await _settle(pilot)
        assert isinstance(app.screen, SessionsScreen)
        await pilot.press("enter")  # the first row: the newest live session
        await _settle(pilot, 6)
        assert isinstance(app.screen, LiveScreen)
        pane = app.screen.query_one(LivePane)
        assert pane.session.id == "s-90d4"
        assert "journalctl" not in pane.model.text()  # the canned shell output is there instead
        assert "alice@web-1:~/app$ ls -la" in pane.model.text()
        await pilot.press("x")
        await _settle(pilot)
        assert isinstance(app.screen, ConfirmTerminate)
        await pilot.press("escape")  # cancelling does nothing
        await _settle(pilot)
        assert fake.terminated == {}
        await pilot.press("x")
        await _settle(pilot)
        await pilot.press(*"runaway agent", "enter")
        await _settle(pilot, 6)
        assert fake.terminated == {"s-90d4": "runaway agent"}
        assert pane.status.startswith("ended: terminated")


async def test_live_view_shows_decisions_and_follows_output(make_app, fake):
    app = make_app("sessions")
    async with app.run_test(size=SIZE) as pilot:
        await _settle(pilot)
        session = next(s for s in (await fake.list_sessions()) if s.id == "s-7f3a")
        await app.watch_session(session)
        await _settle(pilot, 6)
        pane = app.screen.query_one(LivePane)
        decisions = pane.query_one(DataTable)
        actions = [decisions.get_row_at(i)[1].plain.split()[0] for i in range(decisions.row_count)]
        assert actions == ["session", "allow", "allow", "deny", "review"]
        fake.emit_output("s-7f3a", "\x1b[32mnew line from the agent\x1b[0m\r\n")
        await _settle(pilot, 4)
        assert "new line from the agent" in pane.model.text()
        fake.end_session("s-7f3a", "closed", 0)
        await _settle(pilot, 4)
        assert pane.status == "ended: closed, exit 0"


async def test_watching_two_sessions_gives_two_tabs(make_app, fake):
    app = make_app("sessions")
    async with app.run_test(size=SIZE) as pilot:
        await _settle(pilot)
        sessions = {s.id: s for s in await fake.list_sessions()}
        # A person opens tabs seconds apart; settle between opens (Tabs activates a new tab by a message).
        for session_id in ("s-7f3a", "s-81c2", "s-7f3a"):  # the last one focuses the existing tab
            await app.watch_session(sessions[session_id])
            await _settle(pilot, 4)
        live = app.screen
        assert [p.session.id for p in live.panes()] == ["s-7f3a", "s-81c2"]
        assert live.current().session.id == "s-7f3a"
        await pilot.press("right_square_bracket")
        await _settle(pilot)
        assert live.current().session.id == "s-81c2"
        await pilot.press("c")
        await _settle(pilot)
        assert [p.session.id for p in live.panes()] == ["s-7f3a"]
        assert 1 not in fake.watches.values() and "s-81c2" not in fake.watches.values()


async def test_replay_controls_and_markers(make_app, fake, clock):
    app = make_app("sessions")
    async with app.run_test(size=SIZE) as pilot:
        await _settle(pilot)
        await app.replay_session("s-7f3a")
        await _settle(pilot, 6)
        replay = app.screen
        assert isinstance(replay, ReplayScreen)
        player = replay.player
        assert player is not None and player.playing
        await pilot.press("space")  # pause
        assert not player.playing
        # Markers: the first is the session start, then each decision.
        await pilot.press("n")
        await _settle(pilot)
        assert replay.marker.startswith("allow default: ls -la")
        await pilot.press("n", "n")
        await _settle(pilot)
        assert replay.marker.startswith("deny no-rm-rf")
        replay.view.frame()
        assert "rm -rf /var/log/nginx" in replay.model.text()
        await pilot.press("p")
        await _settle(pilot)
        assert replay.marker.startswith("allow read-only")
        replay.view.frame()
        assert "rm -rf" not in replay.model.text()  # seeking back rebuilt the screen from the start
        # Speed: 1x -> 2x -> 4x, and back.
        await pilot.press("plus", "plus")
        assert player.speed == 4.0
        await pilot.press("minus")
        assert player.speed == 2.0
        # Seek +5 s / -5 s.
        at = player.position
        await pilot.press("right")
        assert abs(player.position - min(player.duration, at + 5)) < 1e-6
        await pilot.press("left")
        assert abs(player.position - at) < 1e-6
        # Playing advances with the (fixed) clock: nothing moves until the clock does.
        await pilot.press("space")
        await _settle(pilot)
        before = player.position
        clock.advance(1.0)
        await _settle(pilot)
        assert abs(player.position - (before + 2.0)) < 0.05  # one second at 2x
        # The idle cap squeezes the 30 s pause: 2 s -> 5 s -> real time.
        capped = player.duration
        await pilot.press("i")
        assert player.idle_cap == 5.0 and player.duration > capped
        await pilot.press("i")
        assert player.idle_cap is None and player.duration > capped + 25


async def test_replay_a_local_file_offline(tmp_path, clock):
    from tui.app import create_app
    from tui.demo_data import cast_text

    path = tmp_path / "s.cast"
    path.write_text(cast_text("s-local"))
    app = create_app(None, clock=clock, cursor_blink=False, replay_file=path)
    async with app.run_test(size=SIZE) as pilot:
        await _settle(pilot)
        assert isinstance(app.screen, ReplayScreen)
        assert app.screen.player is not None
        await pilot.press("1")  # no gateway: the other screens are not reachable
        await _settle(pilot)
        assert isinstance(app.screen, ReplayScreen)
        await pilot.press("space", "n")
        await _settle(pilot)
        assert app.screen.marker.startswith("allow default")


async def test_sessions_filter_and_search(make_app):
    app = make_app("sessions")
    async with app.run_test(size=SIZE) as pilot:
        await _settle(pilot)
        screen = app.screen
        table = screen.query_one(DataTable)
        assert table.row_count == 6
        await pilot.press("f")
        assert [s.id for s in screen.visible()] == ["s-90d4", "s-81c2", "s-7f3a"]
        await pilot.press("f")
        assert all(not s.live for s in screen.visible())
        await pilot.press("f", "slash", *"alice")
        await _settle(pilot)
        assert {str(k.value) for k in table.rows} == {"s-7f3a", "s-6b10"}
        await pilot.press("escape")
        await _settle(pilot)
        assert table.row_count == 6


async def test_sessions_update_in_place(make_app, fake, clock):
    app = make_app("sessions")
    async with app.run_test(size=SIZE) as pilot:
        await _settle(pilot)
        table = app.screen.query_one(DataTable)
        table.move_cursor(row=2)
        fake.sessions[0]["commands"] = 99
        app.screen.reload()
        await _settle(pilot)
        row = table.get_row("s-7f3a")
        assert row[5].plain == "99"
        assert table.cursor_row == 2


async def test_audit_search_filters(make_app, fake):
    app = make_app("audit")
    async with app.run_test(size=SIZE) as pilot:
        await _settle(pilot)
        table = app.screen.query_one(DataTable)
        assert table.row_count == len(fake.commands)
        await pilot.press("slash", *"alice", "enter")
        await _settle(pilot)
        assert table.row_count == 5
        assert app.focused is table  # Enter searched and went back to the results
        app.screen.query_one("#text", Input).value = "nginx"
        app.screen.action_search()
        await _settle(pilot)
        assert {str(k.value) for k in table.rows} == {"c-3", "c-4"}
        assert fake.calls[-1] == ("audit.search", {"user": "alice", "text": "nginx", "limit": 200})
