"""Held commands through the executor: a test reviewer approves or denies over bastion-review (with TOTP),
the gateway expires a request, and the agent withdraws one it no longer wants to wait for."""

from __future__ import annotations

import asyncio

import pyotp
import pytest

pytest.importorskip("autogen_core")

from autogen_core import CancellationToken  # noqa: E402
from autogen_core.code_executor import CodeBlock  # noqa: E402

from bastion.integrations.autogen import BastionCodeExecutor, BastionShell  # noqa: E402
from bastion.integrations.connection import GatewaySettings  # noqa: E402
from tests.review_client import ReviewTestClient  # noqa: E402

pytestmark = pytest.mark.slow

POLICY = """\
default: allow
opaque: deny
rules:
  - id: deploy-needs-review
    action: review
    reason: deploys need a human
    approval: {timeout: 10m}
    when:
      program: [echo]
      args_regex: '^deploy$'
  - id: quick-review
    action: review
    reason: migrations need a human
    approval: {timeout: 1s}
    when:
      program: [echo]
      args_regex: '^migrate$'
"""


@pytest.fixture
def held_gw(make_gateway):
    gw = make_gateway(policy=POLICY, users={"agent": {"groups": ["agents"]}, "carol": {"groups": ["reviewers"]}},
                      extra_config={"approvals": {"progress_interval": 0.3}})

    async def enroll() -> str:
        return gw.service.ctx.totp.enroll("carol").secret.expose()

    gw.carol_secret = gw.call(enroll())
    return gw


@pytest.fixture
def agent_settings(held_gw) -> GatewaySettings:
    return GatewaySettings(user="agent", target="web-1", port=held_gw.port, key_path=held_gw.keys["agent"],
                           known_hosts=held_gw.known_hosts)


def totp(gw) -> str:
    return pyotp.TOTP(gw.carol_secret).at(gw.service.clock.now())


async def reviewer_for(gw) -> ReviewTestClient:
    """A test reviewer, subscribed before the agent runs anything (so no new request is missed)."""
    reviewer = await ReviewTestClient.connect(gw.port, "carol", gw.keys["carol"])
    await reviewer.call("approvals.subscribe")
    return reviewer


async def verdict_on_next_request(gw, reviewer: ReviewTestClient, approve: bool, *, after: float,
                                  reason: str) -> dict:
    """Waits for the next held request, lets it sit for `after` seconds, then decides with a TOTP code."""
    try:
        new = await reviewer.event("approval.new", timeout=20)
        await asyncio.sleep(after)
        answer = await reviewer.call("approvals.decide", approval_id=new["data"]["id"],
                                     verdict="approve" if approve else "deny", reason=reason, totp=totp(gw))
        assert answer["ok"], answer
        return new["data"]
    finally:
        await reviewer.close()


async def test_held_then_approved_runs_with_progress_lines_and_the_run_clock_paused(held_gw, agent_settings):
    # A 1 s run limit and a 1.5 s hold: the command still runs, because the run clock starts at approval.
    executor = BastionCodeExecutor(settings=agent_settings, timeout=1, hold_timeout=30)
    reviewer = asyncio.ensure_future(verdict_on_next_request(held_gw, await reviewer_for(held_gw), True,
                                                             after=1.5, reason="go"))
    async with executor:
        result = await executor.execute_code_blocks([CodeBlock("echo deploy; echo done-$((6*7))", "sh")],
                                                    CancellationToken())
    request = await reviewer
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(f"bastion: held for review (request {request['id']}, rule deploy-needs-review): "
                               "deploys need a human; waiting up to 10m")
    assert any(line.startswith(f"bastion: still waiting for review (request {request['id']}, ") for line in lines)
    assert f"bastion: approved by carol (request {request['id']})" in lines
    assert lines[-2:] == ["deploy", "done-42"]


async def test_held_then_denied_by_the_reviewer(held_gw, agent_settings):
    shell = BastionShell(settings=agent_settings, hold_timeout=30)
    reviewer = asyncio.ensure_future(verdict_on_next_request(held_gw, await reviewer_for(held_gw), False,
                                                             after=0, reason="not during the freeze"))
    text = await shell.run_shell("echo deploy", CancellationToken())
    request = await reviewer
    assert text.startswith(f"bastion: held for review (request {request['id']}")
    assert "reviewer carol refused it: not during the freeze" in text
    assert "did not run" in text and text.endswith("[exit status 126]")
    assert shell.last is not None and shell.last.refusal is not None
    assert shell.last.refusal.kind == "reviewer_denied"
    await shell.close()


async def test_gateway_expiry_is_reported(held_gw, agent_settings):
    shell = BastionShell(settings=agent_settings, hold_timeout=30)
    text = await shell.run_shell("echo migrate", CancellationToken())
    assert shell.last is not None and shell.last.status == "refused"
    assert shell.last.refusal is not None and shell.last.refusal.kind == "expired"
    assert "no reviewer decided within 1s" in text and text.endswith("[exit status 126]")
    await shell.close()


async def test_agent_gives_up_waiting_and_the_request_is_withdrawn(held_gw, agent_settings):
    shell = BastionShell(settings=agent_settings, hold_timeout=0.5)
    text = await shell.run_shell("echo deploy", CancellationToken())
    assert shell.last is not None and shell.last.status == "hold_timeout"
    assert "no verdict came within 0.5 s, so it was withdrawn and did not run" in text
    assert "rule deploy-needs-review" in text and text.endswith("[exit status 126]")
    request_id = int(shell.last.refusal.request)
    await shell.close()

    async def state() -> str:
        return held_gw.service.ctx.approvals.get(request_id).state

    for _ in range(50):
        if held_gw.call(state()) != "pending":
            break
        await asyncio.sleep(0.05)
    assert held_gw.call(state()) == "cancelled"
