"""`bastion login` against a real asyncssh server that serves `bastion-cert` with handle_cert_request."""

from __future__ import annotations

import asyncio
import json
import shutil
import stat
import subprocess
import time
from pathlib import Path
from typing import Iterator

import asyncssh
import click
import pytest
from click.testing import CliRunner

from bastion.identity.ca import UserCertificateAuthority
from bastion.identity.login import LoginError, login, login_command, parse_gateway, unverified_subject
from tests.identity.cert_gateway import CertGateway, TokenIdentity
from tests.identity.tokens import b64url

SSH = shutil.which("ssh")
# Shaped like a JWT, obviously fake: the stand-in gateway compares it, it verifies nothing.
FAKE_TOKEN = ".".join(
    [b64url(json.dumps({"alg": "RS256"}).encode()), b64url(json.dumps({"sub": "agent-7"}).encode()), "fake-signature"]
)


@pytest.fixture(scope="module")
def ca(tmp_path_factory) -> UserCertificateAuthority:
    return UserCertificateAuthority.load_or_create(tmp_path_factory.mktemp("ca") / "user_ca")


def token_check(expires_in: float = 600.0):
    async def authenticate(username: str, password: str) -> TokenIdentity | None:
        if password != FAKE_TOKEN:
            return None
        # The gateway names the principal from the token, not from the ssh user name.
        return TokenIdentity(user="agent-7", token_id="jti-1", expires_at=time.time() + expires_in)

    return authenticate


@pytest.fixture
def gateway(ca) -> Iterator[CertGateway]:
    server = CertGateway(ca=ca, authenticate=token_check()).start()
    yield server
    server.stop()


def run_login(gateway: CertGateway, tmp_path: Path, *, token: str = FAKE_TOKEN, user: str = "agent-7",
              known_hosts: Path | None = None) -> Path:
    return asyncio.run(
        login(
            host="127.0.0.1",
            port=gateway.port,
            user=user,
            token=token,
            key_dir=tmp_path / "keys",
            known_hosts=known_hosts or gateway.known_hosts(tmp_path),
        )
    )


def test_login_writes_a_private_key_and_a_certificate_for_it(gateway, ca, tmp_path: Path):
    key_path = run_login(gateway, tmp_path, user="agent-7:web-1")
    assert key_path.parent == tmp_path / "keys"
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_path.parent.stat().st_mode) == 0o700
    private = asyncssh.read_private_key(key_path)
    cert = asyncssh.read_certificate(key_path.with_name(key_path.name + "-cert.pub"))
    assert cert.key.public_data == private.public_data
    assert cert.principals == ["agent-7"]
    assert cert.signing_key.public_data == ca.public_key.public_data
    assert asyncssh.read_public_key(key_path.with_name(key_path.name + ".pub")).public_data == private.public_data
    # A second login makes a new key pair (short-lived keys, never reused).
    again = run_login(gateway, tmp_path, user="agent-7:web-1")
    assert asyncssh.read_private_key(again).public_data != private.public_data


def test_wrong_token_is_refused(gateway, tmp_path: Path):
    with pytest.raises(LoginError, match="refused the token"):
        run_login(gateway, tmp_path, token=FAKE_TOKEN + "x")
    assert not (tmp_path / "keys" / "bastion-agent-7").exists()


def test_untrusted_gateway_host_key_is_refused_before_sending_the_token(gateway, tmp_path: Path):
    impostor = tmp_path / "impostor_known_hosts"
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().split()[:2]
    impostor.write_text(f"[127.0.0.1]:{gateway.port} {' '.join(other)}\n")
    with pytest.raises(LoginError, match="host key"):
        run_login(gateway, tmp_path, known_hosts=impostor)


def test_gateway_refusal_is_reported(ca, tmp_path: Path):
    server = CertGateway(ca=ca, authenticate=token_check(expires_in=-10)).start()
    try:
        with pytest.raises(LoginError, match="refused to issue a certificate: the token has expired"):
            run_login(server, tmp_path)
    finally:
        server.stop()


