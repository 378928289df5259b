"""Fixtures for the TUI: a fixed clock, the fake review client, and the app built as `main()` builds it."""

from __future__ import annotations

import pytest

from bastion.clock import FakeClock

from tui.app import BastionTui, create_app
from tui.fake import FakeReviewClient


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake(clock: FakeClock) -> FakeReviewClient:
    return FakeReviewClient(clock)


@pytest.fixture
def make_app(fake: FakeReviewClient, clock: FakeClock):
    def build(start: str = "sessions", client: FakeReviewClient | None = None, **kwargs) -> BastionTui:
        return create_app(client or fake, clock=clock, cursor_blink=False, start=start, **kwargs)

    return build


class BellCounter:
    """Counts `App.bell()` calls (the terminal bell is how a new request gets a reviewer's attention)."""

    def __init__(self, app: BastionTui) -> None:
        self.count = 0
        original = app.bell

        def bell() -> None:
            self.count += 1
            original()

        app.bell = bell  # type: ignore[method-assign]
