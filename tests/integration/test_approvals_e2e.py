"""Held commands wait for a reviewer's verdict given with TOTP over bastion-review; real sshd behind."""

from __future__ import annotations

import asyncio

import asyncssh
import pyotp
import pytest

from tests.review_client import ReviewTestClient

pytestmark = pytest.mark.slow

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
  - id: two-person
    action: review
    reason: needs two people
    approval: {timeout: 10m, approvers: 2}
    when:
      program: [shutdown]
"""
USERS = {"alice": {"groups": ["devs"]}, "carol": {"groups": ["reviewers"]}, "dave": {"groups": ["reviewers"]},
         "rita": {"groups": ["reviewers"]}}


@pytest.fixture
def gw(make_gateway):
    harness = make_gateway(policy=POLICY, users=USERS,
                           extra_config={"approvals": {"progress_interval": 0.2}})
    harness.secrets = {name: harness.call(_enroll(harness, name)) for name in ("carol", "dave", "rita")}
    return harness


async def _enroll(harness, name: str) -> str:
    enrollment = harness.service.ctx.totp.enroll(name)
    return enrollment.secret.expose()


def _code(gw, name: str, offset: int = 0) -> str:
    return pyotp.TOTP(gw.secrets[name]).at(gw.service.clock.now() + offset)


async def _held(gw, command: str):
    conn = await asyncssh.connect("127.0.0.1", gw.port, username="alice:web-1",
                                  client_keys=[str(gw.keys["alice"])], known_hosts=None)
    proc = await conn.create_process(command, encoding="utf-8")
    line = await asyncio.wait_for(proc.stderr.readline(), 10)
    return conn, proc, line


async def _reviewer(gw, name: str) -> ReviewTestClient:
    return await ReviewTestClient.connect(gw.port, name, gw.keys[name])


async def test_held_command_runs_after_approval_with_a_valid_code(gw):
    reviewer = await _reviewer(gw, "carol")
    await reviewer.call("approvals.subscribe")
    conn, proc, line = await _held(gw, "apt-get install cowsay 2>/dev/null; echo RAN-$?")
    assert line.startswith("bastion: held for review (request ")
    assert "rule pkg-install): package installs need a human; waiting up to 10m" in line
    new = await reviewer.event("approval.new")
    request_id = new["data"]["id"]
    assert new["data"]["command"].startswith("apt-get install cowsay")
    progress = await asyncio.wait_for(proc.stderr.readline(), 10)
    assert progress.startswith(f"bastion: still waiting for review (request {request_id}, ")
    bad = await reviewer.call("approvals.decide", approval_id=request_id, verdict="approve", reason="ok",
                              totp="000000")
    assert bad["error"]["code"] == "bad_totp"
    ok = await reviewer.call("approvals.decide", approval_id=request_id, verdict="approve", reason="ok",
                             totp=_code(gw, "carol"))
    assert ok["ok"] and ok["result"]["approval"]["state"] == "approved"
    result = await proc.wait(timeout=20)
    assert "RAN-" in result.stdout
    assert f"bastion: approved by carol (request {request_id})" in result.stderr
    replay = await reviewer.call("approvals.decide", approval_id=request_id, verdict="deny", reason="x",
                                 totp=_code(gw, "carol"))
    assert replay["ok"] is False
    conn.close()
    await reviewer.close()


async def test_denial_by_reviewer_gives_126_with_the_reason(gw):
    reviewer = await _reviewer(gw, "carol")
    conn, proc, line = await _held(gw, "apt-get install nethack")
    request_id = int(line.split("request ")[1].split(",")[0])
    denied = await reviewer.call("approvals.decide", approval_id=request_id, verdict="deny",
                                 reason="not on prod", totp=_code(gw, "carol"))
    assert denied["ok"], denied
    result = await proc.wait(timeout=20)
    assert result.exit_status == 126
    assert f"bastion: denied by reviewer carol (request {request_id}): not on prod" in result.stderr
    conn.close()
    await reviewer.close()


async def test_two_approvers_and_grants(gw):
    carol, dave = await _reviewer(gw, "carol"), await _reviewer(gw, "dave")
    conn, proc, line = await _held(gw, "shutdown --help >/dev/null 2>&1; echo two-ok")
    request_id = int(line.split("request ")[1].split(",")[0])
    first = await carol.call("approvals.decide", approval_id=request_id, verdict="approve", reason="",
                             totp=_code(gw, "carol"))
    assert first["result"]["approval"]["state"] == "pending"
    again = await carol.call("approvals.decide", approval_id=request_id, verdict="approve", reason="",
                             totp=_code(gw, "carol", 30))
    assert again["error"]["code"] == "already_approved"
    second = await dave.call("approvals.decide", approval_id=request_id, verdict="approve", reason="",
                             totp=_code(gw, "dave"))
    assert second["result"]["approval"]["state"] == "approved"
    assert "two-ok" in (await proc.wait(timeout=20)).stdout
    conn.close()
    # A grant lets the same command run again without asking.
    conn, proc, line = await _held(gw, "apt-get install sl")
    request_id = int(line.split("request ")[1].split(",")[0])
    granted = await dave.call("approvals.decide", approval_id=request_id, verdict="approve", reason="fine",
                              totp=_code(gw, "dave", 30), grant_minutes=30)
    assert granted["ok"], granted
    await proc.wait(timeout=20)
    conn.close()
    async with asyncssh.connect("127.0.0.1", gw.port, username="alice:web-1",
                                client_keys=[str(gw.keys["alice"])], known_hosts=None) as conn:
        rerun = await conn.run("apt-get install sl", encoding="utf-8", timeout=20)
    assert "held for review" not in rerun.stderr
    await carol.close()
    await dave.close()


async def test_client_hang_up_cancels_the_request(gw):
    reviewer = await _reviewer(gw, "rita")
    await reviewer.call("approvals.subscribe")
    conn, proc, line = await _held(gw, "apt-get install fortune")
    new = await reviewer.event("approval.new")
    conn.close()
    changed = await reviewer.event("approval.changed")
    assert changed["data"]["id"] == new["data"]["id"] and changed["data"]["state"] == "cancelled"
    await reviewer.close()


async def test_nobody_approves_their_own_request(make_gateway):
    gw = make_gateway(policy=POLICY, users={"carol": {"groups": ["reviewers"]}})
    secret = gw.call(_enroll(gw, "carol"))
    async with asyncssh.connect("127.0.0.1", gw.port, username="carol:web-1",
                                client_keys=[str(gw.keys["carol"])], known_hosts=None) as conn:
        proc = await conn.create_process("apt-get install cowsay", encoding="utf-8")
        line = await asyncio.wait_for(proc.stderr.readline(), 10)
        request_id = int(line.split("request ")[1].split(",")[0])
        client = await _reviewer(gw, "carol")
        own = await client.call("approvals.decide", approval_id=request_id, verdict="approve", reason="",
                                totp=pyotp.TOTP(secret).now())
        assert own["error"]["code"] == "own_request"
        proc.close()
        await client.close()


async def test_expiry_denies_using_the_injected_clock(make_gateway):
    from bastion.clock import FakeClock

    clock = FakeClock(start=__import__("time").time())
    gw = make_gateway(policy=POLICY, users=USERS, clock=clock)
    conn, proc, line = await _held(gw, "apt-get install cowsay")
    request_id = int(line.split("request ")[1].split(",")[0])
    clock.advance(601)
    gw.call(_expire(gw))
    result = await proc.wait(timeout=20)
    assert result.exit_status == 126
    assert f"bastion: review expired (request {request_id}): no verdict within 10m" in result.stderr
    conn.close()


async def _expire(gw):
    return gw.service.ctx.approvals.expire_due()


def test_ctrl_c_cancels_a_held_line_in_an_interactive_shell(gw):
    import subprocess
    import time

    proc = subprocess.Popen(gw.ssh_args("alice:web-1", "-tt"), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    assert proc.stdin is not None
    time.sleep(0.5)
    proc.stdin.write(b"apt-get install cowsay\r")
    proc.stdin.flush()
    time.sleep(0.8)
    proc.stdin.write(b"\x03")
    proc.stdin.flush()
    time.sleep(0.5)
    proc.stdin.write(b"echo after-$((6*7))\rexit\r")
    proc.stdin.flush()
    out, _ = proc.communicate(timeout=30)
    assert b"held for review (request" in out
    assert b"review cancelled (request" in out and b"Ctrl-C" in out
    assert b"after-42" in out
