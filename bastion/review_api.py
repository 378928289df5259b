"""The `bastion-review` SSH subsystem: JSON lines for reviewers (docs/review-protocol.md).

One `ReviewSession` per subsystem channel. Requests are answered in their own tasks; pushed events
(live session output, approval changes) go through bounded queues, so a slow reviewer is told it
lagged and never slows a session or the gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Awaitable, Callable

import asyncssh

from bastion import __version__
from bastion.errors import BastionError
from bastion.identity.principal import Principal
from bastion.recording.asciicast import parse_event, parse_header
from bastion.store import commands as store_commands
from bastion.store import sessions as store_sessions

if TYPE_CHECKING:
    from bastion.gateway import GatewayContext

log = logging.getLogger(__name__)

PROTOCOL_VERSION = 1
MAX_LINE = 1024 * 1024
_SEND_HIGH_WATER = 4 * 1024 * 1024
_CHUNK = 64 * 1024


# The engine's stable reason codes → the protocol's error codes (docs/review-protocol.md).
_PROTOCOL_CODES = {
    "unknown_request": "not_found", "not_pending": "already_decided", "not_reviewer": "forbidden",
    "replayed_totp": "totp_replayed", "totp_not_enrolled": "not_enrolled",
}


class ReviewError(BastionError):
    """A request the review API refuses; `code` is the protocol's error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _jsonable(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {k: _jsonable(v) for k, v in asdict(value).items()}
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


