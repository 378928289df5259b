"""Just-in-time approval of held commands: request → wait → verdict (with TOTP) | expiry | cancel.

`ApprovalBroker` owns the lifecycle of approval requests; the session asks it for a verdict when the policy
says `review`, the `bastion-review` API hands it reviewers' verdicts. It fails closed: a request that gets no
verdict in time expires (a denial); a request left pending by a previous process is expired at start; any
store or audit failure propagates, so the held command does not run.

Lifecycle (every arrow is an audit event and a ("changed", request) push to subscribers):

    pending ──approve (enough distinct reviewers)──► approved   (optionally with a grant for N seconds)
       │   └─approve (more reviewers needed)──► pending (approvals grows; approval.partially_approved)
       ├─deny (any one reviewer)──► denied
       ├─expires_at passed (injected clock)──► expired
       ├─client hung up / Ctrl-C──► cancelled
       └─found pending by recover() at start──► expired ("gateway restarted")

Verdict checks, in order, each refused with its own `ApprovalError` subclass and audited: the request
exists; the caller is a reviewer (when groups are given); it is still pending and not past its deadline;
four eyes (nobody decides their own request); a reviewer approves once; the grant is within bounds; then
the TOTP code (its own `TotpError`s, audited by the verifier). Checks come before the TOTP code, so a
refused verdict never spends a code.

Everything here runs on the gateway's event loop: the sync methods are small SQLite calls, and state lives
in the store, so no two coroutines can interleave inside a transition.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Protocol

from bastion.audit import (
    ApprovalApproved,
    ApprovalCancelled,
    ApprovalDenied,
    ApprovalExpired,
    ApprovalGrantCreated,
    ApprovalGrantRevoked,
    ApprovalGrantUsed,
    ApprovalPartiallyApproved,
    ApprovalCreated,
    ApprovalVerdictRefused,
    AuditLog,
)
from bastion.clock import Clock
from bastion.errors import ApprovalError, StoreError
from bastion.store import approvals as q
from bastion.store.db import Store

if TYPE_CHECKING:
    from bastion.identity.totp import TotpVerifier

log = logging.getLogger(__name__)

RESTART_REASON = "gateway restarted"


# --- errors ----------------------------------------------------------------------------------------
class VerdictRefused(ApprovalError):
    """A verdict cannot be accepted. `reason_code` is stable and machine-readable (the review API sends it)."""

    reason_code = "refused"


class UnknownApprovalRequest(VerdictRefused):
    """No approval request has that id."""

    reason_code = "unknown_request"


class ApprovalNotPending(VerdictRefused):
    """The request was already approved, denied, expired or cancelled; `state` says which."""

    reason_code = "not_pending"

    def __init__(self, message: str, *, state: str) -> None:
        super().__init__(message)
        self.state = state


class OwnRequestRefused(VerdictRefused):
    """Four eyes: a reviewer tried to decide a request for a command they submitted themselves."""

    reason_code = "own_request"


class NotAReviewer(VerdictRefused):
    """The caller is not in the configured reviewer group."""

    reason_code = "not_reviewer"


class AlreadyApprovedByReviewer(VerdictRefused):
    """The reviewer already approved this request; a rule that needs two approvers needs two people."""

    reason_code = "already_approved"


class GrantOutOfBounds(VerdictRefused):
    """A grant duration was not positive or was longer than the configured maximum."""

    reason_code = "grant_too_long"


# --- values ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ApprovalSettings:
    """Validated at construction; the gateway builds it from bastion.yaml."""

    default_timeout: float = 600.0  # seconds, when the rule gives none
    max_grant: float = 8 * 3600.0
    reviewer_group: str = "reviewers"

    def __post_init__(self) -> None:
        if self.default_timeout <= 0:
            raise ValueError("approvals: default_timeout must be > 0 seconds")
        if self.max_grant < 0:
            raise ValueError("approvals: max_grant must be >= 0 seconds (0 disables grants)")


@dataclass(frozen=True)
class ApprovalRequest:
    """One approval request as a value (a row of the `approvals` table). Times are epoch seconds."""

    id: int
    session_id: str
    user: str
    groups: tuple[str, ...]
    target: str
    command: str
    grant_key: str  # what a grant matches: the normalised command
    rules: tuple[str, ...]
    reason: str
    policy_version: str
    requested_at: float
    expires_at: float
    approvers_required: int
    state: str  # pending | approved | denied | expired | cancelled
    approvals: tuple[str, ...]  # reviewers who approved so far
    decided_by: str | None
    decided_at: float | None
    decision_reason: str | None
    grant_until: float | None
    grant_offer: float | None = None  # smallest grant (seconds) every approver so far offered

    @property
    def is_final(self) -> bool:
        return self.state != "pending"

    @property
    def rule(self) -> str:
        """The rule ids as one label, for messages (`pkg-install`, `a,b`)."""
        return ",".join(self.rules) or "-"

    def held_marker(self) -> str:
        """Recording marker when the command is held: `held #42 (rule pkg-install)`."""
        return f"held #{self.id} (rule {self.rule})"

    def verdict_marker(self) -> str:
        """Recording marker for the outcome: `approved by carol`, `denied by carol`, `expired`, ..."""
        if self.state in ("approved", "denied"):
            who = " and ".join(self.approvals) if self.state == "approved" and self.approvals else self.decided_by
            return f"{self.state} by {who} (#{self.id})"
        return f"{self.state} (#{self.id})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (tuples as lists), for the review API and the webhook."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


@dataclass(frozen=True)
class Grant:
    """A reviewer's "this command for N seconds": the same user, target, rules and grant key run without
    asking until `expires_at`."""

    id: int
    request_id: int
    user: str
    target: str
    rules: tuple[str, ...]
    grant_key: str
    granted_by: str
    granted_at: float
    expires_at: float
    uses: int
    revoked_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


class Notifier(Protocol):
    def notify_request(self, request: ApprovalRequest) -> None:
        """Tell someone a request is waiting. Must not block and must not raise."""


# --- subscriptions ---------------------------------------------------------------------------------
_CLOSED = object()


class ApprovalSubscription:
    """An async iterator of ("new" | "changed", ApprovalRequest) pushes, bounded by `maxsize`.

    A subscriber that falls `maxsize` events behind is never waited for: further events are dropped until
    it has drained its queue, then it receives one ("lagged", None) exactly where the gap is, and should
    re-read `broker.pending()` to catch up.
    """

    def __init__(self, broker: "ApprovalBroker", maxsize: int) -> None:
        self._broker = broker
        self._queue: asyncio.Queue = asyncio.Queue(maxsize=max(1, maxsize))
        self._lagged = False
        self._closed = False
        self.dropped = 0

    def _push(self, kind: str, request: ApprovalRequest) -> None:
        if self._closed:
            return
        if self._lagged:
            # INVARIANT: nothing is queued behind a gap, so "lagged" arrives exactly where events were lost.
            self.dropped += 1
            return
        try:
            self._queue.put_nowait((kind, request))
        except asyncio.QueueFull:
            self._lagged = True
            self.dropped += 1

    def __aiter__(self) -> "ApprovalSubscription":
        return self

    async def __anext__(self) -> tuple[str, ApprovalRequest | None]:
        if self._queue.empty():
            if self._lagged:
                self._lagged = False
                return ("lagged", None)
            if self._closed:
                raise StopAsyncIteration
        item = await self._queue.get()
        if item is _CLOSED:
            raise StopAsyncIteration
        return item

    def close(self) -> None:
        """Stop receiving; a consumer blocked in `async for` ends its loop."""
        if self._closed:
            return
        self._closed = True
        self._broker._subscriptions.discard(self)
        while not self._queue.empty():  # make room for the wake-up
            self._queue.get_nowait()
        self._queue.put_nowait(_CLOSED)


# --- the broker ------------------------------------------------------------------------------------
class ApprovalBroker:
    """Creates, resolves and expires approval requests and grants; see the module docstring."""

    def __init__(
        self,
        store: Store,
        audit: AuditLog,
        clock: Clock,
        settings: ApprovalSettings,
        totp: "TotpVerifier",
        notifier: Notifier | None = None,
    ) -> None:
        self._store = store
        self._audit = audit
        self._clock = clock
        self.settings = settings
        self._totp = totp
        self._notifier = notifier
        self._waiters: dict[int, asyncio.Event] = {}
        self._subscriptions: set[ApprovalSubscription] = set()
        self._created_here: set[int] = set()

    # --- start -------------------------------------------------------------------------------------
    def recover(self) -> list[int]:
        """At start: expire every request a previous process left pending (its client is gone).
        Returns their ids. Requests this broker created itself are left alone."""
        expired = []
        for request_id in q.pending_ids(self._store):
            if request_id in self._created_here:
                continue
            if self._finish(request_id, "expired", reason=RESTART_REASON) is not None:
                expired.append(request_id)
        return expired

    # --- the session's side ------------------------------------------------------------------------
    def find_grant(
        self,
        *,
        user: str,
        target: str,
        rules: Sequence[str],
        grant_key: str,
        session_id: str | None = None,
        command: str | None = None,
    ) -> Grant | None:
        """A live grant for exactly this user, target, rule set and grant key, or None. A hit counts as a
        use: it is recorded and audited (the caller then runs the command without asking)."""
        now = self._clock.now()
        row = q.find_live_grant(self._store, user=user, target=target, rules=rules, grant_key=grant_key, now=now)
        if row is None:
            return None
        uses = q.record_grant_use(self._store, row["id"], now)
        row["uses"] = uses
        grant = _grant(row)
        self._audit.emit(ApprovalGrantUsed(
            session_id=session_id, user=user, grant_id=grant.id, request_id=grant.request_id, target=target,
            rules=grant.rules, grant_key=grant_key, command=command, uses=uses))
        return grant

    async def request(
        self,
        *,
        session_id: str,
        user: str,
        groups: Sequence[str],
        target: str,
        command: str,
        grant_key: str,
        rules: Sequence[str],
        reason: str,
        policy_version: str,
        timeout: float | None,
        approvers_required: int,
    ) -> ApprovalRequest:
        """Create a pending request (audited, pushed to subscribers, webhook scheduled) and return it.
        The caller then awaits `wait(request.id)` and runs the command only if it comes back approved."""
        if approvers_required < 1:
            raise ApprovalError(f"approvers_required must be at least 1, got {approvers_required}")
        timeout = self.settings.default_timeout if timeout is None else float(timeout)
        if timeout <= 0:
            raise ApprovalError(f"approval timeout must be positive, got {timeout:g}s")
        now = self._clock.now()
        request_id = q.insert_request(
            self._store, session_id=session_id, user=user, groups=tuple(groups), target=target,
            command=command, grant_key=grant_key, rules=tuple(rules), reason=reason or "",
            policy_version=policy_version or "", requested_at=now, expires_at=now + timeout,
            approvers_required=approvers_required)
        self._created_here.add(request_id)
        req = self._load(request_id)
        self._audit.emit(ApprovalCreated(
            session_id=session_id, user=user, request_id=req.id, target=target, command=command,
            rules=req.rules, reason=reason, policy_version=policy_version, expires_at=req.expires_at,
            approvers_required=approvers_required))
        self._publish("new", req)
        if self._notifier is not None:
            try:
                self._notifier.notify_request(req)
            except Exception:  # a notifier must never decide or block anything
                log.exception("approval notifier failed for request %s", req.id)
        return req

    async def wait(self, request_id: int) -> ApprovalRequest:
        """Resolve when the request is approved, denied, expired or cancelled (at once if it already is)."""
        req = self._load(request_id)
        while req.state == "pending":
            event = self._waiters.get(request_id)
            if event is None:
                event = self._waiters[request_id] = asyncio.Event()
            await event.wait()
            req = self._load(request_id)
        return req

    def cancel(self, request_id: int, reason: str) -> ApprovalRequest | None:
        """The client hung up or pressed Ctrl-C: cancel the request if still pending and return it;
        None when there was nothing to cancel (unknown, or already final)."""
        return self._finish(request_id, "cancelled", reason=reason)

    # --- the reviewer's side -----------------------------------------------------------------------
    def decide(
        self,
        request_id: int,
        *,
        reviewer: str,
        approve: bool,
        reason: str,
        totp_code: str,
        grant_seconds: float | None = None,
        reviewer_groups: Sequence[str] | None = None,
    ) -> ApprovalRequest:
        """Apply a reviewer's verdict and return the request as it now stands (still `pending` after the
        first approval of a two-approver rule). Raises a `VerdictRefused` or `TotpError` subclass."""
        req = self.get(request_id)
        if req is None:
            self._refuse(request_id, reviewer, None, UnknownApprovalRequest(f"no approval request {request_id}"))
        assert req is not None
        if reviewer_groups is not None and self.settings.reviewer_group not in reviewer_groups:
            self._refuse(request_id, reviewer, req, NotAReviewer(
                f"{reviewer} is not a reviewer (not in group {self.settings.reviewer_group!r})"))
        if req.state == "pending" and self._clock.now() >= req.expires_at:
            # Past its deadline but not yet swept: expire it now rather than accept a late verdict.
            req = self._finish(request_id, "expired", reason="timeout") or self._load(request_id)
        if req.state != "pending":
            self._refuse(request_id, reviewer, req, ApprovalNotPending(
                f"request {request_id} is already {req.state}", state=req.state))
        if reviewer == req.user:
            self._refuse(request_id, reviewer, req, OwnRequestRefused(
                f"{reviewer} cannot decide request {request_id}: it is their own (four eyes)"))
        if approve and reviewer in req.approvals:
            self._refuse(request_id, reviewer, req, AlreadyApprovedByReviewer(
                f"{reviewer} already approved request {request_id}; it needs "
                f"{req.approvers_required} different reviewers"))
        if approve and grant_seconds is not None:
            if not 0 < grant_seconds <= self.settings.max_grant:
                self._refuse(request_id, reviewer, req, GrantOutOfBounds(
                    f"grant of {grant_seconds:g}s is out of bounds (0 < grant <= "
                    f"{self.settings.max_grant:g}s)"))

        self._totp.verify(reviewer, totp_code, purpose=f"approval {request_id}", session_id=req.session_id)

        if not approve:
            return self._finish(request_id, "denied", reason=reason, reviewer=reviewer) or self._stale(request_id)
        approvals = (*req.approvals, reviewer)
        offer = grant_seconds if not req.approvals else (
            min(req.grant_offer, grant_seconds) if req.grant_offer is not None and grant_seconds is not None
            else None)
        if len(approvals) < req.approvers_required:
            if not q.add_partial_approval(self._store, request_id, approvals=approvals, grant_offer=offer):
                return self._stale(request_id)
            updated = self._load(request_id)
            try:
                self._audit.emit(ApprovalPartiallyApproved(
                    session_id=req.session_id, user=reviewer, request_id=request_id, requester=req.user,
                    approvals=approvals, required=req.approvers_required, reason=reason))
            finally:
                self._publish("changed", updated)
            return updated
        return (self._finish(request_id, "approved", reason=reason, reviewer=reviewer, approvals=approvals,
                             grant_seconds=offer) or self._stale(request_id))

    # --- expiry ------------------------------------------------------------------------------------
    def expire_due(self) -> list[ApprovalRequest]:
        """Expire every pending request whose deadline has passed on the injected clock."""
        done = []
        for request_id in q.pending_ids(self._store, due_by=self._clock.now()):
            req = self._finish(request_id, "expired", reason="timeout")
            if req is not None:
                done.append(req)
        return done

    async def run_expiry(self, interval: float = 1.0) -> None:
        """Call `expire_due` every `interval` seconds until cancelled (the gateway runs this as a task)."""
        while True:
            try:
                self.expire_due()
            except StoreError:
                # Keep sweeping: the store may come back, and a request past its deadline is refused by
                # decide() anyway, so nothing is approved late.
                log.exception("approval expiry sweep failed")
            await asyncio.sleep(interval)

    # --- reading -----------------------------------------------------------------------------------
    def get(self, request_id: int) -> ApprovalRequest | None:
        row = q.get_request(self._store, request_id)
        return None if row is None else _request(row)

    def pending(self) -> builtins.list[ApprovalRequest]:
        """Every pending request, oldest first."""
        return [_request(r) for r in q.list_requests(self._store, state="pending", limit=None, newest_first=False)]

    def list(self, *, state: str | None = None, limit: int = 100) -> builtins.list[ApprovalRequest]:
        """Newest first, optionally only one state."""
        if state is not None and state not in q.STATES:
            raise ApprovalError(f"unknown approval state {state!r} (one of {', '.join(q.STATES)})")
        return [_request(r) for r in q.list_requests(self._store, state=state, limit=limit)]

    def grants(self, *, live: bool = True, limit: int = 100) -> builtins.list[Grant]:
        """Newest first; only grants still live now when `live`."""
        rows = q.list_grants(self._store, live_at=self._clock.now() if live else None, limit=limit)
        return [_grant(r) for r in rows]

    def revoke_grant(self, grant_id: int, *, by: str, reason: str = "") -> bool:
        """End a grant early. False if it is unknown or already revoked."""
        if not q.revoke_grant(self._store, grant_id, at=self._clock.now(), by=by):
            return False
        self._audit.emit(ApprovalGrantRevoked(user=by, grant_id=grant_id, reason=reason))
        return True

    def subscribe(self, maxsize: int = 1000) -> ApprovalSubscription:
        sub = ApprovalSubscription(self, maxsize)
        self._subscriptions.add(sub)
        return sub

    # --- internals ---------------------------------------------------------------------------------
    def _load(self, request_id: int) -> ApprovalRequest:
        req = self.get(request_id)
        if req is None:
            raise UnknownApprovalRequest(f"no approval request {request_id}")
        return req

    def _stale(self, request_id: int) -> ApprovalRequest:
        """The row changed under us between the checks and the write: report its real state."""
        req = self._load(request_id)
        raise ApprovalNotPending(f"request {request_id} is already {req.state}", state=req.state)

    def _refuse(self, request_id: int, reviewer: str, req: ApprovalRequest | None, exc: VerdictRefused) -> None:
        self._audit.emit(ApprovalVerdictRefused(
            session_id=req.session_id if req else None, user=reviewer, request_id=request_id,
            refusal=exc.reason_code, detail=str(exc)))
        raise exc

    def _finish(
        self,
        request_id: int,
        state: str,
        *,
        reason: str,
        reviewer: str | None = None,
        approvals: Sequence[str] | None = None,
        grant_seconds: float | None = None,
    ) -> ApprovalRequest | None:
        """Move a pending request to a final state, audit it, push it and wake its waiters. None (and no
        event) if it was no longer pending."""
        now = self._clock.now()
        grant_id = None
        grant_until = now + grant_seconds if grant_seconds else None
        try:
            with self._store.db.atomic():
                if not q.finish_request(self._store, request_id, state=state, decided_at=now,
                                        decided_by=reviewer, decision_reason=reason, approvals=approvals,
                                        grant_until=grant_until):
                    return None
                row = q.get_request(self._store, request_id)
                assert row is not None
                if grant_until is not None and reviewer is not None:
                    grant_id = q.insert_grant(
                        self._store, request_id=request_id, user=row["user"], target=row["target"],
                        rules=row["rules"], grant_key=row["grant_key"], granted_by=reviewer, granted_at=now,
                        expires_at=grant_until)
        except Exception as exc:
            if isinstance(exc, StoreError):
                raise
            raise StoreError(f"cannot record approval request {request_id} as {state}: {exc}") from exc
        req = _request(row)
        # Audit after the commit (the hash chain must never hold a rolled-back row); push and wake even
        # if the audit write fails, so no waiter hangs on a request that is already final.
        try:
            self._audit.emit(self._event_for(req, reason))
            if grant_id is not None:
                self._audit.emit(ApprovalGrantCreated(
                    session_id=req.session_id, user=reviewer, grant_id=grant_id, request_id=req.id,
                    requester=req.user, target=req.target, rules=req.rules, grant_key=req.grant_key,
                    expires_at=grant_until))
        finally:
            self._publish("changed", req)
            event = self._waiters.pop(request_id, None)
            if event is not None:
                event.set()
            self._created_here.discard(request_id)
        return req

    def _event_for(self, req: ApprovalRequest, reason: str):
        common = {"session_id": req.session_id, "request_id": req.id}
        if req.state == "approved":
            return ApprovalApproved(user=req.decided_by, requester=req.user, approvals=req.approvals,
                                    reason=reason, grant_until=req.grant_until, **common)
        if req.state == "denied":
            return ApprovalDenied(user=req.decided_by, requester=req.user, reason=reason, **common)
        if req.state == "expired":
            return ApprovalExpired(user=req.user, reason=reason, **common)
        return ApprovalCancelled(user=req.user, reason=reason, **common)

    def _publish(self, kind: str, req: ApprovalRequest) -> None:
        for sub in builtins.list(self._subscriptions):
            sub._push(kind, req)


def _request(row: dict) -> ApprovalRequest:
    return ApprovalRequest(
        id=int(row["id"]), session_id=row["session_id"], user=row["user"], groups=tuple(row["groups"]),
        target=row["target"], command=row["command"], grant_key=row["grant_key"], rules=tuple(row["rules"]),
        reason=row["reason"], policy_version=row["policy_version"], requested_at=row["requested_at"],
        expires_at=row["expires_at"], approvers_required=int(row["approvers_required"]), state=row["state"],
        approvals=tuple(row["approvals"]), decided_by=row["decided_by"], decided_at=row["decided_at"],
        decision_reason=row["decision_reason"], grant_until=row["grant_until"], grant_offer=row["grant_offer"])


def _grant(row: dict) -> Grant:
    return Grant(
        id=int(row["id"]), request_id=int(row["request_id"]), user=row["user"], target=row["target"],
        rules=tuple(row["rules"]), grant_key=row["grant_key"], granted_by=row["granted_by"],
        granted_at=row["granted_at"], expires_at=row["expires_at"], uses=int(row["uses"]),
        revoked_at=row["revoked_at"])
