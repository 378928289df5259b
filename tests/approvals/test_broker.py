"""The approval broker against a real SQLite file, the real audit chain and real TOTP codes (FakeClock)."""

from __future__ import annotations

import asyncio

import pytest

from bastion.approvals import (
    AlreadyApprovedByReviewer,
    ApprovalBroker,
    ApprovalNotPending,
    ApprovalSettings,
    GrantOutOfBounds,
    NotAReviewer,
    OwnRequestRefused,
    UnknownApprovalRequest,
)
from bastion.audit import SqliteAuditLog
from bastion.errors import ApprovalError, IdentityError
from bastion.identity.totp import BadTotpCode, ReplayedTotpCode, TotpLockedOut, TotpVerifier
from bastion.store import audit_events
from bastion.store.db import Store
from tests.approvals.conftest import audit_rows, hold_kwargs


async def test_approve_with_valid_code_releases_the_waiter(broker, phone, store):
    req = await broker.request(**hold_kwargs())
    assert req.state == "pending" and req.expires_at == req.requested_at + 600
    waiter = asyncio.create_task(broker.wait(req.id))
    await asyncio.sleep(0)
    assert not waiter.done()

    decided = broker.decide(req.id, reviewer="carol", approve=True, reason="looks fine",
                            totp_code=phone.code("carol"))
    final = await asyncio.wait_for(waiter, 1)
    assert decided == final
    assert final.state == "approved" and final.approvals == ("carol",) and final.decided_by == "carol"
    assert final.decision_reason == "looks fine" and final.grant_until is None
    assert final.verdict_marker() == f"approved by carol (#{req.id})"
    assert req.held_marker() == f"held #{req.id} (rule pkg-install)"
    names = [r["name"] for r in audit_rows(store) if r["name"].startswith(("approval.", "totp.v"))]
    assert names == ["approval.created", "totp.verified", "approval.approved"]
    approved = audit_rows(store, "approval.approved")[0]
    assert approved["user"] == "carol" and approved["session_id"] == "s-1"
    assert approved["data"]["requester"] == "alice" and approved["data"]["request_id"] == req.id
    assert audit_events.verify_chain(store) is None


async def test_deny_resolves_denied_with_the_reviewers_reason(broker, phone, store):
    req = await broker.request(**hold_kwargs())
    out = broker.decide(req.id, reviewer="carol", approve=False, reason="not on prod",
                        totp_code=phone.code("carol"))
    assert out.state == "denied" and out.decided_by == "carol" and out.decision_reason == "not on prod"
    assert (await broker.wait(req.id)).state == "denied"
    assert audit_rows(store, "approval.denied")[0]["data"]["reason"] == "not on prod"


async def test_wrong_code_is_refused_and_the_request_stays_pending(broker, phone, store):
    req = await broker.request(**hold_kwargs())
    good = phone.code("carol")
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"
    with pytest.raises(BadTotpCode, match="bad TOTP code for carol"):
        broker.decide(req.id, reviewer="carol", approve=True, reason="", totp_code=wrong)
    assert broker.get(req.id).state == "pending"
    assert audit_rows(store, "totp.failed")[0]["data"]["reason"] == "bad_code"
    # The right code still works afterwards.
    assert broker.decide(req.id, reviewer="carol", approve=True, reason="", totp_code=good).state == "approved"


async def test_a_code_is_accepted_once(broker, phone, store, clock):
    first = await broker.request(**hold_kwargs())
    second = await broker.request(**hold_kwargs(session_id="s-2"))
    code = phone.code("carol")
    broker.decide(first.id, reviewer="carol", approve=True, reason="", totp_code=code)
    with pytest.raises(ReplayedTotpCode):
        broker.decide(second.id, reviewer="carol", approve=True, reason="", totp_code=code)
    assert broker.get(second.id).state == "pending"
    assert audit_rows(store, "totp.failed")[-1]["data"]["reason"] == "replayed"
    clock.advance(30)  # the next code works
    assert broker.decide(second.id, reviewer="carol", approve=True, reason="",
                         totp_code=phone.code("carol")).state == "approved"


