"""Make asyncssh's disabled logging cheap.

asyncssh turns every log argument into text, and describes every packet it sends or receives (name, byte
count), before the standard library asks whether that level is enabled at all. On the gateway's data path
that is ~45 calls per short exec for log lines nobody sees. `install()` puts the level check first; what
is logged when a level is enabled does not change.
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
        from asyncssh.logging import SSHLogger
        from asyncssh.packet import SSHPacketLogger
    except ImportError:  # pragma: no cover - a future asyncssh moved them: keep its own behaviour
        return
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
