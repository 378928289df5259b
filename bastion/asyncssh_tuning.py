"""Two changes to how asyncssh spends CPU and syscalls; neither changes a byte on the wire or a log line.

1. One socket write per SSH packet. With encryption on, asyncssh sends an SSH_MSG_IGNORE in front of every
   packet (the old CBC countermeasure) and writes each of the two separately, so every packet costs two
   `send()` calls — on this machine ~60 µs each on loopback, the largest single cost of a keystroke echo
   and of a short exec. The pair is now written with one call.
2. Cheap disabled logging. asyncssh turns every log argument into text, and describes every packet it sends
   or receives, before the standard library asks whether that level is enabled at all (~45 calls per short
   exec for log lines nobody sees). The level check now comes first.
"""

from __future__ import annotations

import logging
from typing import Any

_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    try:
        from asyncssh.connection import SSHConnection
        from asyncssh.logging import SSHLogger
        from asyncssh.packet import SSHPacketLogger
    except ImportError:  # pragma: no cover - a future asyncssh moved them: keep its own behaviour
        return
    _coalesce_packet_writes(SSHConnection)
    log_all = SSHLogger.log
    log_packet = getattr(SSHPacketLogger, "_log_packet", None)

    def log(self: Any, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if self.isEnabledFor(level):
            log_all(self, level, msg, *args, **kwargs)

    SSHLogger.log = log  # type: ignore[method-assign]
    if log_packet is not None:
        def _log_packet(self: Any, *args: Any) -> None:
            logger = self.logger
            # SSHLogger.packet only writes at debug level 3 and DEBUG
            if getattr(logger, "_debug_level", 3) >= 3 and logger.isEnabledFor(logging.DEBUG):
                log_packet(self, *args)

        SSHPacketLogger._log_packet = _log_packet  # type: ignore[method-assign]
    _installed = True


def _coalesce_packet_writes(connection_class: Any) -> None:
    send_packet = getattr(connection_class, "send_packet", None)
    send = getattr(connection_class, "_send", None)
    if send_packet is None or send is None:  # pragma: no cover - a future asyncssh: leave it alone
        return

    def corked_send(self: Any, data: bytes) -> None:
        pending = self.__dict__.get("_bastion_pending")
        if pending is not None:
            pending.append(data)
        else:
            send(self, data)

    def corked_send_packet(self: Any, *args: Any, **kwargs: Any) -> None:
        if self.__dict__.get("_bastion_pending") is not None:  # the nested MSG_IGNORE
            return send_packet(self, *args, **kwargs)
        pending: list[bytes] = []
        self._bastion_pending = pending
        try:
            return send_packet(self, *args, **kwargs)
        finally:
            self._bastion_pending = None
            if pending:
                send(self, pending[0] if len(pending) == 1 else b"".join(pending))

    connection_class._send = corked_send
    connection_class.send_packet = corked_send_packet