async def test_nobody_decides_their_own_request_and_no_code_is_spent(broker, phone, store):
    req = await broker.request(**hold_kwargs(user="carol"))
    code = phone.code("carol")
    for approve in (True, False):
        with pytest.raises(OwnRequestRefused, match="four eyes"):
            broker.decide(req.id, reviewer="carol", approve=approve, reason="", totp_code=code)
    refused = audit_rows(store, "approval.verdict_refused")
    assert [r["data"]["refusal"] for r in refused] == ["own_request", "own_request"]
    assert not audit_rows(store, "totp.verified") and not audit_rows(store, "totp.failed")
    assert broker.get(req.id).state == "pending"
    # carol's code was not consumed: she can still use it on someone else's request.
    other = await broker.request(**hold_kwargs(session_id="s-2"))
    assert broker.decide(other.id, reviewer="carol", approve=True, reason="", totp_code=code).state == "approved"


async def test_expiry_follows_the_injected_clock_and_denies(broker, phone, clock, store):
    req = await broker.request(**hold_kwargs())
    short = await broker.request(**hold_kwargs(session_id="s-2", timeout=60))
    waiter = asyncio.create_task(broker.wait(short.id))
    clock.advance(59)
    assert broker.expire_due() == []
    clock.advance(1)
    expired = broker.expire_due()
    assert [r.id for r in expired] == [short.id] and expired[0].state == "expired"
    assert (await asyncio.wait_for(waiter, 1)).state == "expired"
    clock.advance(541)  # past the default 10 minutes
    assert [r.id for r in broker.expire_due()] == [req.id]
    with pytest.raises(ApprovalNotPending, match="already expired") as info:
        broker.decide(req.id, reviewer="carol", approve=True, reason="", totp_code=phone.code("carol"))
    assert info.value.state == "expired" and info.value.reason_code == "not_pending"
    reasons = [r["data"]["reason"] for r in audit_rows(store, "approval.expired")]
    assert reasons == ["timeout", "timeout"]


async def test_a_late_verdict_before_the_sweep_is_refused_and_expires_the_request(broker, phone, clock):
    req = await broker.request(**hold_kwargs())
    clock.advance(600)
    with pytest.raises(ApprovalNotPending):
        broker.decide(req.id, reviewer="carol", approve=True, reason="", totp_code=phone.code("carol"))
    assert (await broker.wait(req.id)).state == "expired"


async def test_lockout_after_five_bad_codes_refuses_even_a_good_one(broker, phone, clock, store):
    req = await broker.request(**hold_kwargs())
    for _ in range(4):
        with pytest.raises(BadTotpCode):
            broker.decide(req.id, reviewer="carol", approve=True, reason="", totp_code="000000")
    with pytest.raises(TotpLockedOut, match="locked out"):
        broker.decide(req.id, reviewer="carol", approve=True, reason="", totp_code="000000")
    with pytest.raises(TotpLockedOut):
        broker.decide(req.id, reviewer="carol", approve=True, reason="", totp_code=phone.code("carol"))
    assert broker.get(req.id).state == "pending"
    assert len(audit_rows(store, "totp.locked_out")) == 1
    # dave is not affected by carol's lockout.
    assert broker.decide(req.id, reviewer="dave", approve=True, reason="",
                         totp_code=phone.code("dave")).state == "approved"


