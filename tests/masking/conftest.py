"""Helpers shared by the masking tests."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from bastion.masking.profiles import MaskingProfile
from bastion.masking.stream import StreamMasker


def mask_whole(data: bytes, profile: MaskingProfile | None = None) -> bytes:
    m = StreamMasker(profile or MaskingProfile())
    return m.feed(data) + m.finish()


def mask_chunks(chunks: Iterable[bytes], profile: MaskingProfile | None = None) -> bytes:
    m = StreamMasker(profile or MaskingProfile())
    return b"".join(m.feed(c) for c in chunks) + m.finish()


def mask_every_split(data: bytes, profile: MaskingProfile | None = None) -> bytes:
    """`data` masked whole, after checking that cutting it in two at any place gives the same output."""
    whole = mask_whole(data, profile)
    for cut in range(1, len(data)):
        assert mask_chunks([data[:cut], data[cut:]], profile) == whole, cut
    return whole


def split_at(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    points = sorted({c for c in cuts if 0 < c < len(data)})
    out, prev = [], 0
    for p in points:
        out.append(data[prev:p])
        prev = p
    out.append(data[prev:])
    return out


@pytest.fixture
def default_profile() -> MaskingProfile:
    return MaskingProfile()
