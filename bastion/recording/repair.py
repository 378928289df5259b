"""Repair of a recording left behind by a crash (kill -9, power loss): cut a torn last line, make sure a
header is there, add a marker saying the session was interrupted, and hash the result.

Only the tail is examined: lines before it were written whole by the recorder, so repair stays cheap for
large files.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from bastion.errors import RecordingError
from bastion.recording.asciicast import event_line, parse_event, parse_header

_BLOCK = 64 * 1024


def _last_line_start(f, end: int) -> int:
    """Offset where the line ending at `end` (exclusive, after its newline) starts."""
    pos = end - 1  # skip the line's own newline
    while pos > 0:
        start = max(0, pos - _BLOCK)
        f.seek(start)
        block = f.read(pos - start)
        idx = block.rfind(b"\n")
        if idx >= 0:
            return start + idx + 1
        pos = start
    return 0


def _end_after_last_newline(f, size: int) -> int:
    pos = size
    while pos > 0:
        start = max(0, pos - _BLOCK)
        f.seek(start)
        block = f.read(pos - start)
        idx = block.rfind(b"\n")
        if idx >= 0:
            return start + idx + 1
        pos = start
    return 0


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def repair_recording(path: Path, *, fallback_header: bytes, marker: str | None = "session interrupted") -> str:
    """Make the file at `path` playable and return its SHA-256 hex.

    `fallback_header` is written when the file is missing, empty or holds only a torn header. Raises
    RecordingError when the file cannot be read or written.
    """
    path = Path(path)
    try:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"")
        with open(path, "r+b") as f:
            size = f.seek(0, os.SEEK_END)
            end = _end_after_last_newline(f, size)
            last_t = 0.0
            # Drop trailing lines that do not parse (a torn write that happened to end in a newline,
            # or zero-filled blocks after a power loss); stop at the first good one.
            while end > 0:
                start = _last_line_start(f, end)
                f.seek(start)
                line = f.read(end - start)
                if start == 0:
                    try:
                        parse_header(line)
                    except RecordingError:
                        end = 0
                    break
                try:
                    last_t = parse_event(line)[0]
                    break
                except RecordingError:
                    end = start
            if end == 0:
                # Not one line parsed, header included: nothing of value was written (the recorder
                # writes the header first), so start over from the fallback header.
                f.seek(0)
                f.truncate(0)
                f.write(fallback_header)
                end = len(fallback_header)
            f.truncate(end)
            f.seek(end)
            if marker is not None:
                f.write(event_line(last_t, "m", marker))
            f.flush()
            os.fsync(f.fileno())
        return file_sha256(path)
    except OSError as exc:
        raise RecordingError(f"cannot repair recording {path}: {exc.strerror or exc}") from exc
