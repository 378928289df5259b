"""The gateway's one-line notices to an exec caller, parsed, and the text an agent's model reads about them.

Pure: no I/O, no asyncssh, no agent framework. The gateway writes these lines on the caller's stderr
(README, "Messages to the caller"); this module is the only place that knows their shape. Anything that
does not match one of the shapes exactly is ordinary command output (`parse_gateway_notice` → None).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

NoticeKind = Literal[
    "denied",            # refused by a policy rule; the command never ran (exit 126)
    "review_required",   # a review rule refused it because approvals are not available (exit 126)
    "held",              # waiting for a human reviewer
    "waiting",           # periodic progress while held
    "approved",          # a reviewer approved; the command's output follows
    "reviewer_denied",   # a reviewer refused (exit 126)
    "expired",           # no verdict in time (exit 126)
    "cancelled",         # the review was cancelled on the gateway's side (exit 126)
    "unreachable",       # the target could not be reached (exit 255)
    "unknown_target",    # the target is unknown or not allowed for this identity (exit 255)
]

PREFIX = "bastion: "
_REQUIRES_APPROVAL = "requires approval: "

# Each shape exactly as the gateway writes it, without the "bastion: " prefix. Reasons may contain any
# character, so they are matched greedily to the end, and the fixed tail (if any) anchors them.
_SHAPES: tuple[tuple[NoticeKind, re.Pattern[str]], ...] = (
    ("denied", re.compile(r"denied by policy \(rule (?P<rule>[^)]*)\): (?P<reason>.*)")),
    ("held", re.compile(r"held for review \(request (?P<request>[^,)]+), rule (?P<rule>[^)]*)\): "
                        r"(?P<reason>.*); waiting up to (?P<duration>[^;]+)")),
    ("waiting", re.compile(r"still waiting for review \(request (?P<request>[^,)]+), (?P<duration>.+) left\)")),
    ("approved", re.compile(r"approved by (?P<reviewer>.+) \(request (?P<request>[^)]+)\)")),
    ("reviewer_denied", re.compile(r"denied by reviewer (?P<reviewer>.+?) \(request (?P<request>[^)]+)\): "
                                   r"(?P<reason>.*)")),
    ("expired", re.compile(r"review expired \(request (?P<request>[^)]+)\): no verdict within (?P<duration>.+)")),
    ("cancelled", re.compile(r"review cancelled \(request (?P<request>[^)]+)\): (?P<reason>.*)")),
    ("unreachable", re.compile(r"target (?P<target>\S+) unreachable: (?P<reason>.*)")),
    ("unknown_target", re.compile(r"unknown or unauthorised target (?P<target>\S*); connect as USER:TARGET")),
)


@dataclass(frozen=True)
class GatewayNotice:
    """One parsed gateway line. Fields a shape does not carry are empty strings."""

    kind: NoticeKind
    line: str                 # the line as received, without its line ending
    rule: str = ""
    reason: str = ""
    request: str = ""
    reviewer: str = ""
    duration: str = ""
    target: str = ""

    @property
    def ends_command(self) -> bool:
        """True when this notice means the command will not run (or not run any further)."""
        return self.kind in ("denied", "review_required", "reviewer_denied", "expired", "cancelled",
                             "unreachable", "unknown_target")


def parse_gateway_notice(line: str) -> GatewayNotice | None:
    """The notice a stderr line carries, or None when it is not exactly one of the gateway's shapes."""
    text = line.rstrip("\r\n")
    if not text.startswith(PREFIX):
        return None
    body = text[len(PREFIX):]
    for kind, pattern in _SHAPES:
        match = pattern.fullmatch(body)
        if match is None:
            continue
        fields = {key: value.strip() for key, value in match.groupdict().items() if value is not None}
        if kind == "denied" and fields.get("reason", "").startswith(_REQUIRES_APPROVAL):
            # Until approvals exist a review rule refuses with this prefix: a human could allow it.
            fields["reason"] = fields["reason"][len(_REQUIRES_APPROVAL):]
            return GatewayNotice("review_required", text, **fields)
        return GatewayNotice(kind, text, **fields)
    return None


# --- what the model reads --------------------------------------------------------------------------
def _rule_phrase(rule: str) -> str:
    if rule == "opaque":
        return "because it could not be analysed statically"
    if rule == "default":
        return "by the policy's default (no rule allows it)"
    return f"by policy rule {rule}"


def refusal_text(notice: GatewayNotice, command: str | None = None) -> str:
    """What an agent's model reads when the gateway did not run a command: why, which rule, what next.

    Written for a model, not a person at a terminal: one short paragraph, the gateway's own reason
    quoted, and an instruction that steers it away from retrying the same thing.
    """
    subject = f"The command `{_short(command)}`" if command else "This command"
    if notice.kind == "denied":
        advice = ("Do not retry it unchanged or disguised; choose a different approach that does not need it, "
                  "or ask a human to do it.")
        if notice.rule == "opaque":
            advice = ("Rewrite it so every program and its arguments are written out literally (no program "
                      "names from variables, no code piped into a shell or interpreter), or ask a human.")
        return (f"{subject} was refused by the bastion gateway {_rule_phrase(notice.rule)} and did not run. "
                f"Reason: {notice.reason}. {advice}")
    if notice.kind == "review_required":
        return (f"{subject} was not run: {_rule_phrase(notice.rule)} it needs a human reviewer's approval "
                f"({notice.reason}), and approvals are not available on this gateway. Do not retry it "
                "unchanged; choose a different approach, or ask a human to run or approve it.")
    if notice.kind == "reviewer_denied":
        return (f"{subject} was held for review (request {notice.request}) and reviewer {notice.reviewer} "
                f"refused it: {notice.reason}. It did not run. Do not retry it unchanged; take the reviewer's "
                "reason into account and choose a different approach.")
    if notice.kind == "expired":
        return (f"{subject} was held for review (request {notice.request}) but no reviewer decided within "
                f"{notice.duration}, so it did not run. Do not resubmit it in a loop; continue with other work "
                "or ask a human to review it.")
    if notice.kind == "cancelled":
        return (f"{subject} was held for review (request {notice.request}) and the review was cancelled "
                f"({notice.reason}), so it did not run. Do not resubmit it in a loop; ask a human if it is "
                "still needed.")
    if notice.kind == "unreachable":
        return (f"{subject} did not run: the bastion gateway could not reach target {notice.target} "
                f"({notice.reason}). This is an infrastructure problem, not a problem with the command; "
                "retrying immediately will not help. Report it to a human.")
    if notice.kind == "unknown_target":
        return (f"{subject} did not run: target {notice.target or '(none)'} is unknown or not allowed for "
                "this identity on the bastion gateway. Check the configured target name; do not guess others.")
    return notice.line


def hold_timeout_text(held: GatewayNotice, waited: float, command: str | None = None) -> str:
    """What the model reads when it gave up waiting for a reviewer before the gateway's own expiry."""
    subject = f"The command `{_short(command)}`" if command else "This command"
    rule = f", rule {held.rule}" if held.rule else ""
    return (f"{subject} was held for human review (request {held.request}{rule}: {held.reason}) and no verdict "
            f"came within {waited:g} s, so it was withdrawn and did not run. Continue with other work that "
            "does not need it, or ask a human to review it; do not resubmit it in a loop.")


def _short(command: str, limit: int = 200) -> str:
    one_line = " ".join(command.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 3] + "..."
