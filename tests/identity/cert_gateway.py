"""A tiny stand-in for the gateway, for testing `bastion login` and issued certificates end to end.

It runs a real asyncssh server on 127.0.0.1 in its own thread (so synchronous code such as click's
CliRunner and a real `ssh` client can talk to it) and offers two things, as the gateway will:
- password auth with a token → the `bastion-cert` subsystem, answered by `handle_cert_request`;
- certificate auth trusted through `cert-authority,principals="<user>"` lines → an exec that echoes
  who ran what, so a test can see a stock `ssh` got in as the right user.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Awaitable, Callable

import asyncssh

from bastion.clock import Clock, SystemClock
from bastion.identity.ca import UserCertificateAuthority, handle_cert_request
from bastion.identity.keys import certificate_trust
from bastion.identity.login import SUBSYSTEM


@dataclass(frozen=True)
class TokenIdentity:
    user: str
    token_id: str | None
    expires_at: float


# Token check: (ssh username, password) → identity, or None to refuse.
Authenticate = Callable[[str, str], Awaitable[TokenIdentity | None]]


@dataclass
class CertGateway:
    ca: UserCertificateAuthority
    authenticate: Authenticate
    clock: Clock = field(default_factory=SystemClock)
    max_validity: float = 3600.0
    # Test hook: replace the response line (to play a confused or hostile gateway).
    rewrite_response: Callable[[bytes], bytes] | None = None
    port: int = 0
    host_key: asyncssh.SSHKey = field(default_factory=lambda: asyncssh.generate_private_key("ssh-ed25519"))
    issued: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncssh.SSHAcceptor | None = None
        self._identities: dict[object, TokenIdentity] = {}

    # --- lifecycle, from the test's thread --------------------------------------------------------
    def start(self) -> "CertGateway":
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)
        return self

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
                await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def known_hosts(self, directory: Path) -> Path:
        path = directory / "known_hosts"
        line = self.host_key.export_public_key("openssh").decode().split()[:2]
        path.write_text(f"[127.0.0.1]:{self.port} {' '.join(line)}\n")
        return path

    # --- the server, on its own loop --------------------------------------------------------------
    async def _start(self) -> None:
        gateway = self

        class Server(asyncssh.SSHServer):
            def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
                self._conn = conn

            def begin_auth(self, username: str) -> bool:
                # Certificates from our CA, for this user name only (as the gateway trusts them).
                self._conn.set_authorized_keys(certificate_trust(username, (gateway.ca.public_key,)))
                return True

            def password_auth_supported(self) -> bool:
                return True

            async def validate_password(self, username: str, password: str) -> bool:
                identity = await gateway.authenticate(username, password)
                if identity is None:
                    return False
                gateway._identities[self._conn] = identity
                return True

        self._server = await asyncssh.create_server(
            Server,
            "127.0.0.1",
            0,
            server_host_keys=[self.host_key],
            process_factory=self._serve,
            encoding=None,
            line_editor=False,
            agent_forwarding=False,
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _serve(self, process: asyncssh.SSHServerProcess) -> None:
        conn = process.get_extra_info("connection")
        identity = self._identities.get(conn)
        if process.subsystem == SUBSYSTEM:
            if identity is None:  # authenticated with a key or certificate, not a token
                process.stdout.write(b'{"error":"certificates are issued to token logins only"}\n')
                process.exit(1)
                return
            line = await process.stdin.readline()
            response = handle_cert_request(
                line,
                principal=identity.user,
                token_id=identity.token_id,
                token_expires_at=identity.expires_at,
                ca=self.ca,
                max_validity=self.max_validity,
                clock=self.clock,
            )
            if self.rewrite_response is not None:
                response = self.rewrite_response(response)
            self.issued.append(response)
            process.stdout.write(response)
            process.exit(0)
            return
        user = process.get_extra_info("username")
        source = "token" if identity is not None else "certificate"
        process.stdout.write(f"hello {user} via {source}: {process.command}\n".encode())
        process.exit(0)
