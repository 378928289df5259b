"""`bastion mask` through a real pipe, as a user or the gateway would drive it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

CMD = [sys.executable, "-m", "bastion.masking.cli"]
ROOT = Path(__file__).resolve().parents[2]


def run(args: list[str], data: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(CMD + args, input=data, capture_output=True, cwd=ROOT, timeout=60)


def test_masks_stdin_to_stdout_and_explains_on_stderr() -> None:
    token = b"ghp_" + b"Zz9" * 12
    proc = run(["--explain"], b"hello\npassword=hunter22\nT=" + token + b"\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"hello\npassword=[MASKED:password-assignment]\nT=[MASKED:github-pat-classic]\n"
    assert proc.stderr.decode().splitlines() == ["password-assignment 15 8", "github-pat-classic 26 40"]
    assert b"hunter22" not in proc.stderr


def test_streams_and_releases_on_idle() -> None:
    proc = subprocess.Popen(CMD, stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT)
    assert proc.stdin and proc.stdout
    os.set_blocking(proc.stdout.fileno(), False)
    proc.stdin.write(b"$ echo ghp_abc")
    proc.stdin.flush()
    got = b""
    deadline = time.monotonic() + 20
    while b"[MASKED" not in got and time.monotonic() < deadline:
        time.sleep(0.05)
        try:
            got += os.read(proc.stdout.fileno(), 4096)
        except BlockingIOError:
            pass
    assert got == b"$ echo [MASKED:github-pat-classic]"  # released after the idle time, masked
    proc.stdin.write(b"def123 ok\n")
    proc.stdin.close()
    os.set_blocking(proc.stdout.fileno(), True)
    rest = proc.stdout.read()
    assert proc.wait(timeout=20) == 0
    assert rest == b" ok\n"


def test_profiles_from_policy_dir(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        "rules: []\nmasking:\n  profiles:\n    fixed:\n      replacement: fixed\n      text: '###'\n", encoding="utf-8")
    proc = run(["--policy-dir", str(tmp_path), "--profile", "fixed"], b"password=hunter22\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"password=###\n"


@pytest.mark.parametrize("bad", ["masking:\n  profiles:\n    x:\n      replacement: nope\n"])
def test_bad_policy_reports_file_and_line(tmp_path: Path, bad: str) -> None:
    (tmp_path / "p.yaml").write_text("version: 1\n" + bad, encoding="utf-8")
    proc = run(["--policy-dir", str(tmp_path)], b"x\n")
    assert proc.returncode != 0
    assert f"{tmp_path / 'p.yaml'}:2:" in proc.stderr.decode()


def test_reads_a_redirected_file(tmp_path: Path) -> None:
    # `bastion mask < file > out`, as the README shows: a regular file cannot be polled, it is read through
    source, out = tmp_path / "in.txt", tmp_path / "out.txt"
    source.write_bytes(b"x\npassword=hunter22\n" * 3)
    with source.open("rb") as stdin, out.open("wb") as stdout:
        proc = subprocess.run(CMD, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == b"x\npassword=[MASKED:password-assignment]\n" * 3
