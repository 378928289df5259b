"""The asciicast v2 codec: what it writes and what it refuses to read."""

from __future__ import annotations

import json

import pytest

from bastion.errors import RecordingError
from bastion.recording.asciicast import OutputDecoder, event_line, header_line, parse, resize_data


def _header(**overrides) -> bytes:
    args = dict(width=80, height=24, timestamp=1767225600, command="uname -a", title="alice on web-1",
                env={"TERM": "xterm-256color", "SHELL": "/bin/bash"})
    args.update(overrides)
    return header_line(**args)


def test_header_is_one_v2_line_with_integer_timestamp_and_no_duration() -> None:
    line = _header(timestamp=1767225600.9)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    header = json.loads(line)
    assert header == {"version": 2, "width": 80, "height": 24, "timestamp": 1767225600,
                      "command": "uname -a", "title": "alice on web-1",
                      "env": {"TERM": "xterm-256color", "SHELL": "/bin/bash"}}
    assert isinstance(header["timestamp"], int)


def test_header_omits_command_for_a_shell() -> None:
    assert "command" not in json.loads(_header(command=None))


def test_header_rejects_a_bad_size() -> None:
    with pytest.raises(RecordingError):
        _header(width=0)


@pytest.mark.parametrize("data", ["plain", "line\r\nbreak", "\x00\x1b[31m\x7f", "\u2028\u2029 é 日本 🎉", "\ud800"])
def test_event_line_is_one_line_of_three_elements(data: str) -> None:
    line = event_line(1.23456789, "o", data)
    assert line.endswith(b"\n") and line.count(b"\n") == 1 and b"\r" not in line
    t, code, decoded = json.loads(line)
    assert (t, code) == (1.234568, "o")
    if data != "\ud800":  # a lone surrogate cannot be UTF-8; it is escaped instead of crashing
        assert decoded == data


def test_event_line_refuses_unknown_codes() -> None:
    with pytest.raises(RecordingError):
        event_line(0.0, "x", "data")


def test_parse_round_trip() -> None:
    lines = [_header(), event_line(0.0, "o", "hi\n"), event_line(0.5, "r", resize_data(100, 30)),
             event_line(0.5, "m", "exit 0")]
    header, events = parse(lines)
    assert header["width"] == 80
    assert events == [(0.0, "o", "hi\n"), (0.5, "r", "100x30"), (0.5, "m", "exit 0")]


@pytest.mark.parametrize(
    "bad, reason",
    [
        ([b'{"version": 1, "width": 80, "height": 24}\n'], "v2"),
        ([b'{"version": 2, "width": 80, "height": 24, "timestamp": 1.5}\n'], "timestamp"),
        ([b'{"version": 2, "width": 80, "height": 24, "duration": 3.0}\n'], "duration"),
        ([b'{"version": 2, "width": 80, "height": 24}\n', b"\n"], "blank"),
        ([b'{"version": 2, "width": 80, "height": 24}\n', b'[0.1, "o", "x", 1]\n'], "3-element"),
        ([b'{"version": 2, "width": 80, "height": 24}\n', b'[0.1, "o", "tor'], "torn"),
        ([b'{"version": 2, "width": 80, "height": 24}\n', b'[0.2, "o", "a"]\n', b'[0.1, "o", "b"]\n'], "backwards"),
        ([b'{"version": 2, "width": 80, "height": 24}\n', b'[0.1, "r", "wide"]\n'], "COLSxROWS"),
        ([], "empty"),
    ],
)
def test_parse_rejects_what_players_choke_on(bad: list[bytes], reason: str) -> None:
    with pytest.raises(RecordingError, match=reason):
        parse(bad)


def test_decoder_never_splits_a_character_and_replaces_invalid_bytes() -> None:
    decoder = OutputDecoder()
    data = "é日🎉".encode()
    out = "".join(decoder.decode(data[i:i + 1]) for i in range(len(data)))
    assert out == "é日🎉"
    assert decoder.decode(b"\xff ok") == "\ufffd ok"
    assert decoder.decode(b"\xe6\x97") == "" and decoder.pending
    assert decoder.flush() == "\ufffd" and not decoder.pending


def test_json_fallback_writes_the_same_values_as_orjson() -> None:
    from bastion.recording import asciicast

    value = [0.5, "o", "naïve \x00\x1b[0m \u2028 🎉 \"q\" \\"]
    line = asciicast._dumps_json_line(value)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line) == json.loads(event_line(0.5, "o", value[2])) == value
