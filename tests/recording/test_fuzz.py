"""Property test of the writer: whatever bytes arrive, in whatever chunks, on whichever stream, mixed with
resizes and markers, the file parses as asciicast v2 and its `o` data is exactly the incremental UTF-8
decoding of the input."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bastion.clock import FakeClock
from bastion.recording.asciicast import OutputDecoder, parse
from bastion.recording.recorder import Recorder

# Bytes biased towards UTF-8 edge cases: multibyte leads and continuations, controls, invalid bytes.
_interesting = st.sampled_from([b"\xc3", b"\xa9", b"\xe6\x97", b"\xa5", b"\xf0\x9f", b"\x8e\x89", b"\xff",
                                b"\x00", b"\r\n", b"\n", b"\x1b[0m", b"\xe2\x80\xa8", b"\"\\"])
_chunk = st.one_of(st.binary(max_size=64), _interesting, st.text(max_size=16).map(str.encode))

_op = st.one_of(
    st.tuples(st.just("out"), st.sampled_from(["stdout", "stderr"]), _chunk),
    st.tuples(st.just("advance"), st.sampled_from([0.0, 0.001, 0.004, 0.0099, 0.01, 0.05, 0.2])),
    st.tuples(st.just("resize"), st.integers(1, 500), st.integers(1, 200)),
    st.tuples(st.just("marker"), st.text(max_size=20)),
    st.tuples(st.just("flush")),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(_op, max_size=60), final=st.one_of(st.none(), st.text(max_size=10)))
def test_writer_always_produces_a_valid_faithful_file(ops: list[tuple], final: str | None) -> None:
    clock = FakeClock()
    expected: list[str] = []
    decoders: dict[str, OutputDecoder] = {}
    markers: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.cast"
        rec = Recorder.open(path, width=80, height=24, started_at=clock.now(), command=None, title="fuzz",
                            env={"TERM": "xterm"}, clock=clock)
        for op in ops:
            if op[0] == "out":
                _, stream, data = op
                rec.output(data, stream)
                if data:
                    expected.append(decoders.setdefault(stream, OutputDecoder()).decode(data))
            elif op[0] == "advance":
                clock.advance(op[1])
            elif op[0] == "resize":
                rec.resize(op[1], op[2])
            elif op[0] == "marker":
                rec.marker(op[1])
                markers.append(op[1])
            else:
                rec.flush()
        rec.close(final)
        expected.extend(d.flush() for d in decoders.values())
        if final is not None:
            markers.append(final)
        raw = path.read_bytes()

    lines = raw.split(b"\n")
    assert lines[-1] == b"" and all(lines[:-1]), "every line non-empty, file ends in a newline"
    header, events = parse(line + b"\n" for line in lines[:-1])  # raises on anything malformed
    assert isinstance(header["timestamp"], int) and "duration" not in header
    for line in lines[1:-1]:
        assert len(json.loads(line)) == 3
    assert "".join(d for _, c, d in events if c == "o") == "".join(expected)
    assert [d for _, c, d in events if c == "m"] == markers
    assert all(d for _, c, d in events if c == "o"), "no empty output events"
