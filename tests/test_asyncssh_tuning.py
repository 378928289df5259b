"""The asyncssh tuning must not change what asyncssh sends or logs, only how many calls it takes."""

from __future__ import annotations

import logging

import asyncssh
from asyncssh.logging import logger as ssh_logger

from bastion import asyncssh_tuning
from tests.inprocess_target import start_target


def test_enabled_levels_still_log_and_disabled_ones_do_not(caplog):
    asyncssh_tuning.install()
    asyncssh_tuning.install()  # idempotent
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


class _CountingTransport:
    """Counts the writes asyncssh makes to its socket transport; passes everything through."""

    def __init__(self, inner):
        self._inner = inner
        self.writes: list[bytes] = []

    def write(self, data):
        self.writes.append(data)
        self._inner.write(data)

    def __getattr__(self, name):
        return getattr(self._inner, name)


async def test_each_packet_and_its_ignore_message_go_out_in_one_write(tmp_path):
    asyncssh_tuning.install()
    acceptor, entry, _stats = await start_target(tmp_path)
    try:
        async with asyncssh.connect(
                "127.0.0.1", entry["port"], username=entry["account"], client_keys=[entry["key"]],
                known_hosts=None, config=None, agent_path=None, encryption_algs=["aes128-gcm@openssh.com"]) as conn:
            writer, reader, _stderr = await conn.open_session("echo-stdin", encoding=None)
            counting = _CountingTransport(conn._transport)
            conn._transport = counting
            packets: list[int] = []
            send_packet = conn.send_packet

            def counted(pkttype, *args, **kwargs):
                packets.append(pkttype)
                return send_packet(pkttype, *args, **kwargs)

            conn.send_packet = counted
            sent = [bytes([i]) * (i + 1) for i in range(20)]
            for chunk in sent:
                writer.write(chunk)
            writer.write_eof()
            echoed = await reader.read()
            assert echoed == b"".join(sent)  # nothing lost or reordered
            # every packet (20 data, EOF, close) goes out with its SSH_MSG_IGNORE in one write, not two
            ignores = packets.count(asyncssh.constants.MSG_IGNORE)
            others = len(packets) - ignores
            assert others >= 21 and ignores == others
            assert len(counting.writes) == others
            conn._transport = counting._inner
    finally:
        acceptor.close()
