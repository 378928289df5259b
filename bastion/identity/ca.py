"""The gateway's user certificate authority and the `bastion-cert` request it answers.

The CA is an ed25519 key generated once, kept 0600 next to the gateway's state; it never leaves the
gateway. It signs short-lived OpenSSH user certificates for a caller who has already proved who they
are (with an OIDC token): exactly one principal, a validity bounded by the token, and no permits
beyond a pty (FIELD-NOTES: asyncssh's defaults allow every forwarding, no principals and forever).

`handle_cert_request` is the whole server side of the `bastion-cert` subsystem minus the I/O: one
JSON request line in, one JSON response line out.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

import asyncssh

from bastion.clock import Clock
from bastion.errors import ConfigError, IdentityError

DEFAULT_MAX_VALIDITY = 3600.0
# Certificates start a minute in the past so a client whose clock runs slightly behind can use them.
BACKDATE_SECONDS = 60.0
PROTOCOL_VERSION = 1
MAX_REQUEST_BYTES = 16 * 1024
MIN_RSA_BITS = 2048

# Principals end up inside authorized-keys `principals="..."` options and key ids inside audit
# records: keep both to characters that cannot break out of either.
_PRINCIPAL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}")
_KEY_ID_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f\"]")


class CertificateRefused(IdentityError):
    """A certificate request cannot be honoured (bad request, weak key, token already expired)."""


@dataclass(frozen=True)
class IssuedCertificate:
    """What was signed, for the audit record: never the private key, only identifying facts."""

    certificate: asyncssh.SSHCertificate
    principal: str
    key_id: str
    serial: int
    valid_after: int
    valid_before: int
    public_key_fingerprint: str  # SHA256 fingerprint of the caller's key


@dataclass(frozen=True)
class CertRequestOutcome:
    """The response line to send and, when a certificate was issued, what to audit."""

    response: bytes
    issued: IssuedCertificate | None
    error: str | None


class UserCertificateAuthority:
    """Signs OpenSSH user certificates with the gateway's CA key; every field is set explicitly."""

    def __init__(self, key: asyncssh.SSHKey) -> None:
        self._key = key
        # Type and base64 only: the line goes into authorized-keys `cert-authority` entries.
        self.public_key_line: str = " ".join(key.export_public_key("openssh").decode().split()[:2])

    @classmethod
    def load_or_create(cls, path: Path) -> "UserCertificateAuthority":
        """Load the CA key at `path`, generating an ed25519 key (mode 0600) the first time."""
        path = Path(path)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            key = asyncssh.generate_private_key("ssh-ed25519", comment="bastion user CA")
            data = key.export_private_key("openssh")
            try:
                # O_EXCL: two gateways starting at once must not both write (and one lose) a key.
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                return cls._load(path)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            pub = path.with_name(path.name + ".pub")
            pub.write_bytes(key.export_public_key("openssh"))
            return cls(key)
        return cls._load(path)

    @classmethod
    def _load(cls, path: Path) -> "UserCertificateAuthority":
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise ConfigError(f"user CA key {path}: readable by others (mode {mode:04o}); chmod 600 it")
        try:
            key = asyncssh.read_private_key(path)
        except (OSError, asyncssh.KeyImportError) as exc:
            raise ConfigError(f"user CA key {path}: cannot be read ({exc})") from exc
        return cls(key)

    @property
    def public_key(self) -> asyncssh.SSHKey:
        """The CA's public key, for `cert-authority` trust lines."""
        return asyncssh.import_public_key(self.public_key_line)

    def issue(
        self,
        public_key: asyncssh.SSHKey,
        *,
        principal: str,
        key_id: str,
        valid_after: float,
        valid_before: float,
        permit_pty: bool = True,
        serial: int | None = None,
    ) -> asyncssh.SSHCertificate:
        """A user certificate for `public_key`, valid for `principal` only, in [valid_after, valid_before).

        `serial` defaults to a random 64-bit number, so audit records can name one certificate.
        """
        if not _PRINCIPAL.fullmatch(principal):
            raise CertificateRefused(f"principal {principal[:40]!r} has characters a certificate cannot carry")
        if not key_id or len(key_id) > 256 or _KEY_ID_FORBIDDEN.search(key_id):
            raise CertificateRefused("key id must be 1-256 printable characters without quotes")
        after, before = int(valid_after), int(valid_before)  # floor: never past the token's expiry
        if before <= after or after < 0:
            raise CertificateRefused("certificate validity window is empty")
        return self._key.generate_user_certificate(
            public_key,
            key_id,
            version=1,
            serial=secrets.randbits(64) if serial is None else serial,
            principals=[principal],
            valid_after=after,
            valid_before=before,
            force_command=None,
            source_address=None,
            permit_x11_forwarding=False,
            permit_agent_forwarding=False,
            permit_port_forwarding=False,
            permit_pty=permit_pty,
            permit_user_rc=False,
            touch_required=True,
            comment=principal,
        )


