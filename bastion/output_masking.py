"""A session's output masking: one `StreamMasker` per stream, driven by the event loop.

The masker itself is pure and reads no clock; this owns the timers that release held-back bytes after a
quiet spell (so prompts and typing stay responsive) and the rule that a keystroke's echo in a pty is
released at once. What it emits goes to one callback, in order; when a masker fails it stops all output
and reports once (fail closed).
"""

from __future__ import annotations

import asyncio
from typing import Callable

from bastion.errors import MaskingError
from bastion.masking.profiles import MaskingProfile
from bastion.masking.stream import MaskHit, StreamMasker

KEYSTROKE_ECHO = 8  # pty output chunks this small are the echo of typing, released without waiting
STREAMS = ("stdout", "stderr")


class OutputMasking:
    """Masks a session's stdout and stderr before anything else sees them."""

    def __init__(self, profile: MaskingProfile, *, hmac_key: bytes | None, interactive: bool,
                 emit: Callable[[bytes, str], None], on_hit: Callable[[str, MaskHit], None],
                 on_failure: Callable[[Exception], None]) -> None:
        self._emit = emit
        self._on_failure = on_failure
        self._interactive = interactive
        self._maskers = {
            stream: StreamMasker(profile, hmac_key=hmac_key, on_hit=lambda hit, s=stream: on_hit(s, hit))
            for stream in STREAMS
        }
        # A profile with every detector off (chosen in policy) costs nothing on the hot path.
        self._passthrough = not profile.detectors and not profile.custom
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._gathered: list[bytes] = []
        self._gathered_stream = "stdout"
        self._gather_scheduled = False
        self._last_feed: dict[str, float] = {}
        self.stopped = False

    def feed(self, data: bytes, stream: str) -> None:
        if self.stopped:
            return
        if self._passthrough:
            self._emit(data, stream)
            return
        if not self._interactive:
            # asyncssh hands over one SSH packet at a time (4–32 KiB); the packets of one socket read are
            # masked together at the end of this loop turn, which halves the masker's per-call cost and
            # delays nothing. Streams are kept in order: a switch of stream masks what was gathered first.
            if self._gathered and self._gathered_stream != stream:
                self._mask_gathered()
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
        if not self.stopped:
            self._mask(data, self._gathered_stream)

    def _mask(self, data: bytes, stream: str) -> None:
        masker = self._maskers[stream]
        try:
            out = masker.feed(data)
        except MaskingError as exc:
            self._fail(exc)
            return
        if out:
            self._emit(out, stream)
        if not masker.held:
            return
        if self._interactive and len(data) <= KEYSTROKE_ECHO:
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
        if self.stopped or not masker.held:
            return
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
        """End of output: release everything still held (masked as the whole text would be)."""
        self._mask_gathered()
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
            self._on_failure(exc)
