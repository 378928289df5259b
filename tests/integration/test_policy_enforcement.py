"""Policy decisions are enforced on exec requests and on shell lines, with a real sshd behind."""

from __future__ import annotations

import subprocess
import time

import pytest

from bastion.recording.asciicast import parse

pytestmark = pytest.mark.slow

POLICY = """\
default: allow
opaque: review
rules:
  - id: no-rm-root
    action: deny
    reason: deleting system paths is not allowed
    when:
      program: rm
      flags_any: ["-r|-R|--recursive", "-f|--force"]
      paths: ["/", "/etc/**"]
  - id: pkg-install
    action: review
    reason: package installs need a human
    when:
      program: [apt-get, apt]
      args_regex: '^install$'
sessions:
  - id: no-shells-for-agents
    action: deny
    kinds: [shell]
    groups: [agents]
    reason: agents use exec requests
"""


@pytest.fixture
def gw(make_gateway):
    return make_gateway(policy=POLICY, users={"alice": {"groups": ["devs"]}, "agent": {"groups": ["agents"]}})


def test_denied_exec_never_reaches_the_target(gw, tmp_path):
    marker = tmp_path / "ran"
    result = gw.ssh(f"touch {marker}; sudo env 'r'm -fr /etc/passwd")
    assert result.returncode == 126
    assert result.stderr == (b"bastion: denied by policy (rule no-rm-root): "
                             b"deleting system paths is not allowed\n")
    assert result.stdout == b""
    assert not marker.exists()


def test_review_holds_the_command_until_a_verdict(gw, tmp_path):
    marker = tmp_path / "installed"
    proc = subprocess.Popen(gw.ssh_args() + [f"apt-get install -y cowsay; touch {marker}"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert line.startswith(b"bastion: held for review (request ")
    assert b"rule pkg-install): package installs need a human; waiting up to 10m" in line
    time.sleep(0.3)
    assert not marker.exists()
    proc.kill()
    proc.wait()


def test_opaque_commands_are_not_allowed(gw):
    result = gw.ssh('$(printf rm) -rf /')
    assert result.returncode == 126
    assert b"bastion: denied by policy" in result.stderr


def test_allowed_commands_run_and_decisions_are_recorded_everywhere(gw):
    assert gw.ssh("echo fine").stdout == b"fine\n"
    gw.ssh("rm -rf /")
    listing = subprocess.run(["bastion", "-c", str(gw.config_path), "sessions"], capture_output=True, text=True)
    assert listing.returncode == 0
    from bastion.clock import SystemClock
    from bastion.store.commands import search_commands
    from bastion.store.db import Store
    store = Store.open(gw.settings.store_path, clock=SystemClock())
    rows = search_commands(store)
    store.close()
    by_text = {row["text"]: row for row in rows}
    assert by_text["echo fine"]["action"] == "allow" and by_text["echo fine"]["exit_status"] == 0
    assert by_text["rm -rf /"]["action"] == "deny" and by_text["rm -rf /"]["rules"] == ["no-rm-root"]
    assert len(by_text["rm -rf /"]["policy_version"]) == 64
    markers = []
    for cast in gw.recordings():
        _, events = parse(cast.read_bytes().splitlines(keepends=True))
        markers += [data for _, code, data in events if code == "m"]
    assert any(m.startswith("deny no-rm-root") for m in markers)


def test_interactive_shell_forbidden_for_agents(gw):
    result = subprocess.run(gw.ssh_args("agent:web-1", "-tt"), input=b"echo hi\nexit\n", capture_output=True,
                            timeout=30)
    assert result.returncode == 126
    assert b"interactive shell denied by policy (rule no-shells-for-agents)" in result.stdout + result.stderr


def test_pty_shell_line_is_held_and_cancelled_when_denied(gw, tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    args = gw.ssh_args("alice:web-1", "-tt")
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdin is not None
    for line in (b"echo one-$((40+2))\r", b"rm -rf /etc\r", b"echo two-$((40+3))\r", b"exit 5\r"):
        proc.stdin.write(line)
        proc.stdin.flush()
        time.sleep(0.4)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 5
    assert b"one-42" in out and b"two-43" in out
    assert b"bastion: denied by policy (rule no-rm-root)" in out


def test_script_on_stdin_of_a_shell_is_checked_line_by_line(gw, tmp_path):
    after = tmp_path / "after"
    args = gw.ssh_args("alice:web-1", "-T")
    script = f"echo first\nrm -rf /\ntouch {after}\n".encode()
    result = subprocess.run(args, input=script, capture_output=True, timeout=30)
    assert result.returncode == 126
    assert result.stdout == b"first\n"
    assert b"bastion: denied by policy (rule no-rm-root)" in result.stderr
    assert not after.exists()


def test_channels_opened_ahead_of_a_refusal_are_closed_and_their_slots_freed(make_gateway, tmp_path):
    """The target channel opens while the gateway decides; a refusal must close it and free its pool slot,
    or a handful of denied commands would exhaust the pooled connection."""
    gw = make_gateway(policy=POLICY, extra_config={"upstream": {"max_channels_per_connection": 2}})
    assert gw.ssh("true").returncode == 0  # warm: one pooled connection
    marker = tmp_path / "ran"
    for _ in range(6):
        result = gw.ssh(f"touch {marker}; rm -rf /etc")
        assert result.returncode == 126
    assert not marker.exists()
    result = gw.ssh("echo still-fine")
    assert (result.returncode, result.stdout) == (0, b"still-fine\n")
    pool = gw.service.ctx.pool
    assert gw.call(_open_connections(pool)) == 1  # no slot leaked, so no second connection was needed


async def _open_connections(pool):
    return pool.open_connections()
