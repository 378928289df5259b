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
_SETTLE_MAX = 10.0      # a line whose screen never settles is not read at all (it is opaque)
_CONTROL = frozenset(range(0x00, 0x20)) | {0x7F}


def _plain_text(typed: bytes) -> str | None:
    """The typed bytes as text when they hold no control or editing keys, else None."""
    if not typed or any(b in _CONTROL for b in typed):
        return None
    try:
        return typed.decode("utf-8")
    except UnicodeDecodeError:
        return None
_CANCEL_LINE = b"\x03"  # Ctrl-C: readline drops the line; a cooked tty discards it and sends SIGINT
_LINE_ABANDONED = (b"\x03", b"\x04", b"\x1a")


async def _decided(decide: Decide, text: str | None) -> bool:
    verdict = decide(text)
    if inspect.isawaitable(verdict):
        verdict = await verdict
    return bool(verdict)


class PtyLineGate:
    """Interactive shell with a pty: hold Enter until the line on screen is decided."""

    def __init__(self, reader: CommandLineReader, *, forward: Callable[[bytes], None],
                 forward_eof: Callable[[], None], decide: Decide, pause_client: Callable[[], None],
                 resume_client: Callable[[], None], on_error: Callable[[BaseException], None]) -> None:
        self.reader = reader
        self._forward = forward
        self._forward_eof = forward_eof
        self._on_error = on_error
        self._decide = decide
        self._pause_client = pause_client
        self._resume_client = resume_client
        self._queue: deque[bytes | None] = deque()
        self._queued = 0
        self._paused = False
        self._wakeup = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._last_output = self._loop.time()
        self._typed = bytearray()   # keystrokes since the line began
        self._busy = False          # the task is working on queued input (keep order: no fast path)
        self._task = self._loop.create_task(self._run())

    def feed_input(self, data: bytes) -> None:
        if not self._queue and not self._busy and b"\r" not in data and b"\n" not in data:
            # Fast path for typing: nothing is held and no line is submitted, so the keystroke goes
            # straight through (in order) without a hop through the gate's task.
            self._pass_keys(data)
            return
        self._queue.append(data)
        self._queued += len(data)
        if self._queued > _QUEUE_HIGH_WATER and not self._paused:
            self._paused = True
            self._pause_client()
        self._wakeup.set()

    def feed_eof(self) -> None:
        self._queue.append(None)  # in order: EOF must not overtake held input
        self._wakeup.set()

    def feed_output(self, data: bytes) -> None:
        self.reader.feed_output(data)
        self._last_output = self._loop.time()

    def close(self) -> None:
        self._task.cancel()

    async def _settle(self) -> bool:
        """Wait until the screen is quiet (echo arrived, prompt drawn). False if it never settled."""
        deadline = self._loop.time() + _SETTLE_MAX
        while True:
            now = self._loop.time()
            quiet_for = now - self._last_output
            if quiet_for >= _SETTLE_IDLE:
                return True
            if now >= deadline:
                return False
            await asyncio.sleep(min(_SETTLE_IDLE - quiet_for, deadline - now))

    def _read_line(self, settled: bool) -> tuple[str | None, bool]:
        typed = bytes(self._typed)
        self._typed.clear()
        line = self.reader.submit()
        if line.fullscreen:
            return None, True
        if not settled:
            return None, False
        plain = _plain_text(typed)
        if plain is not None:
            # Plain typing with no editing keys (what agents and pastes send): the shell's line is exactly
            # what was typed, whatever the screen shows (type-ahead can draw the prompt after the echo).
            return plain.strip(), False
        return line.text, False

    async def _run(self) -> None:
        try:
            while True:
                await self._wakeup.wait()
                self._wakeup.clear()
                self._busy = True
                while self._queue:
                    data = self._queue.popleft()
                    if data is None:
                        self._forward_eof()
                        continue
                    self._queued -= len(data)
                    await self._process(data)
                self._busy = False
                if self._paused:
                    self._paused = False
                    self._resume_client()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # fail closed: a gate that broke lets nothing more through
            self._queue.clear()
            self._on_error(exc)

    def _pass_keys(self, data: bytes) -> None:
        """Keystrokes with no Enter: forwarded at once, remembered as part of the line being typed."""
        if self.reader.fullscreen:
            self._forward(data)
            return
        self.reader.note_input()
        self._typed += data
        self._forward(data)
        if any(key in data for key in _LINE_ABANDONED):
            self.reader.submit()  # the line was abandoned: the next keystroke starts a new one
            self._typed.clear()

    async def _process(self, data: bytes) -> None:
        if self.reader.fullscreen:
            self._forward(data)  # a full-screen program owns the keyboard; its keys are not command lines
            return
        cut = min((i for i in (data.find(b"\r"), data.find(b"\n")) if i >= 0), default=-1)
        if cut < 0:
            self._pass_keys(data)
            return
        before, enter, rest = data[:cut], data[cut:cut + 1], data[cut + 1:]
        if enter == b"\r" and rest.startswith(b"\n"):
            enter, rest = b"\r\n", rest[1:]
        if rest:
            self._queue.appendleft(rest)
            self._queued += len(rest)
        if not self._typed and not before:
            settled = True  # Enter alone on a line that was typed and echoed long ago
        else:
            if not self._typed:
                # The first keystroke of a line: let the prompt finish drawing so the line's start is known.
                await self._settle()
            self.reader.note_input()
            self._typed += before
            if before:
                self._forward(before)
            settled = await self._settle()
        text, fullscreen = self._read_line(settled)
        if fullscreen or await _decided(self._decide, text):
            self._forward(enter)
        else:
            self._forward(_CANCEL_LINE)
        if self._queue:
            await self._settle()  # let the command's output and the next prompt draw before the next line


class ScriptLineGate:
    """Shell without a pty: decide on each complete stdin line before the shell sees any of it."""

    MAX_LINE = 1024 * 1024

    def __init__(self, *, forward: Callable[[bytes], None], forward_eof: Callable[[], None], decide: Decide,
                 refused: Callable[[], None], pause_client: Callable[[], None],
                 resume_client: Callable[[], None], on_error: Callable[[BaseException], None]) -> None:
        self._on_error = on_error
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
        try:
            await self._gate()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # fail closed
            self._stopped = True
            self._on_error(exc)

    async def _gate(self) -> None:
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
