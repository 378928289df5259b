"""One client session channel: decide, open the upstream channel, relay both ways, record, close.

The `Session` owns the channel's state; `gateway.ClientChannel` and `UpstreamChannel` only translate
asyncssh callbacks into calls on it. The data path is callback-driven (no task hop per chunk):

    client ──data──► Session.client_data ──────────────────────────────► upstream channel
    client ◄─write── Session._emit ◄─ recorder ◄─ masker ◄─ Session.upstream_data ◄── upstream

Flow control is end to end: when the client's send buffer passes its high-water mark the upstream
channel stops reading (so the target's window closes and the target slows), and vice versa.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import fnmatch
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import asyncssh

from bastion import audit
from bastion.errors import HostKeyMismatch, RecordingError, UpstreamError
from bastion.capture import CommandLineReader
from bastion.identity.principal import Principal
from bastion.line_gate import PtyLineGate, ScriptLineGate
from bastion.masking.stream import MaskHit
from bastion.masking.commands import COMMAND_OUTPUT_ID, secret_output_command
from bastion.output_masking import OutputMasking
from bastion.recording.recorder import Recorder, recording_path
from bastion.store import commands as store_commands
from bastion.store import sessions as store_sessions
from bastion.upstream_session import open_session

if TYPE_CHECKING:
    from bastion.config import TargetSettings
    from bastion.gateway import GatewayContext

log = logging.getLogger(__name__)

EXIT_DENIED = 126        # like a shell's "found but cannot execute": the command never ran
EXIT_GATEWAY_ERROR = 255  # like ssh: the gateway or the target could not be reached

_UPSTREAM_CLOSE_GRACE = 2.0
_SEND_HIGH_WATER = 256 * 1024
_SEND_LOW_WATER = 64 * 1024


class ClientPort(Protocol):
    """What a session needs of the client channel (the asyncssh server channel fits)."""

    def write(self, data: bytes) -> None: ...
    def write_stderr(self, data: bytes) -> None: ...
    def write_eof(self) -> None: ...
    def exit(self, status: int) -> None: ...
    def exit_with_signal(self, signal: str, core_dumped: bool = False, msg: str = "", lang: str = "") -> None: ...
    def close(self) -> None: ...
    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...
    def get_write_buffer_size(self) -> int: ...
    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None: ...
    def get_environment(self) -> Any: ...


@dataclass
class PtyRequest:
    term_type: str
    width: int
    height: int
    pixwidth: int
    pixheight: int
    modes: dict[int, int]


class UpstreamChannel(asyncssh.SSHClientSession):
    """Translates the upstream channel's callbacks into calls on its `Session`."""

    def __init__(self, session: "Session") -> None:
        self._session = session

    def data_received(self, data: bytes, datatype: Any) -> None:
        self._session.upstream_data(data, "stderr" if datatype == asyncssh.EXTENDED_DATA_STDERR else "stdout")

    def eof_received(self) -> bool:
        self._session.upstream_eof()
        return False

    def pause_writing(self) -> None:
        self._session.upstream_paused(True)

    def resume_writing(self) -> None:
        self._session.upstream_paused(False)

    def connection_lost(self, exc: Exception | None) -> None:
        self._session.upstream_closed(exc)


