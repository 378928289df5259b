"""The policy set and its decisions: command line + identity + target → one `PolicyDecision` value.

`PolicySet.evaluate` parses the line into simple commands (`shell.py`), finds the rules that can apply
to each (indexed by program, so 500 rules cost little more than 5), decides each command, and combines
them with the table in `_combine`. `session_decision` does the same for session-level features.
`load_policy_set(directory)` is the only function here that touches the file system.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Sequence

from bastion.errors import MaskingConfigError, PolicyLoadError
from bastion.policy.match import Check, CommandView, compile_condition, glob_match, holds
from bastion.policy.model import (DEFAULT_APPROVAL_TIMEOUT, DEFAULT_APPROVERS, SESSION_KINDS, SEVERITY,
                                  MaskingSection, Rule, SessionRule, AccountRule)
from bastion.policy.parse import Document, build_set, load_documents
from bastion.policy.shell import ParsedLine, SimpleCommand, is_name_pattern, parse_command_line

ActionName = Literal["allow", "deny", "review"]


@dataclass(frozen=True)
class PolicyDecision:
    """The one value every consumer renders: action, why, what matched, under which policy version."""

    action: ActionName
    rules: tuple[str, ...]
    matched: str
    reason: str
    policy_version: str
    opaque: bool = False
    errors: tuple[str, ...] = ()
    approval_timeout: float | None = None
    approvers_required: int = DEFAULT_APPROVERS
    span: tuple[int, int] | None = None     # where `matched` sits on the submitted line, when known
    opaque_reasons: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "rules": list(self.rules),
            "matched": self.matched,
            "reason": self.reason,
            "opaque": self.opaque,
            "policy_version": self.policy_version,
            "errors": list(self.errors),
            "approval_timeout": self.approval_timeout,
            "approvers_required": self.approvers_required,
        }


@dataclass(frozen=True)
class _Verdict:
    """The decision for one simple command, before combining the line."""

    action: str
    rules: tuple[Rule, ...]
    cmd: SimpleCommand
    reason: str
    errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class PolicySet:
    """A loaded, validated set of rules with its content version. Immutable; reload builds a new one."""

    rules: tuple[Rule, ...] = ()
    session_rules: tuple[SessionRule, ...] = ()
    account_rules: tuple[AccountRule, ...] = ()
    default: ActionName = "allow"
    opaque_action: ActionName = "review"
    version: str = ""
    files: tuple[str, ...] = ()
    masking_sections: tuple[MaskingSection, ...] = ()
    empty_reason: str | None = None  # set when no policy is loaded: everything is denied
    _by_program: dict[str, tuple[Rule, ...]] = field(default_factory=dict, repr=False, compare=False)
    _glob_rules: tuple[Rule, ...] = field(default=(), repr=False, compare=False)
    _any_rules: tuple[Rule, ...] = field(default=(), repr=False, compare=False)
    _checks: dict[str, tuple[tuple[Check, ...], ...]] = field(default_factory=dict, repr=False, compare=False)
    _candidates: dict[str, tuple] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        # The index: program name → rules that name it; rules with program globs; rules with a `when` block
        # that names no program (checked for every command). Conditions are compiled once into checks.
        by_program: dict[str, list[Rule]] = {}
        globbed: list[Rule] = []
        anyprog: list[Rule] = []
        for rule in self.rules:
            if any(c.program_keys is None for c in rule.when):
                anyprog.append(rule)
            for key in {p for c in rule.when for p in c.programs}:
                by_program.setdefault(key, []).append(rule)
            if any(c.program_globs for c in rule.when):
                globbed.append(rule)
        object.__setattr__(self, "_by_program", {k: tuple(v) for k, v in by_program.items()})
        object.__setattr__(self, "_glob_rules", tuple(globbed))
        object.__setattr__(self, "_any_rules", tuple(anyprog))
        object.__setattr__(self, "_checks", {
            r.id: tuple(compile_condition(c, resolve_cwd=r.action == "allow") for c in r.unless)
            for r in self.rules})

    @classmethod
    def empty(cls, reason: str) -> "PolicySet":
        """A set that denies every command and session with `reason` (no policy loaded)."""
        return cls(default="deny", opaque_action="deny", version=_hash({"empty": reason}), empty_reason=reason)

    # --- commands --------------------------------------------------------------------------------
    def evaluate(self, command: str, *, user: str, groups: Sequence[str] = (), target: str = "*") -> PolicyDecision:
        """Decide one submitted command line (newlines allowed) for `user` in `groups` on `target`."""
        parsed = parse_command_line(command)
        if self.empty_reason is not None:
            return PolicyDecision("deny", (), command, self.empty_reason, self.version, parsed.opaque,
                                  opaque_reasons=parsed.opaque_reasons)
        group_set = frozenset(groups)
        verdicts = [self._decide(cmd, user, group_set, target) for cmd in parsed.commands]
        return self._combine(parsed, verdicts)

    def candidate_rules(self, program: str) -> tuple[tuple[Rule, tuple[tuple[Check, ...], ...]], ...]:
        """(rule, its `when` blocks that can match `program`) in policy order: the index, cached per name."""
        cached = self._candidates.get(program)
        if cached is not None:
            return cached
        rules = {r.order: r for r in self._by_program.get(program, ())}
        rules.update((r.order, r) for r in self._any_rules)
        rules.update((r.order, r) for r in self._glob_rules
                     if any(glob_match(program, g) for c in r.when for g in c.program_globs))
        found = []
        for order in sorted(rules):
            rule = rules[order]
            blocks = tuple(compile_condition(c, program_checked=True, resolve_cwd=rule.action != "allow")
                           for c in rule.when
                           if c.program_keys is None or program in c.programs
                           or any(glob_match(program, g) for g in c.program_globs))
            if blocks:
                found.append((rule, blocks))
        result = tuple(found)
        if len(self._candidates) < 4096:  # bounded: program names come from untrusted input
            self._candidates[program] = result
        return result

    def _decide(self, cmd: SimpleCommand, user: str, groups: frozenset[str], target: str) -> _Verdict:
        verdict = self._decide_one(cmd, user, groups, target)
        if cmd.opaque and is_name_pattern(cmd.program):
            # `/bin/r? -rf /`: the program is whichever file the pattern matches; every program the rules
            # name that it could match is tried, and the strictest answer stands.
            for name in self._by_program:
                if fnmatch.fnmatchcase(name, cmd.program):
                    other = self._decide_one(replace(cmd, program=name), user, groups, target)
                    if SEVERITY[other.action] > SEVERITY[verdict.action]:
                        verdict = other
        return verdict

    def _decide_one(self, cmd: SimpleCommand, user: str, groups: frozenset[str], target: str) -> _Verdict:
        view = CommandView(cmd)
        denies: list[Rule] = []
        reviews: list[Rule] = []
        allows: list[Rule] = []
        errors: list[str] = []
        unless_checks = self._checks
        for rule, when in self.candidate_rules(cmd.program):
            if (rule.users or rule.groups or rule.targets) and not _applies_to(rule, user, groups, target):
                continue
            try:
                hit = False
                for block in when:
                    if holds(block, view):
                        hit = True
                        break
                if hit and unless_checks[rule.id]:
                    hit = not any(holds(c, view) for c in unless_checks[rule.id])
            except Exception as exc:  # noqa: BLE001 - INVARIANT: a rule that errors never allows
                errors.append(f"rule {rule.id}: {type(exc).__name__}: {exc}")
                denies.append(rule)
                continue
            if hit:
                (denies if rule.action == "deny" else reviews if rule.action == "review" else allows).append(rule)
        matched = {"deny": denies, "review": reviews, "allow": allows}
        # The per-command table (one case per line, first that applies wins):
        if errors and matched["deny"]:
            # A rule failed to evaluate: the command is not allowed because of it (fail closed).
            denies = tuple(matched["deny"])
            return _Verdict("deny", denies, cmd, "; ".join(errors), tuple(errors))
        if matched["deny"]:
            # Any matching deny rule wins over everything else.
            return _Verdict("deny", tuple(matched["deny"]), cmd, matched["deny"][0].reason)
        if matched["review"]:
            # No deny: any matching review rule holds the command for approval.
            return _Verdict("review", tuple(matched["review"]), cmd, matched["review"][0].reason)
        if cmd.opaque:
            # Opaque: only an allow rule that says `opaque: true` may allow it; else the set's opaque action.
            explicit = [r for r in matched["allow"] if any(c.opaque is True for c in r.when)]
            if explicit:
                return _Verdict("allow", tuple(explicit), cmd, explicit[0].reason)
            return _Verdict(self.opaque_action, (), cmd,
                            f"cannot be analysed statically: {cmd.opaque_reason}")
        if matched["allow"]:
            # No deny or review: a matching allow rule allows.
            return _Verdict("allow", tuple(matched["allow"]), cmd, matched["allow"][0].reason)
        # Nothing matched: the set's default.
        return _Verdict(self.default, (), cmd, f"no rule matched (default: {self.default})")

    def _combine(self, parsed: ParsedLine, verdicts: list[_Verdict]) -> PolicyDecision:
        """The line table: the most severe command decides; ties go to the first such command."""
        errors = tuple(e for v in verdicts for e in v.errors)
        if not verdicts:
            # Nothing would run (empty line or only comments): the set's default.
            return PolicyDecision(self.default, (), "", f"empty command (default: {self.default})", self.version)
        worst = max(SEVERITY[v.action] for v in verdicts)
        deciding = [v for v in verdicts if SEVERITY[v.action] == worst]
        first = deciding[0]
        rule_ids = tuple(dict.fromkeys(r.id for v in deciding for r in v.rules))
        timeout: float | None = None
        approvers = DEFAULT_APPROVERS
        if first.action == "review":
            review_rules = [r for v in deciding for r in v.rules if r.action == "review"]
            timeout = min((r.approval_timeout for r in review_rules), default=DEFAULT_APPROVAL_TIMEOUT)
            approvers = max((r.approvers for r in review_rules), default=DEFAULT_APPROVERS)
        return PolicyDecision(
            action=first.action,  # type: ignore[arg-type]
            rules=rule_ids,
            matched=first.cmd.display() if first.cmd.program or first.cmd.args else parsed.text[
                first.cmd.span[0]:first.cmd.span[1]],
            reason=first.reason,
            policy_version=self.version,
            opaque=parsed.opaque,
            errors=errors,
            approval_timeout=timeout,
            approvers_required=approvers,
            span=first.cmd.span,
            opaque_reasons=parsed.opaque_reasons,
        )

    # --- sessions --------------------------------------------------------------------------------
    def session_decision(self, kind: str, *, user: str, groups: Sequence[str] = (), target: str = "*") -> PolicyDecision:
        """May `user` use `kind` (shell, port-forward, agent-forward, x11, subsystem:sftp) on `target`?"""
        if self.empty_reason is not None:
            return PolicyDecision("deny", (), kind, self.empty_reason, self.version)
        group_set = frozenset(groups)
        hits = [r for r in self.session_rules if kind in r.kinds and _applies_to(r, user, group_set, target)]
        for action in ("deny", "review", "allow"):
            # deny > review > allow, as for commands.
            chosen = [r for r in hits if r.action == action]
            if chosen:
                return PolicyDecision(action, tuple(r.id for r in chosen), kind, chosen[0].reason,  # type: ignore[arg-type]
                                      self.version,
                                      approval_timeout=DEFAULT_APPROVAL_TIMEOUT if action == "review" else None)
        if kind == "shell":
            # Interactive shells are allowed unless a rule forbids them (lines are still checked).
            return PolicyDecision("allow", (), kind, "interactive shells are allowed by default", self.version)
        # Forwarding and file transfer are side channels around the policy: denied unless allowed.
        known = kind in SESSION_KINDS
        why = f"{kind} is denied unless a session rule allows it" if known else f"unknown session kind {kind!r}"
        return PolicyDecision("deny", (), kind, why, self.version)


    # --- accounts --------------------------------------------------------------------------------
    def account_for(self, *, user: str, groups: Sequence[str] = (), target: str = "*") -> AccountRule | None:
        """The first account rule that applies, or None (the caller then uses the least-privileged one)."""
        group_set = frozenset(groups)
        for rule in self.account_rules:
            if _applies_to(rule, user, group_set, target):
                return rule
        return None


def _applies_to(rule: Rule | SessionRule | AccountRule, user: str, groups: frozenset[str], target: str) -> bool:
    """Who and where. Users and groups are alternatives (either may match); targets must match."""
    if rule.users or rule.groups:
        if not (any(glob_match(user, u) for u in rule.users) or not rule.groups.isdisjoint(groups)):
            return False
    if rule.targets and not any(glob_match(target, t) for t in rule.targets):
        return False
    return True


def _hash(content: Any) -> str:
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def build_policy_set(documents: list[Document]) -> PolicySet:
    """Assemble documents into a set, raising PolicyLoadError with every `file:line: reason`."""
    parsed = build_set(documents)
    if parsed.errors:
        raise PolicyLoadError(parsed.errors)
    # Masking profiles live in the same files and share the version: a set whose masking does not build
    # is refused whole (a reload then keeps the previous version, rules and profiles alike).
    from bastion.masking.profiles import build_profiles

    try:
        build_profiles([(m.file, m.line, m.data) for m in parsed.masking])
    except MaskingConfigError as exc:
        raise PolicyLoadError([str(exc)]) from exc
    # The version covers the content only (file base names + data), not where the directory lives.
    version = _hash([[Path(d.file).name, d.data] for d in documents])
    return PolicySet(
        rules=tuple(parsed.rules),
        session_rules=tuple(parsed.sessions),
        account_rules=tuple(parsed.accounts),
        default=parsed.default or "allow",  # type: ignore[arg-type]
        opaque_action=parsed.opaque or "review",  # type: ignore[arg-type]
        version=version,
        files=tuple(d.file for d in documents),
        masking_sections=tuple(parsed.masking),
    )


def load_policy_set(directory: Path) -> PolicySet:
    """Load every policy file of `directory` as one set; none at all gives a deny-everything set."""
    directory = Path(directory)
    documents = load_documents(directory)
    if not documents:
        where = "directory missing" if not directory.is_dir() else "no *.yaml files"
        return PolicySet.empty(f"no policy loaded ({where}: {directory}); every command is denied")
    return build_policy_set(documents)
