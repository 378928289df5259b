"""Webhook notifications for new approval requests, so an on-call reviewer is paged.

`WebhookNotifier.notify_request` only schedules a delivery task and returns: the POST runs on a worker
thread (urllib), with retries and exponential backoff. A failing webhook is logged and audited and that is
all: it never raises into the broker, never delays a request, and never approves or denies anything.

The URL is treated as a secret (Slack-style webhook URLs carry their token in the path): logs and audit
events name only its host.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Literal
from urllib.parse import urlsplit

from bastion.approvals import ApprovalRequest
from bastion.audit import ApprovalNotified, ApprovalNotifyFailed, AuditLog
from bastion.errors import ConfigError
from bastion.identity.secret import Secret

log = logging.getLogger(__name__)

Style = Literal["json", "slack"]
USER_AGENT = "bastion-approvals/1"


def request_body(request: ApprovalRequest, style: Style, *, mask: Callable[[str], str] | None = None) -> dict:
    """The JSON document POSTed for a new request. `json`: a versioned event with the request's fields;
    `slack`: a Slack-compatible message (`text` plus blocks). `mask` hides secrets in the command line."""
    command = mask(request.command) if mask else request.command
    expires = dt.datetime.fromtimestamp(request.expires_at, dt.timezone.utc).strftime("%H:%M:%SZ")
    summary = (f"bastion: request {request.id} waits for review: {request.user} on {request.target} "
               f"wants to run `{_one_line(command)}` (rule {request.rule}: {request.reason}); "
               f"expires {expires}")
    if style == "slack":
        return {
            "text": summary,
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": (
                    f"*Approval request {request.id}* — *{request.user}* on *{request.target}*\n"
                    f"```{_one_line(command, 2800)}```\n"
                    f"rule `{request.rule}`: {request.reason}\n"
                    f"needs {request.approvers_required} approver(s), expires {expires}")}},
            ],
        }
    return {
        "version": 1,
        "event": "approval.created",
        "text": summary,
        "request": {
            "id": request.id, "session_id": request.session_id, "user": request.user, "target": request.target,
            "command": command, "rules": list(request.rules), "reason": request.reason,
            "requested_at": request.requested_at, "expires_at": request.expires_at,
            "approvers_required": request.approvers_required, "policy_version": request.policy_version,
        },
    }


class WebhookNotifier:
    """POSTs a JSON (or Slack-compatible) body to one webhook for each new approval request."""

    def __init__(
        self,
        url: str,
        *,
        style: Style = "json",
        audit: AuditLog,
        timeout: float = 5.0,
        retries: int = 3,
        backoff: float = 0.5,
        mask: Callable[[str], str] | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            # urllib would also open file:// and ftp:// URLs; a webhook is http(s) only.
            raise ConfigError("approvals.webhook.url must be an http:// or https:// URL with a host")
        if style not in ("json", "slack"):
            raise ConfigError(f"approvals.webhook.style must be json or slack, not {style!r}")
        if timeout <= 0 or retries < 0 or backoff < 0:
            raise ConfigError("approvals.webhook: timeout > 0, retries >= 0 and backoff >= 0")
        self._url = Secret(url)
        self.host = parts.hostname
        self.style: Style = style
        self._audit = audit
        self.timeout = timeout
        self.retries = retries  # attempts = 1 + retries
        self.backoff = backoff  # seconds before the first retry, doubled after each
        self._mask = mask
        self._tasks: set[asyncio.Task] = set()

    def __repr__(self) -> str:
        return f"WebhookNotifier(host={self.host!r}, style={self.style!r})"

    def notify_request(self, request: ApprovalRequest) -> None:
        """Schedule the delivery and return at once. Never raises."""
        try:
            body = json.dumps(request_body(request, self.style, mask=self._mask)).encode("utf-8")
            task = asyncio.get_running_loop().create_task(self._deliver(request, body))
        except Exception as exc:  # no loop, or a body that cannot be built: report, never raise
            log.warning("approval webhook for request %s not sent: %s", request.id, exc)
            self._audit_quietly(ApprovalNotifyFailed(session_id=request.session_id, request_id=request.id,
                                                     host=self.host, attempts=0, error=str(exc)))
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for every scheduled delivery to finish (tests, and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _deliver(self, request: ApprovalRequest, body: bytes) -> bool:
        request_id = request.id
        error = ""
        attempts = 0
        delay = self.backoff
        for attempt in range(1, self.retries + 2):
            attempts = attempt
            try:
                await asyncio.to_thread(self._post, body)
            except Exception as exc:
                error = _describe(exc)
                log.warning("approval webhook to %s failed for request %s (attempt %d of %d): %s",
                            self.host, request_id, attempt, self.retries + 1, error)
                if attempt <= self.retries:
                    await asyncio.sleep(delay)
                    delay *= 2
                continue
            self._audit_quietly(ApprovalNotified(session_id=request.session_id, request_id=request_id,
                                                 host=self.host, attempts=attempts))
            return True
        self._audit_quietly(ApprovalNotifyFailed(session_id=request.session_id, request_id=request_id,
                                                 host=self.host, attempts=attempts, error=error))
        return False

    def _post(self, body: bytes) -> None:
        """Blocking POST (runs on a worker thread); raises on a transport error or a non-2xx status."""
        req = urllib.request.Request(self._url.expose(), data=body, method="POST", headers={
            "Content-Type": "application/json", "User-Agent": USER_AGENT})
        with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 - scheme checked above
            resp.read(65536)
            if not 200 <= resp.status < 300:
                raise urllib.error.HTTPError(self.host, resp.status, resp.reason, resp.headers, None)

    def _audit_quietly(self, event) -> None:
        try:
            self._audit.emit(event)
        except Exception:
            log.exception("cannot audit webhook outcome")


def _describe(exc: Exception) -> str:
    """An error message that never includes the URL (its path may hold a token)."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code}"
    if isinstance(exc, urllib.error.URLError):
        return f"{type(exc.reason).__name__}: {exc.reason}" if not isinstance(exc.reason, str) else exc.reason
    if isinstance(exc, TimeoutError):
        return "timed out"
    return type(exc).__name__


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
