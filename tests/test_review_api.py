"""The bastion-review subsystem against a real gateway and a real sshd target."""

from __future__ import annotations

import asyncio

import asyncssh
import pytest

from tests.review_client import ReviewTestClient

pytestmark = pytest.mark.slow

USERS = {"alice": {"groups": ["devs"]}, "carol": {"groups": ["reviewers"]}}


@pytest.fixture
def gw(make_gateway):
    return make_gateway(users=USERS)


async def _alice(gw) -> asyncssh.SSHClientConnection:
    return await asyncssh.connect("127.0.0.1", gw.port, username="alice:web-1",
                                  client_keys=[str(gw.keys["alice"])], known_hosts=None)


async def test_non_reviewers_are_refused(gw):
    async with await _alice(gw) as conn:
        result = await conn.run(subsystem="bastion-review", input="", encoding="utf-8")
    assert result.exit_status == 126
    assert "bastion-review is for reviewers only" in result.stderr


async def test_hello_list_search_and_fetch(gw):
    async with await _alice(gw) as conn:
        assert (await conn.run("echo listed", encoding=None)).stdout == b"listed\n"
    client = await ReviewTestClient.connect(gw.port, "carol", gw.keys["carol"])
    try:
        hello = await client.call("hello", version=1)
        assert hello["result"]["reviewer"] == "carol" and hello["result"]["version"] == 1
        listed = (await client.call("sessions.list"))["result"]["sessions"]
        assert listed[0]["user"] == "alice" and listed[0]["command"] == "echo listed"
        assert listed[0]["commands"] == 1 and listed[0]["live"] is False
        found = (await client.call("audit.search", text="listed"))["result"]["commands"]
        assert [c["text"] for c in found] == ["echo listed"]
        fetch = (await client.call("recordings.get", session_id=listed[0]["id"]))["result"]
        chunks = []
        while True:
            event = await client.event()
            if event["event"] == "recording.end":
                break
            chunks.append(event["data"]["data"])
        assert "listed" in "".join(chunks) and len("".join(chunks).encode()) == fetch["size"]
        bad = await client.call("nope")
        assert bad["ok"] is False and bad["error"]["code"] == "unknown_op"
        missing = await client.call("sessions.watch", session_id="nope")
        assert missing["error"]["code"] == "not_found"
    finally:
        await client.close()


async def test_watch_catches_up_then_streams_live_then_ends(gw):
    client = await ReviewTestClient.connect(gw.port, "carol", gw.keys["carol"])
    async with await _alice(gw) as conn:
        proc = await conn.create_process("echo before; read line; echo after-$line", encoding=None)
        assert await asyncio.wait_for(proc.stdout.readline(), 10) == b"before\n"
        live = (await client.call("sessions.list", status="live"))["result"]["sessions"]
        assert len(live) == 1 and live[0]["live"] is True
        watch = (await client.call("sessions.watch", session_id=live[0]["id"]))["result"]
        assert watch["live"] is True and watch["header"]["version"] == 2
        seen = ""
        while "before" not in seen:
            seen += (await client.event("session.event"))["data"]["data"]
        proc.stdin.write(b"x\n")
        while "after-x" not in seen:
            event = await client.event()
            if event["event"] == "session.event":
                seen += event["data"]["data"]
        await proc.wait()
    ended = await client.event("session.ended")
    assert ended["data"]["watch"] == watch["watch"]
    await client.close()


async def test_terminate_ends_the_session_with_a_message(gw):
    client = await ReviewTestClient.connect(gw.port, "carol", gw.keys["carol"])
    async with await _alice(gw) as conn:
        proc = await conn.create_process("echo up; sleep 30", encoding=None)
        await asyncio.wait_for(proc.stdout.readline(), 10)
        live = (await client.call("sessions.list", status="live"))["result"]["sessions"]
        assert (await client.call("sessions.terminate", session_id=live[0]["id"], reason="runaway"))["ok"]
        result = await proc.wait(timeout=10)
    assert b"bastion: session terminated by reviewer carol: runaway" in result.stderr
    await client.close()