def certificate_validity(
    now: float, token_expires_at: float, configured_max: float = DEFAULT_MAX_VALIDITY
) -> tuple[float, float]:
    """(valid_after, valid_before): backdated a minute for skew, ending at the token's expiry or the max."""
    valid_before = min(token_expires_at, now + configured_max)
    if valid_before <= now:
        raise CertificateRefused("the token has expired; get a new one")
    return now - BACKDATE_SECONDS, valid_before


def check_user_key(public_key: asyncssh.SSHKey) -> None:
    """Refuse key types that are weak or that we do not know (DSA, short RSA, certificates)."""
    alg = public_key.get_algorithm()
    if alg == "ssh-ed25519" or alg.startswith("ecdsa-sha2-nistp") or alg in (
        "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com"
    ):
        return
    if alg == "ssh-rsa":
        bits = _rsa_bits(public_key)
        if bits >= MIN_RSA_BITS:
            return
        raise CertificateRefused(f"RSA key of {bits} bits is too weak (at least {MIN_RSA_BITS})")
    raise CertificateRefused(f"key type {alg} is not accepted (use ed25519)")


def _rsa_bits(public_key: asyncssh.SSHKey) -> int:
    # The public blob is string "ssh-rsa", mpint e, mpint n; n's size is the key size.
    blob = public_key.public_data
    offset = 0
    fields = []
    for _ in range(3):
        length = int.from_bytes(blob[offset:offset + 4], "big")
        fields.append(blob[offset + 4:offset + 4 + length])
        offset += 4 + length
    return int.from_bytes(fields[2], "big").bit_length()


def process_cert_request(
    line: bytes,
    *,
    principal: str,
    token_id: str | None,
    token_expires_at: float,
    ca: UserCertificateAuthority,
    max_validity: float,
    clock: Clock,
) -> CertRequestOutcome:
    """Parse one request line, issue a certificate, and say what to send back and what to audit."""
    try:
        public_key = _parse_request(line)
        check_user_key(public_key)
        now = clock.now()
        valid_after, valid_before = certificate_validity(now, token_expires_at, max_validity)
        key_id = f"bastion:{principal}" + (f":jti={token_id[:64]}" if token_id else "")
        key_id = _KEY_ID_FORBIDDEN.sub("?", key_id)
        serial = secrets.randbits(64)
        cert = ca.issue(
            public_key,
            principal=principal,
            key_id=key_id,
            valid_after=valid_after,
            valid_before=valid_before,
            serial=serial,
        )
    except CertificateRefused as exc:
        message = str(exc)
        return CertRequestOutcome(response=_line({"error": message}), issued=None, error=message)
    issued = IssuedCertificate(
        certificate=cert,
        principal=principal,
        key_id=key_id,
        serial=serial,
        valid_after=int(valid_after),
        valid_before=int(valid_before),
        public_key_fingerprint=public_key.get_fingerprint("sha256"),
    )
    response = {
        "certificate": cert.export_certificate("openssh").decode().strip(),
        "valid_before": int(valid_before),
    }
    return CertRequestOutcome(response=_line(response), issued=issued, error=None)


def handle_cert_request(
    line: bytes,
    *,
    principal: str,
    token_id: str | None,
    token_expires_at: float,
    ca: UserCertificateAuthority,
    max_validity: float,
    clock: Clock,
) -> bytes:
    """The `bastion-cert` response line for one request line (`{"certificate": ...}` or `{"error": ...}`)."""
    return process_cert_request(
        line,
        principal=principal,
        token_id=token_id,
        token_expires_at=token_expires_at,
        ca=ca,
        max_validity=max_validity,
        clock=clock,
    ).response


def _parse_request(line: bytes) -> asyncssh.SSHKey:
    if len(line) > MAX_REQUEST_BYTES:
        raise CertificateRefused(f"request longer than {MAX_REQUEST_BYTES} bytes")
    try:
        request = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        raise CertificateRefused("request is not a JSON line") from None
    if not isinstance(request, dict):
        raise CertificateRefused("request is not a JSON object")
    if request.get("version") != PROTOCOL_VERSION:
        raise CertificateRefused(f"unsupported protocol version (this gateway speaks {PROTOCOL_VERSION})")
    key_line = request.get("public_key")
    if not isinstance(key_line, str) or not key_line.strip():
        raise CertificateRefused("request has no public_key")
    if "cert-v01@openssh.com" in key_line.split(None, 1)[0]:
        raise CertificateRefused("public_key is a certificate; send a plain public key")
    try:
        return asyncssh.import_public_key(key_line.strip())
    except (asyncssh.KeyImportError, ValueError):
        raise CertificateRefused("public_key is not an OpenSSH public key line") from None


def _line(obj: dict) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"
