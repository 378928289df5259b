"""Audit events and where they go.

Every event is a small frozen dataclass with a stable `name` and `code` (Teleport style: area number plus
I/W/E severity). Areas: 0 gateway, 1 authentication, 2 sessions and channels, 3 upstream, 4 policy,
5 masking, 6 recording (7 is kept for approvals). Add an event by subclassing `AuditEvent` with a new
name and code; the catalogue checks both are unique.

`SqliteAuditLog` appends events to the hash-chained `audit_events` table; `ListAuditLog` is the test double;
`verify` checks the chain and every session's recording.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, Protocol

from bastion.clock import Clock
from bastion.errors import StoreError
from bastion.recording.repair import file_sha256
from bastion.store import audit_events
from bastion.store.db import Store
from bastion.store.sessions import resolve_recording

SEVERITIES = {"I": "info", "W": "warning", "E": "error"}

# name -> event class, filled as classes are defined.
CATALOGUE: dict[str, type["AuditEvent"]] = {}


@dataclass(frozen=True, kw_only=True)
class AuditEvent:
    """Base of every audit event. Subclasses set `name` and `code` and add their own fields."""

    name: ClassVar[str] = ""
    code: ClassVar[str] = ""
    session_id: str | None = None
    user: str | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.name or not cls.code:
            raise TypeError(f"{cls.__name__} must set name and code")
        if len(cls.code) != 6 or cls.code[0] != "T" or cls.code[-1] not in SEVERITIES:
            raise TypeError(f"{cls.__name__}: code {cls.code!r} must look like T1234I / W / E")
        for other in CATALOGUE.values():
            if other.name == cls.name or other.code == cls.code:
                raise TypeError(f"{cls.__name__} reuses the name or code of {other.__name__}")
        CATALOGUE[cls.name] = cls

    @property
    def severity(self) -> str:
        return SEVERITIES[self.code[-1]]

    def data(self) -> dict[str, Any]:
        """The event's own fields (everything but session_id and user), JSON-ready."""
        return {
            f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v
            for f in fields(self)
            if f.name not in ("session_id", "user")
        }


# --- 0: gateway ------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class GatewayStart(AuditEvent):
    name = "gateway.start"
    code = "T0000I"
    version: str
    listen: str
    policy_version: str | None = None
    interrupted_sessions: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class GatewayStop(AuditEvent):
    name = "gateway.stop"
    code = "T0001I"
    reason: str = "shutdown"


# --- 1: authentication -----------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class AuthSuccess(AuditEvent):
    name = "auth.success"
    code = "T1000I"
    method: str
    client_addr: str | None = None


@dataclass(frozen=True, kw_only=True)
class AuthFailure(AuditEvent):
    name = "auth.failure"
    code = "T1001W"
    method: str
    client_addr: str | None = None
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class TargetRefused(AuditEvent):
    name = "target.refused"
    code = "T1002W"
    target: str
    reason: str = ""
    client_addr: str | None = None


@dataclass(frozen=True, kw_only=True)
class CertificateIssued(AuditEvent):
    """`bastion login` traded a token for a gateway-signed SSH certificate (or was refused: `error`)."""

    name = "certificate.issued"
    code = "T1200I"
    key_id: str | None = None
    serial: int | None = None
    valid_before: int | None = None
    key_fingerprint: str | None = None
    error: str | None = None


# --- 2: sessions and channels ----------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class SessionStart(AuditEvent):
    name = "session.start"
    code = "T2000I"
    target: str
    account: str | None = None
    kind: str = "exec"
    command: str | None = None
    client_addr: str | None = None
    auth_method: str | None = None
    recording_path: str | None = None


@dataclass(frozen=True, kw_only=True)
class SessionEnd(AuditEvent):
    """Carries the recording's SHA-256, so `verify` can tell an altered sessions row from the chain."""

    name = "session.end"
    code = "T2001I"
    status: str = "closed"
    exit_status: int | None = None
    exit_signal: str | None = None
    bytes_in: int = 0
    bytes_out: int = 0
    recording_sha256: str | None = None
    error: str | None = None


@dataclass(frozen=True, kw_only=True)
class SessionInterrupted(AuditEvent):
    name = "session.interrupted"
    code = "T2002W"
    recording_sha256: str | None = None
    error: str | None = None


@dataclass(frozen=True, kw_only=True)
class ChannelRefused(AuditEvent):
    """A side channel was refused: kind is forwarding, x11, agent, subsystem or env."""

    name = "channel.refused"
    code = "T2003W"
    kind: str
    detail: str = ""


# --- 3: upstream -----------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class UpstreamFailed(AuditEvent):
    name = "upstream.failed"
    code = "T3000E"
    target: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class UpstreamHostKeyMismatch(AuditEvent):
    name = "upstream.hostkey_mismatch"
    code = "T3001E"
    target: str
    expected: str
    presented: str


