"""A session's output masking: one `StreamMasker` per stream, driven by the event loop.

The masker itself is pure and reads no clock; this owns the timers that release held-back bytes after a
quiet spell (so prompts and typing stay responsive) and the rule that a keystroke's echo in a pty is
released at once. What it emits goes to one callback, in order; when a masker fails it stops all output
and reports once (fail closed).

Fair share of the event loop. Every session's masking runs on the gateway's one event loop, and output
dense with trigger words (a MiB of `4111 ` or `<password>`) masks at well under 1 MiB/s: masked in one
call, one session's output would stall every other session, the approvals and the review API for
seconds. So no call masks more than about `SLICE_SECONDS` worth of bytes at this session's measured
masking rate; the rest waits in a backlog, masked a slice per loop turn (other sessions' work runs in
between) while the target's output is paused (`pause(True)`), so the backlog stays small and the slow
session is what slows down. Ordinary output masks at hundreds of MiB/s, so its slices are larger than
anything asyncssh delivers at once and it is never split. Slicing changes nothing in what comes out: the
masker is exact for any chunking.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Callable

from bastion.errors import MaskingError
from bastion.masking.profiles import MaskingProfile
from bastion.masking.stream import MaskHit, StreamMasker
from bastion.masking.whole import WholeOutputMasker

KEYSTROKE_ECHO = 8  # pty output chunks this small are the echo of typing, released without waiting
STREAMS = ("stdout", "stderr")
SLICE_SECONDS = 0.001  # the longest one masking call of one session should hold the event loop
MIN_SLICE = 256  # bytes: even the slowest output makes progress
FIRST_RATE = 8 << 20  # bytes per second assumed until this session's rate is measured (an 8 KiB slice)


class OutputMasking:
    """Masks a session's stdout and stderr before anything else sees them."""

    def __init__(self, profile: MaskingProfile, *, hmac_key: bytes | None, interactive: bool,
                 emit: Callable[[bytes, str], None], on_hit: Callable[[str, MaskHit], None],
                 on_failure: Callable[[Exception], None],
                 pause: Callable[[bool], None] = lambda paused: None,
                 clock: Callable[[], float] = time.thread_time, secret_stdout: bool = False) -> None:
        """`secret_stdout`: the command prints a secret (`masking/commands.py`): all of stdout is masked."""
        self._emit = emit
        self._on_failure = on_failure
        self._pause = pause
        # CPU time of this thread: what masking costs the loop, not time the process spent descheduled
        self._clock = clock
        self._rate = float(FIRST_RATE)  # bytes per second of masking, as measured on this session's output
        self._backlog: deque[tuple[bytes, str]] = deque()
        self._paused = False
        self._caught_up: list[Callable[[], None]] = []
        self._interactive = interactive
        self._maskers: dict[str, StreamMasker | WholeOutputMasker] = {
            stream: StreamMasker(profile, hmac_key=hmac_key, on_hit=lambda hit, s=stream: on_hit(s, hit))
            for stream in STREAMS
        }
        if secret_stdout:
            self._maskers["stdout"] = WholeOutputMasker(profile, hmac_key=hmac_key,
                                                        on_hit=lambda hit: on_hit("stdout", hit))
        # A profile with every detector off (chosen in policy) costs nothing on the hot path.
        self._passthrough = not profile.detectors and not profile.custom and not secret_stdout
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._gathered: list[bytes] = []
        self._gathered_stream = "stdout"
        self._gather_scheduled = False
        self._last_feed: dict[str, float] = {}
        self.stopped = False

    @property
    def backlogged(self) -> int:
        """Bytes received but not yet handed to a masker (waiting for their slice of the loop)."""
        return sum(len(d) for d, _ in self._backlog)

    def feed(self, data: bytes, stream: str) -> None:
        if self.stopped:
            return
        if self._passthrough:
            self._emit(data, stream)
            return
        if self._backlog:
            self._backlog.append((data, stream))  # behind what is still waiting: order is kept
            return
        if not self._interactive:
            # asyncssh hands over one SSH packet at a time (4–32 KiB); the packets of one socket read are
            # masked together at the end of this loop turn, which halves the masker's per-call cost and
            # delays nothing. Streams are kept in order: a switch of stream masks what was gathered first.
            if self._gathered and self._gathered_stream != stream:
                self._mask_gathered()
                if self._backlog:  # what was gathered did not fit in one slice: queue behind its rest
                    self._backlog.append((data, stream))
                    return
            self._gathered.append(data)
            self._gathered_stream = stream
            if not self._gather_scheduled:
                self._gather_scheduled = True
                asyncio.get_running_loop().call_soon(self._mask_gathered)
            return
        self._mask(data, stream)

    def _mask_gathered(self) -> None:
        self._gather_scheduled = False
        if not self._gathered:
            return
        data = self._gathered[0] if len(self._gathered) == 1 else b"".join(self._gathered)
        self._gathered.clear()
        if self.stopped:
            return
        if self._backlog:
            self._backlog.append((data, self._gathered_stream))
            return
        self._mask(data, self._gathered_stream)

    def _slice(self) -> int:
        return max(MIN_SLICE, int(self._rate * SLICE_SECONDS))

    def _mask(self, data: bytes, stream: str) -> bool:
        """Mask what fits in this session's slice now; the rest goes to the front of the backlog, and a
        drain is scheduled (True)."""
        limit = self._slice()
        if len(data) <= limit:
            self._mask_now(data, stream, echo=len(data) <= KEYSTROKE_ECHO)
            return False
        self._backlog.appendleft((data[limit:], stream))
        if not self._paused:
            self._paused = True
            self._pause(True)
        asyncio.get_running_loop().call_soon(self._drain)
        self._mask_now(data[:limit], stream, echo=False)
        return True

    def _drain(self) -> None:
        """One slice of the backlog per loop turn, until it is empty; then the target may send again."""
        if self._backlog and not self.stopped:
            data, stream = self._backlog.popleft()
            if self._mask(data, stream):
                return
            if self._backlog and not self.stopped:
                asyncio.get_running_loop().call_soon(self._drain)
                return
        self._backlog.clear()
        self._caught_up_now()

    def _caught_up_now(self) -> None:
        if self._paused:
            self._paused = False
            self._pause(False)
        waiters, self._caught_up = self._caught_up, []
        for fn in waiters:
            fn()

    def when_caught_up(self, fn: Callable[[], None]) -> None:
        """Call `fn` once nothing waits in the backlog (now, if nothing does)."""
        self._mask_gathered()  # what this loop turn gathered comes before it too
        if self._backlog and not self.stopped:
            self._caught_up.append(fn)
        else:
            fn()

    async def caught_up(self) -> None:
        """Wait until the backlog is masked (or masking stopped)."""
        self._mask_gathered()
        if not self._backlog or self.stopped:
            return
        done = asyncio.get_running_loop().create_future()
        self.when_caught_up(lambda: done.done() or done.set_result(None))
        await done

    def _mask_now(self, data: bytes, stream: str, echo: bool) -> None:
        masker = self._maskers[stream]
        t0 = self._clock()
        try:
            out = masker.feed(data)
        except MaskingError as exc:
            self._fail(exc)
            return
        spent = self._clock() - t0
        if spent > 0:
            # A slow sample counts at once (dense output must not stall the loop for a second slice); a
            # fast one raises the rate by at most half per call.
            sample = len(data) / spent
            self._rate = sample if sample < self._rate else min(sample, self._rate * 1.5)
        if out:
            self._emit(out, stream)
        if not masker.held:
            return
        if self._interactive and echo:
            # A keystroke's echo must not wait for the idle timer. Releasing now shows what an idle
            # release would show (a lone letter, a public prefix); a token that could be a secret is still
            # masked, and the rest of it when it arrives.
            self._release(stream)
            return
        loop = asyncio.get_running_loop()
        self._last_feed[stream] = loop.time()
        if stream not in self._timers:
            self._timers[stream] = loop.call_later(masker.idle_release, self._idle, stream)

    def _idle(self, stream: str) -> None:
        self._timers.pop(stream, None)
        masker = self._maskers[stream]
        if self.stopped or not masker.held or self._backlog:
            return  # with a backlog more output is already here: the last slice sets the timer again
        loop = asyncio.get_running_loop()
        quiet = loop.time() - self._last_feed.get(stream, 0.0)
        if quiet < masker.idle_release:
            self._timers[stream] = loop.call_later(masker.idle_release - quiet, self._idle, stream)
            return
        self._release(stream)

    def _release(self, stream: str) -> None:
        try:
            out = self._maskers[stream].release_idle()
        except MaskingError as exc:
            self._fail(exc)
            return
        if out:
            self._emit(out, stream)

    def finish(self) -> None:
        """End of output: release everything still held (masked as the whole text would be). A backlog
        left is masked now, in one go: callers that must not block wait for `caught_up()` first."""
        self._mask_gathered()
        while self._backlog and not self.stopped:
            data, stream = self._backlog.popleft()
            self._mask_now(data, stream, echo=False)
        self._backlog.clear()
        self._caught_up_now()
        for stream, masker in self._maskers.items():
            timer = self._timers.pop(stream, None)
            if timer is not None:
                timer.cancel()
            if self.stopped:
                continue
            try:
                out = masker.finish()
            except MaskingError as exc:
                self._fail(exc)
                return
            if out:
                self._emit(out, stream)

    def _fail(self, exc: Exception) -> None:
        # INVARIANT: when the masker cannot vouch for the output, no more output leaves the gateway.
        if not self.stopped:
            self.stopped = True
            self._backlog.clear()
            self._on_failure(exc)
            self._caught_up_now()
