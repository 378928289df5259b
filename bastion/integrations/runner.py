"""Run one command through the gateway and turn what happened into an outcome an agent can act on.

`run_command(connection, command, limits, cancelled)` opens one exec channel, feeds stdin, collects
stdout and stderr in arrival order, reads the gateway's notices off stderr before the command starts,
and applies two clocks: the run limit (which does not tick while a reviewer holds the command) and the
hold limit. A limit, a cancellation or a task cancellation stops the command on the target: a TERM
signal over the channel (the gateway relays it; sshd sends it to the command's process group), a KILL
after a grace period, then the channel is closed.

Refusals, holds, expiries and connection problems come back as a `CommandOutcome` whose `text` tells
the model why and what to do instead; nothing here raises for them.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import signal as signal_module
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

import asyncssh

from bastion.integrations.commands import RemoteCommand
from bastion.integrations.connection import GatewayConnection, GatewayUnavailable
from bastion.integrations.notices import GatewayNotice, hold_timeout_text, parse_gateway_notice, refusal_text

EXIT_TIMEOUT = 124      # as coreutils `timeout` and AutoGen's local executor
EXIT_CANCELLED = 125    # as AutoGen's local executor
EXIT_REFUSED = 126      # the gateway's "did not run"
EXIT_UNAVAILABLE = 255  # as ssh: the gateway or the target could not be reached

Status = Literal["ran", "refused", "timeout", "cancelled", "hold_timeout", "unavailable", "lost"]

_REFUSAL_EXIT = {"denied": EXIT_REFUSED, "review_required": EXIT_REFUSED, "reviewer_denied": EXIT_REFUSED,
                 "expired": EXIT_REFUSED, "cancelled": EXIT_REFUSED,
                 "unreachable": EXIT_UNAVAILABLE, "unknown_target": EXIT_UNAVAILABLE}


@dataclass(frozen=True)
class Limits:
    """Seconds. `run` None: no limit. `hold` None: wait as long as the gateway holds the command."""

    run: float | None = 60.0
    hold: float | None = 600.0
    kill_grace: float = 2.0
    max_output_chars: int = 32_000


@dataclass
class CommandOutcome:
    """What happened to one command: `text` is what the model reads, `output` the command's own."""

    status: Status
    exit_code: int
    output: str
    text: str
    notices: list[GatewayNotice] = field(default_factory=list)
    refusal: GatewayNotice | None = None


class _Channel(asyncssh.SSHClientSession):
    def __init__(self, run: "_Run") -> None:
        self._run = run

    def data_received(self, data: bytes, datatype: Any) -> None:
        self._run.received(data, datatype == asyncssh.EXTENDED_DATA_STDERR)

    def connection_lost(self, exc: Exception | None) -> None:
        self._run.closed(exc)


