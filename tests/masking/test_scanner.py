"""The trigger scanners: Hyperscan and RE2 give the same hits, and masking does not depend on the engine."""

from __future__ import annotations

import functools
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bastion.masking import scanner as scanner_mod
from bastion.masking.engine import build_engine, compile_engine
from bastion.masking.profiles import MaskingProfile
from bastion.masking.scanner import HyperscanScanner, TriggerScanner, make_scanner
from bastion.masking.stream import StreamMasker
from tests.masking.test_stream import build, pieces

needs_hyperscan = pytest.mark.skipif(scanner_mod._hs is None, reason="hyperscan is not installed here")

ENGINE = compile_engine(MaskingProfile())
LITERALS = list(ENGINE.lit_map)
REGEXES = [d.trigger_re for d, _ in ENGINE.regex_dets]
EXACT = dict(ENGINE.scanner.exact)  # the literals that match in one case only (`eyJ`, `AKIA`)
WORDS = LITERALS + list(EXACT.values()) + [b"4111 1111 1111 1111", b".abcdef.", b"SK0123abcd", b"db:5432:app:u:p"]


def _text(draw_words: list[bytes], fillers: list[bytes], upper: list[bool]) -> bytes:
    out = []
    for i, w in enumerate(draw_words):
        out.append(w.upper() if upper[i % len(upper)] else w)
        out.append(fillers[i % len(fillers)])
    return b"".join(out)


texts = st.builds(
    _text,
    st.lists(st.sampled_from(WORDS), min_size=1, max_size=30),
    st.lists(st.sampled_from([b"", b" ", b"=", b"_", b"\n", b"x", b"\xe2\x84\xaa", b"\x1b[0m", b"9"]), min_size=1),
    st.lists(st.booleans(), min_size=1),
)


@functools.cache
def _scanners() -> tuple[TriggerScanner, HyperscanScanner]:
    return TriggerScanner(LITERALS, REGEXES, EXACT), HyperscanScanner(LITERALS, REGEXES, EXACT)


@needs_hyperscan
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=texts, pos=st.integers(0, 40), cut=st.integers(0, 80))
def test_hyperscan_and_re2_give_the_same_hits(text: bytes, pos: int, cut: int) -> None:
    re2_scan, hs_scan = _scanners()
    end = len(text)
    stop = max(0, end - cut)
    assert hs_scan.literal_hits(text, pos, end, stop) == re2_scan.literal_hits(text, pos, end, stop)
    assert hs_scan.regex_hits(text, pos, end, stop) == re2_scan.regex_hits(text, pos, end, stop)


@needs_hyperscan
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=texts, pos=st.integers(0, 40))
def test_zone_literals_are_every_occurrence_overlapping_ones_included(text: bytes, pos: int) -> None:
    re2_scan, hs_scan = _scanners()
    lits = re2_scan.literals
    expected = [(i, lit) for i in range(pos, len(text)) for lit in lits
                if text[i : i + len(lit)].lower() == lit and (lit not in EXACT or text.startswith(EXACT[lit], i))]
    assert re2_scan.zone_literals(text, pos, len(text)) == expected
    assert hs_scan.zone_literals(text, pos, len(text)) == expected


def test_literal_chain_takes_the_longest_literal_and_never_overlaps() -> None:
    s = TriggerScanner([b"key", b"access_key", b"_key", b"secret"], [])
    hits = s.literal_hits(b"AWS_SECRET_ACCESS_KEY=x key", 0, 27, 27)
    assert [(a, b, s.literals[i]) for a, b, i in hits] == [
        (4, 10, b"secret"), (11, 21, b"access_key"), (24, 27, b"key")]


def test_a_regex_trigger_does_not_hide_a_literal_inside_it() -> None:
    # The Discord trigger `.xxxxxx.` covers `.secret.`: the literal chain still sees `secret`.
    hits = ENGINE.iter_hits(b"fs.s3a.secret.key", 0, 17)
    assert any(dets is ENGINE.lit_map[b"secret"] for _s, _e, dets in hits)


def test_case_folding_is_ascii_only() -> None:
    # In RE2's UTF-8 mode `(?i)k` also matches the Kelvin sign; the literal chain must not.
    s = TriggerScanner([b"akia"], [])
    assert s.literal_hits("a\u212aia".encode(), 0, 6, 6) == []
    assert s.literal_hits(b"AkIa", 0, 4, 4) == [(0, 4, 0)]


def test_the_portable_engine_can_be_forced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BASTION_SCANNER", "re2")
    assert type(make_scanner([b"ghp_"], [])) is TriggerScanner


@needs_hyperscan
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parts=pieces, size=st.integers(1, 97))
def test_masking_is_the_same_with_either_engine(parts: list, size: int) -> None:
    data, _secrets = build(parts)
    outs = []
    for factory in (TriggerScanner, HyperscanScanner):
        m = StreamMasker(MaskingProfile())
        m._eng = build_engine(ENGINE.detectors, factory)
        outs.append(b"".join(m.feed(data[i : i + size]) for i in range(0, len(data), size)) + m.finish())
    assert outs[0] == outs[1]


ODD_LITERALS = ["pässword".encode(), "秘密".encode(), b"k", b"\xff\xfe", b"ghp_", b"_key", b"access_key"]


@needs_hyperscan
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.lists(st.one_of(st.sampled_from(ODD_LITERALS + ["PÄSSWORD".encode(), "pÃ¤ss".encode(),
                                                               "\u212a".encode(), b"K", b"ACCESS_KEY"]),
                               st.binary(max_size=4)), max_size=25).map(b"".join))
def test_the_engines_agree_on_non_ascii_and_binary_triggers(text: bytes) -> None:
    # Custom profiles may name any trigger; case folding is ASCII-only in both engines.
    a, b = TriggerScanner(ODD_LITERALS, []), HyperscanScanner(ODD_LITERALS, [])
    hits = a.literal_hits(text, 0, len(text), len(text))
    assert b.literal_hits(text, 0, len(text), len(text)) == hits
    assert all(text[s:e].lower() == a.literals[i] for s, e, i in hits)


def test_a_literal_with_one_case_matches_only_in_that_case() -> None:
    for scan in (TriggerScanner([b"eyj", b"pass"], [], {b"eyj": b"eyJ"}),
                 *((HyperscanScanner([b"eyj", b"pass"], [], {b"eyj": b"eyJ"}),) if scanner_mod._hs else ())):
        text = b"eyJ EYJ eyj PASS pass"
        assert [text[s:e] for s, e, _i in scan.literal_hits(text, 0, len(text), len(text))] == [b"eyJ", b"PASS", b"pass"]
