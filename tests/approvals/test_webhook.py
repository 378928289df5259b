"""The broker with a real webhook notifier: a new request pages, a failing webhook changes nothing."""

from __future__ import annotations

import asyncio

from bastion.notify import WebhookNotifier
from tests.approvals.conftest import audit_rows, hold_kwargs
from tests.test_notify import Hook


async def test_a_new_request_is_posted_to_the_webhook(make_broker, audit, store):
    hook = Hook()
    try:
        notifier = WebhookNotifier(hook.url, audit=audit, backoff=0.01)
        broker = make_broker(notifier=notifier)
        req = await broker.request(**hold_kwargs())
        await asyncio.wait_for(notifier.drain(), 5)
        assert hook.bodies[0]["request"]["id"] == req.id
        assert audit_rows(store, "approval.notified")[0]["data"]["request_id"] == req.id
    finally:
        hook.close()


async def test_a_failing_webhook_neither_blocks_nor_decides(make_broker, audit, store):
    hook = Hook(statuses=[500] * 10)
    try:
        notifier = WebhookNotifier(hook.url, audit=audit, retries=2, backoff=0.01)
        broker = make_broker(notifier=notifier)
        req = await broker.request(**hold_kwargs())
        assert broker.get(req.id).state == "pending"  # request() returned before any delivery
        await asyncio.wait_for(notifier.drain(), 5)
        assert broker.get(req.id).state == "pending"
        failed = audit_rows(store, "approval.notify_failed")
        assert len(failed) == 1 and failed[0]["data"]["attempts"] == 3
    finally:
        hook.close()
