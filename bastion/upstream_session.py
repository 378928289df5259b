"""Open the target's session channel while the gateway is still deciding, and send nothing on it until
the decision allows.

Opening a session channel runs nothing on the target (OpenSSH starts a process only on an `exec` or
`shell` request), so the channel-open round trip can overlap the gateway's own work for the session
(recording file, store commit, policy). The requests — env, pty, exec/shell — wait behind a gate that the
session opens with `True` once the command is allowed, or closes with `False`, which closes the channel.

asyncssh only offers `create_session`, which opens and requests in one go; the gate is a subclass whose
open step waits for it. That subclass uses the constructor asyncssh's own `create_session` uses; if a
future asyncssh changes it, `open_session` falls back to waiting for the gate first and then calling
`create_session` (slower, same behaviour).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable

import asyncssh
from asyncssh.channel import SSHClientChannel
from asyncssh.misc import encode_env

log = logging.getLogger(__name__)


class RequestsNotWanted(Exception):
    """The gate closed: the session will not use the channel (denied, held, or ended)."""


class _GatedChannel(SSHClientChannel):
    def __init__(self, conn: asyncssh.SSHClientConnection, gate: "asyncio.Future[bool]") -> None:
        options = conn._options  # type: ignore[attr-defined]
        conn._update_recv_pktlen(options.max_pktsize)  # type: ignore[attr-defined]
        super().__init__(conn, conn._loop, conn._utf8_decode_errors,  # type: ignore[attr-defined]
                         None, "strict", options.window, options.max_pktsize)
        self._bastion_gate = gate

    async def _open(self, chantype: bytes, *args: bytes) -> Any:
        packet = await super()._open(chantype, *args)
        # INVARIANT: no request (env, pty, exec, shell) goes out before the gate opens with True.
        try:
            wanted = await self._bastion_gate
        except BaseException:
            self.close()
            raise
        if not wanted:
            self.close()
            raise RequestsNotWanted()
        return packet


_gated_supported = True


async def open_session(conn: asyncssh.SSHClientConnection, factory: Callable[[], asyncssh.SSHClientSession],
                       command: str | None, *, gate: "asyncio.Future[bool]", env: dict[Any, Any],
                       pty: tuple[str, tuple[int, int, int, int], dict[int, int]] | None,
                       ) -> tuple[asyncssh.SSHClientChannel, asyncssh.SSHClientSession]:
    """A session channel on `conn` running `command` (a shell when None) once `gate` resolves True.

    Raises `RequestsNotWanted` when it resolves False, and what asyncssh raises when the target refuses.
    """
    global _gated_supported
    if _gated_supported:
        try:
            chan = _GatedChannel(conn, gate)
        except (AttributeError, TypeError):  # pragma: no cover - a future asyncssh changed its internals
            log.warning("this asyncssh cannot open channels ahead of the decision; opening them after it")
            _gated_supported = False
        else:
            term_type, term_size, modes = pty if pty is not None else (None, (0, 0, 0, 0), {})
            session = await chan.create(
                factory, command, None, dict(encode_env(env)), pty is not None,
                term_type, term_size, modes, False, None, None, False, False)
            return chan, session
    if not await gate:
        raise RequestsNotWanted()
    kwargs: dict[str, Any] = {"env": env, "encoding": None, "request_pty": False}
    if pty is not None:
        kwargs.update(request_pty="force", term_type=pty[0], term_size=pty[1], term_modes=pty[2])
    return await conn.create_session(factory, command, **kwargs)
