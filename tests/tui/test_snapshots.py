"""Snapshot tests of every screen (120x40) and of Sessions and Approvals at 80x24.

Built through `create_app` (as `main()` builds the app) with a fixed clock, no cursor blink and the fake
review client. Update them after an intended change with `pytest tests/tui --snapshot-update`.
"""

from __future__ import annotations

import pytest

from bastion.clock import FakeClock

from tui.app import create_app
from tui.fake import FakeReviewClient

LARGE = (120, 40)
SMALL = (80, 24)


def _app(start: str = "sessions"):
    clock = FakeClock()
    return create_app(FakeReviewClient(clock), clock=clock, cursor_blink=False, start=start)


async def _settle(pilot) -> None:
    for _ in range(4):
        await pilot.pause(0.05)


async def _until_still(pilot, probe, timeout: float = 15.0) -> None:
    """Pause until `probe()` has not changed for a few pauses: a loaded machine (CI's two cores) takes
    longer than a fixed wait to deliver a watch's events and emulate them."""
    import time

    last, still = object(), 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and still < 5:
        await pilot.pause(0.05)
        now = probe()
        still = still + 1 if now == last else 0
        last = now


@pytest.mark.parametrize("size", [LARGE, SMALL], ids=["120x40", "80x24"])
def test_sessions(snap_compare, size):
    assert snap_compare(_app("sessions"), terminal_size=size, run_before=_settle)


@pytest.mark.parametrize("size", [LARGE, SMALL], ids=["120x40", "80x24"])
def test_approvals(snap_compare, size):
    assert snap_compare(_app("approvals"), terminal_size=size, run_before=_settle)


def test_approve_dialog(snap_compare):
    async def open_dialog(pilot) -> None:
        await _settle(pilot)
        await pilot.press("a", *"planned restart", "enter")
        await _settle(pilot)

    assert snap_compare(_app("approvals"), terminal_size=SMALL, run_before=open_dialog)


def test_live(snap_compare):
    async def watch(pilot) -> None:
        await _settle(pilot)
        app = pilot.app
        session = next(s for s in await app.client.list_sessions() if s.id == "s-7f3a")
        await app.action_go("live")
        pane = await app.live_screen.open(session)
        await _until_still(pilot, lambda: (pane.status, pane.model.backlog, pane.model.text(),
                                           pane.query_one("#decisions").row_count))
        pane._info()  # the info line repaints on a 0.5 s timer: show the settled status now
        await _settle(pilot)

    assert snap_compare(_app("sessions"), terminal_size=LARGE, run_before=watch)


def test_replay(snap_compare):
    async def replay(pilot) -> None:
        await _settle(pilot)
        await pilot.app.replay_session("s-7f3a")
        await _settle(pilot)
        await pilot.press("space", "n", "n", "n")  # pause, then the third decision marker
        await _settle(pilot)

    assert snap_compare(_app("sessions"), terminal_size=LARGE, run_before=replay)


def test_audit(snap_compare):
    assert snap_compare(_app("audit"), terminal_size=LARGE, run_before=_settle)
