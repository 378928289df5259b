"""Recorder: file layout, event timing and coalescing, flushing on time, failure handling."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from pathlib import Path

import pytest

from bastion.clock import FakeClock
from bastion.errors import RecordingError
from bastion.recording.asciicast import parse
from bastion.recording.recorder import Recorder, recording_path


def _open(path: Path, clock: FakeClock, **kwargs) -> Recorder:
    return Recorder.open(path, width=80, height=24, started_at=clock.now(), command=None,
                         title="alice on web-1", env={"TERM": "xterm", "SHELL": "/bin/sh"}, clock=clock, **kwargs)


def _events(path: Path) -> list[tuple[float, str, str]]:
    with open(path, "rb") as f:
        return parse(f)[1]


def test_recording_path_is_dated_in_utc(tmp_path: Path) -> None:
    # 2026-01-01T23:30:00Z is already 2026-01-02 east of UTC; the path must not depend on the local zone.
    path = recording_path(tmp_path, "s-1", 1767310200.0)
    assert path == tmp_path / "2026" / "01" / "01" / "s-1.cast"


@pytest.mark.parametrize("bad", ["../x", "a/b", "", ".hidden"])
def test_recording_path_refuses_ids_that_are_not_file_names(tmp_path: Path, bad: str) -> None:
    with pytest.raises(RecordingError):
        recording_path(tmp_path, bad, 0.0)


def test_open_writes_header_at_once_and_refuses_to_overwrite(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "a" / "b" / "s.cast"
    rec = _open(path, clock)
    header = json.loads(path.read_bytes())
    assert header["timestamp"] == int(clock.now()) and header["env"]["TERM"] == "xterm"
    with pytest.raises(RecordingError):
        _open(path, clock)
    rec.close()


def test_output_within_coalesce_window_is_one_event(tmp_path: Path) -> None:
    clock = FakeClock()
    rec = _open(tmp_path / "s.cast", clock)
    for _ in range(5):
        rec.output(b"ab")
        clock.advance(0.002)  # 5 chunks within 10 ms
    clock.advance(0.005)
    rec.output(b"cd")  # 15 ms after the first chunk: a new event
    rec.close()
    events = _events(tmp_path / "s.cast")
    assert events == [(0.0, "o", "ababababab"), (0.015, "o", "cd")]


def test_stream_switch_resize_and_marker_end_the_event(tmp_path: Path) -> None:
    clock = FakeClock()
    rec = _open(tmp_path / "s.cast", clock)
    rec.output(b"out1")
    rec.output(b"err1", "stderr")
    rec.output(b"out2")
    rec.resize(120, 40)
    rec.output(b"out3")
    rec.marker("decision: allow ls")
    rec.output(b"out4")
    assert rec.close("exit 0") == hashlib.sha256((tmp_path / "s.cast").read_bytes()).hexdigest()
    assert [(c, d) for _, c, d in _events(tmp_path / "s.cast")] == [
        ("o", "out1"), ("o", "err1"), ("o", "out2"), ("r", "120x40"), ("o", "out3"),
        ("m", "decision: allow ls"), ("o", "out4"), ("m", "exit 0")]


def test_each_stream_has_its_own_decoder(tmp_path: Path) -> None:
    clock = FakeClock()
    rec = _open(tmp_path / "s.cast", clock)
    e_acute = "é".encode()
    rec.output(e_acute[:1])
    rec.output(b"E", "stderr")  # must not complete or break stdout's half character
    rec.output(e_acute[1:])
    rec.close()
    assert "".join(d for _, c, d in _events(tmp_path / "s.cast") if c == "o") == "Eé"


def test_half_a_character_at_close_becomes_a_replacement(tmp_path: Path) -> None:
    clock = FakeClock()
    rec = _open(tmp_path / "s.cast", clock)
    rec.output(b"ok \xe6\x97")
    rec.close()
    assert "".join(d for _, c, d in _events(tmp_path / "s.cast")) == "ok \ufffd"


def test_event_times_count_from_session_start(tmp_path: Path) -> None:
    clock = FakeClock()
    started = clock.now()
    clock.advance(0.25)  # the recorder opens a little after the session started
    rec = Recorder.open(tmp_path / "s.cast", width=80, height=24, started_at=started, command="ls",
                        title="t", env={}, clock=clock)
    clock.advance(1.0)
    rec.output(b"x")
    rec.close()
    assert _events(tmp_path / "s.cast")[0][0] == pytest.approx(1.25)


def test_input_is_recorded_only_when_enabled(tmp_path: Path) -> None:
    clock = FakeClock()
    off = _open(tmp_path / "off.cast", clock)
    off.input(b"secret-typed")
    off.close()
    on = _open(tmp_path / "on.cast", clock, record_input=True)
    on.input(b"ls\r")
    on.output(b"file\r\n")
    on.close()
    assert [c for _, c, _ in _events(tmp_path / "off.cast")] == []
    assert [(c, d) for _, c, d in _events(tmp_path / "on.cast")] == [("i", "ls\r"), ("o", "file\r\n")]


def test_output_is_buffered_until_the_flush_interval(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "s.cast"
    rec = _open(path, clock)
    size_after_header = path.stat().st_size
    rec.output(b"first")  # the flush deadline counts from open: not due yet
    clock.advance(0.05)
    rec.output(b"second")
    assert path.stat().st_size == size_after_header  # no write per chunk
    clock.advance(0.06)  # 110 ms since open: due
    rec.output(b"third")
    assert [d for _, _, d in _events(path)] == ["first", "second", "third"]
    assert rec.bytes_written == path.stat().st_size
    rec.close()


async def test_run_flusher_writes_idle_output_and_stops_on_close(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "s.cast"
    rec = _open(path, clock, flush_interval=0.01)
    task = asyncio.create_task(rec.run_flusher())
    rec.output(b"prompt$ ")
    await asyncio.sleep(0.05)
    assert [d for _, _, d in _events(path)] == ["prompt$ "]  # written without another output() call
    rec.close()
    await asyncio.wait_for(task, 1.0)


async def test_write_error_is_kept_and_raised_by_the_next_call(tmp_path: Path) -> None:
    clock = FakeClock()
    rec = _open(tmp_path / "s.cast", clock, flush_interval=0.01)
    os.close(rec._fd)
    rec._fd = os.open("/dev/full", os.O_WRONLY)  # every write now fails with ENOSPC
    task = asyncio.create_task(rec.run_flusher())
    rec.output(b"data")
    await asyncio.wait_for(task, 1.0)  # the flusher stops on the error ...
    assert isinstance(rec.failed, RecordingError)
    with pytest.raises(RecordingError):  # ... and the session's next call fails closed
        rec.output(b"more")
    with pytest.raises(RecordingError):
        rec.close()
    assert rec.closed


def test_close_is_idempotent(tmp_path: Path) -> None:
    rec = _open(tmp_path / "s.cast", FakeClock())
    assert rec.close() == rec.close()


def test_large_batches_written_by_the_worker_keep_order_and_hash(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "s.cast"
    rec = _open(path, clock)
    sent = []
    for i in range(40):  # ~200 KiB per flush interval: every batch goes through the writer thread
        chunk = (f"{i:04d}" + "x" * 8187 + "\n").encode()
        for _ in range(25):
            rec.output(chunk)
            sent.append(chunk)
        clock.advance(0.05)
    digest = rec.close("exit 0")
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    assert rec.bytes_written == path.stat().st_size
    events = _events(path)
    assert "".join(d for _, c, d in events if c == "o") == b"".join(sent).decode()
    assert events[-1][1:] == ("m", "exit 0")


async def test_deferred_open_creates_the_file_off_the_loop_and_keeps_early_events(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "d" / "s.cast"
    rec = _open(path, clock, defer=True)
    rec.marker("session starts")  # recorded before the file exists: queued behind its creation
    await rec.ready()
    assert path.exists()
    rec.output(b"hello\n")
    digest = rec.close(final_marker="exit 0")
    data = path.read_bytes()
    assert digest == hashlib.sha256(data).hexdigest()
    assert [(c, d) for _t, c, d in _events(path)] == [("m", "session starts"), ("o", "hello\n"), ("m", "exit 0")]


async def test_deferred_open_reports_a_file_it_cannot_create(tmp_path: Path) -> None:
    clock = FakeClock()
    (tmp_path / "taken").write_text("a file, not a directory")
    rec = _open(tmp_path / "taken" / "s.cast", clock, defer=True)
    with pytest.raises(RecordingError, match="cannot create recording"):
        await rec.ready()
    with pytest.raises(RecordingError):
        rec.close()
