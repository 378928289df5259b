"""Files the recorder writes play in the real asciinema 2.4.0: text, binary-heavy output, odd characters."""

from __future__ import annotations

import random
from pathlib import Path

from bastion.clock import FakeClock
from bastion.recording.asciicast import parse
from bastion.recording.recorder import Recorder

from .asciinema_check import asciinema_cat, asciinema_play, needs_asciinema

pytestmark = needs_asciinema


def _record(path: Path, chunks: list[tuple[str, bytes]]) -> str:
    clock = FakeClock()
    rec = Recorder.open(path, width=80, height=24, started_at=clock.now(), command="cat data",
                        title="alice on web-1", env={"TERM": "xterm-256color", "SHELL": "/bin/bash"}, clock=clock)
    for i, (stream, data) in enumerate(chunks):
        rec.output(data, stream)
        clock.advance(0.003 * (i % 7))
        if i % 50 == 25:
            rec.resize(100 + i % 20, 30)
            rec.marker(f"marker {i}")
    rec.close("exit 0")
    with open(path, "rb") as f:
        _, events = parse(f)
    return "".join(d for _, c, d in events if c == "o")


def test_text_with_awkward_characters_plays(tmp_path: Path) -> None:
    text = "naïve 日本語 🎉 \u2028 line\u2029sep \x1b[1;31mred\x1b[0m tab\t\"quote\" \\ back\r\n" * 40
    data = text.encode()
    rnd = random.Random(7)
    chunks, i = [], 0
    while i < len(data):  # arbitrary cuts, many inside multibyte characters
        n = rnd.randint(1, 9)
        chunks.append((rnd.choice(["stdout", "stderr"]), data[i:i + n]))
        i += n
    path = tmp_path / "text.cast"
    recorded = _record(path, chunks)
    assert asciinema_cat(path) == recorded.encode()
    asciinema_play(path)


def test_binary_heavy_output_plays(tmp_path: Path) -> None:
    rnd = random.Random(11)
    chunks = [("stdout", rnd.randbytes(rnd.randint(1, 4096))) for _ in range(200)]
    chunks.append(("stdout", bytes(range(256)) * 4))
    path = tmp_path / "binary.cast"
    recorded = _record(path, chunks)
    assert asciinema_cat(path) == recorded.encode()
    asciinema_play(path)
