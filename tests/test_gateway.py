"""The relay against an in-process asyncssh target: flow control, pooling and channel caps."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncssh

from bastion.config import settings_from_mapping
from bastion.service import GatewayService
from tests.harness import ALLOW_ALL_POLICY
from tests.inprocess_target import start_target
from tests.sshd import write_private_key


async def _gateway(tmp_path: Path, target_entry: dict, **upstream) -> tuple[GatewayService, Path]:
    key = asyncssh.generate_private_key("ssh-ed25519")
    key_path = write_private_key(tmp_path / "alice", key)
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.yaml").write_text(ALLOW_ALL_POLICY)
    settings = settings_from_mapping({
        "listen": {"port": 0}, "state_dir": str(tmp_path / "state"),
        "policies": {"dir": str(tmp_path / "policies")}, "recording": {"dir": str(tmp_path / "rec")},
        "users": {"alice": {"keys": [key.export_public_key().decode()]}},
        "targets": {"t1": target_entry}, "upstream": upstream,
    })
    service = GatewayService(settings)
    await service.start()
    return service, key_path


def _connect(service: GatewayService, key_path: Path) -> asyncssh.connection._ConnectionContextManager:
    return asyncssh.connect("127.0.0.1", service.port, username="alice:t1", client_keys=[str(key_path)],
                            known_hosts=None)


async def test_a_slow_client_slows_the_target_not_the_gateway(tmp_path):
    acceptor, entry, stats = await start_target(tmp_path)
    service, key_path = await _gateway(tmp_path, entry)
    try:
        async with _connect(service, key_path) as conn:
            proc = await conn.create_process("stream 64", encoding=None)
            await asyncio.sleep(1.0)  # the client reads nothing for a second
            stalled_at = stats.written
            # The target is held back by closed windows: at most the SSH windows on both legs plus the
            # gateway's bounded send buffer are in flight, not the 64 MiB it wants to send.
            assert stalled_at < 12 * 1024 * 1024
            received = 0
            while chunk := await proc.stdout.read(1 << 20):
                received += len(chunk)
            result = await proc.wait()
        assert result.exit_status == 0
        assert received == 64 * 1024 * 1024
    finally:
        await service.stop()
        acceptor.close()


async def test_sessions_share_a_pooled_upstream_connection_up_to_the_channel_cap(tmp_path):
    acceptor, entry, stats = await start_target(tmp_path)
    service, key_path = await _gateway(tmp_path, entry, max_channels_per_connection=2)
    try:
        async with _connect(service, key_path) as conn:
            for _ in range(3):
                result = await conn.run("hello", encoding=None)
                assert result.stdout == b"hello"
            assert stats.connections == 1  # sequential sessions reuse one upstream connection
            procs = [await conn.create_process("sleep 0.5", encoding=None) for _ in range(3)]
            await asyncio.gather(*(p.wait() for p in procs))
        assert stats.connections == 2  # three concurrent channels with a cap of two
        assert stats.channels == 6
    finally:
        await service.stop()
        acceptor.close()


async def test_stdin_is_relayed_before_the_upstream_channel_is_open(tmp_path):
    acceptor, entry, _ = await start_target(tmp_path)
    service, key_path = await _gateway(tmp_path, entry)
    try:
        async with _connect(service, key_path) as conn:
            result = await conn.run("echo-stdin", input=b"early bytes", encoding=None)
        assert result.stdout == b"early bytes"
    finally:
        await service.stop()
        acceptor.close()


async def test_shutdown_tells_live_clients_and_closes_their_rows(tmp_path):
    acceptor, entry, _ = await start_target(tmp_path)
    service, key_path = await _gateway(tmp_path, entry)
    store_path = service.settings.store_path
    try:
        async with _connect(service, key_path) as conn:
            proc = await conn.create_process("sleep 30", encoding=None)
            await asyncio.sleep(0.3)
            await service.stop()
            result = await proc.wait(timeout=10)
        assert b"bastion: gateway shutting down" in result.stderr
    finally:
        acceptor.close()
    from bastion.clock import SystemClock
    from bastion.store.db import Store
    from bastion.store.sessions import list_sessions
    store = Store.open(store_path, clock=SystemClock())
    rows = list_sessions(store)
    store.close()
    assert [r["status"] for r in rows] == ["terminated"] and rows[0]["ended_at"] is not None
    assert rows[0]["error"] == "gateway shutting down"
