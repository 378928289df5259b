"""The protocol's objects (Session, Approval, Command) as frozen dataclasses built from its JSON.

Unknown fields are ignored and missing ones get neutral defaults, as the protocol asks of clients.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _str(value: Any) -> str:
    return "" if value is None else str(value)


def _int(value: Any) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def _ident(value: Any) -> str | int:
    """An id as the server sent it: ids are opaque, and the gateway's approval ids are integers that it
    expects back as integers."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return _str(value)


def _strs(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


@dataclass(frozen=True)
class Hello:
    """The answer to `hello`: who the gateway thinks we are."""

    version: int
    reviewer: str
    server: str

    @classmethod
    def from_json(cls, data: dict) -> "Hello":
        return cls(_int(data.get("version")), _str(data.get("reviewer")), _str(data.get("server")))


@dataclass(frozen=True)
class Session:
    """One gateway session as `sessions.list` reports it."""

    id: str
    user: str
    target: str
    account: str = ""
    kind: str = "exec"
    command: str = ""
    client_addr: str = ""
    started_at: float = 0.0
    ended_at: float | None = None
    status: str = "open"
    exit_status: int | None = None
    live: bool = False
    commands: int = 0
    denied: int = 0
    held: int = 0
    recording_path: str = ""

    @classmethod
    def from_json(cls, d: dict) -> "Session":
        exit_status = d.get("exit_status")
        return cls(
            id=_str(d.get("id")), user=_str(d.get("user")), target=_str(d.get("target")),
            account=_str(d.get("account")), kind=_str(d.get("kind")) or "exec", command=_str(d.get("command")),
            client_addr=_str(d.get("client_addr")), started_at=_float(d.get("started_at")) or 0.0,
            ended_at=_float(d.get("ended_at")), status=_str(d.get("status")) or "open",
            exit_status=exit_status if isinstance(exit_status, int) else None, live=bool(d.get("live")),
            commands=_int(d.get("commands")), denied=_int(d.get("denied")), held=_int(d.get("held")),
            recording_path=_str(d.get("recording_path")),
        )

    def duration(self, now: float) -> float:
        """Seconds from start to end (or to `now` while the session runs)."""
        end = self.ended_at if self.ended_at is not None else now
        return max(0.0, end - self.started_at)


@dataclass(frozen=True)
class Approval:
    """One held command waiting for (or past) a reviewer's verdict."""

    id: str | int
    session_id: str
    user: str
    target: str
    command: str
    rules: tuple[str, ...] = ()
    reason: str = ""
    requested_at: float = 0.0
    expires_at: float | None = None
    state: str = "pending"
    approvers_required: int = 1
    approvals: tuple[str, ...] = ()
    decided_by: str = ""
    decided_at: float | None = None
    decision_reason: str = ""
    grant_until: float | None = None
    matched: str = ""
    span: tuple[int, int] | None = None

    @classmethod
    def from_json(cls, d: dict) -> "Approval":
        span = d.get("span")
        good_span = (
            isinstance(span, list) and len(span) == 2 and all(isinstance(v, int) for v in span)
        )
        return cls(
            id=_ident(d.get("id")), session_id=_str(d.get("session_id")), user=_str(d.get("user")),
            target=_str(d.get("target")), command=_str(d.get("command")), rules=_strs(d.get("rules")),
            reason=_str(d.get("reason")), requested_at=_float(d.get("requested_at")) or 0.0,
            expires_at=_float(d.get("expires_at")), state=_str(d.get("state")) or "pending",
            approvers_required=_int(d.get("approvers_required")) or 1, approvals=_strs(d.get("approvals")),
            decided_by=_str(d.get("decided_by")), decided_at=_float(d.get("decided_at")),
            decision_reason=_str(d.get("decision_reason")), grant_until=_float(d.get("grant_until")),
            matched=_str(d.get("matched")), span=(span[0], span[1]) if good_span else None,
        )

    def match_span(self) -> tuple[int, int] | None:
        """Where to highlight the command: the server's span, else the first occurrence of `matched`."""
        n = len(self.command)
        if self.span is not None and 0 <= self.span[0] < self.span[1] <= n:
            return self.span
        if self.matched:
            at = self.command.find(self.matched)
            if at >= 0:
                return (at, at + len(self.matched))
        return None


@dataclass(frozen=True)
class Command:
    """One decided command from `audit.search`."""

    id: str | int
    session_id: str
    text: str
    at: float
    user: str
    target: str
    action: str
    rules: tuple[str, ...] = ()
    reason: str = ""
    policy_version: str = ""
    opaque: bool = False
    exit_status: int | None = None

    @classmethod
    def from_json(cls, d: dict) -> "Command":
        exit_status = d.get("exit_status")
        return cls(
            id=_ident(d.get("id")), session_id=_str(d.get("session_id")), text=_str(d.get("text")),
            at=_float(d.get("at")) or 0.0, user=_str(d.get("user")), target=_str(d.get("target")),
            action=_str(d.get("action")), rules=_strs(d.get("rules")), reason=_str(d.get("reason")),
            policy_version=_str(d.get("policy_version")), opaque=bool(d.get("opaque")),
            exit_status=exit_status if isinstance(exit_status, int) else None,
        )


@dataclass(frozen=True)
class WatchEvent:
    """One `session.event` of a watch: `code` is "o" (output), "r" (resize) or "m" (marker)."""

    t: float
    code: str
    data: str


@dataclass(frozen=True)
class WatchEnded:
    """The watched session ended (`session.ended`), or the watcher lagged (`lagged=True`)."""

    status: str = ""
    exit_status: int | None = None
    lagged: bool = False


@dataclass(frozen=True)
class ApprovalEvent:
    """`approval.new` / `approval.changed`, or `approvals.lagged` (then `approval` is None)."""

    kind: str  # "new" | "changed" | "lagged"
    approval: Approval | None = None


@dataclass
class AuditQuery:
    """The filters of `audit.search` (empty strings and None are left out of the request)."""

    user: str = ""
    target: str = ""
    action: str = ""
    text: str = ""
    since: float | None = None
    until: float | None = None
    limit: int = 200
    extra: dict = field(default_factory=dict)

    def params(self) -> dict:
        out: dict[str, Any] = {k: v for k, v in (("user", self.user), ("target", self.target),
                                                   ("action", self.action), ("text", self.text)) if v}
        if self.since is not None:
            out["since"] = self.since
        if self.until is not None:
            out["until"] = self.until
        out["limit"] = self.limit
        out.update(self.extra)
        return out
