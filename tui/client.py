"""The review client: `bastion-review` requests and pushed events over one SSH subsystem channel.

`ReviewAPI` is the small protocol the screens use. `ReviewClientBase` implements it on top of two
primitives — send one JSON object, receive one JSON object — matching responses to requests by `id` and
routing pushed events to the watch, fetch or approval stream they belong to. `SshReviewClient` supplies the
primitives over asyncssh; `tui.fake.FakeReviewClient` supplies them in-process for tests and `--demo`.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
from collections import deque
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from tui.errors import (
    GatewayUnreachable,
    HostKeyUntrusted,
    KeyRefused,
    NotAReviewer,
    RequestFailed,
    ReviewClientError,
)
from tui.models import (
    Approval,
    ApprovalEvent,
    AuditQuery,
    Command,
    Hello,
    Session,
    WatchEnded,
    WatchEvent,
)

SUBSYSTEM = "bastion-review"
PROTOCOL_VERSION = 1
# Events for a watch or fetch that arrive before its response has been handed to the caller are kept here
# (bounded: a server that pushes for ids we never asked for cannot grow us without limit).
_ORPHAN_LIMIT = 10_000
_CLOSED = object()  # end-of-stream sentinel in queues


class Watch:
    """One `sessions.watch`: the session's asciicast header and a stream of its events.

    The stream yields `WatchEvent`s (catch-up first, then live) and ends with one `WatchEnded`.
    """

    def __init__(self, client: "ReviewClientBase", watch_id: Any, session_id: str, header: dict,
                 live: bool) -> None:
        self.id = watch_id
        self.session_id = session_id
        self.header = header
        self.live = live
        self._client = client
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self.ended: WatchEnded | None = None

    def _put(self, item: Any) -> None:
        self._queue.put_nowait(item)

    async def events(self) -> AsyncIterator[WatchEvent | WatchEnded]:
        while True:
            item = await self._queue.get()
            if item is _CLOSED:
                return
            if isinstance(item, WatchEnded):
                self.ended = item
                yield item
                return
            yield item

    def drain_nowait(self, limit: int = 100_000) -> list[WatchEvent | WatchEnded]:
        """Everything already queued (for batching a flood of output into one feed)."""
        out: list[Any] = []
        while len(out) < limit:
            try:
                item = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                break
            if item is _CLOSED:
                self._queue.put_nowait(_CLOSED)
                break
            out.append(item)
            if isinstance(item, WatchEnded):
                self.ended = item
                break
        return out

    async def close(self) -> None:
        """Stop watching (best effort: the connection may be gone already)."""
        await self._client.unwatch(self)


@runtime_checkable
class ReviewAPI(Protocol):
    """What the screens need from the gateway. Every method raises `ReviewClientError` subclasses."""

    reviewer: str
    endpoint: str

    async def connect(self) -> Hello: ...
    async def close(self) -> None: ...
    async def list_sessions(self, status: str | None = None, user: str = "", target: str = "",
                            limit: int = 100) -> list[Session]: ...
    async def watch(self, session_id: str) -> Watch: ...
    async def unwatch(self, watch: Watch) -> None: ...
    async def terminate(self, session_id: str, reason: str) -> None: ...
    async def list_approvals(self, state: str = "pending", limit: int = 100) -> list[Approval]: ...
    async def subscribe_approvals(self) -> None: ...
    def approval_events(self) -> AsyncIterator[ApprovalEvent]: ...
    async def decide(self, approval_id: str | int, verdict: str, reason: str, totp: str,
                     grant_minutes: int | None = None) -> Approval: ...
    async def fetch_recording(self, session_id: str) -> str: ...
    async def search_audit(self, query: AuditQuery) -> list[Command]: ...


class ReviewClientBase:
    """Request/response matching and event routing, independent of the transport."""

    reviewer: str = ""
    endpoint: str = ""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._pending: dict[Any, asyncio.Future[dict]] = {}
        self._watches: dict[Any, Watch] = {}
        self._fetches: dict[Any, asyncio.Queue[Any]] = {}
        self._orphans: dict[Any, deque[dict]] = {}
        self._orphan_count = 0
        self._approvals: asyncio.Queue[Any] = asyncio.Queue()
        self._subscribed = False
        self._failure: ReviewClientError | None = None

    # --- the transport, supplied by subclasses --------------------------------------------------------
    async def _send(self, message: dict) -> None:
        raise NotImplementedError

    async def connect(self) -> Hello:
        raise NotImplementedError

    async def close(self) -> None:
        self._fail(GatewayUnreachable("the review connection was closed"))

    # --- requests --------------------------------------------------------------------------------------
    async def call(self, op: str, params: dict | None = None) -> dict:
        """Send one request and wait for its response; `RequestFailed` carries the server's error code."""
        if self._failure is not None:
            raise _fresh(self._failure)
        request_id = next(self._ids)
        future: asyncio.Future[dict] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            await self._send({"id": request_id, "op": op, "params": params or {}})
            return await future
        finally:
            self._pending.pop(request_id, None)

    async def hello(self) -> Hello:
        try:
            result = await self.call("hello", {"version": PROTOCOL_VERSION})
        except RequestFailed as exc:
            if exc.code == "forbidden":
                raise self._not_a_reviewer() from exc
            raise
        hello = Hello.from_json(result)
        self.reviewer = hello.reviewer or self.reviewer
        return hello

    def _not_a_reviewer(self) -> NotAReviewer:
        return NotAReviewer(f"{self.reviewer or 'this user'} is not a reviewer on the gateway at {self.endpoint}")

    async def list_sessions(self, status: str | None = None, user: str = "", target: str = "",
                            limit: int = 100) -> list[Session]:
        params: dict[str, Any] = {"limit": limit}
        if status:
            params["status"] = status
        if user:
            params["user"] = user
        if target:
            params["target"] = target
        result = await self.call("sessions.list", params)
        return [Session.from_json(s) for s in result.get("sessions", []) if isinstance(s, dict)]

    async def watch(self, session_id: str) -> Watch:
        result = await self.call("sessions.watch", {"session_id": session_id})
        watch = Watch(self, result.get("watch"), session_id, result.get("header") or {}, bool(result.get("live")))
        self._watches[watch.id] = watch
        for message in self._take_orphans(("watch", watch.id)):
            self._route_watch(watch, message)
        return watch

    async def unwatch(self, watch: Watch) -> None:
        self._watches.pop(watch.id, None)
        watch._put(_CLOSED)
        if watch.ended is None and self._failure is None:
            try:
                await self.call("sessions.unwatch", {"watch": watch.id})
            except ReviewClientError:
                pass  # the session may have ended meanwhile; nothing to undo

    async def terminate(self, session_id: str, reason: str) -> None:
        await self.call("sessions.terminate", {"session_id": session_id, "reason": reason})

    async def list_approvals(self, state: str = "pending", limit: int = 100) -> list[Approval]:
        result = await self.call("approvals.list", {"state": state, "limit": limit})
        return [Approval.from_json(a) for a in result.get("approvals", []) if isinstance(a, dict)]

    async def subscribe_approvals(self) -> None:
        """Ask for `approval.new` / `approval.changed` pushes (once; later calls do nothing)."""
        if not self._subscribed:
            await self.call("approvals.subscribe", {})
            self._subscribed = True

    async def approval_events(self) -> AsyncIterator[ApprovalEvent]:
        """Approval events (after `subscribe_approvals`) until the connection ends."""
        while True:
            item = await self._approvals.get()
            if item is _CLOSED:
                return
            yield item

    async def decide(self, approval_id: str | int, verdict: str, reason: str, totp: str,
                     grant_minutes: int | None = None) -> Approval:
        params: dict[str, Any] = {"approval_id": approval_id, "verdict": verdict, "reason": reason, "totp": totp}
        if grant_minutes:
            params["grant_minutes"] = int(grant_minutes)
        result = await self.call("approvals.decide", params)
        return Approval.from_json(result.get("approval") or {})

    async def fetch_recording(self, session_id: str) -> str:
        """The session's whole `.cast` file as text (chunks joined; the server's sha256 is not checked)."""
        result = await self.call("recordings.get", {"session_id": session_id})
        fetch_id = result.get("fetch")
        queue: asyncio.Queue[Any] = asyncio.Queue()
        self._fetches[fetch_id] = queue
        for message in self._take_orphans(("fetch", fetch_id)):
            self._route_fetch(queue, message)
        parts: list[str] = []
        try:
            while True:
                item = await queue.get()
                if item is _CLOSED:
                    raise _fresh(self._failure or GatewayUnreachable("the connection closed during a fetch"))
                if item is None:
                    return "".join(parts)
                parts.append(item)
        finally:
            self._fetches.pop(fetch_id, None)

    async def search_audit(self, query: AuditQuery) -> list[Command]:
        result = await self.call("audit.search", query.params())
        return [Command.from_json(c) for c in result.get("commands", []) if isinstance(c, dict)]

    # --- incoming --------------------------------------------------------------------------------------
    def _on_line(self, line: str) -> None:
        try:
            message = json.loads(line)
        except ValueError:
            return  # not ours to repair; the protocol has no way to answer a bad line from the server
        if isinstance(message, dict):
            self._on_message(message)

    def _on_message(self, message: dict) -> None:
        if "event" in message:
            self._on_event(str(message["event"]), message.get("data") or {})
            return
        request_id = message.get("id")
        future = self._pending.get(request_id) if request_id is not None else None
        error = message.get("error")
        if future is None:
            if error is not None and request_id is None:
                self._on_unsolicited_error(error)
            return
        if future.done():
            return
        if message.get("ok"):
            result = message.get("result")
            future.set_result(result if isinstance(result, dict) else {})
        else:
            code, text = _error_fields(error)
            future.set_exception(self._not_a_reviewer() if code == "forbidden" else RequestFailed(code, text))

    def _on_unsolicited_error(self, error: Any) -> None:
        code, text = _error_fields(error)
        if code == "bad_request":
            return  # the server could not read one of our lines; that request's future stays pending
        # "Anyone else who opens the subsystem is refused ({"error": …} then the channel closes)."
        self._fail(self._not_a_reviewer() if code in ("forbidden", "") else RequestFailed(code, text))

    def _on_event(self, name: str, data: Any) -> None:
        if not isinstance(data, dict):
            data = {}
        if name in ("session.event", "session.ended", "session.lagged"):
            watch = self._watches.get(data.get("watch"))
            if watch is None:
                self._keep_orphan(("watch", data.get("watch")), {"event": name, "data": data})
            else:
                self._route_watch(watch, {"event": name, "data": data})
        elif name in ("recording.chunk", "recording.end"):
            queue = self._fetches.get(data.get("fetch"))
            if queue is None:
                self._keep_orphan(("fetch", data.get("fetch")), {"event": name, "data": data})
            else:
                self._route_fetch(queue, {"event": name, "data": data})
        elif name in ("approval.new", "approval.changed"):
            self._approvals.put_nowait(ApprovalEvent(name.split(".", 1)[1], Approval.from_json(data)))
        elif name == "approvals.lagged":
            self._approvals.put_nowait(ApprovalEvent("lagged"))

    def _route_watch(self, watch: Watch, message: dict) -> None:
        name, data = message["event"], message["data"]
        if name == "session.event":
            t = data.get("t")
            watch._put(WatchEvent(float(t) if isinstance(t, (int, float)) else 0.0, str(data.get("code", "o")),
                                  str(data.get("data", ""))))
        elif name == "session.ended":
            self._watches.pop(watch.id, None)
            exit_status = data.get("exit_status")
            watch._put(WatchEnded(str(data.get("status", "")), exit_status if isinstance(exit_status, int) else None))
        else:  # session.lagged: live events stop; the caller may watch again to catch up
            self._watches.pop(watch.id, None)
            watch._put(WatchEnded(lagged=True))

    @staticmethod
    def _route_fetch(queue: asyncio.Queue[Any], message: dict) -> None:
        if message["event"] == "recording.chunk":
            queue.put_nowait(str(message["data"].get("data", "")))
        else:
            queue.put_nowait(None)

    def _keep_orphan(self, key: tuple, message: dict) -> None:
        if self._orphan_count >= _ORPHAN_LIMIT:
            return
        self._orphans.setdefault(key, deque()).append(message)
        self._orphan_count += 1

    def _take_orphans(self, key: tuple) -> list[dict]:
        kept = self._orphans.pop(key, deque())
        self._orphan_count -= len(kept)
        return list(kept)

    def _fail(self, error: ReviewClientError) -> None:
        """The connection is gone: fail every waiter and end every stream."""
        if self._failure is None:
            self._failure = error
        for future in self._pending.values():
            if not future.done():
                future.set_exception(_fresh(error))
        for watch in list(self._watches.values()):
            watch._put(_CLOSED)
        self._watches.clear()
        for queue in self._fetches.values():
            queue.put_nowait(_CLOSED)
        self._approvals.put_nowait(_CLOSED)

    @property
    def failure(self) -> ReviewClientError | None:
        """Why the connection ended, once it has."""
        return self._failure


