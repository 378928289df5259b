"""Side channels, bad credentials and bad targets are refused with a clear message and an audit event."""

from __future__ import annotations

import subprocess
import time

import asyncssh
import pytest

from bastion.store.audit_events import iter_events
from bastion.store.db import Store
from bastion.clock import SystemClock
from tests.sshd import write_private_key

pytestmark = pytest.mark.slow


def audit_names(gw) -> list[tuple[str, dict]]:
    import json
    store = Store.open(gw.settings.store_path, clock=SystemClock())
    try:
        return [(row["name"], json.loads(row["data"]) if isinstance(row["data"], str) else row["data"])
                for row in iter_events(store)]
    finally:
        store.close()


def wait_for_event(gw, name: str, timeout: float = 5.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [data for event, data in audit_names(gw) if event == name]
        if found:
            return found
        time.sleep(0.05)
    return []


def test_unknown_key_is_refused_without_naming_users(gateway, tmp_path):
    stranger = write_private_key(tmp_path / "stranger", asyncssh.generate_private_key("ssh-ed25519"))
    result = gateway.ssh("true", identity=stranger)
    assert result.returncode == 255
    assert b"Permission denied" in result.stderr
    unknown_user = gateway.ssh("true", "mallory:web-1", identity=stranger)
    assert unknown_user.returncode == 255
    # Same answer for an unknown user as for a wrong key: nothing to enumerate.
    assert unknown_user.stderr.replace(b"mallory", b"alice") == result.stderr
    assert wait_for_event(gateway, "auth.failure")


def test_unknown_target_gets_one_line_and_no_list(gateway):
    result = gateway.ssh("true", "alice:db-9")
    assert result.returncode == 255
    assert result.stderr == b"bastion: unknown or unauthorised target db-9; connect as USER:TARGET\n"
    assert b"web-1" not in result.stderr
    assert wait_for_event(gateway, "target.refused")


def test_plain_user_without_default_target_is_told_how_to_connect(gateway):
    result = gateway.ssh("true", "alice")
    assert result.returncode == 255
    assert b"connect as USER:TARGET" in result.stderr


def test_default_target_is_used_for_a_plain_user(make_gateway):
    gw = make_gateway(users={"alice": {"default_target": "web-1"}})
    result = gw.ssh("echo hi", "alice")
    assert (result.returncode, result.stdout) == (0, b"hi\n")


def test_user_restricted_to_other_targets_is_refused(make_gateway):
    gw = make_gateway(users={"alice": {"targets": ["db-*"]}})
    result = gw.ssh("true")
    assert result.returncode == 255
    assert b"unknown or unauthorised target web-1" in result.stderr


def test_local_port_forwarding_is_refused_and_audited(gateway):
    result = gateway.ssh("true", "alice:web-1", "-o", "ExitOnForwardFailure=yes", "-N", "-W", "127.0.0.1:22")
    assert result.returncode == 255
    assert b"forwarding failed" in result.stderr
    kinds = [data["kind"] for data in wait_for_event(gateway, "channel.refused")]
    assert "port-forward" in kinds


def test_remote_port_forwarding_is_refused_and_audited(gateway):
    result = gateway.ssh("true", "alice:web-1", "-o", "ExitOnForwardFailure=yes", "-R", "0:127.0.0.1:22")
    assert result.returncode == 255
    assert b"forwarding failed" in result.stderr
    kinds = [data["kind"] for data in wait_for_event(gateway, "channel.refused")]
    assert "remote-forward" in kinds


def test_agent_forwarding_is_refused_and_audited(gateway, tmp_path):
    agent = subprocess.run(["ssh-agent", "-s"], capture_output=True, text=True, check=True).stdout
    env_sock = agent.split("SSH_AUTH_SOCK=", 1)[1].split(";", 1)[0]
    pid = agent.split("SSH_AGENT_PID=", 1)[1].split(";", 1)[0]
    try:
        args = gateway.ssh_args("alice:web-1", "-A") + ['echo "${SSH_AUTH_SOCK:-none}"']
        result = subprocess.run(args, capture_output=True, timeout=30, env={"SSH_AUTH_SOCK": env_sock, "PATH": "/usr/bin:/bin"})
    finally:
        subprocess.run(["kill", pid], check=False)
    assert result.returncode == 0
    assert result.stdout == b"none\n"  # the target never sees an agent socket
    kinds = [data["kind"] for data in wait_for_event(gateway, "channel.refused")]
    assert "agent-forward" in kinds


def test_sftp_subsystem_is_refused_with_a_reason(gateway):
    args = gateway.ssh_args("alice:web-1", "-s") + ["sftp"]
    result = subprocess.run(args, capture_output=True, timeout=30, input=b"")
    assert result.returncode == 126
    assert b"bastion: subsystem 'sftp' is disabled on this gateway" in result.stderr
    sftp = subprocess.run(["sftp", "-b", "-", "-P", str(gateway.port), "-i", str(gateway.keys["alice"]),
                           "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
                           "-o", f"UserKnownHostsFile={gateway.known_hosts}", "alice:web-1@127.0.0.1"],
                          input=b"ls\n", capture_output=True, timeout=30)
    assert sftp.returncode != 0
    kinds = [data["kind"] for data in wait_for_event(gateway, "channel.refused")]
    assert "subsystem:sftp" in kinds


def test_env_outside_the_allowlist_is_not_passed(gateway):
    args = gateway.ssh_args("alice:web-1", "-o", "SendEnv=LANG BASTION_PROBE") + ['echo "$LANG|${BASTION_PROBE:-unset}"']
    result = subprocess.run(args, capture_output=True, timeout=30,
                            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "BASTION_PROBE": "leak"})
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"C.UTF-8|unset\n"


async def test_port_forward_refusal_carries_a_reason(gateway):
    async with asyncssh.connect("127.0.0.1", gateway.port, username="alice:web-1",
                                client_keys=[str(gateway.keys["alice"])], known_hosts=None) as conn:
        with pytest.raises(asyncssh.ChannelOpenError) as refused:
            await conn.open_connection("127.0.0.1", 22)
    assert refused.value.code == asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED
    assert refused.value.reason == "bastion: port forwarding is disabled"
