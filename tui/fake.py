"""`FakeReviewClient`: the review protocol served in-process from canned data, for tests, snapshots,
benchmarks and `bastion-tui --demo`.

It speaks the same JSON messages as the gateway (requests go through `ReviewClientBase.call`, answers and
pushed events come back through `_on_message`), so the id matching and event routing are exercised too.
Tests script it: `push_approval()`, `emit_output()`, `end_session()`, and they read `calls` to see what
the TUI asked for.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any

from bastion.clock import Clock, FakeClock

from tui import demo_data
from tui.client import ReviewClientBase
from tui.models import Hello

FAKE_TOTP = "123456"  # the one code the fake accepts; obviously not a real secret


class FakeReviewClient(ReviewClientBase):
    """A gateway in a dict. `valid_totp` is the code `approvals.decide` accepts."""

    def __init__(self, clock: Clock | None = None, *, reviewer: str = "carol", valid_totp: str = FAKE_TOTP,
                 empty: bool = False, fail_connect: Exception | None = None) -> None:
        super().__init__()
        self.clock = clock or FakeClock()
        self.reviewer = reviewer
        self.endpoint = "demo"
        self.valid_totp = valid_totp
        self.fail_connect = fail_connect
        now = self.clock.now()
        self.sessions: list[dict] = [] if empty else demo_data.sessions(now)
        self.approvals: list[dict] = [] if empty else demo_data.approvals(now)
        self.commands: list[dict] = [] if empty else demo_data.commands(now)
        self.calls: list[tuple[str, dict]] = []
        self.terminated: dict[str, str] = {}
        self.watches: dict[int, str] = {}
        self._watch_ids = itertools.count(1)
        self._fetch_ids = itertools.count(1)
        self._new_ids = itertools.count(1)
        self._demo_task: asyncio.Task[None] | None = None
        self.handlers: dict[str, Callable[[dict], dict]] = {}  # tests may override an op
        self.chunk_size = 1024  # recording.chunk size, small so fetches really come in pieces

    async def connect(self) -> Hello:
        if self.fail_connect is not None:
            raise self.fail_connect
        return await self.hello()

    async def close(self) -> None:
        if self._demo_task is not None:
            self._demo_task.cancel()
        await super().close()

    # --- the "server" --------------------------------------------------------------------------------
    async def _send(self, message: dict) -> None:
        op, params = message["op"], message.get("params") or {}
        self.calls.append((op, params))
        events: list[dict] = []
        try:
            handler = self.handlers.get(op) or getattr(self, "_op_" + op.replace(".", "_"), None)
            if handler is None:
                raise _Fail("unknown_op", f"unknown op {op}")
            result = handler(params) if op in self.handlers else handler(params, events)
            response: dict[str, Any] = {"id": message["id"], "ok": True, "result": result}
        except _Fail as exc:
            response = {"id": message["id"], "ok": False, "error": {"code": exc.code, "message": exc.message}}
        loop = asyncio.get_running_loop()
        # Answer on a later loop turn, the response before its events, as the real server's stream does.
        loop.call_soon(self._on_message, response)
        for event in events:
            loop.call_soon(self._on_message, event)

    def _op_hello(self, params: dict, events: list) -> dict:
        return {"version": 1, "reviewer": self.reviewer, "server": "bastion 0.1.0 (fake)"}

    def _op_sessions_list(self, params: dict, events: list) -> dict:
        rows = self.sessions
        if params.get("status") == "live":
            rows = [s for s in rows if s["live"]]
        elif params.get("status") == "recent":
            rows = [s for s in rows if not s["live"]]
        for key in ("user", "target"):
            if params.get(key):
                rows = [s for s in rows if s[key] == params[key]]
        rows = sorted(rows, key=lambda s: -s["started_at"])
        return {"sessions": [dict(s) for s in rows[: params.get("limit", 100)]]}

    def _session(self, session_id: str) -> dict:
        for s in self.sessions:
            if s["id"] == session_id:
                return s
        raise _Fail("not_found", f"no session {session_id}")

    def _op_sessions_watch(self, params: dict, events: list) -> dict:
        session = self._session(str(params.get("session_id")))
        watch = next(self._watch_ids)
        self.watches[watch] = session["id"]
        for t, code, data in demo_data.session_events(session["id"]):
            events.append({"event": "session.event", "data": {"watch": watch, "t": t, "code": code, "data": data}})
        if not session["live"]:
            events.append({"event": "session.ended", "data": {"watch": watch, "session_id": session["id"],
                                                               "status": session["status"],
                                                               "exit_status": session["exit_status"]}})
        header = {"version": 2, "width": 100, "height": 30, "timestamp": int(session["started_at"])}
        return {"watch": watch, "header": header, "live": session["live"]}

    def _op_sessions_unwatch(self, params: dict, events: list) -> dict:
        self.watches.pop(params.get("watch"), None)  # type: ignore[arg-type]
        return {}

    def _op_sessions_terminate(self, params: dict, events: list) -> dict:
        session = self._session(str(params.get("session_id")))
        if not session["live"]:
            raise _Fail("not_found", "the session is not live")
        session.update(live=False, status="terminated", ended_at=self.clock.now(), exit_status=255)
        self.terminated[session["id"]] = str(params.get("reason", ""))
        for watch, sid in list(self.watches.items()):
            if sid == session["id"]:
                events.append({"event": "session.event", "data": {"watch": watch, "t": 0.0, "code": "m",
                                                                   "data": f"terminated by {self.reviewer}"}})
                events.append({"event": "session.ended", "data": {"watch": watch, "session_id": sid,
                                                                   "status": "terminated", "exit_status": 255}})
                del self.watches[watch]
        return {}

    def _op_approvals_list(self, params: dict, events: list) -> dict:
        state = params.get("state", "pending")
        rows = [a for a in self.approvals if a["state"] == state]
        rows.sort(key=lambda a: a["requested_at"])
        return {"approvals": [dict(a) for a in rows[: params.get("limit", 100)]]}

    def _op_approvals_subscribe(self, params: dict, events: list) -> dict:
        return {}

    def _op_approvals_decide(self, params: dict, events: list) -> dict:
        approval = next((a for a in self.approvals if a["id"] == params.get("approval_id")), None)
        if approval is None:
            raise _Fail("not_found", "no such approval")
        if approval["state"] != "pending":
            raise _Fail("already_decided", f"already {approval['state']}")
        if str(params.get("totp", "")) != self.valid_totp:
            raise _Fail("bad_totp", "TOTP code is wrong")
        grant = params.get("grant_minutes")
        if grant is not None and int(grant) > 480:
            raise _Fail("grant_too_long", "the longest grant is 480 minutes")
        now = self.clock.now()
        approval.update(state="approved" if params.get("verdict") == "approve" else "denied",
                        decided_by=self.reviewer, decided_at=now, decision_reason=str(params.get("reason", "")),
                        approvals=[self.reviewer] if params.get("verdict") == "approve" else [],
                        grant_until=now + int(grant) * 60 if grant else None)
        events.append({"event": "approval.changed", "data": dict(approval)})
        return {"approval": dict(approval)}

    def _op_recordings_get(self, params: dict, events: list) -> dict:
        session = self._session(str(params.get("session_id")))
        text = demo_data.cast_text(session["id"], timestamp=int(session["started_at"]))
        fetch = next(self._fetch_ids)
        for i in range(0, len(text), self.chunk_size):
            events.append({"event": "recording.chunk", "data": {"fetch": fetch, "data": text[i:i + self.chunk_size]}})
        events.append({"event": "recording.end", "data": {"fetch": fetch, "sha256": None}})
        return {"fetch": fetch, "size": len(text.encode())}

    def _op_audit_search(self, params: dict, events: list) -> dict:
        rows = self.commands
        for key in ("user", "target", "action"):
            if params.get(key):
                rows = [c for c in rows if c[key] == params[key]]
        if params.get("text"):
            needle = str(params["text"]).lower()
            rows = [c for c in rows if needle in c["text"].lower() or needle in c["reason"].lower()]
        if params.get("since") is not None:
            rows = [c for c in rows if c["at"] >= params["since"]]
        if params.get("until") is not None:
            rows = [c for c in rows if c["at"] <= params["until"]]
        rows = sorted(rows, key=lambda c: -c["at"])
        return {"commands": [dict(c) for c in rows[: params.get("limit", 200)]]}

    # --- scripting (tests, demo, bench) ---------------------------------------------------------------
    def push(self, event: str, data: dict) -> None:
        """Deliver one pushed event as the server would."""
        self._on_message({"event": event, "data": data})

    def push_approval(self, approval: dict | None = None) -> dict:
        """A new pending request arrives (stored, then announced with `approval.new`)."""
        approval = approval or demo_data.new_approval(self.clock.now(), next(self._new_ids))
        self.approvals.append(approval)
        self.push("approval.new", dict(approval))
        return approval

    def emit_output(self, session_id: str, data: str, t: float = 0.0, code: str = "o") -> None:
        """Live output (or a marker, `code="m"`) for every watch of the session."""
        for watch, sid in self.watches.items():
            if sid == session_id:
                self.push("session.event", {"watch": watch, "t": t, "code": code, "data": data})

    def end_session(self, session_id: str, status: str = "closed", exit_status: int | None = 0) -> None:
        session = self._session(session_id)
        session.update(live=False, status=status, ended_at=self.clock.now(), exit_status=exit_status)
        for watch, sid in list(self.watches.items()):
            if sid == session_id:
                self.push("session.ended", {"watch": watch, "session_id": sid, "status": status,
                                            "exit_status": exit_status})
                del self.watches[watch]

    def start_demo(self, interval: float = 25.0) -> None:
        """Make the canned gateway feel alive: a new request now and then, typing in a live session."""
        self._demo_task = asyncio.get_running_loop().create_task(self._demo(interval))

    async def _demo(self, interval: float) -> None:
        tick = 0
        while True:
            await asyncio.sleep(1.0)
            tick += 1
            session = "s-90d4"
            self.emit_output(session, f"Jan 01 10:{tick // 60:02d}:{tick % 60:02d} web-2 nginx[812]: "
                                      f"GET /health 200 {tick % 7}ms\r\n", t=41.0 + tick)
            if tick % int(interval) == 0:
                self.push_approval()


class _Fail(Exception):
    def __init__(self, code: str, message: str) -> None:
        self.code, self.message = code, message
