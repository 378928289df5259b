"""`bastion login`: trade an OIDC token for a short-lived SSH certificate from the gateway.

The client generates a fresh ed25519 key pair, authenticates to the gateway with the token as the SSH
password, and asks the `bastion-cert` subsystem to sign the public key. The private key never leaves
this machine; the result is `KEY` and `KEY-cert.pub`, which stock `ssh -i KEY` picks up together.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import time
from datetime import datetime, timezone
from pathlib import Path

import asyncssh
import click

from bastion.errors import IdentityError

SUBSYSTEM = "bastion-cert"
PROTOCOL_VERSION = 1
_TIMEOUT = 30.0
_MAX_RESPONSE_BYTES = 64 * 1024
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._@-]")


class LoginError(IdentityError):
    """`bastion login` could not obtain a certificate (gateway unreachable, token refused, bad reply)."""


def key_path_for(key_dir: Path, user: str) -> Path:
    """Where the key pair for `user` is written: `KEY_DIR/bastion-<user>` (+ `-cert.pub`)."""
    return Path(key_dir) / f"bastion-{_SAFE_NAME.sub('_', user) or 'user'}"


async def login(
    *,
    host: str,
    port: int,
    user: str,
    token: str,
    key_dir: Path,
    known_hosts: Path | None,
) -> Path:
    """Obtain a certificate for a new key pair in `key_dir`; return the private key's path.

    `known_hosts` pins the gateway's host key; None means the user's default `~/.ssh/known_hosts`
    (host key checking is never switched off: the token would be handed to whoever answers).
    """
    key_dir = Path(key_dir).expanduser()
    key_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    private_key = asyncssh.generate_private_key("ssh-ed25519", comment=f"bastion login {user}")
    public_line = private_key.export_public_key("openssh").decode().strip()
    request = json.dumps({"version": PROTOCOL_VERSION, "public_key": public_line}) + "\n"

    try:
        reply = await asyncio.wait_for(
            _exchange(host, port, user, token, known_hosts, request.encode()), timeout=_TIMEOUT
        )
    except asyncssh.PermissionDenied:
        raise LoginError(f"the gateway {host}:{port} refused the token for {user!r}") from None
    except asyncssh.HostKeyNotVerifiable as exc:
        raise LoginError(f"the gateway's host key is not trusted ({exc.reason}); add it to known_hosts") from None
    except (asyncio.TimeoutError, TimeoutError):
        raise LoginError(f"no certificate from {host}:{port} within {_TIMEOUT:g} s") from None
    except (OSError, asyncssh.Error) as exc:
        raise LoginError(f"cannot get a certificate from {host}:{port}: {exc}") from None

    certificate = _parse_reply(reply, private_key)
    key_path = key_path_for(key_dir, user)
    _write_private(key_path, private_key.export_private_key("openssh"))
    key_path.with_name(key_path.name + ".pub").write_text(public_line + "\n")
    key_path.with_name(key_path.name + "-cert.pub").write_bytes(certificate.export_certificate("openssh"))
    return key_path


async def _exchange(
    host: str, port: int, user: str, token: str, known_hosts: Path | None, request: bytes
) -> bytes:
    options: dict = {}
    if known_hosts is not None:
        options["known_hosts"] = str(known_hosts)
    async with asyncssh.connect(
        host,
        port,
        username=user,
        password=token,
        # Only the token: no local keys, no agent, so the gateway sees exactly one credential.
        client_keys=None,
        agent_path=None,
        preferred_auth="password",
        **options,
    ) as conn:
        process = await conn.create_process(subsystem=SUBSYSTEM, encoding=None)
        process.stdin.write(request)
        process.stdin.write_eof()
        reply = await process.stdout.read(_MAX_RESPONSE_BYTES)
        process.close()
        return reply


def _parse_reply(reply: bytes, private_key: asyncssh.SSHKey) -> asyncssh.SSHCertificate:
    line = reply.split(b"\n", 1)[0]
    try:
        message = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        raise LoginError("the gateway sent no certificate (unreadable reply)") from None
    if not isinstance(message, dict):
        raise LoginError("the gateway sent no certificate (unexpected reply)")
    if "error" in message:
        raise LoginError(f"the gateway refused to issue a certificate: {str(message['error'])[:200]}")
    cert_line = message.get("certificate")
    if not isinstance(cert_line, str):
        raise LoginError("the gateway sent no certificate")
    try:
        certificate = asyncssh.import_certificate(cert_line)
    except (asyncssh.KeyImportError, ValueError):
        raise LoginError("the gateway's certificate cannot be parsed") from None
    # A certificate for some other key would be useless and suggests a confused or hostile peer.
    if certificate.key.public_data != private_key.public_data:
        raise LoginError("the gateway certified a different key than the one sent")
    return certificate


def _write_private(path: Path, data: bytes) -> None:
    # Replace atomically with a file created 0600, so the key is never briefly readable by others.
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def certificate_valid_before(cert_path: Path) -> float | None:
    """The end of a written certificate's validity (epoch seconds), read back from its file."""
    try:
        cert = asyncssh.read_certificate(cert_path)
    except (OSError, asyncssh.KeyImportError):
        return None
    return float(cert._valid_before)  # asyncssh keeps no public accessor for the validity window


