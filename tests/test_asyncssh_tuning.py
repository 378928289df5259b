"""The cheap-logging patch must not change what asyncssh logs when its levels are on."""

from __future__ import annotations

import logging

import asyncssh
from asyncssh.logging import logger as ssh_logger

from bastion import asyncssh_logging


def test_enabled_levels_still_log_and_disabled_ones_do_not(caplog):
    asyncssh_logging.install()
    asyncssh_logging.install()  # idempotent
    before = logging.getLogger("asyncssh").level
    asyncssh.set_log_level(logging.INFO)
    try:
        with caplog.at_level(logging.INFO, logger="asyncssh"):
            ssh_logger.info("visible %s", b"bytes-arg")
            ssh_logger.debug1("hidden at INFO")
        texts = [r.getMessage() for r in caplog.records]
        assert "visible bytes-arg" in texts
        assert not any("hidden" in t for t in texts)
    finally:
        logging.getLogger("asyncssh").setLevel(before)
