"""Policy hot reload in a running gateway: a new version takes effect, a broken one is refused and the
previous version stays in force."""

from __future__ import annotations

import json
import signal
import time

import pytest

from bastion.clock import SystemClock
from bastion.store.audit_events import iter_events
from bastion.store.db import Store
from tests.integration.test_lifecycle import _bastion, _serve, _ssh
from tests.harness import GatewayHarness
from tests.sshd import free_port

pytestmark = pytest.mark.slow

DENY_ECHO = """\
default: allow
opaque: review
rules:
  - id: no-echo
    action: deny
    reason: echo is off today
    when: {program: echo}
"""


def _events(gw, name: str) -> list[dict]:
    store = Store.open(gw.settings.store_path, clock=SystemClock())
    try:
        return [json.loads(e["data"]) for e in iter_events(store) if e["name"] == name]
    finally:
        store.close()


def test_sighup_reloads_and_a_broken_file_keeps_the_old_version(tmp_path, sshd):
    harness = GatewayHarness(tmp_path, sshd)
    port = free_port()
    server = _serve(harness, port)
    try:
        first = _ssh(harness, port, "echo one")
        assert first.communicate(timeout=30)[0] == b"one\n"
        (harness.policy_dir / "test.yaml").write_text(DENY_ECHO)
        server.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        denied = _ssh(harness, port, "echo two")
        out, err = denied.communicate(timeout=30)
        assert denied.returncode == 126 and b"(rule no-echo): echo is off today" in err
        (harness.policy_dir / "test.yaml").write_text("rules:\n  - id: broken\n    action: maybe\n")
        server.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        still = _ssh(harness, port, "echo three")
        _, err = still.communicate(timeout=30)
        assert still.returncode == 126 and b"no-echo" in err  # the previous version is still in force
        failures = _events(harness, "policy.reload_failed")
        assert failures and any("test.yaml:" in line for line in failures[-1]["errors"])
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(15)
    assert _bastion(harness, "audit", "verify").returncode == 0


def test_pasted_lines_are_checked_one_by_one(make_gateway, tmp_path):
    import subprocess

    gw = make_gateway(policy=DENY_ECHO)
    proc = subprocess.Popen(gw.ssh_args("alice:web-1", "-tt"), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    assert proc.stdin is not None
    time.sleep(0.5)
    # One write, three lines: as a paste arrives.
    proc.stdin.write(b"printf 'A%s\\n' 1\recho B2\rprintf 'C%s\\n' 3\rexit\r")
    proc.stdin.flush()
    out, _ = proc.communicate(timeout=30)
    assert b"A1" in out and b"C3" in out
    assert b"B2\r\n" not in out.replace(b"echo B2", b"")
    assert b"denied by policy (rule no-echo)" in out