def parse_gateway(value: str) -> tuple[str, int]:
    """`HOST:PORT` or `[IPv6]:PORT` → (host, port); the port defaults to 22."""
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif value.count(":") == 1:
        host, _, port_text = value.partition(":")
    else:
        host, port_text = value, ""
    if not host:
        raise click.BadParameter("expected HOST:PORT", param_hint="--gateway")
    try:
        port = int(port_text) if port_text else 22
    except ValueError:
        raise click.BadParameter(f"port {port_text!r} is not a number", param_hint="--gateway") from None
    if not 0 < port < 65536:
        raise click.BadParameter(f"port {port} is out of range", param_hint="--gateway")
    return host, port


def unverified_subject(token: str) -> str | None:
    """The token's `sub`, read without verifying (only to pick a default SSH user name)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, UnicodeDecodeError):
        return None
    sub = claims.get("sub") if isinstance(claims, dict) else None
    return sub if isinstance(sub, str) and sub else None


@click.command("login")
@click.option("--gateway", "gateway", required=True, metavar="HOST:PORT", help="The bastion gateway to ask.")
@click.option(
    "--token-file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="File holding the OIDC access token (e.g. from a client-credentials grant).",
)
@click.option("--user", default=None, help="SSH user name (default: the token's subject).")
@click.option(
    "--key-dir",
    default="~/.ssh/bastion",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the new key pair and certificate are written.",
)
@click.option(
    "--known-hosts",
    default=None,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="known_hosts file pinning the gateway's host key (default: ~/.ssh/known_hosts).",
)
def login_command(gateway: str, token_file: Path, user: str | None, key_dir: Path, known_hosts: Path | None) -> None:
    """Get a short-lived SSH certificate from the gateway in exchange for an OIDC token."""
    host, port = parse_gateway(gateway)
    token = token_file.read_text().strip()
    if not token:
        raise click.UsageError(f"{token_file} is empty")
    user = user or unverified_subject(token)
    if not user:
        raise click.UsageError("cannot tell the user name from the token; pass --user")
    try:
        key_path = asyncio.run(
            login(host=host, port=port, user=user, token=token, key_dir=key_dir.expanduser(), known_hosts=known_hosts)
        )
    except IdentityError as exc:
        raise click.ClickException(str(exc)) from None
    cert_path = key_path.with_name(key_path.name + "-cert.pub")
    valid_before = certificate_valid_before(cert_path)
    until = (
        datetime.fromtimestamp(valid_before, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        if valid_before
        else "unknown"
    )
    remaining = f" ({int((valid_before - time.time()) // 60)} min)" if valid_before else ""
    port_flag = f" -p {port}" if port != 22 else ""
    click.echo(f"Certificate for {user} written to {cert_path}, valid until {until}{remaining}.")
    click.echo("Connect with stock ssh (it loads KEY-cert.pub next to KEY):")
    click.echo(f"  ssh -i {key_path}{port_flag} {user}:TARGET@{host}")
