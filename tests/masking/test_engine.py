"""The compiled engine's helpers for the end of the input: what is held back, and why."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.masking.engine import _first_bytes, _max_width, compile_engine
from bastion.masking.matchers import ALNUM, after_escape
from bastion.masking.profiles import MaskingProfile
from bastion.masking.stream import StreamMasker

ENGINE = compile_engine(MaskingProfile())
PARTIALS = sorted(ENGINE.partials)


def _earliest_partial(v: bytes, lo: int) -> int:
    """The definition `_partial_at_end` implements, one position at a time."""
    for q in range(lo, len(v)):
        need_boundary = ENGINE.partials.get(v[q:].lower())
        # (a token may start right after an escape: `\xaa` then `aws_…`, `%0A` then `ghp_…`)
        if need_boundary is not None and not (need_boundary and q > 0 and v[q - 1] in ALNUM and not after_escape(v, q)):
            return q
    return len(v)


@settings(max_examples=400, deadline=None)
@given(head=st.binary(max_size=12), partial=st.sampled_from(PARTIALS), upper=st.booleans(),
       glue=st.sampled_from([b"", b" ", b"x", b"_", b"9", b"\n", b"-"]), lo=st.integers(0, 20))
def test_a_literal_cut_off_at_the_end_is_found_where_it_starts(head: bytes, partial: bytes, upper: bool,
                                                               glue: bytes, lo: int) -> None:
    v = head + glue + (partial.upper() if upper else partial)
    lo = min(lo, len(v))
    assert ENGINE._partial_at_end(v, lo, len(v)) == _earliest_partial(v, lo)


def test_first_bytes_reads_the_first_class_after_lookbehinds() -> None:
    def first(pattern: bytes) -> bytes | None:
        rx = _first_bytes(re.compile(pattern))
        return None if rx is None else bytes(b for b in range(256) if rx.match(bytes([b])))

    assert first(rb"(?<![A-Za-z0-9])S(?=K|\Z)") == b"S"
    assert first(rb"(?<![0-9A-Za-z_.])[2-6]") == b"23456"
    assert first(rb"(?<![A-Za-z0-9_.\-])[a-z0-9]{6}\.") == b"0123456789abcdefghijklmnopqrstuvwxyz"
    assert first(rb"(?m:^)[^:\s#]+:") is None  # an anchor first: not read
    assert first(rb"(?<!x)[^a]") is None  # almost any byte: looking first would save nothing
    assert first(rb"(?i)s") is None


def test_max_width_is_the_longest_match_or_none_when_unbounded() -> None:
    widths = {getattr(d, "id", type(d).__name__): _max_width(d) for d, _rx in ENGINE.regex_dets}
    assert widths["twilio-api-key"] == 10  # SK + 8 hex
    assert widths["PgpassDetector"] is None  # `[^:\s#]+`: any length


def test_a_regex_trigger_complete_just_before_the_end_holds_its_secret_back() -> None:
    # The chunk ends 12 bytes after a whole Twilio trigger (`SK` + 8 hex): the chain found it past the
    # stable point, and the zone must hold the key back though its own look covers only the last bytes.
    key = b"SK" + b"0123456789abcdef" * 2
    for cut in range(len(key) - 20, len(key) + 1):
        m = StreamMasker(MaskingProfile())
        first = m.feed(b"log line with a key " + key[:cut])
        assert b"SK0123" not in first
        rest = m.feed(key[cut:] + b" done\n") + m.finish()
        assert key not in first + rest and b"[MASKED:" in first + rest
