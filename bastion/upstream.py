"""Connections to targets: pinned host keys, the target account's own credential, pooled reuse.

Each client session gets its own channel on a pooled connection to its target account, so a new
client skips the target's key exchange and authentication. A connection carries at most
`max_channels_per_connection` channels (OpenSSH's sshd refuses more than its MaxSessions, 10 by
default, and latency grows with every channel multiplexed on one connection); idle connections are
closed after `idle_timeout`. No state is shared between sessions but the transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Callable

import asyncssh

from bastion.config import TargetSettings, UpstreamSettings
from bastion.errors import HostKeyMismatch, UpstreamError

log = logging.getLogger(__name__)

# AES-GCM relays ~1.6x faster than chacha20-poly1305 in asyncssh (FIELD-NOTES); the upstream side is ours
# to choose, so prefer it.
UPSTREAM_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "aes128-ctr", "aes256-ctr",
                    "chacha20-poly1305@openssh.com")
UPSTREAM_KEX = ("curve25519-sha256", "curve25519-sha256@libssh.org", "ecdh-sha2-nistp256",
                "diffie-hellman-group14-sha256")


@dataclass(eq=False)
class _PooledConnection:
    conn: asyncssh.SSHClientConnection
    channels: int = 0
    idle_handle: asyncio.TimerHandle | None = None
    closed: bool = False


@dataclass(eq=False)
class _Pool:
    connections: list[_PooledConnection] = field(default_factory=list)
    connecting: asyncio.Lock = field(default_factory=asyncio.Lock)


class UpstreamLease:
    """One session's use of a pooled connection; `release()` returns the slot exactly once."""

    def __init__(self, pool: "UpstreamPool", key: str, pooled: _PooledConnection) -> None:
        self._pool = pool
        self._key = key
        self._pooled = pooled
        self._released = False

    @property
    def conn(self) -> asyncssh.SSHClientConnection:
        return self._pooled.conn

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._pool._release(self._key, self._pooled)


