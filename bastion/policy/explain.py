"""Render a `PolicyDecision` for people: the verdict, the rule, the reason, the matched part highlighted."""

from __future__ import annotations

import click

from bastion.policy.evaluate import PolicyDecision

_COLOURS = {"allow": "green", "review": "yellow", "deny": "red"}


def highlight(command: str, decision: PolicyDecision, *, color: bool = True) -> str:
    """The command line with the part that decided marked (bold, coloured; `[[...]]` without colour)."""
    span = decision.span
    if not span or span == (0, 0) or span[1] > len(command) or not decision.matched:
        return command
    start, end = span
    part = command[start:end]
    marked = click.style(part, fg=_COLOURS[decision.action], bold=True, underline=True) if color else f"[[{part}]]"
    return command[:start] + marked + command[end:]


def explain(command: str, decision: PolicyDecision, *, color: bool = True) -> str:
    """Several lines: verdict with rule ids, the highlighted command, the reason, opaque notes, version."""
    verdict = decision.action.upper()
    if color:
        verdict = click.style(verdict, fg=_COLOURS[decision.action], bold=True)
    rules = ", ".join(decision.rules) if decision.rules else "(no rule: default or opaque)"
    lines = [
        f"{verdict}  rule: {rules}",
        f"  command: {highlight(command, decision, color=color)}",
        f"  matched: {decision.matched}",
        f"  reason:  {decision.reason}",
    ]
    if decision.opaque:
        lines.append("  opaque:  " + "; ".join(decision.opaque_reasons or ("yes",)))
    if decision.action == "review":
        lines.append(f"  review:  {decision.approvers_required} approver(s), timeout {decision.approval_timeout:g}s")
    for err in decision.errors:
        lines.append(f"  error:   {err}")
    lines.append(f"  policy:  {decision.policy_version[:16]}")
    return "\n".join(lines)


def refusal_line(decision: PolicyDecision) -> str:
    """The one stderr line an exec client gets: `bastion: denied by policy (rule <id>): <reason>`."""
    rule = decision.rules[0] if decision.rules else ("opaque" if decision.opaque else "default")
    if decision.action == "review":
        return f"bastion: denied by policy (rule {rule}): requires approval: {decision.reason}"
    return f"bastion: denied by policy (rule {rule}): {decision.reason}"
