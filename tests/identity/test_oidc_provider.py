"""Against a real OpenID provider (npm `oidc-provider`) on loopback: discovery, JWKS, client-credentials
tokens validated by OidcValidator, an outage failing closed, and `bastion login` + stock ssh with the result."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from bastion.clock import FakeClock, SystemClock
from bastion.identity.ca import UserCertificateAuthority
from bastion.identity.login import LoginError, certificate_valid_before, login
from bastion.identity.oidc import JwksUnavailable, OidcIssuerSettings, OidcValidator, TokenInvalid
from tests.identity.cert_gateway import CertGateway, TokenIdentity
from tests.oidc_provider import OidcClient, oidc_provider, require_node, start_oidc_provider  # noqa: F401

pytestmark = pytest.mark.slow


def issuer_settings(provider, **overrides) -> OidcIssuerSettings:
    return OidcIssuerSettings(issuer=provider.issuer, audience=provider.audience, **overrides)


async def test_client_credentials_token_validates_through_discovery(oidc_provider):
    token = await asyncio.to_thread(oidc_provider.token, "agent-1")
    validator = OidcValidator([issuer_settings(oidc_provider)], clock=SystemClock())  # real HTTP fetch
    identity = await validator.validate(token)
    assert identity.user == "agent-1"  # client-credentials tokens name the client as `sub`
    assert identity.groups == ("ops", "deploy")
    assert identity.issuer == oidc_provider.issuer
    assert identity.token_id and identity.token_id in identity.claims["jti"]
    assert 250 < identity.expires_at - time.time() <= 300
    assert identity.claims["client_id"] == "agent-1"


async def test_client_without_groups_and_required_claims(oidc_provider):
    token = await asyncio.to_thread(oidc_provider.token, "agent-2")
    validator = OidcValidator([issuer_settings(oidc_provider)], clock=SystemClock())
    assert (await validator.validate(token)).groups == ()
    strict = OidcValidator(
        [issuer_settings(oidc_provider, required_claims={"groups": "ops"})], clock=SystemClock()
    )
    with pytest.raises(TokenInvalid, match="lacks required claim 'groups'"):
        await strict.validate(token)


async def test_token_for_another_audience_is_refused(oidc_provider):
    token = await asyncio.to_thread(oidc_provider.token, "agent-1")
    validator = OidcValidator(
        [OidcIssuerSettings(issuer=oidc_provider.issuer, audience="some-other-api")], clock=SystemClock()
    )
    with pytest.raises(TokenInvalid, match="audience"):
        await validator.validate(token)


async def test_provider_outage_fails_closed_once_the_cache_expires():
    require_node()
    provider = await asyncio.to_thread(
        start_oidc_provider, (OidcClient("agent-ec", "test-only-secret-not-real"),), alg="ES256"
    )
    try:
        token = await asyncio.to_thread(provider.token)
        clock = FakeClock(start=time.time())
        validator = OidcValidator(
            [issuer_settings(provider, jwks_cache_seconds=60, jwks_min_refresh_interval=5)], clock=clock
        )
        assert (await validator.validate(token)).user == "agent-ec"  # ES256 through discovery
    finally:
        provider.stop()
    clock.advance(30)
    assert (await validator.validate(token)).user == "agent-ec"  # cached keys still good
    clock.advance(31)
    with pytest.raises(JwksUnavailable, match="cannot be fetched"):
        await validator.validate(token)


@pytest.mark.skipif(shutil.which("ssh") is None, reason="OpenSSH client not installed")
def test_login_with_a_provider_token_then_stock_ssh(oidc_provider, tmp_path: Path):
    validator = OidcValidator([issuer_settings(oidc_provider)], clock=SystemClock())

    async def authenticate(username: str, password: str) -> TokenIdentity | None:
        try:
            identity = await validator.validate(password)
        except TokenInvalid:
            return None
        return TokenIdentity(identity.user, identity.token_id, identity.expires_at)

    ca = UserCertificateAuthority.load_or_create(tmp_path / "user_ca")
    gateway = CertGateway(ca=ca, authenticate=authenticate).start()
    try:
        token = oidc_provider.token("agent-1")
        known_hosts = gateway.known_hosts(tmp_path)
        key_path = asyncio.run(
            login(host="127.0.0.1", port=gateway.port, user="agent-1:web-1", token=token,
                  key_dir=tmp_path / "keys", known_hosts=known_hosts)
        )
        listing = subprocess.run(["ssh-keygen", "-L", "-f", f"{key_path}-cert.pub"], capture_output=True,
                                 text=True, timeout=30)
        assert 'Key ID: "bastion:agent-1:jti=' in listing.stdout
        token_exp = asyncio.run(validator.validate(token)).expires_at
        valid_before = certificate_valid_before(Path(f"{key_path}-cert.pub"))
        assert valid_before is not None
        assert valid_before <= token_exp  # bounded by the token (5 min), not the 1 h maximum
        assert valid_before > time.time() + 200
        ssh = subprocess.run(
            ["ssh", "-F", "/dev/null", "-i", str(key_path), "-p", str(gateway.port), "-o", "IdentitiesOnly=yes",
             "-o", "BatchMode=yes", "-o", f"UserKnownHostsFile={known_hosts}", "-o", "StrictHostKeyChecking=yes",
             "agent-1@127.0.0.1", "uptime"],
            capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
        )
        assert ssh.returncode == 0, ssh.stderr
        assert ssh.stdout == "hello agent-1 via certificate: uptime\n"
        # A token whose signature was altered gets nothing.
        tampered = token[:-6] + ("AAAAAA" if not token.endswith("AAAAAA") else "BBBBBB")
        assert "refused the token" in asyncio.run(_login_refused(gateway, tmp_path, tampered, known_hosts))
    finally:
        gateway.stop()


async def _login_refused(gateway: CertGateway, tmp_path: Path, token: str, known_hosts: Path) -> str:
    try:
        await login(host="127.0.0.1", port=gateway.port, user="agent-1", token=token, key_dir=tmp_path / "k2",
                    known_hosts=known_hosts)
    except LoginError as exc:
        return str(exc)
    return "accepted"
