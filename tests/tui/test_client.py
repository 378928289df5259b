"""The review client: id matching, event routing and the one-line errors, over the fake and over a real
in-process asyncssh server speaking the protocol's framing."""

from __future__ import annotations

import asyncio
import json

import asyncssh
import pytest

from tui.client import SshReviewClient
from tui.errors import GatewayUnreachable, KeyRefused, NotAReviewer, RequestFailed
from tui.fake import FakeReviewClient
from tui.models import AuditQuery, WatchEnded, WatchEvent


# --- routing, over the fake ------------------------------------------------------------------------
async def test_responses_match_requests_by_id_even_when_interleaved(fake: FakeReviewClient):
    await fake.connect()
    sessions, approvals, commands = await asyncio.gather(
        fake.list_sessions(status="live"), fake.list_approvals(), fake.search_audit(AuditQuery(action="deny")))
    assert [s.id for s in sessions] == ["s-90d4", "s-81c2", "s-7f3a"]
    assert [a.id for a in approvals] == ["ap-101", "ap-102"]  # oldest first
    assert {c.action for c in commands} == {"deny"}


async def test_watch_gets_catch_up_then_live_events_then_end(fake: FakeReviewClient):
    watch = await fake.watch("s-7f3a")  # events pushed right after the response are not lost
    fake.emit_output("s-7f3a", "live!\r\n", t=99.0)
    fake.end_session("s-7f3a", "closed", 0)
    seen = [event async for event in watch.events()]
    assert isinstance(seen[0], WatchEvent) and seen[0].code == "m"
    assert WatchEvent(99.0, "o", "live!\r\n") in seen
    assert seen[-1] == WatchEnded("closed", 0)


async def test_lagged_watch_ends_with_lagged(fake: FakeReviewClient):
    watch = await fake.watch("s-7f3a")
    fake.push("session.lagged", {"watch": watch.id})
    seen = [event async for event in watch.events()]
    assert seen[-1] == WatchEnded(lagged=True)


async def test_fetch_joins_the_chunks(fake: FakeReviewClient):
    from tui.demo_data import cast_text

    text = await fake.fetch_recording("s-6b10")
    assert text == cast_text("s-6b10", timestamp=int(fake.sessions[3]["started_at"]))
    assert len(text) > 1024  # really came in several chunks


async def test_server_errors_carry_their_code(fake: FakeReviewClient):
    with pytest.raises(RequestFailed) as info:
        await fake.decide("ap-101", "approve", "ok", "000000")
    assert info.value.code == "bad_totp"
    with pytest.raises(RequestFailed) as info:
        await fake.call("no.such.op")
    assert info.value.code == "unknown_op"


async def test_approval_events_after_subscribe(fake: FakeReviewClient):
    await fake.subscribe_approvals()
    stream = fake.approval_events()
    pushed = fake.push_approval()
    event = await asyncio.wait_for(stream.__anext__(), 1)
    assert event.kind == "new" and event.approval is not None and event.approval.id == pushed["id"]
    fake.push("approvals.lagged", {})
    assert (await asyncio.wait_for(stream.__anext__(), 1)).kind == "lagged"
    assert ("approvals.subscribe", {}) in fake.calls


async def test_closing_fails_waiters_and_ends_streams(fake: FakeReviewClient):
    watch = await fake.watch("s-7f3a")
    await fake.close()
    assert [e async for e in watch.events()] or True  # ends instead of hanging
    with pytest.raises(GatewayUnreachable):
        await fake.list_sessions()


# --- the real transport: asyncssh on 127.0.0.1 -----------------------------------------------------
class _ReviewServer(asyncssh.SSHServer):
    def __init__(self, authorized: asyncssh.SSHAuthorizedKeys) -> None:
        self.authorized = authorized

    def begin_auth(self, username: str) -> bool:
        self._conn.set_authorized_keys(self.authorized)
        return True

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn


async def _serve_review(process: asyncssh.SSHServerProcess) -> None:
    """A tiny `bastion-review`: carol is a reviewer, anybody else is refused as the protocol says."""
    user = process.get_extra_info("username")
    if process.subsystem != "bastion-review":
        process.exit(127)
        return
    if user != "carol":
        process.stdout.write(json.dumps({"error": {"code": "forbidden", "message": "not a reviewer"}}) + "\n")
        process.exit(1)
        return
    async for line in process.stdin:
        request = json.loads(line)
        if request["op"] == "hello":
            result = {"version": 1, "reviewer": user, "server": "test"}
            process.stdout.write(json.dumps({"id": request["id"], "ok": True, "result": result}) + "\n")
        elif request["op"] == "approvals.subscribe":
            process.stdout.write(json.dumps({"id": request["id"], "ok": True, "result": {}}) + "\n")
            process.stdout.write(json.dumps({"event": "approval.new", "data": {"id": "ap-1", "command": "ls"}}) + "\n")
        else:
            error = {"code": "unknown_op", "message": request["op"]}
            process.stdout.write(json.dumps({"id": request["id"], "ok": False, "error": error}) + "\n")
    process.exit(0)


@pytest.fixture
async def review_server(tmp_path):
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    user_key = asyncssh.generate_private_key("ssh-ed25519")
    other_key = asyncssh.generate_private_key("ssh-ed25519")
    authorized = asyncssh.import_authorized_keys(user_key.export_public_key().decode())
    server = await asyncssh.create_server(
        lambda: _ReviewServer(authorized), "127.0.0.1", 0, server_host_keys=[host_key],
        process_factory=_serve_review, encoding="utf-8",
    )
    port = server.sockets[0].getsockname()[1]
    (tmp_path / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_key.export_public_key().decode()}")
    for name, key in (("id_user", user_key), ("id_other", other_key)):
        key.write_private_key(tmp_path / name)
        (tmp_path / name).chmod(0o600)
    yield port, tmp_path
    server.close()
    await server.wait_closed()


def _client(port: int, tmp, user: str = "carol", key: str = "id_user") -> SshReviewClient:
    return SshReviewClient("127.0.0.1", port, user, str(tmp / key), str(tmp / "known_hosts"), connect_timeout=5)


async def test_ssh_client_says_hello_and_routes_events(review_server):
    port, tmp = review_server
    client = _client(port, tmp)
    hello = await client.connect()
    assert hello.reviewer == "carol"
    await client.subscribe_approvals()
    event = await asyncio.wait_for(client.approval_events().__anext__(), 5)
    assert event.approval is not None and event.approval.id == "ap-1"
    with pytest.raises(RequestFailed, match="unknown_op"):
        await client.call("sessions.list")
    await client.close()


async def test_ssh_client_refused_key_is_one_line(review_server):
    port, tmp = review_server
    with pytest.raises(KeyRefused) as info:
        await _client(port, tmp, key="id_other").connect()
    assert str(info.value) == f"the gateway at 127.0.0.1:{port} refused {tmp / 'id_other'} for user carol"


async def test_ssh_client_not_a_reviewer(review_server):
    port, tmp = review_server
    authorized_other = _client(port, tmp, user="mallory")
    with pytest.raises(NotAReviewer, match="mallory is not a reviewer on the gateway at 127.0.0.1"):
        await authorized_other.connect()


async def test_ssh_client_unreachable_gateway():
    import socket

    with socket.socket() as probe:  # a port with nobody listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(GatewayUnreachable, match=f"cannot reach the gateway at 127.0.0.1:{port}"):
        await SshReviewClient("127.0.0.1", port, "carol", connect_timeout=3).connect()
