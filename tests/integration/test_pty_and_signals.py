"""Interactive sessions: pty with term type and size, window changes, signals, exit by signal."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time

import asyncssh
import pytest

from bastion.recording.asciicast import parse

pytestmark = pytest.mark.slow


def test_ssh_tt_runs_an_interactive_shell_with_a_pty(gateway):
    args = gateway.ssh_args("alice:web-1", "-tt")
    result = subprocess.run(args, input=b"tty >/dev/null && echo IS-A-TTY; echo TERM=$TERM; exit 3\n",
                            capture_output=True, timeout=30)
    assert result.returncode == 3, result.stderr
    assert b"IS-A-TTY" in result.stdout
    # The client has its exit status before the recording's writer thread has written the last events:
    # wait (bounded) for the closing marker rather than read a recording still being written.
    gateway.settle()
    deadline = time.monotonic() + 10
    while True:
        casts = gateway.recordings()
        assert len(casts) == 1
        header, events = parse(casts[0].read_bytes().splitlines(keepends=True))
        if any(code == "m" and data.startswith("exit") for _, code, data in events) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert header["version"] == 2 and isinstance(header["timestamp"], int)
    assert header["title"] == "alice@web-1"
    output = "".join(data for _, code, data in events if code == "o")
    assert "IS-A-TTY" in output
    assert [data for _, code, data in events if code == "m"][-1] == "exit 3"


async def test_window_change_reaches_the_target_and_the_recording(gateway):
    async with asyncssh.connect("127.0.0.1", gateway.port, username="alice:web-1",
                                client_keys=[str(gateway.keys["alice"])], known_hosts=None) as conn:
        proc = await conn.create_process("sleep 0.5; stty size", term_type="xterm",
                                         term_size=(80, 24), encoding=None)
        await asyncio.sleep(0.2)
        proc.change_terminal_size(132, 43)
        result = await proc.wait(timeout=20)
    assert result.exit_status == 0
    assert result.stdout.strip() == b"43 132"
    header, events = parse(gateway.recordings()[0].read_bytes().splitlines(keepends=True))
    assert (header["width"], header["height"]) == (80, 24)
    assert header["env"]["TERM"] == "xterm"
    assert ("r", "132x43") in [(code, data) for _, code, data in events]


async def test_signal_from_the_client_kills_the_remote_process_and_exit_signal_is_relayed(gateway):
    async with asyncssh.connect("127.0.0.1", gateway.port, username="alice:web-1",
                                client_keys=[str(gateway.keys["alice"])], known_hosts=None) as conn:
        proc = await conn.create_process("echo started; exec sleep 30", encoding=None)
        assert await asyncio.wait_for(proc.stdout.readline(), 10) == b"started\n"
        proc.send_signal("TERM")
        result = await proc.wait(timeout=20)
    assert result.exit_signal is not None
    assert result.exit_signal[0] == "TERM"


def test_exit_by_signal_is_reported_like_ssh(gateway):
    result = gateway.ssh("kill -KILL $$")
    # OpenSSH's client exits 255 when the remote command died of a signal.
    assert result.returncode == 255
    row = json.loads(subprocess.run(["bastion", "-c", str(gateway.config_path), "sessions", "--json"],
                                    capture_output=True, check=True).stdout.splitlines()[0])
    assert row["exit_signal"] == "KILL"


def test_stdin_eof_reaches_the_target(gateway):
    result = gateway.ssh("wc -c", input=b"12345")
    assert result.stdout.strip() == b"5"


def test_client_disconnect_ends_the_remote_process(gateway):
    import os
    import time
    proc = subprocess.Popen(gateway.ssh_args() + ["echo $$; exec sleep 60"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    pid = int(proc.stdout.readline())
    assert os.path.exists(f"/proc/{pid}")
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{pid}")