async def test_two_approver_rule_needs_two_distinct_reviewers(broker, phone, clock, store):
    req = await broker.request(**hold_kwargs(approvers_required=2))
    waiter = asyncio.create_task(broker.wait(req.id))
    half = broker.decide(req.id, reviewer="carol", approve=True, reason="ok", totp_code=phone.code("carol"))
    assert half.state == "pending" and half.approvals == ("carol",)
    await asyncio.sleep(0)
    assert not waiter.done()
    clock.advance(30)
    with pytest.raises(AlreadyApprovedByReviewer, match="2 different reviewers"):
        broker.decide(req.id, reviewer="carol", approve=True, reason="again", totp_code=phone.code("carol"))
    full = broker.decide(req.id, reviewer="dave", approve=True, reason="ok too", totp_code=phone.code("dave"))
    assert full.state == "approved" and full.approvals == ("carol", "dave") and full.decided_by == "dave"
    assert (await asyncio.wait_for(waiter, 1)).state == "approved"
    assert full.verdict_marker() == f"approved by carol and dave (#{req.id})"
    partial = audit_rows(store, "approval.partially_approved")
    assert len(partial) == 1 and partial[0]["user"] == "carol" and partial[0]["data"]["required"] == 2


async def test_one_denial_is_enough_on_a_two_approver_rule(broker, phone, clock):
    req = await broker.request(**hold_kwargs(approvers_required=2))
    broker.decide(req.id, reviewer="carol", approve=True, reason="", totp_code=phone.code("carol"))
    out = broker.decide(req.id, reviewer="dave", approve=False, reason="no", totp_code=phone.code("dave"))
    assert out.state == "denied" and out.approvals == ("carol",)


async def test_grant_lets_the_same_command_run_without_asking_until_it_expires(broker, phone, clock, store):
    req = await broker.request(**hold_kwargs())
    out = broker.decide(req.id, reviewer="carol", approve=True, reason="for the deploy",
                        totp_code=phone.code("carol"), grant_seconds=1800)
    assert out.grant_until == clock.now() + 1800
    match = dict(user="alice", target="web-1", rules=("pkg-install",), grant_key="apt-get install -y jq")

    first = broker.find_grant(**match, session_id="s-9", command="apt-get install -y jq")
    second = broker.find_grant(**match)
    assert first is not None and second is not None
    assert first.request_id == req.id and first.granted_by == "carol" and (first.uses, second.uses) == (1, 2)
    uses = audit_rows(store, "approval.grant_used")
    assert [u["data"]["uses"] for u in uses] == [1, 2]
    assert uses[0]["session_id"] == "s-9" and uses[0]["user"] == "alice"
    assert len(audit_rows(store, "approval.grant_created")) == 1

    # Anything else still asks: another user, target, rule set or command.
    for change in (dict(user="bob"), dict(target="web-2"), dict(rules=("pkg-install", "other")),
                   dict(grant_key="apt-get install -y curl")):
        assert broker.find_grant(**{**match, **change}) is None
    assert len(audit_rows(store, "approval.grant_used")) == 2
    # Rule order does not matter.
    assert broker.find_grant(**{**match, "rules": ("pkg-install", "pkg-install")}) is not None

    clock.advance(1799)
    assert broker.find_grant(**match) is not None
    clock.advance(1)
    assert broker.find_grant(**match) is None
    assert broker.grants() == [] and len(broker.grants(live=False)) == 1


async def test_grants_are_bounded_and_can_be_revoked(broker, phone, clock, store):
    req = await broker.request(**hold_kwargs())
    for seconds in (8 * 3600 + 1, 0, -5):
        with pytest.raises(GrantOutOfBounds):
            broker.decide(req.id, reviewer="carol", approve=True, reason="", totp_code=phone.code("carol"),
                          grant_seconds=seconds)
    assert broker.get(req.id).state == "pending"
    out = broker.decide(req.id, reviewer="carol", approve=True, reason="", totp_code=phone.code("carol"),
                        grant_seconds=8 * 3600)
    grant = broker.grants()[0]
    assert grant.expires_at == out.grant_until
    assert broker.revoke_grant(grant.id, by="carol", reason="done") is True
    assert broker.revoke_grant(grant.id, by="carol") is False
    assert broker.find_grant(user="alice", target="web-1", rules=("pkg-install",),
                             grant_key="apt-get install -y jq") is None
    assert audit_rows(store, "approval.grant_revoked")[0]["data"]["grant_id"] == grant.id


