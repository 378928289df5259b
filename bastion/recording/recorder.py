"""Recorder: appends one session channel's asciicast v2 file as the session runs, flushes it at least every
`flush_interval`, and returns the file's SHA-256 on close.

The relay calls `output()` for every chunk at >100 MiB/s, so that call only appends the chunk to the open
event: decoding and JSON encoding happen once per event (coalesced over `coalesce` seconds per stream), and
the file is written once per flush, never once per chunk.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import hashlib
import os
import re
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from bastion.clock import Clock
from bastion.errors import RecordingError
from bastion.recording.asciicast import OutputDecoder, event_line, header_line, resize_data

_SESSION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_INPUT_KEY = "\x00input"  # the coalescing key of typed input; cannot collide with a stream name
# One event never holds more than this many raw bytes, so memory stays bounded whatever the clock does.
_MAX_EVENT_BYTES = 1 << 20
# A flush batch at least this big is written and hashed on a worker thread.
_BACKGROUND_WRITE_BYTES = 64 * 1024
# Encoded lines allowed to queue behind a batch still in flight before output() waits for the disk.
_MAX_QUEUED_BYTES = 16 << 20

_IOV_MAX = min(os.sysconf("SC_IOV_MAX") if hasattr(os, "sysconf") else 1024, 1024)

_pool: ThreadPoolExecutor | None = None


def _writer_pool() -> ThreadPoolExecutor:
    """One small pool for every recorder: writes are short and per-recorder order is kept by the
    recorder itself (one batch in flight)."""
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="recording-writer")
    return _pool


def recording_path(root: Path, session_id: str, started_at: float) -> Path:
    """root/YYYY/MM/DD/<session_id>.cast, dated in UTC. The id must be a plain file name."""
    if not _SESSION_ID.fullmatch(session_id):
        raise RecordingError(f"session id {session_id!r} is not usable as a file name")
    day = _dt.datetime.fromtimestamp(started_at, tz=_dt.timezone.utc)
    return Path(root) / f"{day:%Y}" / f"{day:%m}" / f"{day:%d}" / f"{session_id}.cast"


def _create(path: Path) -> int:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o640)
    except OSError as exc:
        raise RecordingError(f"cannot create recording {path}: {exc.strerror or exc}") from exc


class Recorder:
    """One channel's recording file. Owned by the session task; not thread-safe."""

    def __init__(
        self,
        path: Path,
        fd: int,
        *,
        clock: Clock,
        offset: float,
        record_input: bool,
        coalesce: float,
        flush_interval: float,
        fsync_on_close: bool = False,
    ) -> None:
        self.path = path
        self.bytes_written = 0
        self.failed: BaseException | None = None
        self._fd = fd
        self._clock = clock
        self._monotonic = clock.monotonic
        self._mono0 = clock.monotonic()
        self._offset = offset
        self._record_input = record_input
        self._coalesce = coalesce
        self._flush_interval = flush_interval
        self._flush_due = self._mono0 + flush_interval
        self._hash = hashlib.sha256()
        self._lines: list[bytes] = []  # encoded lines not yet written
        self._lines_size = 0
        self._inflight: Future[None] | None = None  # a batch being written on a worker thread
        self._decoders: dict[str, OutputDecoder] = {}
        # The open (not yet encoded) event: its stream key, code, start time and raw chunks.
        self._cur_key: str | None = None
        self._cur_code = "o"
        self._cur_t0 = 0.0
        self._cur_parts: list[bytes] = []
        self._cur_size = 0
        self._closed = False
        self._digest: str | None = None
        self._fsync_on_close = fsync_on_close
        self._wake: asyncio.Event | None = None  # set by writes while run_flusher waits

    # --- opening -------------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        path: Path,
        *,
        width: int,
        height: int,
        started_at: float,
        command: str | None,
        title: str,
        env: dict[str, str],
        clock: Clock,
        record_input: bool = False,
        coalesce: float = 0.010,
        flush_interval: float = 0.100,
        fsync_on_close: bool = False,
        defer: bool = False,
    ) -> "Recorder":
        """Create the file (and its directories) and write the header at once, so even a crash in the
        first instant leaves a playable file. Never overwrites an existing recording.

        With `defer`, creation happens on a worker thread and this returns at once: events recorded
        meanwhile queue behind it, and `await ready()` says whether the file could be created."""
        header = header_line(
            width=width,
            height=height,
            timestamp=int(started_at),
            command=command,
            title=title,
            env=env,
        )
        path = Path(path)
        fd = -1 if defer else _create(path)
        # Event times count from the session's start even if the recorder opened a little later.
        offset = max(0.0, clock.now() - started_at)
        recorder = cls(
            path,
            fd,
            clock=clock,
            offset=offset,
            record_input=record_input,
            coalesce=coalesce,
            flush_interval=flush_interval,
            fsync_on_close=fsync_on_close,
        )
        if defer:
            # The file is created, and the header written, on a worker thread: creating a file can take
            # the better part of a millisecond, which the event loop would otherwise spend blocked.
            recorder._inflight = _writer_pool().submit(recorder._create_and_write, [header])
            return recorder
        recorder._lines.append(header)
        try:
            recorder.flush()
        except RecordingError:
            os.close(fd)
            raise
        return recorder

    def _create_and_write(self, batch: list[bytes]) -> None:
        try:
            self._fd = _create(self.path)
        except RecordingError as exc:
            self.failed = exc
            return
        self._write(batch)

    async def ready(self) -> None:
        """Wait until the file exists (a deferred open); RecordingError if it could not be created."""
        inflight = self._inflight
        if inflight is not None:
            await asyncio.wrap_future(inflight)
        if self.failed is not None:
            raise self.failed

    # --- the hot path --------------------------------------------------------------------------
    def output(self, data: bytes, stream: str = "stdout") -> None:
        """Record a chunk of (already masked) output. Cheap: appends to the open event."""
        self._append(stream, "o", data)

    def input(self, data: bytes) -> None:
        """Record typed input; ignored unless the recorder was opened with record_input."""
        if self._record_input:
            self._append(_INPUT_KEY, "i", data)

    def _append(self, key: str, code: str, data: bytes) -> None:
        if self.failed is not None:
            raise self.failed
        if not data:
            return
        now = self._monotonic()
        if key == self._cur_key and now - self._cur_t0 < self._coalesce and self._cur_size < _MAX_EVENT_BYTES:
            self._cur_parts.append(data)
            self._cur_size += len(data)
        else:
            self._start_event(key, code, data, now)
        if now >= self._flush_due:
            self._flush_soon()
        elif self._wake is not None:
            self._wake.set()

    def resize(self, width: int, height: int) -> None:
        """Record a terminal size change (ends the open output event)."""
        self._instant("r", resize_data(width, height))

    def marker(self, label: str) -> None:
        """Record a marker, e.g. a session event or a policy decision (ends the open output event)."""
        self._instant("m", label)

    # --- writing -------------------------------------------------------------------------------
    def flush(self) -> None:
        """Encode the open event and write every pending line to the OS before returning. RecordingError
        on failure (kept in `failed` and raised again by the next call)."""
        if self.failed is not None:
            raise self.failed
        self._end_event()
        self._flush_due = self._monotonic() + self._flush_interval
        self._wait_inflight()
        if self._lines:
            self._write(self._take_lines())
        if self.failed is not None:
            raise self.failed

    def _flush_soon(self) -> None:
        """The periodic flush (from output() and run_flusher): like flush(), but a large batch is written
        and hashed on a worker thread. Both release the GIL, so on a busy relay they run beside the event
        loop instead of on it. One batch per recorder is in flight at a time, which keeps the file in order."""
        self._end_event()
        self._flush_due = self._monotonic() + self._flush_interval
        if not self._lines:
            return
        inflight = self._inflight
        if inflight is not None and not inflight.done():
            if self._lines_size < _MAX_QUEUED_BYTES:
                return  # the next tick takes these lines
            inflight.result()  # back-pressure: the disk is slower than the output
        self._inflight = None
        if self.failed is not None:
            raise self.failed
        small = self._lines_size < _BACKGROUND_WRITE_BYTES
        batch = self._take_lines()
        if small:
            self._write(batch)  # small (interactive) batches: one cheap syscall, no thread hop
        else:
            self._inflight = _writer_pool().submit(self._write, batch)
        if self.failed is not None:
            raise self.failed

    def _take_lines(self) -> list[bytes]:
        batch = self._lines
        self._lines = []
        self._lines_size = 0
        return batch

    def _write(self, batch: list[bytes]) -> None:
        """Write and hash one batch of lines (on the caller's thread or a worker) with writev, so large
        events are never copied into one buffer. Errors land in `failed`."""
        try:
            for i in range(0, len(batch), _IOV_MAX):
                self._writev(batch[i:i + _IOV_MAX])
        except OSError as exc:
            failure = RecordingError(f"cannot write recording {self.path}: {exc.strerror or exc}")
            failure.__cause__ = exc
            self.failed = failure

    def _writev(self, lines: list[bytes]) -> None:
        total = sum(map(len, lines))
        written = os.writev(self._fd, lines)
        if written < total:  # a short write: finish the rest line by line
            skip = written
            for line in lines:
                if skip >= len(line):
                    skip -= len(line)
                    continue
                view = memoryview(line)[skip:]
                skip = 0
                while view:
                    view = view[os.write(self._fd, view):]
        update = self._hash.update
        for line in lines:
            update(line)
        self.bytes_written += total

    def _wait_inflight(self) -> None:
        if self._inflight is not None:
            self._inflight.result()
            self._inflight = None

    async def run_flusher(self) -> None:
        """Flush every flush_interval until closed. A write error ends the loop; it is kept in `failed`
        and raised by the session's next output()/close() call (strict mode then fails closed)."""
        # Sleeps until something is written: an idle session costs no wake-ups (1,000 idle sessions
        # polling every 100 ms kept a fifth of a core busy).
        self._wake = asyncio.Event()
        if self._cur_parts or self._lines:
            self._wake.set()
        while not self._closed and self.failed is None:
            await self._wake.wait()
            if self._closed:
                return
            await asyncio.sleep(self._flush_interval)
            self._wake.clear()
            if self._closed:
                return
            if self._cur_parts or self._lines:
                try:
                    self._flush_soon()
                except RecordingError:
                    return

    def close(self, final_marker: str | None = None) -> str:
        """Flush what is left (including half a character, as U+FFFD), add the final marker, fsync and
        close. Returns the file's SHA-256 hex. Idempotent; re-raises a kept write error."""
        if self._closed:
            if self.failed is not None:
                raise self.failed
            assert self._digest is not None
            return self._digest
        try:
            if self.failed is None:
                self._end_event()
                now = self._monotonic()
                for key, decoder in self._decoders.items():
                    tail = decoder.flush()
                    if tail:
                        code = "i" if key == _INPUT_KEY else "o"
                        self._lines.append(event_line(self._t(now), code, tail))
                if final_marker is not None:
                    self._lines.append(event_line(self._t(now), "m", final_marker))
                self.flush()
                try:
                    if self._fsync_on_close:
                        os.fsync(self._fd)
                except OSError as exc:
                    self.failed = RecordingError(f"cannot sync recording {self.path}: {exc}")
                    self.failed.__cause__ = exc
        finally:
            self._closed = True
            if self._wake is not None:
                self._wake.set()  # let run_flusher see the close and return
            self._wait_inflight()
            try:
                os.close(self._fd)
            except OSError:
                pass
        if self.failed is not None:
            raise self.failed
        self._digest = self._hash.hexdigest()
        return self._digest

    @property
    def closed(self) -> bool:
        return self._closed

    # --- internals -----------------------------------------------------------------------------
    def _t(self, mono: float) -> float:
        return self._offset + (mono - self._mono0)

    def _start_event(self, key: str, code: str, data: bytes, now: float) -> None:
        self._end_event()
        self._cur_key = key
        self._cur_code = code
        self._cur_t0 = now
        self._cur_parts = [data]
        self._cur_size = len(data)

    def _end_event(self) -> None:
        """Decode and encode the open event into a pending line."""
        parts = self._cur_parts
        if not parts:
            self._cur_key = None
            return
        key = self._cur_key
        assert key is not None
        raw = parts[0] if len(parts) == 1 else b"".join(parts)
        decoder = self._decoders.get(key)
        if decoder is None:
            decoder = self._decoders[key] = OutputDecoder()
        text = decoder.decode(raw)
        if text:  # a chunk holding only the start of a character yields nothing yet
            line = event_line(self._t(self._cur_t0), self._cur_code, text)
            self._lines.append(line)
            self._lines_size += len(line)
        self._cur_parts = []
        self._cur_size = 0
        self._cur_key = None

    def _instant(self, code: str, data: str) -> None:
        if self.failed is not None:
            raise self.failed
        self._end_event()
        now = self._monotonic()
        self._lines.append(event_line(self._t(now), code, data))
        if now >= self._flush_due:
            self._flush_soon()
        elif self._wake is not None:
            self._wake.set()
