"""Where the gateway asks the policy: before an exec runs, before a shell opens.

Every decision is recorded three ways — a `commands` row, a hash-chained audit event and a marker in
the recording — and anything that goes wrong on the way means the command does not run.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import TYPE_CHECKING, Any, Awaitable

from bastion import audit
from bastion.errors import MaskingConfigError
from bastion.masking.profiles import ProfileSet, build_profiles
from bastion.policy.evaluate import PolicyDecision
from bastion.policy.explain import refusal_line
from bastion.policy.holder import PolicyHolder
from bastion.policy.shell import parse_command_line
from bastion.store import commands as store_commands

if TYPE_CHECKING:
    from bastion.gateway import GatewayContext
    from bastion.session import Session

log = logging.getLogger(__name__)

_HISTORY_EXPANSION = re.compile(r"^\s*\^|![^\s=(]")


def denial_line(decision: Any) -> str:
    """The one line a caller reads on stderr when a command is refused (documented in the README)."""
    return refusal_line(decision).removeprefix("bastion: ")


class PolicyEnforcer:
    """Holds the live policy set and decides for sessions."""

    def __init__(self, ctx: "GatewayContext") -> None:
        self.ctx = ctx
        self.holder = PolicyHolder(ctx.settings.policy_dir, on_event=self._on_policy_event)
        ctx.decide = self.decide
        ctx.check_line = self.check_line
        ctx.choose_account = self.choose_account
        ctx.policy_version = lambda: self.holder.current.version
        ctx.masking_profiles = self.masking_profiles
        self._profiles: tuple[str, ProfileSet] | None = None

    def masking_profiles(self) -> ProfileSet:
        """The masking profiles of the policy in force (they live in the same files, same version).

        INVARIANT: a masking section that does not build keeps the previous profiles (or the built-in
        default, which masks every kind it knows), never "no masking".
        """
        policy = self.holder.current
        if self._profiles is None or self._profiles[0] != policy.version:
            sections = [(m.file, m.line, m.data) for m in policy.masking_sections]
            try:
                profiles = build_profiles(sections)
            except MaskingConfigError as exc:
                log.error("masking profiles not updated: %s", exc)
                self.ctx.audit.emit(audit.PolicyReloadFailed(errors=(str(exc),), path=str(self.ctx.settings.policy_dir),
                                                             kept_version=self._profiles[0] if self._profiles else None))
                profiles = self._profiles[1] if self._profiles else build_profiles(())
            self._profiles = (policy.version, profiles)
        return self._profiles[1]

    def reload(self) -> bool:
        return self.holder.reload()

    async def watch(self) -> None:
        await self.holder.watch()

    def _on_policy_event(self, name: str, data: dict) -> None:
        event: audit.AuditEvent
        if name == "policy.reload_failed":
            for line in data.get("errors", []):
                log.error("policy not reloaded: %s", line)
            event = audit.PolicyReloadFailed(errors=tuple(data.get("errors", [])),
                                             path=str(self.ctx.settings.policy_dir),
                                             kept_version=data.get("kept_version"))
        else:
            log.info("policy version %s loaded", str(data.get("version"))[:12])
            event = audit.PolicyLoaded(policy_version=str(data.get("version")),
                                       path=str(self.ctx.settings.policy_dir))
        try:
            self.ctx.audit.emit(event)
        except Exception:
            log.exception("audit write failed for policy event")

    def decide(self, session: "Session") -> "bool | Awaitable[bool]":
        """True when the session may go on to the target; otherwise the client has been told why."""
        principal = session.principal
        try:
            policy = self.holder.current
            if session.kind == "shell":
                decision = policy.session_decision("shell", user=principal.name, groups=principal.groups,
                                                   target=session.target.name)
                text = "(interactive shell)"
            else:
                decision = policy.evaluate(session.command or "", user=principal.name,
                                           groups=principal.groups, target=session.target.name)
                text = session.command or ""
        except Exception as exc:  # fail closed: a policy that cannot answer allows nothing
            log.exception("policy evaluation failed")
            session._audit(audit.PolicyDecision(session_id=session.id, user=principal.name,
                                                target=session.target.name, command=session.command or "",
                                                action="deny", reason=f"policy error: {exc}", opaque=True))
            session.notice("policy error; command not run")
            return False
        self.record(session, text, decision)
        if decision.action == "allow":
            return True
        if decision.action == "review" and session.kind != "shell" and self.ctx.approvals is not None:
            return self.hold(session, text, decision)
        if session.kind == "shell":
            rule = ",".join(decision.rules) or "default"
            session.notice(f"interactive shell denied by policy (rule {rule}): {decision.reason}")
        else:
            session.notice(denial_line(decision))
        return False

    def choose_account(self, session: "Session") -> Any:
        """The target as reached with the account policy maps this caller to (least privileged by default).
        None, after telling the client, when the policy names an account the target does not have."""
        principal = session.principal
        rule = self.holder.current.account_for(user=principal.name, groups=principal.groups,
                                               target=session.target.name)
        if rule is None:
            return session.target
        chosen = session.target.with_account(rule.account)
        if chosen is None:
            # Fail closed: a typo in policy must not fall back to some other account.
            session.notice(f"policy rule {rule.id} maps you to account {rule.account!r}, which target "
                           f"{session.target.name} does not define")
        return chosen

    def check_line(self, session: "Session", text: str | None) -> "bool | Awaitable[bool]":
        """A line submitted in a shell session; None when it could not be read (then it is opaque)."""
        principal = session.principal
        if text is not None and not text.strip():
            return True
        if principal.expires_at is not None and self.ctx.clock.now() >= principal.expires_at:
            session.notice("your token has expired; line not run", fresh_line=True)
            return False
        try:
            policy = self.holder.current
            unreadable = None
            if text is None:
                unreadable = "the submitted line could not be read off the terminal"
            elif session.pty is not None and _HISTORY_EXPANSION.search(text):
                # An interactive shell expands history (`!!`, `!rm`, `^old^new`) after we read the line,
                # so what would run is not what is on screen.
                unreadable = "history expansion cannot be analysed"
            if unreadable is not None:
                decision = PolicyDecision(policy.opaque_action if policy.opaque_action != "allow" else "review",
                                          (), text or "", unreadable, policy.version, opaque=True)
            else:
                decision = policy.evaluate(text, user=principal.name, groups=principal.groups,
                                           target=session.target.name)
        except Exception as exc:  # fail closed
            log.exception("policy evaluation failed")
            session.notice(f"policy error ({type(exc).__name__}); line not run")
            return False
        self.record(session, text if text is not None else "(unreadable line)", decision)
        if decision.action == "allow":
            return True
        if decision.action == "review" and text and self.ctx.approvals is not None:
            return self.hold(session, text, decision, fresh_line=True)
        session.notice(denial_line(decision), fresh_line=True)
        return False

    async def hold(self, session: "Session", text: str, decision: Any, *, fresh_line: bool = False) -> bool:
        """A `review` decision: run under a live grant, or wait for a reviewer's verdict.

        INVARIANT: the command runs only on an `approved` outcome; expiry, denial, cancellation and any
        error on the way mean it does not.
        """
        broker = self.ctx.approvals
        principal = session.principal
        rules = tuple(decision.rules)
        key = grant_key(text)
        rule = ",".join(rules) or "opaque"
        try:
            grant = broker.find_grant(user=principal.name, target=session.target.name, rules=rules,
                                      grant_key=key, session_id=session.id, command=text)
            if grant is not None:
                session._safe_marker(f"allowed by grant #{grant.id} from {grant.granted_by}")
                return True
            request = await broker.request(
                session_id=session.id, user=principal.name, groups=principal.groups, target=session.target.name,
                command=text, grant_key=key, rules=rules, reason=decision.reason,
                policy_version=decision.policy_version, timeout=decision.approval_timeout,
                approvers_required=decision.approvers_required)
        except Exception as exc:  # the approval store failed: fail closed
            log.exception("approval request failed")
            session.notice(f"denied: approval unavailable ({type(exc).__name__}); command not run",
                           fresh_line=fresh_line)
            return False
        self.ctx.held_matches[request.id] = (decision.matched, decision.span)
        waiting = duration(request.expires_at - request.requested_at)
        session.notice(f"held for review (request {request.id}, rule {rule}): {decision.reason}; "
                       f"waiting up to {waiting}", fresh_line=fresh_line)
        session._safe_marker(request.held_marker())
        session.pending_approval = request.id
        progress = asyncio.get_running_loop().create_task(self._progress(session, request))
        try:
            final = await broker.wait(request.id)
        except asyncio.CancelledError:
            broker.cancel(request.id, "session ended")
            raise
        finally:
            progress.cancel()
            session.pending_approval = None
            self.ctx.held_matches.pop(request.id, None)
        session._safe_marker(final.verdict_marker())
        if final.state == "approved":
            session.notice(f"approved by {' and '.join(final.approvals) or final.decided_by} (request {final.id})")
            return True
        if final.state == "denied":
            session.notice(f"denied by reviewer {final.decided_by} (request {final.id}): "
                           f"{final.decision_reason or 'no reason given'}")
        elif final.state == "expired":
            session.notice(f"review expired (request {final.id}): no verdict within {waiting}")
        elif final.state == "cancelled":
            session.notice(f"review cancelled (request {final.id}): {final.decision_reason or 'cancelled'}")
        return False

    async def _progress(self, session: "Session", request: Any) -> None:
        interval = self.ctx.settings.approvals.progress_interval
        while True:
            await asyncio.sleep(interval)
            left = max(0.0, request.expires_at - self.ctx.clock.now())
            session.notice(f"still waiting for review (request {request.id}, {duration(left)} left)")

    def record(self, session: "Session", text: str, decision: Any) -> None:
        """The decision as a `commands` row and an audit event, in one commit; a store failure raises, and
        the command then does not run."""
        principal = session.principal
        with self.ctx.store.transaction():
            session._command_id = store_commands.record_command(
                self.ctx.store, session_id=session.id, text=text, at=self.ctx.clock.now(),
                user=principal.name, groups=list(principal.groups), target=session.target.name,
                action=decision.action, rules=list(decision.rules), reason=decision.reason,
                policy_version=decision.policy_version, opaque=decision.opaque)
            self.ctx.audit.emit(audit.PolicyDecision(
                session_id=session.id, user=principal.name, target=session.target.name, command=text,
                action=decision.action, rules=tuple(decision.rules), reason=decision.reason,
                policy_version=decision.policy_version, opaque=decision.opaque,
                command_id=session._command_id, account=session.target.account))
        session._safe_marker(f"{decision.action} {','.join(decision.rules) or 'default'}: {text[:200]}")


def grant_key(command: str) -> str:
    """What a grant matches: the simple commands the line would run, unquoted and unwrapped, so the same
    command written differently (quoting, spacing) is the same grant, and a different one is not."""
    parsed = parse_command_line(command)
    if parsed.opaque:
        return "opaque:" + " ".join(command.split())
    return " ; ".join(" ".join([c.program, *c.args]) for c in parsed.commands)


def duration(seconds: float) -> str:
    """10m, 1m30s, 45s, 2h: the human form used in the caller's messages."""
    total = int(round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else "", f"{secs}s" if secs else ""]
    return "".join(parts) or "0s"


def install_policy(ctx: "GatewayContext") -> PolicyEnforcer:
    return PolicyEnforcer(ctx)