async def test_two_approver_grant_is_the_shortest_offered_and_needs_every_approver(broker, phone, clock):
    a = await broker.request(**hold_kwargs(approvers_required=2))
    broker.decide(a.id, reviewer="carol", approve=True, reason="", totp_code=phone.code("carol"),
                  grant_seconds=3600)
    out = broker.decide(a.id, reviewer="dave", approve=True, reason="", totp_code=phone.code("dave"),
                        grant_seconds=600)
    assert out.grant_until == clock.now() + 600
    clock.advance(30)
    b = await broker.request(**hold_kwargs(approvers_required=2, grant_key="other"))
    broker.decide(b.id, reviewer="carol", approve=True, reason="", totp_code=phone.code("carol"),
                  grant_seconds=3600)
    out = broker.decide(b.id, reviewer="dave", approve=True, reason="", totp_code=phone.code("dave"))
    assert out.state == "approved" and out.grant_until is None


async def test_cancel_resolves_the_waiter_and_blocks_later_verdicts(broker, phone, store):
    req = await broker.request(**hold_kwargs())
    waiter = asyncio.create_task(broker.wait(req.id))
    cancelled = broker.cancel(req.id, "client pressed Ctrl-C")
    assert cancelled is not None and cancelled.state == "cancelled"
    assert (await asyncio.wait_for(waiter, 1)).state == "cancelled"
    assert broker.cancel(req.id, "again") is None
    assert broker.cancel(9999, "unknown") is None
    with pytest.raises(ApprovalNotPending, match="already cancelled"):
        broker.decide(req.id, reviewer="carol", approve=True, reason="", totp_code=phone.code("carol"))
    assert audit_rows(store, "approval.cancelled")[0]["data"]["reason"] == "client pressed Ctrl-C"


async def test_recover_expires_what_a_previous_process_left_pending(db_path, clock, phone):
    # First process: two requests, one decided, one left pending when it "dies".
    s1 = Store.open(db_path, clock=clock)
    a1 = SqliteAuditLog(s1, clock)
    b1 = ApprovalBroker(s1, a1, clock, ApprovalSettings(), TotpVerifier(s1, clock, a1))
    left = await b1.request(**hold_kwargs())
    done = await b1.request(**hold_kwargs(session_id="s-2"))
    b1.decide(done.id, reviewer="carol", approve=True, reason="", totp_code=phone.code("carol"))
    assert b1.recover() == []  # its own live requests are not touched
    s1.close()

    s2 = Store.open(db_path, clock=clock)
    a2 = SqliteAuditLog(s2, clock)
    b2 = ApprovalBroker(s2, a2, clock, ApprovalSettings(), TotpVerifier(s2, clock, a2))
    assert b2.recover() == [left.id]
    assert b2.get(left.id).state == "expired" and b2.get(done.id).state == "approved"
    assert (await b2.wait(left.id)).state == "expired"
    assert audit_rows(s2, "approval.expired")[0]["data"]["reason"] == "gateway restarted"
    assert b2.recover() == []
    assert audit_events.verify_chain(s2) is None
    s2.close()


async def test_subscribers_get_new_and_changed_events(broker, phone):
    sub = broker.subscribe()
    req = await broker.request(**hold_kwargs())
    broker.decide(req.id, reviewer="carol", approve=True, reason="", totp_code=phone.code("carol"))
    kind1, ev1 = await asyncio.wait_for(anext(sub), 1)
    kind2, ev2 = await asyncio.wait_for(anext(sub), 1)
    assert (kind1, ev1.id, ev1.state) == ("new", req.id, "pending")
    assert (kind2, ev2.id, ev2.state) == ("changed", req.id, "approved")
    sub.close()
    with pytest.raises(StopAsyncIteration):
        await anext(sub)


