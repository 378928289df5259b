"""A minimal `bastion-review` client for tests: request/response by id plus a queue of pushed events."""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path
from typing import Any

import asyncssh


class ReviewTestClient:
    def __init__(self, conn: asyncssh.SSHClientConnection, process: asyncssh.SSHClientProcess) -> None:
        self.conn = conn
        self.process = process
        self.events: asyncio.Queue[dict] = asyncio.Queue()
        self._pending: dict[int, asyncio.Future] = {}
        self._ids = itertools.count(1)
        self._reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def connect(cls, port: int, user: str, key: Path) -> "ReviewTestClient":
        conn = await asyncssh.connect("127.0.0.1", port, username=user, client_keys=[str(key)], known_hosts=None)
        process = await conn.create_process(subsystem="bastion-review", encoding="utf-8")
        return cls(conn, process)

    async def _read(self) -> None:
        async for line in self.process.stdout:
            message = json.loads(line)
            if "event" in message:
                await self.events.put(message)
            elif message.get("id") in self._pending:
                self._pending.pop(message["id"]).set_result(message)
            else:
                await self.events.put(message)

    async def call(self, op: str, **params: Any) -> dict:
        request_id = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        self.process.stdin.write(json.dumps({"id": request_id, "op": op, "params": params}) + "\n")
        return await asyncio.wait_for(future, 20)

    async def event(self, name: str | None = None, timeout: float = 10) -> dict:
        while True:
            message = await asyncio.wait_for(self.events.get(), timeout)
            if name is None or message.get("event") == name:
                return message

    async def close(self) -> None:
        self._reader.cancel()
        self.conn.close()
        await self.conn.wait_closed()
