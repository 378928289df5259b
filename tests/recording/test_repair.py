"""Repair of a recording left by a crash: torn tails cut, header restored, file plays again."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bastion.clock import FakeClock
from bastion.errors import RecordingError
from bastion.recording.asciicast import header_line, parse
from bastion.recording.recorder import Recorder
from bastion.recording.repair import file_sha256, repair_recording

from .asciinema_check import ASCIINEMA, asciinema_cat, asciinema_play

FALLBACK = header_line(width=80, height=24, timestamp=1767225600, command=None, title="alice on web-1", env={})


def _crashed_recording(path: Path) -> None:
    """A recording whose process died after a flush: no close, no final marker."""
    clock = FakeClock()
    rec = Recorder.open(path, width=80, height=24, started_at=clock.now(), command=None, title="t",
                        env={}, clock=clock)
    rec.output("before the crash é\r\n".encode())
    clock.advance(0.5)
    rec.output(b"\xff\xfe more")
    rec.flush()
    os.close(rec._fd)  # the process is gone: nothing else gets written


def _parse(path: Path):
    with open(path, "rb") as f:
        return parse(f)


@pytest.mark.parametrize("tail", [b"", b'[0.7, "o", "torn wri', b'[0.7, "o", "ok"]\n\x00\x00\x00\x00',
                                  b'[0.7, "o", "bad\n', b"\x00" * 4096 + b"\n"])
def test_torn_tail_is_cut_and_marked(tmp_path: Path, tail: bytes) -> None:
    path = tmp_path / "s.cast"
    _crashed_recording(path)
    with open(path, "ab") as f:
        f.write(tail)
    digest = repair_recording(path, fallback_header=FALLBACK)
    assert digest == file_sha256(path)
    header, events = _parse(path)
    assert header["width"] == 80
    assert events[-1][1:] == ("m", "session interrupted")
    assert events[-1][0] == events[-2][0]  # the marker sits at the last surviving event
    assert "".join(d for _, c, d in events if c == "o").startswith("before the crash é")
    if ASCIINEMA:
        assert asciinema_cat(path).startswith("before the crash é".encode())
        asciinema_play(path)


@pytest.mark.parametrize("content", [None, b"", b'{"version": 2, "wid'])
def test_missing_or_headerless_file_gets_the_fallback_header(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "d" / "s.cast"
    if content is not None:
        path.parent.mkdir(parents=True)
        path.write_bytes(content)
    repair_recording(path, fallback_header=FALLBACK, marker=None)
    assert path.read_bytes() == FALLBACK
    header, events = _parse(path)
    assert header["title"] == "alice on web-1" and events == []


def test_a_complete_file_only_gains_the_marker(tmp_path: Path) -> None:
    path = tmp_path / "s.cast"
    _crashed_recording(path)
    before = path.read_bytes()
    repair_recording(path, fallback_header=FALLBACK)
    after = path.read_bytes()
    assert after.startswith(before) and after[len(before):].count(b"\n") == 1


def test_unwritable_location_is_a_recording_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(RecordingError):
        repair_recording(blocker / "s.cast", fallback_header=FALLBACK)
