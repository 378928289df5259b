"""Webhook notifier against a real HTTP server on 127.0.0.1 (http.server in a thread)."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bastion.approvals import ApprovalRequest
from bastion.audit import ListAuditLog
from bastion.errors import ConfigError
from bastion.notify import WebhookNotifier, request_body

TOKEN_PATH = "/hooks/T0FAKE/B0FAKE/xxxxxxxxxxxxxxxxxxxxxxxx"  # shaped like a Slack webhook path; fake


class Hook:
    """A webhook endpoint that records every POST and answers with the scripted statuses (then 200)."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.bodies: list[dict] = []
        self.headers: list[dict] = []
        self.paths: list[str] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", "0"))
                hook.bodies.append(json.loads(self.rfile.read(length)))
                hook.headers.append(dict(self.headers))
                hook.paths.append(self.path)
                status = hook.statuses.pop(0) if hook.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{TOKEN_PATH}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook()
    yield h
    h.close()


def make_request(**overrides) -> ApprovalRequest:
    base = dict(id=42, session_id="s-1", user="alice", groups=("agents",), target="web-1",
                command="apt-get install -y jq", grant_key="apt-get install -y jq", rules=("pkg-install",),
                reason="package installs need a human", policy_version="sha256:feed",
                requested_at=1_767_225_600.0, expires_at=1_767_226_200.0, approvers_required=1, state="pending",
                approvals=(), decided_by=None, decided_at=None, decision_reason=None, grant_until=None)
    base.update(overrides)
    return ApprovalRequest(**base)


async def test_json_body_is_posted_and_audited(hook):
    audit = ListAuditLog()
    notifier = WebhookNotifier(hook.url, style="json", audit=audit, backoff=0.01)
    notifier.notify_request(make_request())
    await asyncio.wait_for(notifier.drain(), 5)
    assert len(hook.bodies) == 1
    body = hook.bodies[0]
    assert body["version"] == 1 and body["event"] == "approval.created"
    assert body["request"]["id"] == 42 and body["request"]["command"] == "apt-get install -y jq"
    assert body["request"]["rules"] == ["pkg-install"] and "web-1" in body["text"]
    assert hook.headers[0]["Content-Type"] == "application/json"
    assert hook.paths == [TOKEN_PATH]
    [event] = audit.events
    assert event.name == "approval.notified" and event.request_id == 42 and event.attempts == 1
    assert event.host == "127.0.0.1" and event.session_id == "s-1"


async def test_slack_body_has_text_and_blocks(hook):
    notifier = WebhookNotifier(hook.url, style="slack", audit=ListAuditLog())
    notifier.notify_request(make_request())
    await asyncio.wait_for(notifier.drain(), 5)
    body = hook.bodies[0]
    assert set(body) == {"text", "blocks"}
    assert "request 42" in body["text"] and "apt-get install -y jq" in body["text"]
    assert body["blocks"][0]["type"] == "section" and body["blocks"][0]["text"]["type"] == "mrkdwn"


async def test_failures_are_retried_with_backoff_then_succeed():
    hook = Hook(statuses=[500, 503])
    try:
        audit = ListAuditLog()
        notifier = WebhookNotifier(hook.url, audit=audit, retries=3, backoff=0.01)
        notifier.notify_request(make_request())
        await asyncio.wait_for(notifier.drain(), 5)
        assert len(hook.bodies) == 3
        assert [(e.name, e.attempts) for e in audit.events] == [("approval.notified", 3)]
    finally:
        hook.close()


async def test_a_failing_server_is_logged_and_audited_never_raised(caplog):
    hook = Hook(statuses=[500] * 10)
    try:
        audit = ListAuditLog()
        notifier = WebhookNotifier(hook.url, audit=audit, retries=2, backoff=0.01)
        with caplog.at_level(logging.WARNING, logger="bastion.notify"):
            notifier.notify_request(make_request())  # returns at once
            await asyncio.wait_for(notifier.drain(), 5)
        assert len(hook.bodies) == 3  # 1 + 2 retries
        [event] = audit.events
        assert event.name == "approval.notify_failed" and event.attempts == 3 and event.error == "HTTP 500"
        # The URL's path holds the token: it appears in neither the log nor the audit trail.
        assert "T0FAKE" not in caplog.text and "T0FAKE" not in json.dumps(event.data())
        assert "attempt 3 of 3" in caplog.text
    finally:
        hook.close()


async def test_an_unreachable_webhook_fails_quietly():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    audit = ListAuditLog()
    notifier = WebhookNotifier(f"http://127.0.0.1:{port}/x", audit=audit, retries=1, backoff=0.01, timeout=1)
    notifier.notify_request(make_request())
    await asyncio.wait_for(notifier.drain(), 5)
    [event] = audit.events
    assert event.name == "approval.notify_failed" and event.attempts == 2 and "Refused" in event.error


async def test_notify_never_blocks_the_caller():
    """A webhook that hangs does not delay notify_request (delivery runs on a worker thread)."""
    release = threading.Event()

    class Slow(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            release.wait(5)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    try:
        audit = ListAuditLog()
        notifier = WebhookNotifier(f"http://127.0.0.1:{server.server_address[1]}/", audit=audit)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        notifier.notify_request(make_request())
        await asyncio.sleep(0.05)  # the event loop keeps running meanwhile
        assert loop.time() - t0 < 1 and audit.events == []
        release.set()
        await asyncio.wait_for(notifier.drain(), 5)
        assert audit.events[0].name == "approval.notified"
    finally:
        release.set()
        server.shutdown()
        server.server_close()


def test_without_an_event_loop_the_failure_is_audited_not_raised(hook):
    audit = ListAuditLog()
    WebhookNotifier(hook.url, audit=audit).notify_request(make_request())
    assert audit.events[0].name == "approval.notify_failed" and audit.events[0].attempts == 0


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x", "http://", "hooks.example.com"])
def test_only_http_urls_are_accepted(url):
    with pytest.raises(ConfigError):
        WebhookNotifier(url, audit=ListAuditLog())


def test_style_is_checked_and_the_url_is_not_in_the_repr(hook):
    with pytest.raises(ConfigError):
        WebhookNotifier(hook.url, style="xml", audit=ListAuditLog())  # type: ignore[arg-type]
    assert "T0FAKE" not in repr(WebhookNotifier(hook.url, audit=ListAuditLog()))


def test_mask_hides_secrets_in_the_command():
    req = make_request(command="curl -H 'Authorization: Bearer ghp_FAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKE' x")
    mask = lambda text: text.replace("ghp_FAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKE", "****")  # noqa: E731
    for style in ("json", "slack"):
        body = json.dumps(request_body(req, style, mask=mask))
        assert "ghp_" not in body and "****" in body
