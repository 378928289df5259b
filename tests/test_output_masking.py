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


class _SlowClock:
    """Every masking call seems to take `step` seconds: output as dense with triggers as it gets."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step / 2
        return self.now


def _sliced_driver(step: float):
    out: list[tuple[bytes, str]] = []
    pauses: list[bool] = []
    masking = OutputMasking(PROFILE, hmac_key=None, interactive=False,
                            emit=lambda data, stream: out.append((data, stream)),
                            on_hit=lambda stream, hit: None, on_failure=lambda exc: None,
                            pause=pauses.append, clock=_SlowClock(step))
    return masking, out, pauses


def _dense(n: int) -> tuple[bytes, list[bytes]]:
    secrets = [b"ghp_" + f"{i:06d}".encode() + b"A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5" for i in range(n)]
    return b"".join(b"token=" + s + b" 4111 <password>\n" for s in secrets), secrets


async def test_slow_output_is_masked_a_slice_per_loop_turn_while_the_target_is_paused():
    masking, out, pauses = _sliced_driver(step=0.02)
    data, secrets = _dense(2000)
    others: list[int] = []  # another session's work, queued on the same loop
    masking.feed(data, "stdout")
    await asyncio.sleep(0)
    first = len(b"".join(d for d, _ in out))
    assert 0 < first < len(data) and masking.backlogged  # not all of it in one call
    assert pauses == [True]
    for i in range(5):
        asyncio.get_running_loop().call_soon(others.append, i)
    done: list[int] = []
    masking.when_caught_up(lambda: done.append(len(b"".join(d for d, _ in out))))
    await masking.caught_up()
    assert others == [0, 1, 2, 3, 4]  # ran while the backlog was still being masked
    assert pauses == [True, False] and not masking.backlogged
    masking.finish()
    text = b"".join(d for d, _ in out)
    whole, _o, _p = _sliced_driver(step=0.0)
    whole._rate = float(1 << 40)  # one call
    whole.feed(data, "stdout")
    whole.finish()
    assert text == b"".join(d for d, _ in _o)  # slicing changes nothing in what comes out
    assert not any(s[4:] in text for s in secrets)
    assert done and done[0] <= len(text)


async def test_output_arriving_during_a_backlog_stays_in_order_and_eof_waits_for_it():
    masking, out, _pauses = _sliced_driver(step=0.02)
    data, _secrets = _dense(500)
    masking.feed(data, "stdout")
    masking.feed(b"err line\n", "stderr")
    masking.feed(b"last line\n", "stdout")
    eof_at: list[int] = []
    masking.when_caught_up(lambda: (masking.finish(), eof_at.append(len(out))))
    await masking.caught_up()
    streams = [stream for _, stream in out]
    text = b"".join(d for d, _ in out)
    assert text.endswith(b"last line\n") and streams.index("stderr") > 0
    assert text.index(b"err line") < text.index(b"last line")
    assert eof_at == [len(out)]  # nothing was emitted after the EOF callback


async def test_fast_output_is_not_split_once_its_rate_is_known():
    masking, out, pauses = _sliced_driver(step=1e-6)  # 64 KiB per microsecond: ordinary text
    for _ in range(12):  # until measured, a session's slices are 8 KiB
        masking.feed(b"x" * 65536, "stdout")
        await masking.caught_up()
    pauses.clear()
    for _ in range(20):
        masking.feed(b"x" * 65536, "stdout")
        await asyncio.sleep(0)
    assert pauses == [] and not masking.backlogged
    assert len(b"".join(d for d, _ in out)) == 32 * 65536


async def test_a_failure_during_a_backlog_stops_output_and_releases_waiters():
    masking, out, pauses = _sliced_driver(step=0.02)
    data, _secrets = _dense(2000)
    masking.feed(data, "stdout")
    await asyncio.sleep(0)
    assert masking.backlogged and pauses == [True]

    def broken(data: bytes) -> bytes:
        raise MaskingError("boom")

    masking._maskers["stdout"].feed = broken  # type: ignore[method-assign]
    before = len(out)
    await asyncio.wait_for(masking.caught_up(), 5)
    assert masking.stopped and len(out) == before and not masking.backlogged
    assert pauses == [True, False]
