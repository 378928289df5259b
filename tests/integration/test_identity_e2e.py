"""Short-lived identity through the gateway: OIDC tokens from a real provider, gateway certificates used by
a real ssh, TOTP as a second factor, and least-privilege target accounts chosen by policy."""

from __future__ import annotations

import asyncio
import subprocess

import asyncssh
import pyotp
import pytest

from bastion.identity.login import login
from tests.oidc_provider import oidc_provider, require_node  # noqa: F401  (fixture)

pytestmark = pytest.mark.slow


@pytest.fixture
def oidc_gw(make_gateway, oidc_provider):
    return make_gateway(
        users={"agent-1": {"groups": ["agents"]}, "agent-2": {}},
        extra_config={"oidc": {"issuers": [{"issuer": oidc_provider.issuer,
                                            "audience": oidc_provider.audience}],
                               "certificate_max_validity": 600}},
    )


async def test_agent_runs_a_command_with_a_token_as_password(oidc_gw, oidc_provider):
    token = await asyncio.to_thread(oidc_provider.token, "agent-1")
    async with asyncssh.connect("127.0.0.1", oidc_gw.port, username="agent-1:web-1", password=token,
                                client_keys=None, known_hosts=None, preferred_auth="password") as conn:
        result = await conn.run("echo via-token", encoding="utf-8")
    assert result.stdout == "via-token\n"
    rows = subprocess.run(["bastion", "-c", str(oidc_gw.config_path), "sessions", "--json"],
                          capture_output=True, text=True).stdout
    assert '"auth_method": "oidc"' in rows


async def test_a_token_for_another_user_or_garbage_is_refused(oidc_gw, oidc_provider):
    token = await asyncio.to_thread(oidc_provider.token, "agent-2")
    for username, password in (("agent-1:web-1", token), ("agent-1:web-1", "not-a-token")):
        with pytest.raises(asyncssh.PermissionDenied):
            await asyncssh.connect("127.0.0.1", oidc_gw.port, username=username, password=password,
                                   client_keys=None, known_hosts=None, preferred_auth="password")


async def test_bastion_login_then_stock_ssh_with_the_certificate(oidc_gw, oidc_provider, tmp_path):
    token = await asyncio.to_thread(oidc_provider.token, "agent-1")
    key = await login(host="127.0.0.1", port=oidc_gw.port, user="agent-1", token=token,
                      key_dir=tmp_path / "keys", known_hosts=oidc_gw.known_hosts)
    assert (tmp_path / "keys" / f"{key.name}-cert.pub").exists()
    listing = subprocess.run(["ssh-keygen", "-L", "-f", f"{key}-cert.pub"], capture_output=True, text=True)
    assert "agent-1" in listing.stdout and "permit-port-forwarding" not in listing.stdout
    result = oidc_gw.ssh("echo via-cert", "agent-1:web-1", identity=key)
    assert (result.returncode, result.stdout) == (0, b"via-cert\n"), result.stderr
    as_other = oidc_gw.ssh("true", "agent-2:web-1", identity=key)
    assert as_other.returncode == 255




def test_totp_is_required_after_the_key_for_people(make_gateway):
    gw = make_gateway(users={"bob": {"groups": ["ops"], "totp": "required"}})
    secret = gw.call(_enroll(gw, "bob"))
    # BatchMode (no keyboard-interactive) cannot pass: the key alone is not enough.
    assert gw.ssh("echo no", "bob:web-1").returncode == 255

    async def run(code: str) -> asyncssh.SSHCompletedProcess:
        class Client(asyncssh.SSHClient):
            def kbdint_auth_requested(self) -> str:
                return ""

            def kbdint_challenge_received(self, name, instructions, lang, prompts):
                return [code] if prompts else []

        conn, _ = await asyncssh.create_connection(
            Client, "127.0.0.1", gw.port, username="bob:web-1", client_keys=[str(gw.keys["bob"])],
            known_hosts=None)
        async with conn:
            return await conn.run("echo with-totp", encoding="utf-8")

    with pytest.raises(asyncssh.PermissionDenied):
        asyncio.run(run("000000"))
    result = asyncio.run(run(pyotp.TOTP(secret).now()))
    assert result.stdout == "with-totp\n"


async def _enroll(gw, name: str) -> str:
    return gw.service.ctx.totp.enroll(name).secret.expose()


def test_policy_maps_groups_to_least_privileged_accounts(make_gateway, sshd):
    policy = ("default: allow\nopaque: review\naccounts:\n"
              "  - id: ops-get-admin\n    groups: [ops]\n    account: admin\n")
    gw = make_gateway(policy=policy, users={"alice": {"groups": ["devs"]}, "olga": {"groups": ["ops"]}},
                      extra_config={"targets": {"web-1": {
                          "host": sshd.host, "port": sshd.port, "host_keys": [sshd.host_key_line],
                          "accounts": {"readonly": {"account": sshd.account, "key": str(sshd.client_key_path)},
                                       "admin": {"account": "no-such-admin", "key": str(sshd.client_key_path)}}}}})
    plain = gw.ssh("whoami")
    assert plain.stdout.decode().strip() == sshd.account  # default: the least privileged account
    from tests.integration.test_refusals import wait_for_event
    decisions = wait_for_event(gw, "policy.decision")
    assert decisions[-1]["account"] == sshd.account  # decisions record the account used
    mapped = gw.ssh("whoami", "olga:web-1")
    assert mapped.returncode == 255
    assert b"refused account 'no-such-admin'" in mapped.stderr


async def test_no_command_runs_after_the_token_expires(make_gateway, oidc_provider):
    import time

    from bastion.clock import FakeClock

    clock = FakeClock(start=time.time())
    gw = make_gateway(users={"agent-1": {}}, clock=clock,
                      extra_config={"oidc": {"issuers": [{"issuer": oidc_provider.issuer,
                                                          "audience": oidc_provider.audience}]}})
    token = await asyncio.to_thread(oidc_provider.token, "agent-1")
    async with asyncssh.connect("127.0.0.1", gw.port, username="agent-1:web-1", password=token,
                                client_keys=None, known_hosts=None, preferred_auth="password") as conn:
        assert (await conn.run("echo before", encoding="utf-8")).stdout == "before\n"
        clock.advance(3600)
        after = await conn.run("echo after", encoding="utf-8")
    assert after.exit_status == 126 and after.stdout == ""
    assert "bastion: your token has expired; log in again" in after.stderr