async def test_a_slow_subscriber_lags_instead_of_blocking_the_broker(broker):
    slow = broker.subscribe(maxsize=2)
    fast = broker.subscribe(maxsize=100)
    ids = [(await broker.request(**hold_kwargs(session_id=f"s-{i}"))).id for i in range(5)]
    # The broker did not wait for anyone: all five exist.
    assert [r.id for r in broker.pending()] == ids
    got = [await asyncio.wait_for(anext(slow), 1) for _ in range(3)]
    assert [(k, r.id) for k, r in got[:2]] == [("new", ids[0]), ("new", ids[1])]
    assert got[2] == ("lagged", None) and slow.dropped == 3
    # After the gap it receives new events again.
    broker.cancel(ids[4], "hung up")
    kind, req = await asyncio.wait_for(anext(slow), 1)
    assert (kind, req.id, req.state) == ("changed", ids[4], "cancelled")
    fast_kinds = [(await anext(fast))[0] for _ in range(6)]
    assert fast_kinds == ["new"] * 5 + ["changed"]


async def test_a_closed_subscription_ends_a_blocked_consumer(broker):
    sub = broker.subscribe()
    consumer = asyncio.create_task(anext(sub))
    await asyncio.sleep(0)
    sub.close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(consumer, 1)
    await broker.request(**hold_kwargs())  # publishing to a closed subscription is harmless


async def test_refusals_for_unknown_requests_and_non_reviewers(broker, phone, store):
    with pytest.raises(UnknownApprovalRequest):
        broker.decide(404, reviewer="carol", approve=True, reason="", totp_code=phone.code("carol"))
    req = await broker.request(**hold_kwargs())
    with pytest.raises(NotAReviewer, match="not a reviewer"):
        broker.decide(req.id, reviewer="dave", approve=True, reason="", totp_code=phone.code("dave"),
                      reviewer_groups=("agents",))
    out = broker.decide(req.id, reviewer="carol", approve=True, reason="", totp_code=phone.code("carol"),
                        reviewer_groups=("reviewers", "ops"))
    assert out.state == "approved"
    assert [r["data"]["refusal"] for r in audit_rows(store, "approval.verdict_refused")] == [
        "unknown_request", "not_reviewer"]


async def test_errors_sit_in_the_one_tree():
    assert issubclass(OwnRequestRefused, ApprovalError) and issubclass(BadTotpCode, IdentityError)
    with pytest.raises(ValueError):
        ApprovalSettings(default_timeout=0)


async def test_bad_request_arguments_are_refused(broker):
    with pytest.raises(ApprovalError):
        await broker.request(**hold_kwargs(approvers_required=0))
    with pytest.raises(ApprovalError):
        await broker.request(**hold_kwargs(timeout=0))
    with pytest.raises(ApprovalError):
        broker.list(state="maybe")


async def test_a_failing_notifier_never_stops_a_request(make_broker):
    class Broken:
        def notify_request(self, request):
            raise RuntimeError("boom")

    broker = make_broker(notifier=Broken())
    req = await broker.request(**hold_kwargs())
    assert broker.get(req.id).state == "pending"


async def test_list_and_to_dict(broker, phone):
    a = await broker.request(**hold_kwargs())
    b = await broker.request(**hold_kwargs(session_id="s-2"))
    broker.decide(a.id, reviewer="carol", approve=False, reason="", totp_code=phone.code("carol"))
    assert [r.id for r in broker.list()] == [b.id, a.id]
    assert [r.id for r in broker.list(state="denied")] == [a.id]
    d = broker.get(b.id).to_dict()
    assert d["rules"] == ["pkg-install"] and d["groups"] == ["agents"] and d["state"] == "pending"


async def test_run_expiry_sweeps_in_the_background(broker, clock):
    req = await broker.request(**hold_kwargs(timeout=5))
    clock.advance(5)
    task = asyncio.create_task(broker.run_expiry(interval=0.001))
    try:
        assert (await asyncio.wait_for(broker.wait(req.id), 1)).state == "expired"
    finally:
        task.cancel()