# --- 4: policy -------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class PolicyDecision(AuditEvent):
    name = "policy.decision"
    code = "T4000I"
    command: str
    action: str
    rules: tuple[str, ...] = ()
    reason: str = ""
    policy_version: str | None = None
    opaque: bool = False
    target: str | None = None
    command_id: int | None = None
    account: str | None = None  # the target account the command runs as


@dataclass(frozen=True, kw_only=True)
class PolicyLoaded(AuditEvent):
    name = "policy.loaded"
    code = "T4001I"
    policy_version: str
    path: str | None = None


@dataclass(frozen=True, kw_only=True)
class PolicyReloadFailed(AuditEvent):
    name = "policy.reload_failed"
    code = "T4002E"
    errors: tuple[str, ...] = ()
    path: str | None = None
    kept_version: str | None = None


# --- 5: masking ------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class MaskHit(AuditEvent):
    """Secrets were masked in output. Never carries the secret itself."""

    name = "mask.hit"
    code = "T5000I"
    detector: str
    count: int = 1
    stream: str | None = None        # stdout | stderr
    offset: int | None = None        # byte offset of the secret in that stream
    length: int | None = None
    digest: str | None = None        # HMAC-SHA256 of the secret under the gateway's key: "was it this key?"


@dataclass(frozen=True, kw_only=True)
class MaskFailed(AuditEvent):
    """The masker could not do its job; the session's output stopped and the session was closed."""

    name = "mask.failed"
    code = "T5001E"
    reason: str


# --- 6: recording ----------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class RecordingFailed(AuditEvent):
    name = "recording.failed"
    code = "T6000E"
    path: str | None = None
    reason: str = ""


# --- where events go -------------------------------------------------------------------------------
class AuditLog(Protocol):
    def emit(self, event: AuditEvent) -> None:
        """Record one event; raises StoreError when it cannot (the caller then fails closed)."""


class ListAuditLog:
    """Test double: keeps events in `.events`."""

    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    def emit(self, event: AuditEvent) -> None:
        self.events.append(event)

    def names(self) -> list[str]:
        return [e.name for e in self.events]