def _fresh(error: ReviewClientError) -> ReviewClientError:
    """A new instance of a stored error: raising one instance from many places chains it to itself."""
    new = copy.copy(error)
    new.__traceback__ = None
    return new


def _error_fields(error: Any) -> tuple[str, str]:
    if isinstance(error, dict):
        return str(error.get("code") or ""), str(error.get("message") or "")
    if isinstance(error, str):
        return "", error
    return "", ""


class SshReviewClient(ReviewClientBase):
    """The real client: asyncssh to the gateway, then the `bastion-review` subsystem."""

    def __init__(self, host: str, port: int, user: str, identity: str | None = None,
                 known_hosts: str | None = None, connect_timeout: float = 10.0) -> None:
        super().__init__()
        self.host, self.port, self.user = host, port, user
        self.identity = identity
        self.known_hosts = known_hosts
        self.connect_timeout = connect_timeout
        self.reviewer = user
        self.endpoint = f"{host}:{port}"
        self._conn: Any = None
        self._process: Any = None
        self._reader: asyncio.Task[None] | None = None

    async def connect(self) -> Hello:
        import asyncssh  # imported here so tests of the fake never pay for it

        options: dict[str, Any] = {"username": self.user, "connect_timeout": self.connect_timeout}
        if self.identity:
            if not Path(self.identity).expanduser().exists():
                raise KeyRefused(f"identity file {self.identity} does not exist")
            options["client_keys"] = [str(Path(self.identity).expanduser())]
            options["agent_path"] = None
        if self.known_hosts:
            options["known_hosts"] = str(Path(self.known_hosts).expanduser())
        where = f"the gateway at {self.endpoint}"
        try:
            self._conn = await asyncssh.connect(self.host, self.port, **options)
        except asyncssh.PermissionDenied as exc:
            key = self.identity or "your default SSH keys"
            raise KeyRefused(f"{where} refused {key} for user {self.user}") from exc
        except asyncssh.HostKeyNotVerifiable as exc:
            raise HostKeyUntrusted(f"the host key of {where} is not trusted (add it to known_hosts)") from exc
        except (OSError, asyncio.TimeoutError, asyncssh.Error) as exc:
            if isinstance(exc, ConnectionRefusedError):
                reason = "connection refused"
            elif isinstance(exc, asyncio.TimeoutError):
                reason = f"no answer in {self.connect_timeout:g} s"
            else:
                reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
            raise GatewayUnreachable(f"cannot reach {where}: {reason}") from exc
        try:
            self._process = await self._conn.create_process(subsystem=SUBSYSTEM, encoding="utf-8",
                                                            errors="replace")
        except asyncssh.Error as exc:
            self._conn.close()
            raise ReviewClientError(f"{where} offers no {SUBSYSTEM} subsystem: {exc.reason}") from exc
        self._reader = asyncio.create_task(self._read_lines(), name="review-reader")
        return await self.hello()

    async def _read_lines(self) -> None:
        assert self._process is not None
        try:
            while True:
                line = await self._process.stdout.readline()
                if not line:
                    break
                self._on_line(line)
        except Exception:  # noqa: BLE001 - any transport fault ends the connection the same way
            pass
        self._fail(self._failure or GatewayUnreachable(f"the gateway at {self.endpoint} closed the connection"))

    async def _send(self, message: dict) -> None:
        if self._process is None:
            raise GatewayUnreachable("not connected")
        try:
            self._process.stdin.write(json.dumps(message, separators=(",", ":")) + "\n")
        except Exception as exc:  # noqa: BLE001
            # The server may have said why before closing (e.g. `forbidden`): let the reader get to it.
            if self._reader is not None:
                await asyncio.wait([self._reader], timeout=2)
            if self._failure is not None:
                raise _fresh(self._failure) from None
            raise GatewayUnreachable(f"the connection to {self.endpoint} is gone") from exc

    async def close(self) -> None:
        self._fail(GatewayUnreachable("the review connection was closed"))
        if self._conn is not None:
            self._conn.close()
            try:
                await asyncio.wait_for(self._conn.wait_closed(), 2)
            except (asyncio.TimeoutError, OSError):
                pass
        if self._reader is not None:
            self._reader.cancel()
