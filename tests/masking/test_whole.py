"""WholeOutputMasker: all of a secret-printing command's stdout becomes one replacement, for any chunking."""

from __future__ import annotations

import hashlib
import hmac

from hypothesis import given
from hypothesis import strategies as st

from bastion.masking.profiles import MaskingProfile
from bastion.masking.stream import MaskHit
from bastion.masking.whole import WholeOutputMasker
from tests.masking.conftest import split_at

KEY = b"k" * 32


def run(chunks: list[bytes], profile: MaskingProfile | None = None) -> tuple[bytes, list[MaskHit]]:
    hits: list[MaskHit] = []
    m = WholeOutputMasker(profile or MaskingProfile(), hmac_key=KEY, on_hit=hits.append)
    out = b"".join(m.feed(c) for c in chunks) + m.finish()
    assert m.held == 0 and m.release_idle() == b""
    return out, hits


def test_the_value_becomes_one_label_and_its_line_break_stays() -> None:
    out, hits = run([b"  ghs_notreally", b"Secret42\n"])
    assert out == b"  [MASKED:secret-command-output]\n"
    assert hits == [MaskHit("secret-command-output", 2, 21,
                            hmac.new(KEY, b"ghs_notreallySecret42", hashlib.sha256).hexdigest())]


def test_a_multi_line_value_is_one_run_and_empty_output_reports_nothing() -> None:
    out, hits = run([b"user: app\npassword: x\n\n"])
    assert out == b"[MASKED:secret-command-output]\n" and hits[0].length == len(b"user: app\npassword: x")
    assert run([b"\n", b"  "]) == (b"\n  ", [])


def test_styles_are_the_profiles() -> None:
    assert run([b"abc def\n"], MaskingProfile(replacement="same-length"))[0] == b"*******\n"
    assert run([b"abc\n"], MaskingProfile(replacement="fixed", replacement_text="[X]"))[0] == b"[X]\n"
    assert run([b"abc\n"], MaskingProfile(replacement="keep-prefix"))[0] == "…\n".encode()


@given(st.binary(max_size=200), st.lists(st.integers(min_value=1, max_value=200), max_size=8))
def test_any_chunking_gives_the_same_output_and_digest(data: bytes, cuts: list[int]) -> None:
    whole = run([data])
    assert run(split_at(data, cuts)) == whole
    value = data.strip(b" \t\r\n")
    if value:
        assert value not in whole[0] or value in b"[MASKED:secret-command-output]\n"