class SqliteAuditLog:
    """Appends events to the hash-chained `audit_events` table. One process, one writer: the last link is
    read from the table when opened and then kept in memory."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._seq, self._hash = audit_events.last_link(store)
        # A rolled-back transaction takes its events with it: continue the chain from what is stored.
        store.on_rollback(self._resync)

    def _resync(self) -> None:
        self._seq, self._hash = audit_events.last_link(self._store)

    def emit(self, event: AuditEvent) -> None:
        try:
            new_hash = audit_events.append_event(
                self._store,
                seq=self._seq + 1,
                prev_hash=self._hash,
                at=self._clock.now(),
                code=event.code,
                name=event.name,
                severity=event.severity,
                session_id=event.session_id,
                user=event.user,
                data=event.data(),
            )
        except (TypeError, ValueError) as exc:  # data that is not JSON
            raise StoreError(f"audit event {event.name} has data that cannot be stored: {exc}") from exc
        # Advance only after the row is in: a failed insert leaves the chain where it was.
        self._seq += 1
        self._hash = new_hash


# --- verification ----------------------------------------------------------------------------------
@dataclass
class VerifyReport:
    """What `bastion audit verify` prints: ok, or one line per problem."""

    ok: bool
    problems: list[str] = field(default_factory=list)
    events_checked: int = 0
    recordings_checked: int = 0


_HASH_EVENTS = (SessionEnd.name, SessionInterrupted.name)


def verify(store: Store, recordings_root: Path) -> VerifyReport:
    """Check the audit chain (reporting its first broken link) and every ended session's recording: the
    file must exist and hash to the sessions row, the row must agree with the hash the chained
    session.end / session.interrupted event carries, and a closed or terminated session without a hash
    needs a recording.failed event to explain it."""
    problems: list[str] = []
    chained_hash: dict[str, str] = {}
    recording_failed: set[str] = set()
    count = 0

    def on_row(row: dict) -> None:
        nonlocal count
        count += 1
        if row["name"] == RecordingFailed.name and row["session_id"]:
            recording_failed.add(row["session_id"])
        if row["name"] in _HASH_EVENTS and row["session_id"]:
            sha = json.loads(row["data"]).get("recording_sha256")
            if sha:
                chained_hash[row["session_id"]] = sha

    broken = audit_events.verify_chain(store, on_row)
    if broken is not None:
        problems.append(broken)

    checked = 0
    rows = store.query(
        "SELECT id, status, recording_path, recording_sha256 FROM sessions "
        "WHERE status != 'open' AND recording_path IS NOT NULL ORDER BY started_at, id"
    )
    for row in rows:
        sid = row["id"]
        path = resolve_recording(row["recording_path"], recordings_root)
        if not path.is_file():
            problems.append(f"session {sid}: recording {row['recording_path']} is missing")
            continue
        expected = row["recording_sha256"]
        if expected is None:
            # A recording that failed is already on the record; any other hashless end is suspect.
            if row["status"] in ("closed", "terminated") and sid not in recording_failed:
                problems.append(f"session {sid}: {row['status']} without a recording hash")
            continue
        checked += 1
        try:
            actual = file_sha256(path)
        except OSError as exc:
            problems.append(f"session {sid}: recording {row['recording_path']} unreadable ({exc})")
            continue
        if actual != expected:
            problems.append(f"session {sid}: recording {row['recording_path']} was altered (SHA-256 differs)")
        if sid in chained_hash and chained_hash[sid] != expected:
            problems.append(f"session {sid}: recording hash in the sessions row differs from the audit trail")
    return VerifyReport(ok=not problems, problems=problems, events_checked=count, recordings_checked=checked)


# --- 1: authentication, TOTP (codes T11xx) -----------------------------------------------------------
# `user` is the name whose TOTP secret is used (a reviewer giving a verdict, later a person logging in).
@dataclass(frozen=True, kw_only=True)
class TotpEnrolled(AuditEvent):
    """A TOTP secret was created (or replaced) for `user`. Never carries the secret."""

    name = "totp.enrolled"
    code = "T1100I"
    issuer: str = "bastion"
    replaced: bool = False


@dataclass(frozen=True, kw_only=True)
class TotpVerified(AuditEvent):
    name = "totp.verified"
    code = "T1101I"
    purpose: str = ""


@dataclass(frozen=True, kw_only=True)
class TotpFailed(AuditEvent):
    """A TOTP code was refused. reason: bad_code | replayed | not_enrolled | locked_out."""

    name = "totp.failed"
    code = "T1102W"
    reason: str
    failures: int = 0
    purpose: str = ""


@dataclass(frozen=True, kw_only=True)
class TotpLockedOut(AuditEvent):
    name = "totp.locked_out"
    code = "T1103W"
    failures: int
    until: float


# --- 7: approvals ----------------------------------------------------------------------------------
# `user` is who acted: the requester for requested/expired/cancelled/grant_used, the reviewer for verdicts.
@dataclass(frozen=True, kw_only=True)
class ApprovalCreated(AuditEvent):
    name = "approval.created"
    code = "T7000I"
    request_id: int
    target: str
    command: str
    rules: tuple[str, ...] = ()
    reason: str = ""
    policy_version: str | None = None
    expires_at: float
    approvers_required: int = 1


@dataclass(frozen=True, kw_only=True)
class ApprovalApproved(AuditEvent):
    name = "approval.approved"
    code = "T7001I"
    request_id: int
    requester: str
    approvals: tuple[str, ...] = ()
    reason: str = ""
    grant_until: float | None = None


@dataclass(frozen=True, kw_only=True)
class ApprovalPartiallyApproved(AuditEvent):
    """One of several required approvals was given; the request stays pending."""

    name = "approval.partially_approved"
    code = "T7002I"
    request_id: int
    requester: str
    approvals: tuple[str, ...] = ()
    required: int = 2
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class ApprovalDenied(AuditEvent):
    name = "approval.denied"
    code = "T7003W"
    request_id: int
    requester: str
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class ApprovalExpired(AuditEvent):
    """No verdict in time (reason "timeout"), or left pending by a previous process ("gateway restarted")."""

    name = "approval.expired"
    code = "T7004W"
    request_id: int
    reason: str = "timeout"


@dataclass(frozen=True, kw_only=True)
class ApprovalCancelled(AuditEvent):
    name = "approval.cancelled"
    code = "T7005I"
    request_id: int
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class ApprovalVerdictRefused(AuditEvent):
    """A verdict was refused before any TOTP check (own request, not pending, already approved, grant too
    long, not a reviewer). Bad TOTP codes are `totp.failed` events."""

    name = "approval.verdict_refused"
    code = "T7006W"
    request_id: int
    refusal: str
    detail: str = ""


@dataclass(frozen=True, kw_only=True)
class ApprovalGrantCreated(AuditEvent):
    name = "approval.grant_created"
    code = "T7007I"
    grant_id: int
    request_id: int
    requester: str
    target: str
    rules: tuple[str, ...] = ()
    grant_key: str
    expires_at: float


@dataclass(frozen=True, kw_only=True)
class ApprovalGrantUsed(AuditEvent):
    """A command ran without asking because a live grant matched it."""

    name = "approval.grant_used"
    code = "T7008I"
    grant_id: int
    request_id: int
    target: str
    rules: tuple[str, ...] = ()
    grant_key: str
    command: str | None = None
    uses: int = 1


@dataclass(frozen=True, kw_only=True)
class ApprovalGrantRevoked(AuditEvent):
    name = "approval.grant_revoked"
    code = "T7009I"
    grant_id: int
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class ApprovalNotified(AuditEvent):
    """The webhook accepted the notification of a new request (the URL itself is never recorded)."""

    name = "approval.notified"
    code = "T7010I"
    request_id: int
    host: str
    attempts: int = 1


@dataclass(frozen=True, kw_only=True)
class ApprovalNotifyFailed(AuditEvent):
    name = "approval.notify_failed"
    code = "T7011W"
    request_id: int
    host: str
    attempts: int
    error: str
