"""The session's masking driver: keystroke echo, idle release on the loop's clock, fail closed."""

from __future__ import annotations

import asyncio

from bastion.errors import MaskingError
from bastion.masking.profiles import build_profiles
from bastion.output_masking import OutputMasking

PROFILE = build_profiles(()).default()


def _driver(interactive: bool):
    out: list[tuple[bytes, str]] = []
    hits: list[str] = []
    failures: list[Exception] = []
    masking = OutputMasking(PROFILE, hmac_key=b"k" * 32, interactive=interactive,
                            emit=lambda data, stream: out.append((data, stream)),
                            on_hit=lambda stream, hit: hits.append(f"{stream}:{hit.detector}"),
                            on_failure=failures.append)
    return masking, out, hits, failures


async def test_typed_echo_comes_out_at_once_in_a_pty():
    masking, out, _, _ = _driver(interactive=True)
    for ch in b"git status":
        masking.feed(bytes([ch]), "stdout")
    assert b"".join(d for d, _ in out) == b"git status"


async def test_held_bytes_are_released_after_the_idle_time_and_secrets_stay_masked():
    masking, out, hits, _ = _driver(interactive=False)
    masking.feed(b"token: ghp_", "stdout")
    held_now = b"".join(d for d, _ in out)
    await asyncio.sleep(0.2)
    masking.feed(b"0123456789abcdefghijABCDEFGHIJ012345\n", "stdout")
    masking.finish()
    text = b"".join(d for d, _ in out)
    assert text.startswith(held_now)
    assert b"0123456789abcdefghij" not in text
    assert hits and hits[0].startswith("stdout:")


async def test_a_failing_masker_stops_all_output_once():
    masking, out, _, failures = _driver(interactive=False)
    masking.feed(b"before\n", "stdout")

    def broken(data: bytes) -> bytes:
        raise MaskingError("boom")

    masking._maskers["stderr"].feed = broken  # type: ignore[method-assign]
    masking.feed(b"x", "stderr")
    masking.feed(b"after\n", "stdout")
    masking.finish()
    assert b"".join(d for d, _ in out) == b"before\n"
    assert len(failures) == 1 and masking.stopped


async def test_packets_of_one_loop_turn_are_masked_together_and_streams_keep_their_order():
    masking, out, hits, _ = _driver(interactive=False)
    secret = b"ghp_" + b"A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    masking.feed(b"one\ntoken=" + secret[:10], "stdout")
    masking.feed(secret[10:] + b"\n", "stdout")
    masking.feed(b"err\n", "stderr")
    masking.feed(b"two\n", "stdout")
    # A switch of stream masks what was gathered first, so stdout and stderr keep their interleaving.
    assert [stream for _, stream in out] == ["stdout", "stderr"]
    await asyncio.sleep(0)
    masking.finish()
    streams = [stream for _, stream in out]
    text = b"".join(data for data, _ in out)
    assert secret not in text and secret[4:14] not in text
    assert text.index(b"err") < text.index(b"two")
    assert streams.index("stderr") < len(streams) - 1  # stdout after stderr stayed after it
    assert hits
