"""Helpers that run the real asciinema 2.4.0 player on a file (as an external command: it is GPL)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ASCIINEMA = shutil.which("asciinema")
needs_asciinema = pytest.mark.skipif(ASCIINEMA is None, reason="asciinema (PyPI 2.4.0) is not on PATH")


def _run(path: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    assert ASCIINEMA is not None
    # asciinema writes an install id into its config home: keep it next to the test's file.
    config_home = path.parent / ".asciinema-config"
    env = {**os.environ, "PYTHONIOENCODING": "utf-8", "ASCIINEMA_CONFIG_HOME": str(config_home)}
    # A new session has no controlling terminal, so `cat` never switches a developer's TTY to raw mode.
    return subprocess.run([ASCIINEMA, *args, str(path)], stdin=subprocess.DEVNULL, capture_output=True, env=env,
                          timeout=60, start_new_session=True)


def asciinema_cat(path: Path) -> bytes:
    result = _run(path, "cat")
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert b"failed" not in result.stderr, result.stderr.decode(errors="replace")
    return result.stdout


def asciinema_play(path: Path) -> None:
    result = _run(path, "play", "-s", "100", "-i", "0.01")
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert b"failed" not in result.stderr, result.stderr.decode(errors="replace")
