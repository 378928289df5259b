"""Connection settings from arguments and the environment; credentials and host keys are never guessed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bastion.integrations.connection import (GatewayConnection, GatewaySettings, GatewayUnavailable,
                                             IntegrationConfigError)

ENV = {"BASTION_HOST": "gw.example.internal", "BASTION_PORT": "2022", "BASTION_USER": "agent-7",
       "BASTION_TARGET": "web-1", "BASTION_KEY": "~/.ssh/agent", "BASTION_KNOWN_HOSTS": "/etc/bastion/known_hosts"}


def test_environment_alone():
    s = GatewaySettings.resolve(env=ENV)
    assert (s.host, s.port, s.login) == ("gw.example.internal", 2022, "agent-7:web-1")
    assert s.key_path == Path("~/.ssh/agent").expanduser() and s.known_hosts == Path("/etc/bastion/known_hosts")
    assert s.token_file is None


def test_arguments_win_over_the_environment():
    s = GatewaySettings.resolve(env=ENV, host="127.0.0.1", port=2222, target="db-1", key_path="/k")
    assert (s.host, s.port, s.login, s.key_path) == ("127.0.0.1", 2222, "agent-7:db-1", Path("/k"))


def test_defaults():
    s = GatewaySettings.resolve(env={}, user="a", target="t", token_file="/run/token")
    assert (s.host, s.port, s.known_hosts, s.token_file) == ("127.0.0.1", 2222, None, Path("/run/token"))


@pytest.mark.parametrize("env, given, message", [
    ({}, {}, "user (BASTION_USER), target (BASTION_TARGET)"),
    ({"BASTION_USER": "a"}, {"key_path": "/k"}, "target (BASTION_TARGET)"),
    ({**ENV, "BASTION_PORT": "ssh"}, {}, "not a number"),
    ({**ENV, "BASTION_PORT": "70000"}, {}, "out of range"),
    ({**ENV, "BASTION_USER": "agent-7:web-1"}, {}, "identity alone"),
    ({"BASTION_USER": "a", "BASTION_TARGET": "t"}, {}, "no credentials"),
])
def test_bad_settings_say_which(env, given, message):
    with pytest.raises(IntegrationConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        GatewaySettings.resolve(env=env, **given)


def test_host_keys_are_always_checked_and_only_configured_credentials_are_offered(tmp_path):
    token = tmp_path / "token"
    token.write_text("eyJhbGciOiJSUzI1NiJ9.fake-test-token.sig\n")
    seen: dict = {}

    async def fake_connect(**options):
        seen.update(options)
        raise OSError(111, "Connection refused")

    connection = GatewayConnection(GatewaySettings(user="a", target="t", token_file=token), connect=fake_connect)
    with pytest.raises(GatewayUnavailable, match="cannot connect to the gateway at 127.0.0.1:2222"):
        asyncio.run(connection.get())
    # known_hosts unset: asyncssh's default (~/.ssh/known_hosts) applies; None would disable checking.
    assert "known_hosts" not in seen
    assert seen["client_keys"] is None and seen["agent_path"] is None and seen["config"] is None
    assert seen["password"] == "eyJhbGciOiJSUzI1NiJ9.fake-test-token.sig"
    assert seen["username"] == "a:t"
    assert "fake-test-token" not in repr(connection.settings)


def test_missing_token_file_is_unavailable_not_a_crash(tmp_path):
    connection = GatewayConnection(GatewaySettings(user="a", target="t", token_file=tmp_path / "missing"))
    with pytest.raises(GatewayUnavailable, match="cannot read the token file"):
        asyncio.run(connection.get())


def test_unreadable_key_is_named(tmp_path):
    bad = tmp_path / "key"
    bad.write_text("not a key\n")
    for path in (bad, tmp_path / "missing"):
        connection = GatewayConnection(GatewaySettings(user="a", target="t", key_path=path))
        with pytest.raises(GatewayUnavailable, match=f"cannot use the key file {path}"):
            asyncio.run(connection.get())