class Session:
    """A client session channel from request to close; every transition is recorded and audited."""

    def __init__(self, ctx: "GatewayContext", principal: Principal, target: "TargetSettings",
                 client_addr: str, client: ClientPort) -> None:
        self.ctx = ctx
        self.principal = principal
        self.target = target
        self.client_addr = client_addr
        self.client = client
        self.id = ctx.new_id()
        self.kind = "shell"
        self.command: str | None = None
        self.pty: PtyRequest | None = None
        self.started_at = ctx.clock.now()
        self.bytes_in = 0
        self.bytes_out = 0
        self.recorder: Recorder | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._upstream: asyncssh.SSHClientChannel | None = None
        self._lease = None
        self._pending_input: list[tuple[str, Any]] = []
        self._client_eof = False
        self._client_gone = False
        self._client_drained = asyncio.Event()
        self._client_drained.set()
        self._upstream_done = asyncio.Event()
        self._upstream_exc: Exception | None = None
        self._finished = False
        self._task: asyncio.Task[None] | None = None
        self._end_status = "closed"
        self._end_error: str | None = None
        self._command_id: int | None = None
        self._terminated: str | None = None
        self._row_started = False
        self._gate: PtyLineGate | ScriptLineGate | None = None
        self._mono_start = ctx.clock.monotonic()
        self._live_decoders: dict[str, codecs.IncrementalDecoder] = {}
        self._masking: OutputMasking | None = None
        self._read_holds: set[str] = set()  # why the target's output is paused: "client", "masker"
        self.pending_approval: int | None = None
        self._expiry_timer: asyncio.TimerHandle | None = None
        self._forced_exit: int | None = None
        self._upstream_gate: asyncio.Future[bool] | None = None
        self._upstream_task: asyncio.Task[Any] | None = None

    # --- requests before start (from ClientChannel) --------------------------------------------------
    def request_pty(self, pty: PtyRequest) -> bool:
        self.pty = pty
        return True

    def request_exec(self, command: str) -> bool:
        self.kind = "exec"
        self.command = command
        return True

    def request_shell(self) -> bool:
        self.kind = "shell"
        return True

    def start(self) -> None:
        """The client's channel is ready: hold its input until the upstream channel exists, then run."""
        self.client.pause_reading()
        self.client.set_write_buffer_limits(_SEND_HIGH_WATER, _SEND_LOW_WATER)
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"session-{self.id}")
        self.ctx.sessions[self.id] = self

    # --- client → upstream --------------------------------------------------------------------------
    def client_data(self, data: bytes) -> None:
        self.bytes_in += len(data)
        if self.pending_approval is not None and b"\x03" in data and self.ctx.approvals is not None:
            # Ctrl-C while a line is held: the user gave up on it.
            self.ctx.approvals.cancel(self.pending_approval, "cancelled by the user (Ctrl-C)")
        if self.recorder is not None:
            self.recorder.input(data)
        if self._upstream is None:
            self._pending_input.append(("data", data))
        elif self._gate is not None:
            self._gate.feed_input(data)
        else:
            self._upstream.write(data)

    def client_eof(self) -> None:
        self._client_eof = True
        if self._upstream is None:
            self._pending_input.append(("eof", None))
        elif self._gate is not None:
            self._gate.feed_eof()
        else:
            self._upstream.write_eof()

    def client_signal(self, signal: str) -> None:
        if self._upstream is not None:
            with contextlib.suppress(OSError):
                self._upstream.send_signal(signal)
        self._safe_marker(f"signal {signal}")

    def client_break(self, msec: int) -> bool:
        if self._upstream is None:
            return False
        with contextlib.suppress(OSError):
            self._upstream.send_break(msec)
        return True

    def client_resized(self, width: int, height: int, pixwidth: int, pixheight: int) -> None:
        if self.pty is not None:
            self.pty.width, self.pty.height = width, height
        if isinstance(self._gate, PtyLineGate):
            self._gate.reader.resize(width, height)
        if self.recorder is not None:
            self.recorder.resize(width, height)
        self._publish("r", f"{width}x{height}")
        if self._upstream is not None:
            with contextlib.suppress(OSError):
                self._upstream.change_terminal_size(width, height, pixwidth, pixheight)

    def client_paused(self, paused: bool) -> None:
        """The client's send buffer is full (or drained): stop (or resume) reading the target."""
        if paused:
            self._client_drained.clear()
        else:
            self._client_drained.set()
        self._hold_reading("client", paused)

    def _masking_paused(self, paused: bool) -> None:
        """The masker has a backlog (output too dense to mask in one slice of the loop): the target waits."""
        self._hold_reading("masker", paused)

    def _hold_reading(self, reason: str, on: bool) -> None:
        # INVARIANT: the target is read only while nothing holds it (a full client buffer, a masker backlog).
        was_held = bool(self._read_holds)
        if on:
            self._read_holds.add(reason)
        else:
            self._read_holds.discard(reason)
        if self._upstream is not None and was_held != bool(self._read_holds):
            if self._read_holds:
                self._upstream.pause_reading()
            else:
                self._upstream.resume_reading()

    def client_closed(self) -> None:
        """The client hung up: end the upstream process too."""
        self._client_gone = True
        self._client_drained.set()
        if self.pending_approval is not None and self.ctx.approvals is not None:
            self.ctx.approvals.cancel(self.pending_approval, "client disconnected")
        if not self._finished:
            self._end_status = "closed"
            if self.recorder is not None:
                self._safe_marker("client disconnected")
            self._stop_upstream()

    # --- upstream → client --------------------------------------------------------------------------
    def upstream_data(self, data: bytes, stream: str) -> None:
        self.bytes_out += len(data)
        if self._masking is None:
            self._emit(data, stream)
        else:
            self._masking.feed(data, stream)

    def _masking_failed(self, exc: Exception) -> None:
        self._audit(audit.MaskFailed(session_id=self.id, user=self.principal.name, reason=str(exc)[:500]))
        self._end_status, self._end_error = "failed", f"masking failed: {exc}"
        self._forced_exit = EXIT_GATEWAY_ERROR
        self.terminate("output masking failed; session closed")

    def _mask_hit(self, stream: str, hit: MaskHit) -> None:
        self._audit(audit.MaskHit(session_id=self.id, user=self.principal.name, detector=hit.detector,
                                  stream=stream, offset=hit.offset, length=hit.length, digest=hit.digest))

    def upstream_eof(self) -> None:
        if self._masking is not None:
            self._masking.when_caught_up(self._upstream_eof_now)  # the EOF goes after the masked output
        else:
            self._upstream_eof_now()

    def _upstream_eof_now(self) -> None:
        if self._masking is not None:
            self._masking.finish()
        if not self._client_gone:
            with contextlib.suppress(OSError):
                self.client.write_eof()

    def upstream_paused(self, paused: bool) -> None:
        if paused:
            self.client.pause_reading()
        else:
            self.client.resume_reading()

    def upstream_closed(self, exc: Exception | None) -> None:
        self._upstream_exc = exc
        self._upstream_done.set()

    def _emit(self, data: bytes, stream: str) -> None:
        # INVARIANT: output is recorded before it reaches the client; a strict recorder that fails
        # stops the output (the session is then ended).
        if self.recorder is not None:
            try:
                self.recorder.output(data, stream)
            except RecordingError as exc:
                self._recording_failed(exc)
                return
        if not self._client_gone:
            try:
                if stream == "stderr":
                    self.client.write_stderr(data)
                else:
                    self.client.write(data)
            except OSError:
                pass
        # The screen model and the watchers come after the client: a keystroke's echo goes out first.
        if self._gate is not None:
            self._gate.feed_output(data)
        if self.ctx.fanout.watched(self.id):
            decoder = self._live_decoders.get(stream)
            if decoder is None:
                decoder = self._live_decoders[stream] = codecs.getincrementaldecoder("utf-8")(errors="replace")
            self._publish("o", decoder.decode(data))

    def notice(self, line: str, *, fresh_line: bool = False) -> None:
        """A one-line message from the gateway to the client's stderr (and the recording)."""
        if self.pty:
            self._emit(f"{chr(13) + chr(10) if fresh_line else ''}bastion: {line}\r\n".encode(), "stderr")
        else:
            self._emit(f"bastion: {line}\n".encode(), "stderr")

    # --- lifecycle ----------------------------------------------------------------------------------
    async def _run(self) -> None:
        exit_status: int | None = None
        exit_signal: tuple[str, bool, str] | None = None
        try:
            if self.ctx.choose_account is not None:
                chosen = self.ctx.choose_account(self)
                if chosen is None:
                    self._audit(audit.TargetRefused(user=self.principal.name, target=self.target.name,
                                                    reason="policy maps to an account the target lacks",
                                                    client_addr=self.client_addr))
                    exit_status = EXIT_GATEWAY_ERROR
                    return
                self.target = chosen
            # The target's channel opens while the gateway records and decides; nothing is requested on
            # it until the decision allows (upstream_session.py).
            self._begin_upstream()
            if self._upstream_task is not None:
                await asyncio.sleep(0)  # let the channel-open packet leave before the local work below
            with self.ctx.store.transaction():  # one commit: the session row and the decision
                exit_status = self._prepare()
                verdict: Any = self._decide() if exit_status is None else False
            if exit_status is not None:
                return
            if asyncio.iscoroutine(verdict):
                self._drop_upstream()  # a hold can last minutes: open a fresh channel once approved
                verdict = await verdict
                if verdict:
                    self._begin_upstream(allowed=True)
            if not verdict:
                exit_status = EXIT_DENIED
                return
            if not await self._recording_ready():
                exit_status = EXIT_GATEWAY_ERROR
                return
            if not await self._upstream_ready():
                exit_status = EXIT_GATEWAY_ERROR
                return
            await self._upstream_done.wait()
            if self._upstream is not None:
                exit_status = self._upstream.get_exit_status()
                sig = self._upstream.get_exit_signal()
                if sig is not None:
                    exit_signal = (sig[0], bool(sig[1]), sig[2] or "")
                    exit_status = None
                if self._terminated is not None:
                    self._end_status, self._end_error = "terminated", self._terminated
                elif exit_status is None and exit_signal is None and not self._client_gone:
                    self._end_status = "failed"
                    self._end_error = "target closed the channel without an exit status"
                    exit_status = EXIT_GATEWAY_ERROR
        except asyncio.CancelledError:
            self._end_status = "terminated" if self._terminated else "failed"
            self._end_error = self._terminated or self._end_error or "gateway shutting down"
            exit_status = EXIT_GATEWAY_ERROR
            raise
        except Exception as exc:  # contain: one session's bug must not take down the pool or gateway
            log.exception("session %s failed", self.id)
            self._end_status = "failed"
            self._end_error = f"internal error: {type(exc).__name__}"
            with contextlib.suppress(Exception):
                self.notice("internal error; session closed")
            exit_status = EXIT_GATEWAY_ERROR
        finally:
            self._drop_upstream()
            await self._finish(exit_status, exit_signal)

    def _prepare(self) -> int | None:
        """Recording, token lifetime and maskers; None when the session may go on, else its exit status."""
        if not self._open_recording():
            return EXIT_GATEWAY_ERROR
        if not self._within_token_lifetime():
            return EXIT_DENIED
        try:
            self._open_maskers()
        except Exception as exc:  # fail closed: no masker, no session
            log.exception("session %s: masker unavailable", self.id)
            self._audit(audit.MaskFailed(session_id=self.id, user=self.principal.name, reason=str(exc)[:500]))
            self.notice("output masking unavailable; session refused")
            self._end_status, self._end_error = "failed", "masking unavailable"
            return EXIT_GATEWAY_ERROR
        return None

    def _decide(self) -> Any:
        """Session- and command-level policy: True/False, or a coroutine that waits for a reviewer."""
        decide = self.ctx.decide
        if decide is None:
            return True
        return decide(self)

    def _within_token_lifetime(self) -> bool:
        """Token logins are bounded by the token: nothing starts after `exp`, and what runs is ended then."""
        expires_at = self.principal.expires_at
        if expires_at is None:
            return True
        left = expires_at - self.ctx.clock.now()
        if left <= 0:
            self.notice("your token has expired; log in again")
            self._end_status, self._end_error = "failed", "token expired"
            return False
        self._expiry_timer = asyncio.get_running_loop().call_later(
            left, self.terminate, "your token has expired; session closed")
        return True

    def _open_maskers(self) -> None:
        profile = self.ctx.masking_profiles().select(self.principal.name, self.principal.groups,
                                                      self.target.name)
        secret_stdout = None
        if self.command and COMMAND_OUTPUT_ID in profile.detectors:
            secret_stdout = secret_output_command(self.command)
        self._masking = OutputMasking(profile, hmac_key=self.ctx.mask_key, interactive=self.pty is not None,
                                      emit=self._emit, on_hit=self._mask_hit, on_failure=self._masking_failed,
                                      pause=self._masking_paused, secret_stdout=secret_stdout is not None)

    def _open_recording(self) -> bool:
        settings = self.ctx.settings.recording
        width, height = (self.pty.width, self.pty.height) if self.pty else (80, 24)
        path = recording_path(settings.directory, self.id, self.started_at)
        term = self.pty.term_type if self.pty else ""
        try:
            self.recorder = Recorder.open(
                path, width=width or 80, height=height or 24, started_at=self.started_at,
                command=self.command, title=f"{self.principal.name}@{self.target.name}",
                env={"TERM": term, "SHELL": "/bin/sh"}, clock=self.ctx.clock,
                record_input=settings.record_input, coalesce=settings.coalesce,
                flush_interval=settings.flush_interval, fsync_on_close=settings.fsync, defer=True)
        except RecordingError as exc:
            self._audit(audit.RecordingFailed(session_id=self.id, user=self.principal.name, path=str(path),
                                              reason=str(exc)))
            if settings.strict:
                self._end_status = "failed"
                self._end_error = f"recording failed: {exc}"
                self.notice("recording unavailable; session refused")
                self.recorder = None
                return False
            self.recorder = None
        # One commit for the row and its audit event.
        with self.ctx.store.transaction():
            store_sessions.start_session(
                self.ctx.store, id=self.id, user=self.principal.name, auth_method=self.principal.source,
                client_addr=self.client_addr, target=self.target.name, account=self.target.account,
                kind=self.kind, command=self.command, started_at=self.started_at,
                recording_path=str(self.recorder.path) if self.recorder else None,
                policy_version=self.ctx.policy_version())
            self.ctx.audit.emit(audit.SessionStart(
                session_id=self.id, user=self.principal.name, target=self.target.name,
                account=self.target.account, kind=self.kind, command=self.command,
                client_addr=self.client_addr, auth_method=self.principal.source,
                recording_path=str(self.recorder.path) if self.recorder else None))
        self._row_started = True
        if self.recorder is not None:
            self._flusher = asyncio.get_running_loop().create_task(self.recorder.run_flusher())
            self._safe_marker(f"session {self.id} {self.principal.name}@{self.target.name}")
        return True

    async def _recording_ready(self) -> bool:
        """The recording file is created off the event loop; nothing runs on the target until it exists
        (or, unless recording is strict, until we know it cannot and the session goes on unrecorded)."""
        recorder = self.recorder
        if recorder is None:
            return True
        try:
            await recorder.ready()
            return True
        except RecordingError as exc:
            reason = str(exc)
        self._audit(audit.RecordingFailed(session_id=self.id, user=self.principal.name, path=str(recorder.path),
                                          reason=reason))
        self.recorder = None
        if self._flusher is not None:
            self._flusher.cancel()
        store_sessions.forget_recording(self.ctx.store, self.id)
        if self.ctx.settings.recording.strict:
            self._end_status = "failed"
            self._end_error = f"recording failed: {reason}"
            self.notice("recording unavailable; session refused")
            return False
        return True

    def _begin_upstream(self, *, allowed: bool = False) -> None:
        """Start opening the target channel now if a pooled connection has room; dialling a target waits
        for the decision, so a denied command never makes the gateway connect anywhere."""
        loop = asyncio.get_running_loop()
        self._upstream_gate = loop.create_future()
        if allowed:
            self._upstream_gate.set_result(True)
        lease = self.ctx.pool.try_acquire(self.target)
        if lease is not None or allowed:
            self._upstream_task = loop.create_task(self._connect_upstream(self._upstream_gate, lease))

    def _drop_upstream(self) -> None:
        """The session will not use the channel being opened: close it and free its pool slot."""
        gate, task = self._upstream_gate, self._upstream_task
        self._upstream_gate = self._upstream_task = None
        if gate is not None and not gate.done():
            gate.set_result(False)
        if task is not None:
            # Its outcome (an unreachable target, say) no longer concerns anyone: retrieve it quietly.
            task.add_done_callback(_discard_outcome)

    async def _connect_upstream(self, gate: "asyncio.Future[bool]",
                                lease: Any = None) -> tuple[Any, asyncssh.SSHClientChannel]:
        if lease is None:
            lease = await self.ctx.pool.acquire(self.target)
        pty = None
        if self.pty is not None:
            pty = (self.pty.term_type, (self.pty.width, self.pty.height, self.pty.pixwidth, self.pty.pixheight),
                   self.pty.modes)
        try:
            chan, _ = await open_session(lease.conn, lambda: UpstreamChannel(self), self.command, gate=gate,
                                         env=self._allowed_env(), pty=pty)
        except (asyncssh.ChannelOpenError, asyncssh.ConnectionLost, OSError) as exc:
            self.ctx.pool.discard_broken(lease)
            lease.release()
            raise UpstreamError(f"cannot open a channel: {exc}") from exc
        except BaseException:
            lease.release()
            raise
        return lease, chan

    async def _upstream_ready(self) -> bool:
        """Open the gate and wait for the channel; False (after telling the client) when it failed."""
        gate, task = self._upstream_gate, self._upstream_task
        assert gate is not None
        if not gate.done():
            gate.set_result(True)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._connect_upstream(gate))
        self._upstream_gate = self._upstream_task = None
        try:
            self._lease, chan = await task
        except HostKeyMismatch as exc:
            self._audit(audit.UpstreamHostKeyMismatch(session_id=self.id, user=self.principal.name,
                                                      target=self.target.name, expected=exc.expected,
                                                      presented=exc.presented))
            self._upstream_failed(f"{exc}; refusing to connect")
            return False
        except UpstreamError as exc:
            self._audit(audit.UpstreamFailed(session_id=self.id, user=self.principal.name,
                                             target=self.target.name, reason=str(exc)))
            self._upstream_failed(str(exc))
            return False
        chan.set_write_buffer_limits(_SEND_HIGH_WATER, _SEND_LOW_WATER)
        self._upstream = chan
        if self._read_holds:
            chan.pause_reading()
        if self._client_gone:
            chan.close()
            return True
        if self.kind == "shell" and self.ctx.check_line is not None:
            self._gate = self._line_gate(chan)
        for kind, payload in self._pending_input:
            if kind == "data":
                self.client_data_to_upstream(payload)
            elif self._gate is not None:
                self._gate.feed_eof()
            else:
                chan.write_eof()
        self._pending_input.clear()
        self.client.resume_reading()
        return True

    def client_data_to_upstream(self, data: bytes) -> None:
        if self._gate is not None:
            self._gate.feed_input(data)
        elif self._upstream is not None:
            self._upstream.write(data)

    def _line_gate(self, chan: asyncssh.SSHClientChannel) -> PtyLineGate | ScriptLineGate:
        check = self.ctx.check_line
        assert check is not None

        def decide(text: str | None) -> Any:
            return check(self, text)

        def forward(data: bytes) -> None:
            if not chan.is_closing():
                chan.write(data)

        def forward_eof() -> None:
            if not chan.is_closing():
                chan.write_eof()

        def failed(exc: BaseException) -> None:
            log.error("session %s: line gate failed: %r", self.id, exc)
            self._end_status, self._end_error = "failed", f"line check failed: {type(exc).__name__}"
            self._forced_exit = EXIT_DENIED
            self.terminate("command check failed; session closed")

        flow = {"pause_client": self.client.pause_reading, "resume_client": self.client.resume_reading}
        if self.pty is not None:
            return PtyLineGate(CommandLineReader(self.pty.width or 80, self.pty.height or 24),
                               forward=forward, forward_eof=forward_eof, decide=decide, on_error=failed, **flow)

        def refused() -> None:
            self._forced_exit = EXIT_DENIED

        return ScriptLineGate(forward=forward, forward_eof=forward_eof, decide=decide, refused=refused,
                              on_error=failed, **flow)

    def _upstream_failed(self, reason: str) -> None:
        self._end_status = "failed"
        self._end_error = reason
        self.notice(f"target {self.target.name} unreachable: {reason}")

    def _allowed_env(self) -> dict[str, str]:
        allowed: dict[str, str] = {}
        refused: list[str] = []
        for key, value in dict(self.client.get_environment()).items():
            if any(fnmatch.fnmatchcase(key, pattern) for pattern in self.ctx.settings.env_allowlist):
                allowed[key] = value
            else:
                refused.append(key)
        if refused:
            self._audit(audit.ChannelRefused(session_id=self.id, user=self.principal.name, kind="env",
                                             detail=",".join(sorted(refused))[:512]))
        return allowed

    def _recording_failed(self, exc: Exception) -> None:
        self._audit(audit.RecordingFailed(session_id=self.id, user=self.principal.name,
                                          path=str(self.recorder.path) if self.recorder else None,
                                          reason=str(exc)))
        if not self.ctx.settings.recording.strict:
            self.recorder = None
            return
        self.recorder = None
        self._end_status = "failed"
        self._end_error = f"recording failed: {exc}"
        with contextlib.suppress(Exception):
            self.notice("recording failed; session closed")
        self.terminate()

    def terminate_by_reviewer(self, reviewer: str, reason: str) -> None:
        self._safe_marker(f"terminated by {reviewer}: {reason}")
        self._audit(audit.ChannelRefused(session_id=self.id, user=reviewer, kind="session-terminated",
                                         detail=reason[:512]))
        self.terminate(f"session terminated by reviewer {reviewer}: {reason}")

    def terminate(self, message: str | None = None) -> None:
        """End the session from the gateway side (shutdown, recording failure, reviewer)."""
        if self._finished:
            return
        self._terminated = message or "terminated by the gateway"
        if message:
            with contextlib.suppress(Exception):
                self.notice(message)
        if self._upstream is not None:
            self._stop_upstream()
        else:
            self._upstream_done.set()
            if self._task is not None and not self._task.done():
                self._task.cancel()

    def _stop_upstream(self) -> None:
        """End the target's process: a channel close alone leaves a non-pty command running on sshd."""
        if self._upstream is None:
            self._upstream_done.set()
            return
        with contextlib.suppress(OSError):
            self._upstream.send_signal("TERM")
        self._upstream.close()
        # A target that never confirms the close must not keep the session (and its row) open.
        asyncio.get_running_loop().call_later(_UPSTREAM_CLOSE_GRACE, self._upstream_done.set)

    async def _finish(self, exit_status: int | None, exit_signal: tuple[str, bool, str] | None) -> None:
        if self._finished:
            return
        self._finished = True
        self.ctx.fanout.end(self.id)
        if self._gate is not None:
            self._gate.close()
        if self._expiry_timer is not None:
            self._expiry_timer.cancel()
        if self._masking is not None:
            await self._masking.caught_up()
            self._masking.finish()
        if self._forced_exit is not None and exit_signal is None:
            exit_status = self._forced_exit
        if self._lease is not None:
            self._lease.release()
        # INVARIANT: everything the target wrote reaches the client before the exit status does;
        # sending exit-status with data still buffered truncates the client's output.
        if not self._client_gone:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wait_client_drained(), timeout=30)
            # The exit status goes out now; the closing bookkeeping below runs without yielding to the
            # loop, so nothing (a reviewer's request, the next command on this connection) can observe the
            # session between the two, and the client does not wait for it.
            with contextlib.suppress(OSError):
                if exit_signal is not None:
                    self.client.exit_with_signal(exit_signal[0], exit_signal[1], exit_signal[2])
                else:
                    self.client.exit(exit_status if exit_status is not None else EXIT_GATEWAY_ERROR)
        try:
            self._close_records(exit_status, exit_signal)
        finally:
            self.ctx.sessions.pop(self.id, None)

    def _close_records(self, exit_status: int | None, exit_signal: tuple[str, bool, str] | None) -> None:
        """The recording's final marker and hash, the closing rows and the session.end event."""
        digest = None
        if self.recorder is not None:
            final = (f"exit {exit_status}" if exit_signal is None else f"exit signal {exit_signal[0]}")
            try:
                if self._flusher is not None:
                    self._flusher.cancel()
                digest = self.recorder.close(final_marker=final)
            except RecordingError as exc:
                self._audit(audit.RecordingFailed(session_id=self.id, user=self.principal.name,
                                                  path=str(self.recorder.path), reason=str(exc)))
        ended_at = self.ctx.clock.now()
        status = self._end_status
        end_event = audit.SessionEnd(session_id=self.id, user=self.principal.name, status=status,
                                     error=self._end_error, exit_status=exit_status,
                                     exit_signal=exit_signal[0] if exit_signal else None,
                                     bytes_in=self.bytes_in, bytes_out=self.bytes_out, recording_sha256=digest)
        try:
            with self.ctx.store.transaction():  # one commit for the closing rows and their audit event
                if self._row_started:
                    store_sessions.end_session(
                        self.ctx.store, self.id, ended_at=ended_at, status=status, exit_status=exit_status,
                        exit_signal=exit_signal[0] if exit_signal else None, bytes_in=self.bytes_in,
                        bytes_out=self.bytes_out, recording_sha256=digest, error=self._end_error)
                if self._command_id is not None and exit_status is not None:
                    store_commands.set_command_exit(self.ctx.store, self._command_id, exit_status)
                self.ctx.audit.emit(end_event)
        except Exception:
            log.exception("session %s: cannot close its store row", self.id)

    async def _wait_client_drained(self) -> None:
        # asyncssh only signals a drain below the low-water mark, not an empty buffer: poll briefly.
        while not self._client_gone and self.client.get_write_buffer_size() > 0:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._client_drained.wait(), 0.01)

    def _safe_marker(self, label: str) -> None:
        if self.recorder is not None:
            with contextlib.suppress(RecordingError):
                self.recorder.marker(label)
        self._publish("m", label)

    def _publish(self, code: str, text: str) -> None:
        if text and self.ctx.fanout.watched(self.id):
            self.ctx.fanout.publish(self.id, (self.ctx.clock.monotonic() - self._mono_start, code, text))

    def _audit(self, event: audit.AuditEvent) -> None:
        try:
            self.ctx.audit.emit(event)
        except Exception:
            log.exception("audit write failed for %s", type(event).__name__)


def _discard_outcome(task: "asyncio.Task[Any]") -> None:
    if task.cancelled():
        return
    exc = task.exception()
    if exc is None:  # opened after approval, but the session ended before using it (cancelled): free it
        lease, chan = task.result()
        chan.close()
        lease.release()