class UpstreamPool:
    """Hands out channels' worth of capacity on connections to each target account."""

    def __init__(self, settings: UpstreamSettings,
                 load_client_key: Callable[[TargetSettings], asyncssh.SSHKey] | None = None) -> None:
        self._settings = settings
        self._pools: dict[str, _Pool] = {}
        self._keys: dict[str, asyncssh.SSHKey] = {}
        self._load_client_key = load_client_key or _read_client_key
        self._closing = False

    async def acquire(self, target: TargetSettings) -> UpstreamLease:
        """A lease on a connection to `target` with a free channel slot; connects if none has one.

        Raises `HostKeyMismatch` when the target's host key is not pinned, `UpstreamError` otherwise.
        """
        if self._closing:
            raise UpstreamError("gateway is shutting down")
        key = self._key(target)
        pool = self._pools.setdefault(key, _Pool())
        pooled = self._free_slot(pool)
        if pooled is None:
            # One dial at a time per target account: a burst of clients shares the first new connection
            # instead of each opening its own.
            async with pool.connecting:
                pooled = self._free_slot(pool)
                if pooled is None:
                    conn = await self._connect(target)
                    pooled = _PooledConnection(conn)
                    pool.connections.append(pooled)
        return self._lease(key, pooled)

    def try_acquire(self, target: TargetSettings) -> UpstreamLease | None:
        """A lease on an open connection with a free slot, or None when getting one would mean dialling."""
        if self._closing:
            return None
        key = self._key(target)
        pool = self._pools.get(key)
        pooled = self._free_slot(pool) if pool is not None else None
        if pooled is None:
            return None
        return self._lease(key, pooled)

    @staticmethod
    def _key(target: TargetSettings) -> str:
        return f"{target.name}\0{target.account}\0{target.host}\0{target.port}"

    def _lease(self, key: str, pooled: _PooledConnection) -> UpstreamLease:
        pooled.channels += 1
        if pooled.idle_handle is not None:
            pooled.idle_handle.cancel()
            pooled.idle_handle = None
        return UpstreamLease(self, key, pooled)

    def _free_slot(self, pool: _Pool) -> _PooledConnection | None:
        limit = self._settings.max_channels_per_connection
        for pooled in pool.connections:
            if pooled.closed or pooled.conn.is_closed():
                continue
            if pooled.channels < limit:
                return pooled
        pool.connections[:] = [p for p in pool.connections if not (p.closed or p.conn.is_closed())]
        return None

    def _release(self, key: str, pooled: _PooledConnection) -> None:
        pooled.channels -= 1
        if pooled.channels == 0 and not pooled.closed:
            if self._closing or self._settings.idle_timeout == 0:
                self._discard(key, pooled)
            else:
                loop = asyncio.get_running_loop()
                pooled.idle_handle = loop.call_later(self._settings.idle_timeout, self._discard, key, pooled)

    def discard_broken(self, lease: UpstreamLease) -> None:
        """Stop handing out a connection that failed to open a channel (it may be half dead)."""
        lease._pooled.closed = True

    def _discard(self, key: str, pooled: _PooledConnection) -> None:
        pooled.closed = True
        pool = self._pools.get(key)
        if pool and pooled in pool.connections:
            pool.connections.remove(pooled)
        pooled.conn.close()

    async def close(self) -> None:
        """Close every pooled connection (gateway shutdown)."""
        self._closing = True
        conns = [p for pool in self._pools.values() for p in pool.connections]
        for pooled in conns:
            if pooled.idle_handle:
                pooled.idle_handle.cancel()
            pooled.closed = True
            pooled.conn.close()
        for pooled in conns:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(pooled.conn.wait_closed(), 2)
        self._pools.clear()

    def open_connections(self) -> int:
        return sum(1 for pool in self._pools.values() for p in pool.connections if not p.closed)

    async def _connect(self, target: TargetSettings) -> asyncssh.SSHClientConnection:
        key_id = f"{target.name}\0{target.account}"
        client_key = self._keys.get(key_id)
        if client_key is None:
            client_key = self._load_client_key(target)
            self._keys[key_id] = client_key
        witness = _HostKeyWitness()
        try:
            conn, _ = await asyncio.wait_for(
                asyncssh.create_connection(
                    lambda: witness, target.host, target.port,
                    username=target.account,
                    client_keys=[client_key],
                    # INVARIANT: only the pinned keys are trusted; no CA, no known_hosts file, no TOFU.
                    known_hosts=(list(target.host_keys), [], []),
                    agent_path=None, agent_forwarding=False, x11_forwarding=False,
                    password=None, kbdint_auth=False, gss_auth=False, host_based_auth=False,
                    preferred_auth="publickey",
                    encryption_algs=UPSTREAM_CIPHERS, kex_algs=UPSTREAM_KEX,
                    config=None, ignore_encrypted=True,
                    keepalive_interval=self._settings.keepalive_interval or None,
                    keepalive_count_max=3,
                ),
                timeout=target.connect_timeout,
            )
            return conn
        except asyncssh.HostKeyNotVerifiable as exc:
            expected = ",".join(key.get_fingerprint() for key in target.host_keys)
            raise HostKeyMismatch(f"host key {witness.presented or '?'} does not match the pinned key",
                                  expected=expected, presented=witness.presented or "?") from exc
        except asyncssh.PermissionDenied as exc:
            raise UpstreamError(f"target refused account {target.account!r}") from exc
        except (asyncio.TimeoutError, TimeoutError) as exc:
            raise UpstreamError(f"connect timed out after {target.connect_timeout:g}s") from exc
        except asyncssh.DisconnectError as exc:
            raise UpstreamError(f"disconnected: {exc.reason}") from exc
        except OSError as exc:
            raise UpstreamError(exc.strerror or str(exc)) from exc
        except asyncssh.Error as exc:
            raise UpstreamError(str(exc)) from exc


class _HostKeyWitness(asyncssh.SSHClient):
    """Notes the fingerprint of a host key that is not pinned, for the audit trail; never trusts it."""

    def __init__(self) -> None:
        self.presented: str | None = None

    def validate_host_public_key(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        self.presented = key.get_fingerprint()
        return False


def _read_client_key(target: TargetSettings) -> asyncssh.SSHKey:
    try:
        return asyncssh.read_private_key(target.client_key_path)
    except (OSError, asyncssh.KeyImportError) as exc:
        raise UpstreamError(f"cannot read the key for account {target.account!r}: {exc}") from exc