class ReviewSession:
    """One reviewer's `bastion-review` channel."""

    def __init__(self, ctx: "GatewayContext", reviewer: Principal, chan: asyncssh.SSHServerChannel) -> None:
        self.ctx = ctx
        self.reviewer = reviewer
        self.chan = chan
        self._buffer = bytearray()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._watches: dict[int, Any] = {}
        self._next_handle = 1
        self._drained = asyncio.Event()
        self._drained.set()
        self._closed = False
        self._approval_sub: Any = None
        self._ops: dict[str, Callable[[dict], Awaitable[dict]]] = {
            "hello": self.op_hello,
            "sessions.list": self.op_sessions_list,
            "sessions.watch": self.op_sessions_watch,
            "sessions.unwatch": self.op_sessions_unwatch,
            "sessions.terminate": self.op_sessions_terminate,
            "approvals.list": self.op_approvals_list,
            "approvals.subscribe": self.op_approvals_subscribe,
            "approvals.decide": self.op_approvals_decide,
            "recordings.get": self.op_recordings_get,
            "audit.search": self.op_audit_search,
        }

    # --- channel plumbing -------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                if len(self._buffer) > MAX_LINE:
                    self._buffer.clear()
                    self.send({"id": None, "ok": False, "error": {"code": "bad_request", "message": "line too long"}})
                return
            line = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            if line.strip():
                self._spawn(self._handle(line))

    def paused(self, paused: bool) -> None:
        if paused:
            self._drained.clear()
        else:
            self._drained.set()

    def close(self) -> None:
        self._closed = True
        for handle in list(self._watches):
            self._drop_watch(handle)
        if self._approval_sub is not None:
            with contextlib.suppress(Exception):
                self._approval_sub.close()
        for task in list(self._tasks):
            task.cancel()

    def send(self, obj: dict) -> None:
        if self._closed:
            return
        try:
            self.chan.write(json.dumps(obj, separators=(",", ":"), default=str).encode() + b"\n")
        except OSError:
            self._closed = True

    async def send_when_drained(self, obj: dict) -> None:
        """For pushed bulk events: wait while the reviewer's channel is backed up."""
        while not self._closed and self.chan.get_write_buffer_size() > _SEND_HIGH_WATER:
            self._drained.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._drained.wait(), 0.5)
        self.send(obj)

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _handle(self, line: bytes) -> None:
        try:
            request = json.loads(line)
            if not isinstance(request, dict):
                raise ValueError("not an object")
        except ValueError:
            self.send({"id": None, "ok": False, "error": {"code": "bad_request", "message": "not a JSON object"}})
            return
        request_id = request.get("id")
        op = request.get("op")
        params = request.get("params") or {}
        handler = self._ops.get(op) if isinstance(op, str) else None
        if handler is None:
            self.send({"id": request_id, "ok": False,
                       "error": {"code": "unknown_op", "message": f"unknown op {op!r}"}})
            return
        if not isinstance(params, dict):
            self.send({"id": request_id, "ok": False, "error": {"code": "bad_request", "message": "params must be an object"}})
            return
        try:
            result = await handler(params)
        except ReviewError as exc:
            self.send({"id": request_id, "ok": False, "error": {"code": exc.code, "message": str(exc)}})
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # one bad request must not end the reviewer's channel
            code = getattr(exc, "reason_code", None)
            if isinstance(code, str) and isinstance(exc, BastionError):
                self.send({"id": request_id, "ok": False,
                           "error": {"code": _PROTOCOL_CODES.get(code, code), "message": str(exc)}})
            else:
                log.exception("review op %s failed", op)
                self.send({"id": request_id, "ok": False,
                           "error": {"code": "internal", "message": f"{type(exc).__name__}"}})
        else:
            self.send({"id": request_id, "ok": True, "result": result})

    # --- operations -------------------------------------------------------------------------------
    async def op_hello(self, params: dict) -> dict:
        return {"version": PROTOCOL_VERSION, "reviewer": self.reviewer.name, "server": f"bastion {__version__}"}

    async def op_sessions_list(self, params: dict) -> dict:
        limit = _int_param(params, "limit", 100, 1, 1000)
        status = params.get("status")
        live_ids = set(self.ctx.sessions)
        if status == "live":
            rows = [row for sid in live_ids if (row := store_sessions.get_session(self.ctx.store, sid))]
            rows.sort(key=lambda r: r.get("started_at") or 0, reverse=True)
        else:
            rows = store_sessions.list_sessions(self.ctx.store, user=params.get("user"),
                                                target=params.get("target"), limit=limit)
        rows = [r for r in rows if (not params.get("user") or r.get("user") == params["user"])
                and (not params.get("target") or r.get("target") == params["target"])][:limit]
        counts = self._command_counts([r["id"] for r in rows])
        sessions = []
        for row in rows:
            counted = counts.get(row["id"], {})
            sessions.append({
                **{k: row.get(k) for k in ("id", "user", "target", "account", "kind", "command", "client_addr",
                                           "started_at", "ended_at", "status", "exit_status", "recording_path")},
                "live": row["id"] in live_ids,
                "commands": counted.get("total", 0), "denied": counted.get("deny", 0),
                "held": counted.get("review", 0),
            })
        return {"sessions": sessions}

    def _command_counts(self, ids: list[str]) -> dict[str, dict[str, int]]:
        if not ids:
            return {}
        marks = ",".join("?" for _ in ids)
        rows = self.ctx.store.query(
            f"select session_id, action, count(*) as n from commands where session_id in ({marks}) "
            "group by session_id, action", ids)
        counts: dict[str, dict[str, int]] = {}
        for row in rows:
            entry = counts.setdefault(row["session_id"], {"total": 0})
            entry[row["action"]] = row["n"]
            entry["total"] += row["n"]
        return counts

    async def op_sessions_watch(self, params: dict) -> dict:
        session_id = _str_param(params, "session_id")
        row = store_sessions.get_session(self.ctx.store, session_id)
        if row is None:
            raise ReviewError("not_found", f"no session {session_id}")
        live = self.ctx.sessions.get(session_id)
        watcher = self.ctx.fanout.subscribe(session_id) if live is not None else None
        if live is not None and live.recorder is not None:
            with contextlib.suppress(Exception):
                live.recorder.flush()
        header, events = self._read_recording(row)
        handle = self._next_handle
        self._next_handle += 1
        self._watches[handle] = watcher
        self._spawn(self._pump_watch(handle, session_id, watcher, events))
        return {"watch": handle, "header": header, "live": watcher is not None}

    def _read_recording(self, row: dict) -> tuple[dict, list[tuple[float, str, str]]]:
        path = self._recording_file(row)
        header: dict = {}
        events: list[tuple[float, str, str]] = []
        if path is None or not path.exists():
            return header, events
        with path.open("rb") as handle:
            for number, line in enumerate(handle):
                if not line.endswith(b"\n"):
                    break  # a line still being written: the live stream carries it
                try:
                    if number == 0:
                        header = parse_header(line)
                    else:
                        events.append(parse_event(line, number + 1))
                except BastionError:
                    break
        return header, events

    def _recording_file(self, row: dict) -> Path | None:
        if not row.get("recording_path"):
            return None
        return store_sessions.resolve_recording(row["recording_path"], self.ctx.settings.recording.directory)

    async def _pump_watch(self, handle: int, session_id: str, watcher: Any,
                          events: list[tuple[float, str, str]]) -> None:
        for t, code, data in events:
            if handle not in self._watches:
                return
            await self.send_when_drained({"event": "session.event",
                                          "data": {"watch": handle, "t": t, "code": code, "data": data}})
        if watcher is not None:
            while handle in self._watches:
                event = await watcher.next()
                if event is None:
                    break
                # No dedup needed: subscribe, flush and read happen with no await between them, so nothing
                # published before the read is in this queue.
                t, code, data = event
                await self.send_when_drained({"event": "session.event",
                                              "data": {"watch": handle, "t": t, "code": code, "data": data}})
            if watcher.lagged:
                self._watches.pop(handle, None)
                self.send({"event": "session.lagged", "data": {"watch": handle}})
                return
        if handle in self._watches:  # not unwatched: the session ended
            self._watches.pop(handle, None)
            for _ in range(500):  # its live stream ends first; its closing row lands a moment later
                if session_id not in self.ctx.sessions:
                    break
                await asyncio.sleep(0.01)
            row = store_sessions.get_session(self.ctx.store, session_id) or {}
            self.send({"event": "session.ended", "data": {"watch": handle, "session_id": session_id,
                                                          "status": row.get("status"),
                                                          "exit_status": row.get("exit_status")}})

    def _drop_watch(self, handle: int) -> None:
        watcher = self._watches.pop(handle, None)
        if watcher is not None:
            self.ctx.fanout.unsubscribe(watcher)

    async def op_sessions_unwatch(self, params: dict) -> dict:
        self._drop_watch(_int_param(params, "watch", 0, 0, 1 << 62))
        return {}

    async def op_sessions_terminate(self, params: dict) -> dict:
        session_id = _str_param(params, "session_id")
        reason = str(params.get("reason") or "no reason given")[:500]
        session = self.ctx.sessions.get(session_id)
        if session is None:
            raise ReviewError("not_found", f"no live session {session_id}")
        session.terminate_by_reviewer(self.reviewer.name, reason)
        return {}

    async def op_recordings_get(self, params: dict) -> dict:
        session_id = _str_param(params, "session_id")
        row = store_sessions.get_session(self.ctx.store, session_id)
        path = self._recording_file(row) if row else None
        if path is None or not path.exists():
            raise ReviewError("not_found", f"no recording for session {session_id}")
        handle = self._next_handle
        self._next_handle += 1
        size = path.stat().st_size
        self._spawn(self._stream_file(handle, path, row.get("recording_sha256")))
        return {"fetch": handle, "size": size}

    async def _stream_file(self, handle: int, path: Path, digest: str | None) -> None:
        await asyncio.sleep(0)  # the response goes first
        decoder_tail = b""
        with path.open("rb") as source:
            while chunk := source.read(_CHUNK):
                data = decoder_tail + chunk
                # Never split a UTF-8 character between chunks.
                cut = len(data)
                while cut > 0 and (data[cut - 1] & 0xC0) == 0x80:
                    cut -= 1
                if cut > 0 and data[cut - 1] >= 0xC0:
                    cut -= 1
                decoder_tail = data[cut:]
                await self.send_when_drained({"event": "recording.chunk",
                                              "data": {"fetch": handle, "data": data[:cut].decode("utf-8", "replace")}})
        if decoder_tail:
            self.send({"event": "recording.chunk", "data": {"fetch": handle, "data": decoder_tail.decode("utf-8", "replace")}})
        self.send({"event": "recording.end", "data": {"fetch": handle, "sha256": digest}})

    async def op_audit_search(self, params: dict) -> dict:
        limit = _int_param(params, "limit", 200, 1, 5000)
        rows = store_commands.search_commands(
            self.ctx.store, since=_float_or_none(params.get("since")), user=params.get("user"),
            target=params.get("target"), action=params.get("action"), text=params.get("text"), limit=limit)
        until = _float_or_none(params.get("until"))
        if until is not None:
            rows = [r for r in rows if (r.get("at") or 0) <= until]
        return {"commands": rows}

    # --- approvals --------------------------------------------------------------------------------
    def _broker(self) -> Any:
        broker = getattr(self.ctx, "approvals", None)
        if broker is None:
            raise ReviewError("internal", "approvals are not enabled on this gateway")
        return broker

    async def op_approvals_list(self, params: dict) -> dict:
        broker = self._broker()
        state = params.get("state")
        limit = _int_param(params, "limit", 100, 1, 5000)
        if state in (None, "pending"):
            items = sorted(broker.pending(), key=lambda r: r.requested_at)[:limit]
        else:
            items = broker.list(state=state, limit=limit)
        return {"approvals": [self.approval_json(r) for r in items]}

    async def op_approvals_subscribe(self, params: dict) -> dict:
        broker = self._broker()
        if self._approval_sub is None:
            self._approval_sub = broker.subscribe()
            self._spawn(self._pump_approvals(self._approval_sub))
        return {}

    async def _pump_approvals(self, subscription: Any) -> None:
        async for kind, request in subscription:
            if kind == "lagged":
                self.send({"event": "approvals.lagged", "data": {}})
                continue
            self.send({"event": f"approval.{kind}", "data": self.approval_json(request)})

    async def op_approvals_decide(self, params: dict) -> dict:
        broker = self._broker()
        verdict = params.get("verdict")
        if verdict not in ("approve", "deny"):
            raise ReviewError("bad_request", "verdict must be approve or deny")
        grant_minutes = params.get("grant_minutes")
        if grant_minutes is not None and (not isinstance(grant_minutes, (int, float)) or grant_minutes <= 0):
            raise ReviewError("bad_request", "grant_minutes must be a positive number")
        request = broker.decide(
            _int_param(params, "approval_id", 0, 0, 1 << 62), reviewer=self.reviewer.name,
            approve=verdict == "approve", reason=str(params.get("reason") or "")[:500],
            totp_code=str(params.get("totp") or ""),
            grant_seconds=float(grant_minutes) * 60 if grant_minutes else None,
            reviewer_groups=self.reviewer.groups)
        return {"approval": self.approval_json(request)}

    def approval_json(self, request: Any) -> dict:
        data = _jsonable(request)
        matched = self.ctx.held_matches.get(data.get("id")) if hasattr(self.ctx, "held_matches") else None
        data.setdefault("matched", matched[0] if matched else "")
        data.setdefault("span", list(matched[1]) if matched and matched[1] else None)
        data.pop("grant_key", None)
        return data


def _str_param(params: dict, key: str) -> str:
    value = params.get(key)
    if not isinstance(value, str) or not value:
        raise ReviewError("bad_request", f"{key} is required")
    return value


def _int_param(params: dict, key: str, default: int, lo: int, hi: int) -> int:
    value = params.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ReviewError("bad_request", f"{key} must be a whole number from {lo} to {hi}")
    return value


def _float_or_none(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ReviewError("bad_request", "times are epoch seconds")
    return float(value)