class _Run:
    """The state of one command's channel; fed by asyncssh callbacks on the event loop."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.refusal_parts: list[int] = []      # indexes in `parts` of lines that said "did not run"
        self.notices: list[GatewayNotice] = []
        self.started = False                  # the command's own output has begun (notices end here)
        self.held: GatewayNotice | None = None
        self.approved = False
        self.lost: Exception | None = None
        self.changed = asyncio.Event()
        self.done = asyncio.Event()
        self._decoders = {False: codecs.getincrementaldecoder("utf-8")("replace"),
                          True: codecs.getincrementaldecoder("utf-8")("replace")}
        self._stderr_partial = ""

    def received(self, data: bytes, stderr: bool) -> None:
        text = self._decoders[stderr].decode(data)
        if not stderr:
            self.started = True
            self.parts.append(text)
            return
        self._stderr_partial += text
        *lines, self._stderr_partial = self._stderr_partial.split("\n")
        for line in lines:
            self._stderr_line(line + "\n")

    def _stderr_line(self, line: str) -> None:
        # Only lines before the command's own output can be gateway notices; after that a look-alike
        # line is output. Before it, a look-alike counts as a refusal only if the exit status agrees.
        notice = None if self.started else parse_gateway_notice(line)
        if notice is None:
            self.started = True
            self.parts.append(line)
            return
        self.notices.append(notice)
        if notice.ends_command:
            # Kept aside: replaced by an explanation if the exit status confirms the refusal, else output.
            self.refusal_parts.append(len(self.parts))
        self.parts.append(notice.line + "\n")  # progress lines stay in the output the model reads
        if notice.kind == "held" and self.held is None:
            self.held = notice
        elif notice.kind == "approved":
            self.approved = True
            self.started = True
        self.changed.set()

    def closed(self, exc: Exception | None) -> None:
        for stderr in (False, True):
            tail = self._decoders[stderr].decode(b"", final=True)
            if stderr:
                self._stderr_partial += tail
            elif tail:
                self.parts.append(tail)
        if self._stderr_partial:
            self._stderr_line(self._stderr_partial)
            self._stderr_partial = ""
        self.lost = exc
        self.done.set()
        self.changed.set()

    @property
    def holding(self) -> bool:
        return self.held is not None and not self.approved


def _signal_exit(name: str) -> int:
    with contextlib.suppress(KeyError):
        return 128 + signal_module.Signals[f"SIG{name}"].value
    return EXIT_UNAVAILABLE


def clip(text: str, limit: int) -> str:
    """Keep the head and the tail of a long output, saying how much was left out."""
    if len(text) <= limit:
        return text
    head = limit // 4
    tail = limit - head
    return f"{text[:head]}\n[... {len(text) - limit} characters omitted ...]\n{text[-tail:]}"


async def _stop(chan: asyncssh.SSHClientChannel, run: _Run, grace: float) -> None:
    """End the command on the target: TERM to its process group, KILL if it lingers, then close.

    A command still held for review has nothing running yet: closing the channel withdraws it.
    """
    for sig in () if run.holding else ("TERM", "KILL"):
        with contextlib.suppress(Exception):
            chan.send_signal(sig)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(run.done.wait(), grace)
        if run.done.is_set():
            break
    chan.close()


def _abandon(chan: asyncssh.SSHClientChannel) -> None:
    """Our task is being cancelled and cannot wait: signal and close without awaiting."""
    with contextlib.suppress(Exception):
        chan.send_signal("TERM")
    with contextlib.suppress(Exception):
        chan.close()


async def _open(connection: GatewayConnection, command: RemoteCommand,
                run: _Run) -> asyncssh.SSHClientChannel:
    # A pooled connection may have died while idle: retry once on a fresh one (the command never started).
    for attempt in (1, 2):
        conn = await connection.get()
        try:
            chan, _ = await conn.create_session(lambda: _Channel(run), command.text, encoding=None)
            return chan
        except (asyncssh.ChannelOpenError, asyncssh.ConnectionLost, OSError) as exc:
            connection.discard(conn)
            if attempt == 2:
                raise GatewayUnavailable(f"the gateway did not open a channel: {exc}") from exc
    raise AssertionError("unreachable")


async def run_command(connection: GatewayConnection, command: RemoteCommand, limits: Limits = Limits(),
                      cancelled: asyncio.Event | None = None,
                      clock: Callable[[], float] = time.monotonic) -> CommandOutcome:
    """Run `command` through the gateway; always returns an outcome (task cancellation re-raises)."""
    run = _Run()
    try:
        chan = await _open(connection, command, run)
    except GatewayUnavailable as exc:
        text = (f"Could not run the command: {exc}. This is a problem with the connection to the bastion "
                "gateway, not with the command; report it to a human rather than retrying in a loop.")
        return CommandOutcome("unavailable", EXIT_UNAVAILABLE, "", text)
    try:
        if command.stdin:
            chan.write(command.stdin)
        chan.write_eof()
        status = await _supervise(chan, run, limits, cancelled, clock)
    except asyncio.CancelledError:
        _abandon(chan)
        raise
    return _outcome(status, chan, run, command, limits)


async def _supervise(chan: asyncssh.SSHClientChannel, run: _Run, limits: Limits,
                     cancelled: asyncio.Event | None, clock: Callable[[], float]) -> Status | None:
    """Wait for the command to end, or stop it; returns the status when we stopped it, else None."""
    run_deadline = None if limits.run is None else clock() + limits.run
    hold_deadline: float | None = None
    cancel_wait = asyncio.ensure_future(cancelled.wait()) if cancelled is not None else None
    try:
        while not run.done.is_set():
            if run.holding and hold_deadline is None and limits.hold is not None:
                hold_deadline = clock() + limits.hold
            if run.approved and hold_deadline is not None:
                # The run clock starts when the command starts, not while a reviewer thinks.
                hold_deadline = None
                run_deadline = None if limits.run is None else clock() + limits.run
            deadline = hold_deadline if run.holding else run_deadline
            if run.holding and limits.hold is None:
                deadline = None
            run.changed.clear()
            changed = asyncio.ensure_future(run.changed.wait())
            waiters = {changed} | ({cancel_wait} if cancel_wait is not None else set())
            timeout = None if deadline is None else max(0.0, deadline - clock())
            finished, _ = await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            changed.cancel()
            if run.done.is_set():
                return None
            if cancel_wait is not None and cancel_wait in finished:
                await _stop(chan, run, limits.kill_grace)
                return "cancelled"
            if not finished and deadline is not None and clock() >= deadline:
                stopped: Status = "hold_timeout" if run.holding else "timeout"
                await _stop(chan, run, limits.kill_grace)
                return stopped
        return None
    finally:
        if cancel_wait is not None:
            cancel_wait.cancel()


def _outcome(stopped: Status | None, chan: asyncssh.SSHClientChannel, run: _Run, command: RemoteCommand,
             limits: Limits) -> CommandOutcome:
    output = clip("".join(run.parts), limits.max_output_chars)
    without_refusal = clip("".join(part for i, part in enumerate(run.parts) if i not in run.refusal_parts),
                           limits.max_output_chars)
    exit_status = chan.get_exit_status()
    exit_signal = chan.get_exit_signal()
    if stopped == "hold_timeout":
        assert run.held is not None
        text = hold_timeout_text(run.held, limits.hold or 0, command.display)
        return CommandOutcome("hold_timeout", EXIT_REFUSED, output, _join(output, text), run.notices, run.held)
    if stopped == "timeout":
        note = (f"Timeout: the command did not finish within {limits.run:g} s and was stopped on the target "
                "(exit status 124).")
        return CommandOutcome("timeout", EXIT_TIMEOUT, output, _join(output, note), run.notices)
    if stopped == "cancelled":
        note = "Cancelled: the command was stopped on the target before it finished."
        return CommandOutcome("cancelled", EXIT_CANCELLED, output, _join(output, note), run.notices)
    refusal = next((n for n in run.notices if n.ends_command), None)
    if refusal is not None and exit_status == _REFUSAL_EXIT[refusal.kind]:
        text = refusal_text(refusal, command.display)
        return CommandOutcome("refused", exit_status, without_refusal, _join(without_refusal, text), run.notices,
                              refusal)
    if exit_status is None and exit_signal is not None:
        code = _signal_exit(exit_signal[0])
        text = _join(output, f"The command was ended by signal {exit_signal[0]} (exit status {code}).")
        return CommandOutcome("ran", code, output, text, run.notices)
    if exit_status is None:
        reason = f": {run.lost}" if run.lost else ""
        text = _join(output, f"The connection to the bastion gateway was lost before the command finished{reason}; "
                             "its result is unknown. Check its effects before running it again.")
        return CommandOutcome("lost", EXIT_UNAVAILABLE, output, text, run.notices)
    return CommandOutcome("ran", exit_status, output, output, run.notices)


def _join(output: str, note: str) -> str:
    if not output:
        return note
    return output + ("" if output.endswith("\n") else "\n") + note