def test_certificate_for_another_key_is_refused(ca, tmp_path: Path):
    stranger = asyncssh.generate_private_key("ssh-ed25519")

    def swap_key(_response: bytes) -> bytes:
        cert = ca.issue(stranger, principal="agent-7", key_id="k", valid_after=time.time(),
                        valid_before=time.time() + 60)
        return json.dumps({"certificate": cert.export_certificate().decode().strip(), "valid_before": 0}).encode()

    server = CertGateway(ca=ca, authenticate=token_check(), rewrite_response=swap_key).start()
    try:
        with pytest.raises(LoginError, match="different key"):
            run_login(server, tmp_path)
    finally:
        server.stop()


def test_garbage_reply_is_refused(ca, tmp_path: Path):
    server = CertGateway(ca=ca, authenticate=token_check(), rewrite_response=lambda _: b"hello\n").start()
    try:
        with pytest.raises(LoginError, match="unreadable reply"):
            run_login(server, tmp_path)
    finally:
        server.stop()


def test_unreachable_gateway_is_reported(tmp_path: Path):
    with pytest.raises(LoginError, match="cannot get a certificate"):
        asyncio.run(login(host="127.0.0.1", port=1, user="a", token=FAKE_TOKEN, key_dir=tmp_path,
                          known_hosts=tmp_path / "kh"))


def test_cli_prints_how_to_use_stock_ssh(gateway, tmp_path: Path):
    token_file = tmp_path / "token"
    token_file.write_text(FAKE_TOKEN + "\n")
    result = CliRunner().invoke(
        login_command,
        [
            "--gateway", f"127.0.0.1:{gateway.port}",
            "--token-file", str(token_file),
            "--key-dir", str(tmp_path / "keys"),
            "--known-hosts", str(gateway.known_hosts(tmp_path)),
        ],
    )
    assert result.exit_code == 0, result.output
    key_path = tmp_path / "keys" / "bastion-agent-7"  # user defaulted from the token's sub
    assert key_path.exists()
    assert f"ssh -i {key_path} -p {gateway.port} agent-7:TARGET@127.0.0.1" in result.output
    assert "valid until" in result.output and "min)" in result.output
    assert FAKE_TOKEN not in result.output


def test_cli_reports_refusal_without_a_traceback(gateway, tmp_path: Path):
    token_file = tmp_path / "token"
    token_file.write_text("not.a-valid.token")
    result = CliRunner().invoke(
        login_command,
        ["--gateway", f"127.0.0.1:{gateway.port}", "--token-file", str(token_file), "--user", "agent-7",
         "--key-dir", str(tmp_path / "keys"), "--known-hosts", str(gateway.known_hosts(tmp_path))],
    )
    assert result.exit_code == 1
    assert "refused the token" in result.output
    assert "Traceback" not in result.output


@pytest.mark.skipif(SSH is None, reason="OpenSSH client not installed")
def test_stock_ssh_connects_with_the_issued_certificate(gateway, tmp_path: Path):
    key_path = run_login(gateway, tmp_path)
    known_hosts = gateway.known_hosts(tmp_path)

    def ssh(user: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [SSH, "-F", "/dev/null", "-i", str(key_path), "-p", str(gateway.port),
             "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", f"UserKnownHostsFile={known_hosts}",
             "-o", "StrictHostKeyChecking=yes", "-o", "PasswordAuthentication=no",
             f"{user}@127.0.0.1", "echo hi"],
            capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
        )

    ok = ssh("agent-7")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout == "hello agent-7 via certificate: echo hi\n"
    # The certificate names agent-7 only: another user name is refused.
    refused = ssh("root")
    assert refused.returncode == 255
    assert "Permission denied" in refused.stderr


@pytest.mark.parametrize(
    "value, expected",
    [("gw.example.test:2222", ("gw.example.test", 2222)), ("gw.example.test", ("gw.example.test", 22)),
     ("[::1]:2222", ("::1", 2222)), ("[::1]", ("::1", 22))],
)
def test_parse_gateway(value, expected):
    assert parse_gateway(value) == expected


@pytest.mark.parametrize("value", [":22", "gw:port", "gw:0", "gw:70000"])
def test_parse_gateway_refuses_bad_values(value):
    with pytest.raises(click.BadParameter):
        parse_gateway(value)


def test_unverified_subject():
    assert unverified_subject(FAKE_TOKEN) == "agent-7"
    assert unverified_subject("nonsense") is None
    assert unverified_subject("a.bm90LWpzb24.c") is None
