"""Broken targets are reported like ssh does; OpenSSH user certificates are checked strictly."""

from __future__ import annotations

import time

import asyncssh
import pytest

from tests.sshd import free_port, write_private_key

pytestmark = pytest.mark.slow


def test_target_down_is_reported_with_exit_255_and_closed_rows(make_gateway, sshd, tmp_path):
    dead_port = free_port()
    gw = make_gateway(extra_config={"targets": {"web-1": {
        "host": "127.0.0.1", "port": dead_port, "account": sshd.account,
        "key": str(sshd.client_key_path), "host_keys": [sshd.host_key_line], "connect_timeout": 3}}})
    result = gw.ssh("true")
    assert result.returncode == 255
    line = result.stderr.decode()
    assert line.startswith("bastion: target web-1 unreachable: ")
    assert line.count("\n") == 1
    from bastion.clock import SystemClock
    from bastion.store.db import Store
    from bastion.store.sessions import list_sessions
    store = Store.open(gw.settings.store_path, clock=SystemClock())
    rows = list_sessions(store)
    store.close()
    assert rows[0]["status"] == "failed" and rows[0]["ended_at"] is not None
    assert rows[0]["recording_sha256"]


def test_wrong_pinned_host_key_is_refused(make_gateway, sshd):
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
    gw = make_gateway(extra_config={"targets": {"web-1": {
        "host": sshd.host, "port": sshd.port, "account": sshd.account,
        "key": str(sshd.client_key_path), "host_keys": [other], "connect_timeout": 5}}})
    result = gw.ssh("echo should-not-run")
    assert result.returncode == 255
    assert b"should-not-run" not in result.stdout
    assert b"does not match the pinned key" in result.stderr
    from tests.integration.test_refusals import wait_for_event
    events = wait_for_event(gw, "upstream.hostkey_mismatch")
    assert events and events[0]["presented"] == sshd.host_key.get_fingerprint()


def _certificate(ca: asyncssh.SSHKey, user_key: asyncssh.SSHKey, principals: list[str],
                 valid_after: float, valid_before: float) -> asyncssh.SSHCertificate:
    return ca.generate_user_certificate(
        user_key, "test-cert", principals=principals, valid_after=int(valid_after),
        valid_before=int(valid_before), permit_x11_forwarding=False, permit_agent_forwarding=False,
        permit_port_forwarding=False, permit_pty=True, permit_user_rc=False)


@pytest.fixture
def cert_gateway(make_gateway, tmp_path):
    ca = asyncssh.generate_private_key("ssh-ed25519")
    gw = make_gateway(extra_config={"user_ca_keys": [ca.export_public_key().decode().strip()]})
    return gw, ca


@pytest.mark.parametrize("principals,offset,accepted", [
    (["alice"], 0, True),
    (["bob"], 0, False),          # wrong principal
    ([], 0, False),               # principal-less certificates are not wildcards
    (["alice"], -7200, False),    # expired
])
def test_user_certificates(cert_gateway, tmp_path, principals, offset, accepted):
    gw, ca = cert_gateway
    user_key = asyncssh.generate_private_key("ssh-ed25519")
    key_path = write_private_key(tmp_path / "certuser", user_key)
    now = time.time() + offset
    cert = _certificate(ca, user_key, principals, now - 60, now + 3600 if offset == 0 else now + 60)
    cert.write_certificate(str(key_path) + "-cert.pub")
    result = gw.ssh("echo via-cert", identity=key_path)
    if accepted:
        assert (result.returncode, result.stdout) == (0, b"via-cert\n"), result.stderr
    else:
        assert result.returncode == 255
        assert b"Permission denied" in result.stderr


def test_certificate_from_another_ca_is_refused(cert_gateway, tmp_path):
    gw, _ = cert_gateway
    rogue = asyncssh.generate_private_key("ssh-ed25519")
    user_key = asyncssh.generate_private_key("ssh-ed25519")
    key_path = write_private_key(tmp_path / "rogue", user_key)
    now = time.time()
    _certificate(rogue, user_key, ["alice"], now - 60, now + 3600).write_certificate(str(key_path) + "-cert.pub")
    result = gw.ssh("true", identity=key_path)
    assert result.returncode == 255
