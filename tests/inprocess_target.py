"""An in-process asyncssh server acting as a target, on 127.0.0.1 and port 0, for unit tests."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh

from tests.sshd import write_private_key


@dataclass
class TargetStats:
    connections: int = 0
    channels: int = 0
    written: int = 0
    commands: list[str] = field(default_factory=list)


async def start_target(workdir: Path) -> tuple[asyncssh.SSHAcceptor, dict[str, Any], TargetStats]:
    """Start the target; returns the acceptor, a `targets:` config entry for it, and live stats."""
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    client_key = asyncssh.generate_private_key("ssh-ed25519")
    key_path = write_private_key(workdir / "target_client_key", client_key)
    stats = TargetStats()

    class Server(asyncssh.SSHServer):
        def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
            stats.connections += 1

    async def handle(process: asyncssh.SSHServerProcess) -> None:
        stats.channels += 1
        command = process.command or ""
        stats.commands.append(command)
        if command.startswith("stream "):
            # Write N MiB as fast as the channel's flow control lets us.
            total = int(command.split()[1]) * 1024 * 1024
            chunk = b"x" * 65536
            while stats.written < total:
                process.stdout.write(chunk)
                stats.written += len(chunk)
                await process.stdout.drain()
            process.exit(0)
        elif command == "echo-stdin":
            data = await process.stdin.read()
            process.stdout.write(data)
            process.exit(0)
        elif command.startswith("sleep "):
            await asyncio.sleep(float(command.split()[1]))
            process.exit(0)
        else:
            process.stdout.write(command.encode())
            process.exit(0)

    acceptor = await asyncssh.create_server(
        Server, "127.0.0.1", 0, server_host_keys=[host_key], authorized_client_keys=asyncssh.import_authorized_keys(
            client_key.export_public_key().decode()), process_factory=handle, encoding=None)
    entry = {"host": "127.0.0.1", "port": acceptor.get_port(), "account": "svc", "key": str(key_path),
             "host_keys": [host_key.export_public_key().decode().strip()], "connect_timeout": 5}
    return acceptor, entry, stats
