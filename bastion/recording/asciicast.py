"""The asciicast v2 codec: header and event lines out, a whole file in. Pure: no I/O.

Format rules that players enforce (see FIELD-NOTES.md): the header's `timestamp` is an integer, there is no
`duration`, every event is exactly `[seconds, code, data]`, and a blank line ends playback in asciinema 2.x,
so no line we write is ever empty.
"""

from __future__ import annotations

import codecs
import json
import math
from collections.abc import Iterable
from typing import Any

from bastion.errors import RecordingError

try:  # orjson is ~5x faster than json on large output events; json is the fallback.
    import orjson as _orjson
except ImportError:  # pragma: no cover - exercised only where orjson is absent
    _orjson = None

EVENT_CODES = frozenset({"o", "i", "r", "m"})


def _dumps_json(value: Any) -> bytes:
    # ensure_ascii=False keeps non-ASCII text at its UTF-8 size; a lone surrogate cannot be encoded as
    # UTF-8, so such strings fall back to escaped ASCII (still valid JSON, still one line).
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, separators=(",", ":")).encode("ascii")


def _dumps_json_line(value: Any) -> bytes:
    return _dumps_json(value) + b"\n"


if _orjson is not None:
    _OrjsonError = _orjson.JSONEncodeError
    _NEWLINE = _orjson.OPT_APPEND_NEWLINE  # saves copying a large event once more to add "\n"

    def _dumps_line(value: Any) -> bytes:
        try:
            return _orjson.dumps(value, option=_NEWLINE)
        except _OrjsonError:  # lone surrogates: orjson refuses them, json escapes them
            return _dumps_json_line(value)

else:  # pragma: no cover
    _dumps_line = _dumps_json_line


def header_line(
    *,
    width: int,
    height: int,
    timestamp: int,
    command: str | None,
    title: str,
    env: dict[str, str],
) -> bytes:
    """The first line of a recording. `command` is omitted when None (an interactive shell)."""
    if not isinstance(width, int) or not isinstance(height, int) or width <= 0 or height <= 0:
        raise RecordingError(f"terminal size must be positive integers, got {width!r}x{height!r}")
    header: dict[str, Any] = {
        "version": 2,
        "width": width,
        "height": height,
        # INVARIANT: an integer; asciinema 3.x rejects a float timestamp.
        "timestamp": int(timestamp),
    }
    if command is not None:
        header["command"] = command
    header["title"] = title
    header["env"] = {str(k): str(v) for k, v in env.items()}
    return _dumps_line(header)


def event_line(t: float, code: str, data: str) -> bytes:
    """One `[t, code, data]` line ending in a newline. JSON escapes every control character, so the
    line never contains a raw newline or carriage return."""
    if code not in EVENT_CODES:
        raise RecordingError(f"unknown asciicast event code {code!r}")
    # Microsecond resolution is what players use; rounding keeps lines short and stable.
    return _dumps_line([round(t, 6), code, data])


def resize_data(width: int, height: int) -> str:
    """The data of an `r` event: "COLSxROWS"."""
    return f"{int(width)}x{int(height)}"


class OutputDecoder:
    """Incremental UTF-8 decoding for one output stream: a multibyte character split across chunks is
    decoded whole, and invalid bytes become U+FFFD (so binary output never corrupts the file)."""

    __slots__ = ("_decoder",)

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def decode(self, data: bytes, final: bool = False) -> str:
        return self._decoder.decode(data, final)

    def flush(self) -> str:
        """Whatever an unfinished character left behind, as replacement characters."""
        return self._decoder.decode(b"", True)

    @property
    def pending(self) -> bool:
        """True while bytes of an unfinished character are held back."""
        return bool(self._decoder.getstate()[0])


def _fail(lineno: int, reason: str) -> RecordingError:
    return RecordingError(f"line {lineno}: {reason}")


def parse_header(line: bytes) -> dict:
    """Parse and check a header line (asciicast v2 as players accept it)."""
    try:
        header = json.loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _fail(1, f"header is not JSON ({exc})") from exc
    if not isinstance(header, dict) or header.get("version") != 2:
        raise _fail(1, "not an asciicast v2 header")
    for key in ("width", "height"):
        value = header.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise _fail(1, f"header {key} must be a positive integer")
    if "timestamp" in header and (
        not isinstance(header["timestamp"], int) or isinstance(header["timestamp"], bool)
    ):
        raise _fail(1, "header timestamp must be an integer")
    if "duration" in header:
        raise _fail(1, "header must not carry a duration")
    return header


def parse_event(line: bytes, lineno: int = 0) -> tuple[float, str, str]:
    """Parse and check one event line."""
    try:
        event = json.loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _fail(lineno, f"event is not JSON ({exc})") from exc
    if not isinstance(event, list) or len(event) != 3:
        raise _fail(lineno, "an event must be a 3-element array")
    t, code, data = event
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or t < 0:
        raise _fail(lineno, "event time must be a non-negative number")
    if code not in EVENT_CODES:
        raise _fail(lineno, f"unknown event code {code!r}")
    if not isinstance(data, str):
        raise _fail(lineno, "event data must be a string")
    return float(t), code, data


def parse(lines: Iterable[bytes]) -> tuple[dict, list[tuple[float, str, str]]]:
    """Parse a whole recording (e.g. an open binary file). Raises RecordingError on anything a player
    would choke on: a bad header, a blank line, a torn line, a malformed event or time going backwards."""
    header: dict | None = None
    events: list[tuple[float, str, str]] = []
    last_t = 0.0
    for lineno, line in enumerate(lines, start=1):
        if not line.endswith(b"\n"):
            raise _fail(lineno, "unterminated (torn) line")
        if line.strip() == b"":
            raise _fail(lineno, "blank line (asciinema 2.x stops playback there)")
        if header is None:
            header = parse_header(line)
            continue
        event = parse_event(line, lineno)
        if event[0] < last_t:
            raise _fail(lineno, "event time goes backwards")
        last_t = event[0]
        if event[1] == "r":
            _check_resize(event[2], lineno)
        events.append(event)
    if header is None:
        raise RecordingError("empty recording (no header)")
    return header, events


def _check_resize(data: str, lineno: int) -> None:
    cols, sep, rows = data.partition("x")
    if not (sep and cols.isdigit() and rows.isdigit()):
        raise _fail(lineno, f"resize data must be COLSxROWS, got {data!r}")
