"""End to end against a real gateway in-process: a command is held, the TUI approves it with a valid TOTP
code through the `bastion-review` subsystem, and the command runs at the agent's client."""

from __future__ import annotations

import asyncio
import importlib.util

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("bastion.review_api") is None,
                       reason="the gateway's bastion-review server (bastion.review_api) is not there yet"),
]

POLICY = """\
default: allow
opaque: review
rules:
  - id: pkg-install
    action: review
    reason: package installs need a human
    approval: {timeout: 10m}
    when:
      program: [apt-get]
      args_regex: '^install$'
"""
USERS = {"alice": {"groups": ["devs"]}, "carol": {"groups": ["reviewers"]}}


@pytest.fixture
def gw(make_gateway):
    harness = make_gateway(policy=POLICY, users=USERS)

    async def enroll() -> str:
        return harness.service.ctx.totp.enroll("carol").secret.expose()

    harness.carol_secret = harness.call(enroll())
    return harness


async def _until(predicate, pilot, timeout: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "timed out"
        await pilot.pause(0.1)


async def test_tui_approves_a_held_command_which_then_runs(gw):
    import asyncssh
    import pyotp

    from tui.app import create_app
    from tui.client import SshReviewClient
    from tui.screens.approvals import ApprovalsScreen
    from tui.screens.dialogs import VerdictDialog

    client = SshReviewClient("127.0.0.1", gw.port, "carol", str(gw.keys["carol"]), str(gw.known_hosts))
    hello = await client.connect()
    assert hello.reviewer == "carol"
    app = create_app(client, connect=False, cursor_blink=False, start="approvals")
    agent = await asyncssh.connect("127.0.0.1", gw.port, username="alice:web-1",
                                   client_keys=[str(gw.keys["alice"])], known_hosts=None)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause(0.5)  # subscribed before the request is made
            proc = await agent.create_process("apt-get install cowsay 2>/dev/null; echo RAN-$?", encoding="utf-8")
            await _until(lambda: app.pending_count == 1, pilot)
            assert isinstance(app.screen, ApprovalsScreen)
            (pending,) = app.pending()
            assert pending.command.startswith("apt-get install cowsay")
            await pilot.press("a")
            await _until(lambda: isinstance(app.screen, VerdictDialog), pilot)
            dialog = app.screen
            code = pyotp.TOTP(gw.carol_secret).at(gw.service.clock.now())
            await pilot.press(*"tui e2e", "enter", *code)
            dialog.action_submit()
            await _until(lambda: not isinstance(app.screen, VerdictDialog), pilot)
            result = await proc.wait(timeout=20)
            assert "RAN-" in result.stdout
            assert "bastion: approved by carol" in result.stderr
            await _until(lambda: app.pending_count == 0, pilot)
    finally:
        agent.close()
        await client.close()
