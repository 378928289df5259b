"""handle_cert_request: the bastion-cert protocol without I/O — one JSON line in, one JSON line out."""

from __future__ import annotations

import json
import time

import asyncssh
import pytest

from bastion.clock import FakeClock
from bastion.identity.ca import UserCertificateAuthority, handle_cert_request, process_cert_request


@pytest.fixture(scope="module")
def ca(tmp_path_factory) -> UserCertificateAuthority:
    return UserCertificateAuthority.load_or_create(tmp_path_factory.mktemp("ca") / "user_ca")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=float(int(time.time())))


def request(key: asyncssh.SSHKey | str, **extra) -> bytes:
    line = key if isinstance(key, str) else key.export_public_key("openssh").decode().strip()
    return json.dumps({"version": 1, "public_key": line} | extra).encode() + b"\n"


def answer(ca, clock, line: bytes, *, expires_in: float = 600, max_validity: float = 3600, token_id="jti-42"):
    raw = handle_cert_request(
        line,
        principal="alice",
        token_id=token_id,
        token_expires_at=clock.now() + expires_in,
        ca=ca,
        max_validity=max_validity,
        clock=clock,
    )
    assert raw.endswith(b"\n") and raw.count(b"\n") == 1  # exactly one JSON line
    return json.loads(raw)


@pytest.mark.parametrize("key_type", ["ssh-ed25519", "ecdsa-sha2-nistp256"])
def test_issues_a_certificate_for_the_sent_key(ca, clock, key_type):
    key = asyncssh.generate_private_key(key_type)
    reply = answer(ca, clock, request(key))
    cert = asyncssh.import_certificate(reply["certificate"])
    assert cert.key.public_data == key.public_data
    assert cert.principals == ["alice"]
    assert cert.signing_key.public_data == ca.public_key.public_data
    assert reply["valid_before"] == int(clock.now() + 600)


def test_validity_follows_the_token_then_the_maximum(ca, clock):
    key = asyncssh.generate_private_key("ssh-ed25519")
    assert answer(ca, clock, request(key), expires_in=120)["valid_before"] == int(clock.now() + 120)
    assert answer(ca, clock, request(key), expires_in=86400, max_validity=900)["valid_before"] == int(clock.now() + 900)


def test_outcome_carries_what_to_audit(ca, clock):
    key = asyncssh.generate_private_key("ssh-ed25519")
    outcome = process_cert_request(
        request(key), principal="alice", token_id="jti-42", token_expires_at=clock.now() + 600, ca=ca,
        max_validity=3600, clock=clock,
    )
    assert outcome.error is None and outcome.issued is not None
    issued = outcome.issued
    assert issued.key_id == "bastion:alice:jti=jti-42"
    assert issued.principal == "alice"
    assert issued.public_key_fingerprint == key.get_fingerprint("sha256")
    assert issued.valid_after == int(clock.now() - 60)
    assert issued.serial == issued.certificate._serial
    # Two requests never share a serial (audit records name certificates by it).
    again = process_cert_request(
        request(key), principal="alice", token_id=None, token_expires_at=clock.now() + 600, ca=ca,
        max_validity=3600, clock=clock,
    )
    assert again.issued is not None and again.issued.serial != issued.serial
    assert again.issued.key_id == "bastion:alice"


@pytest.mark.parametrize(
    "line, reason",
    [
        (b"not json\n", "not a JSON line"),
        (b"[1, 2]\n", "not a JSON object"),
        (b'{"public_key": "x"}\n', "protocol version"),
        (b'{"version": 2, "public_key": "x"}\n', "protocol version"),
        (b'{"version": 1}\n', "no public_key"),
        (b'{"version": 1, "public_key": "ssh-ed25519 AAAA-not-base64"}\n', "not an OpenSSH public key"),
        (b"{" + b" " * 20000 + b"}\n", "longer than"),
    ],
)
def test_bad_requests_get_one_error_line(ca, clock, line, reason):
    reply = answer(ca, clock, line)
    assert set(reply) == {"error"}
    assert reason in reply["error"]


def test_weak_rsa_key_is_refused_and_strong_one_accepted(ca, clock):
    weak = asyncssh.generate_private_key("ssh-rsa", key_size=1024)
    assert "too weak" in answer(ca, clock, request(weak))["error"]
    strong = asyncssh.generate_private_key("ssh-rsa", key_size=2048)
    assert "certificate" in answer(ca, clock, request(strong))


def test_dsa_key_is_refused(ca, clock):
    dsa = asyncssh.generate_private_key("ssh-dss")
    assert "ssh-dss is not accepted" in answer(ca, clock, request(dsa))["error"]


def test_a_certificate_in_place_of_a_key_is_refused(ca, clock):
    key = asyncssh.generate_private_key("ssh-ed25519")
    cert_line = answer(ca, clock, request(key))["certificate"]
    assert "is a certificate" in answer(ca, clock, request(cert_line))["error"]


def test_expired_token_gets_no_certificate(ca, clock):
    key = asyncssh.generate_private_key("ssh-ed25519")
    assert "expired" in answer(ca, clock, request(key), expires_in=-5)["error"]
