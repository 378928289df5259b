"""Holds each line a shell session submits until the policy has decided on it.

Two shapes of shell session, two gates:
- `PtyLineGate`, for interactive shells with a terminal: keystrokes flow through at once, but Enter is
  held; the submitted line is read off the terminal emulator (`capture.CommandLineReader`), decided,
  and only then is the Enter forwarded. A refused line is cancelled upstream with Ctrl-C. Pasted
  multi-line input is taken one line at a time, letting the echo of each settle before reading it.
- `ScriptLineGate`, for shells without a terminal (`ssh host < script`): stdin *is* the command text,
  so each complete line is decided exactly, before any byte of it reaches the shell. The first refused
  line ends the input: later lines may depend on it.
"""

from __future__ import annotations

import asyncio
import inspect
from collections import deque
from typing import Awaitable, Callable

from bastion.capture import CommandLineReader

# decide(text) -> allowed. text is None when the line could not be read (treated as opaque).
Decide = Callable[[str | None], "bool | Awaitable[bool]"]

_QUEUE_HIGH_WATER = 64 * 1024
_SETTLE_IDLE = 0.02     # output quiet this long means the echo has arrived
_SETTLE_MAX = 0.5       # but never hold a line longer than this waiting for echo
_CANCEL_LINE = b"\x03"  # Ctrl-C: readline drops the line; a cooked tty discards it and sends SIGINT
_LINE_ABANDONED = (b"\x03", b"\x04", b"\x1a")


async def _decided(decide: Decide, text: str | None) -> bool:
    verdict = decide(text)
    if inspect.isawaitable(verdict):
        verdict = await verdict
    return bool(verdict)


class PtyLineGate:
    """Interactive shell with a pty: hold Enter until the line on screen is decided."""

    def __init__(self, reader: CommandLineReader, *, forward: Callable[[bytes], None], decide: Decide,
                 pause_client: Callable[[], None], resume_client: Callable[[], None]) -> None:
        self.reader = reader
        self._forward = forward
        self._decide = decide
        self._pause_client = pause_client
        self._resume_client = resume_client
        self._queue: deque[bytes] = deque()
        self._queued = 0
        self._paused = False
        self._wakeup = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._last_output = self._loop.time()
        self._task = self._loop.create_task(self._run())

    def feed_input(self, data: bytes) -> None:
        self._queue.append(data)
        self._queued += len(data)
        if self._queued > _QUEUE_HIGH_WATER and not self._paused:
            self._paused = True
            self._pause_client()
        self._wakeup.set()

    def feed_output(self, data: bytes) -> None:
        self.reader.feed_output(data)
        self._last_output = self._loop.time()

    def close(self) -> None:
        self._task.cancel()

    async def _settle(self) -> None:
        deadline = self._loop.time() + _SETTLE_MAX
        while True:
            now = self._loop.time()
            quiet_for = now - self._last_output
            if quiet_for >= _SETTLE_IDLE or now >= deadline:
                return
            await asyncio.sleep(min(_SETTLE_IDLE - quiet_for, deadline - now))

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue:
                data = self._queue.popleft()
                self._queued -= len(data)
                await self._process(data)
            if self._paused:
                self._paused = False
                self._resume_client()

    async def _process(self, data: bytes) -> None:
        if self.reader.fullscreen:
            self._forward(data)  # a full-screen program owns the keyboard; its keys are not command lines
            return
        cut = min((i for i in (data.find(b"\r"), data.find(b"\n")) if i >= 0), default=-1)
        if cut < 0:
            self.reader.note_input()
            self._forward(data)
            if any(key in data for key in _LINE_ABANDONED):
                self.reader.submit()  # the line was abandoned: the next keystroke starts a new one
            return
        before, enter, rest = data[:cut], data[cut:cut + 1], data[cut + 1:]
        if enter == b"\r" and rest.startswith(b"\n"):
            enter, rest = b"\r\n", rest[1:]
        if rest:
            self._queue.appendleft(rest)
            self._queued += len(rest)
        if before:
            self.reader.note_input()
            self._forward(before)
            await self._settle()
        line = self.reader.submit()
        if line.fullscreen or await _decided(self._decide, line.text):
            self._forward(enter)
        else:
            self._forward(_CANCEL_LINE)
        if self._queue:
            await self._settle()  # let the next prompt draw before the next pasted line is read


class ScriptLineGate:
    """Shell without a pty: decide on each complete stdin line before the shell sees any of it."""

    MAX_LINE = 1024 * 1024

    def __init__(self, *, forward: Callable[[bytes], None], forward_eof: Callable[[], None], decide: Decide,
                 refused: Callable[[], None], pause_client: Callable[[], None],
                 resume_client: Callable[[], None]) -> None:
        self._forward = forward
        self._forward_eof = forward_eof
        self._decide = decide
        self._refused = refused
        self._pause_client = pause_client
        self._resume_client = resume_client
        self._buffer = bytearray()
        self._queue: deque[bytes | None] = deque()
        self._wakeup = asyncio.Event()
        self._stopped = False
        self._task = asyncio.get_running_loop().create_task(self._run())

    def feed_input(self, data: bytes) -> None:
        if not self._stopped:
            self._queue.append(data)
            self._pause_client()  # one chunk at a time: each line waits for its decision
            self._wakeup.set()

    def feed_eof(self) -> None:
        self._queue.append(None)
        self._wakeup.set()

    def feed_output(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        self._task.cancel()

    async def _run(self) -> None:
        while not self._stopped:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue and not self._stopped:
                data = self._queue.popleft()
                if data is None:
                    await self._flush_last_line()
                    if not self._stopped:
                        self._forward_eof()
                    self._stopped = True
                    break
                self._buffer += data
                await self._drain_lines()
            if not self._stopped:
                self._resume_client()

    async def _drain_lines(self) -> None:
        while not self._stopped:
            end = self._buffer.find(b"\n")
            if end < 0:
                if len(self._buffer) > self.MAX_LINE:
                    await self._check(None, b"")  # too long to analyse: opaque
                return
            line = bytes(self._buffer[: end + 1])
            del self._buffer[: end + 1]
            await self._check(line.decode("utf-8", errors="surrogateescape").rstrip("\r\n"), line)

    async def _flush_last_line(self) -> None:
        if self._buffer:
            line = bytes(self._buffer)
            self._buffer.clear()
            await self._check(line.decode("utf-8", errors="surrogateescape"), line)

    async def _check(self, text: str | None, raw: bytes) -> None:
        if text is not None and not text.strip():
            self._forward(raw)
            return
        if await _decided(self._decide, text):
            self._forward(raw)
            return
        # INVARIANT: nothing after a refused line reaches the shell.
        self._stopped = True
        self._buffer.clear()
        self._queue.clear()
        self._forward_eof()
        self._refused()
