"""What every screen shares: the app bar on top, the footer with every binding, typed access to the app."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.screen import Screen

if TYPE_CHECKING:
    from tui.app import BastionTui
    from tui.client import ReviewAPI


class BastionScreen(Screen):
    """Base screen: subclasses compose their body between `AppBar` and `Footer` (see `compose_body`)."""

    @property
    def tui(self) -> "BastionTui":
        return cast("BastionTui", self.app)

    @property
    def client(self) -> "ReviewAPI":
        client = self.tui.client
        assert client is not None, "this screen needs a gateway"
        return client

    def compose(self):
        from textual.widgets import Footer

        from tui.widgets.app_bar import AppBar

        yield AppBar()
        yield from self.compose_body()
        yield Footer(compact=True)

    def compose_body(self):
        return iter(())
