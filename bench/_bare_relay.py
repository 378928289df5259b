"""The least an asyncssh relay can do: the floor under any asyncssh gateway's per-exec cost.

Accepts any client key (no policy, no recording, no audit, no masking), and relays each exec session to a
pooled upstream connection (at most 10 channels each, sshd's MaxSessions): stdout, stderr, stdin, EOF and the
exit status. Used only by `relay_floor_bench.py`; never a way to run bastion.

Run: python bench/_bare_relay.py LISTEN_PORT TARGET_PORT TARGET_USER CLIENT_KEY TARGET_HOST_PUB HOST_KEY plain|tuned
"""

from __future__ import annotations

import asyncio
import sys

import asyncssh


class Upstream:
    """Upstream connections shared by all client sessions, at most `per_conn` channels on each."""

    def __init__(self, port: int, user: str, key: str, host_key: asyncssh.SSHKey, per_conn: int = 10) -> None:
        # the ciphers bastion uses upstream (AES-GCM first), so the two relays compare like for like
        self.options = dict(username=user, client_keys=[key], known_hosts=([host_key], [], []), agent_path=None,
                            config=None, preferred_auth="publickey",
                            encryption_algs=("aes128-gcm@openssh.com", "aes128-ctr"))
        self.port, self.per_conn = port, per_conn
        self.conns: list[list] = []  # [connection, open channels]
        self.lock = asyncio.Lock()

    async def lease(self) -> list:
        async with self.lock:
            for entry in self.conns:
                if entry[1] < self.per_conn:
                    entry[1] += 1
                    return entry
            entry = [await asyncssh.connect("127.0.0.1", self.port, **self.options), 1]
            self.conns.append(entry)
            return entry


class UpSession(asyncssh.SSHClientSession):
    def __init__(self, down: asyncssh.SSHServerChannel) -> None:
        self.down = down

    def data_received(self, data: bytes, datatype: object) -> None:
        self.down.write(data, datatype)

    def eof_received(self) -> bool:
        self.down.write_eof()
        return False

    def exit_status_received(self, status: int) -> None:
        self.down.exit(status)


class DownSession(asyncssh.SSHServerSession):
    upstream: Upstream

    def connection_made(self, chan: asyncssh.SSHServerChannel) -> None:
        self.chan, self.up, self.entry, self.early = chan, None, None, []

    def exec_requested(self, command: str) -> bool:
        self.command = command
        return True

    def session_started(self) -> None:
        asyncio.ensure_future(self._open())

    async def _open(self) -> None:
        try:
            self.entry = await self.upstream.lease()
            self.up, _ = await self.entry[0].create_session(lambda: UpSession(self.chan), self.command,
                                                              encoding=None)
        except Exception as exc:  # noqa: BLE001 - a bench helper: say why and drop the session
            print(f"relay: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
            self.chan.exit(255)
            return
        for item in self.early:
            self.up.write_eof() if item is None else self.up.write(item)

    def data_received(self, data: bytes, datatype: object) -> None:
        self.up.write(data) if self.up else self.early.append(data)

    def eof_received(self) -> bool:
        self.up.write_eof() if self.up else self.early.append(None)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self.up is not None:
            self.up.close()
        if self.entry is not None:
            self.entry[1] -= 1


class Server(asyncssh.SSHServer):
    def begin_auth(self, username: str) -> bool:
        return False  # anyone: this relay only measures the data path

    def session_requested(self) -> DownSession:
        return DownSession()


async def main(argv: list[str]) -> None:
    listen, target_port, user, key, target_pub, host_key, tuned = argv
    if tuned == "tuned":  # bastion's own asyncssh send path (one send per packet), for the same comparison
        from bastion import asyncssh_tuning
        asyncssh_tuning.install()
    DownSession.upstream = Upstream(int(target_port), user, key, asyncssh.import_public_key(target_pub))
    await asyncssh.create_server(Server, "127.0.0.1", int(listen), server_host_keys=[host_key],
                                 encoding=None, allow_scp=False,
                                 encryption_algs=("aes128-gcm@openssh.com", "aes128-ctr"))
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
