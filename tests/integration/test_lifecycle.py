"""`bastion serve` as a user runs it: SIGTERM stops it cleanly; after kill -9 a restart repairs the rest."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.harness import GatewayHarness
from tests.sshd import free_port

pytestmark = pytest.mark.slow


def _serve(harness: GatewayHarness, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "bastion.cli", "-c", str(harness.config_path), "serve",
                             "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=harness.workdir)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        key = harness.workdir / "state" / "ssh_host_ed25519_key.pub"
        if key.exists():
            try:
                import socket
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                harness.known_hosts.write_text(f"[127.0.0.1]:{port} {key.read_text().strip()}\n")
                return proc
            except OSError:
                pass
        if proc.poll() is not None:
            raise AssertionError(proc.stderr.read().decode())
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("bastion serve did not start")


def _ssh(harness: GatewayHarness, port: int, command: str) -> subprocess.Popen:
    args = harness.ssh_args("alice:web-1", port=port)
    return subprocess.Popen(args + [command], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def _bastion(harness: GatewayHarness, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bastion.cli", "-c", str(harness.config_path), *args],
                          capture_output=True, text=True, timeout=60, cwd=harness.workdir)


def test_sigterm_tells_clients_and_closes_everything(tmp_path, sshd):
    harness = GatewayHarness(tmp_path, sshd)
    port = free_port()
    server = _serve(harness, port)
    try:
        client = _ssh(harness, port, "echo started; sleep 30")
        assert client.stdout is not None and client.stdout.readline() == b"started\n"
        server.send_signal(signal.SIGTERM)
        assert server.wait(15) == 0
    finally:
        if server.poll() is None:
            server.kill()
    _, err = client.communicate(timeout=15)
    assert b"bastion: gateway shutting down" in err
    rows = _bastion(harness, "sessions", "--json").stdout
    assert '"status": "terminated"' in rows
    verify = _bastion(harness, "audit", "verify")
    assert verify.returncode == 0, verify.stderr


def test_restart_after_kill_9_marks_sessions_interrupted_and_recordings_play(tmp_path, sshd):
    harness = GatewayHarness(tmp_path, sshd)
    port = free_port()
    server = _serve(harness, port)
    client = _ssh(harness, port, "echo started; sleep 30")
    try:
        assert client.stdout is not None and client.stdout.readline() == b"started\n"
        time.sleep(0.3)  # past one flush interval
    finally:
        os.kill(server.pid, signal.SIGKILL)
    server.wait(10)
    client.kill()
    server = _serve(harness, port)
    try:
        rows = _bastion(harness, "sessions", "--json").stdout
        assert '"status": "interrupted"' in rows
        casts = sorted((tmp_path / "recordings").rglob("*.cast"))
        assert len(casts) == 1
        played = subprocess.run(["asciinema", "cat", str(casts[0])], capture_output=True, timeout=30)
        assert played.returncode == 0 and b"started" in played.stdout
        verify = _bastion(harness, "audit", "verify")
        assert verify.returncode == 0, verify.stderr
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(15)
