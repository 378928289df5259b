"""The gateway relays exec sessions to a real OpenSSH sshd, byte-exact, driven by the real ssh client."""

from __future__ import annotations

import hashlib
import os

import pytest

pytestmark = pytest.mark.slow


def test_exec_stdout_stderr_and_exit_status_are_relayed_exactly(gateway):
    result = gateway.ssh("printf 'out\\n'; printf 'err\\n' >&2; exit 7")
    assert result.stdout == b"out\n"
    assert result.stderr == b"err\n"
    assert result.returncode == 7


def test_binary_stdin_round_trip_of_10_mb_keeps_sha256(gateway):
    payload = os.urandom(10 * 1024 * 1024)
    result = gateway.ssh("cat", input=payload, timeout=120)
    assert result.returncode == 0, result.stderr
    assert hashlib.sha256(result.stdout).hexdigest() == hashlib.sha256(payload).hexdigest()
