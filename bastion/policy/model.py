"""The policy model: rules, conditions and session rules as frozen values, built by `parse.py`.

A `Rule` says *who* (users, groups, targets), *what* (one or more `Condition`s, any of which may match a
simple command; `unless` conditions veto) and the `action` with a `reason` for the caller. A
`SessionRule` decides whole-session features (interactive shell, forwarding, sftp). Pure data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

Action = Literal["allow", "deny", "review"]
ACTIONS: tuple[str, ...] = ("allow", "review", "deny")
# INVARIANT: the combining order. Higher wins: deny > review > allow.
SEVERITY: dict[str, int] = {"allow": 0, "review": 1, "deny": 2}

SESSION_KINDS: tuple[str, ...] = ("shell", "port-forward", "agent-forward", "x11", "subsystem:sftp")
DEFAULT_APPROVAL_TIMEOUT = 600.0
DEFAULT_APPROVERS = 1


@dataclass(frozen=True)
class FlagGroup:
    """Equivalent spellings of one option (`-r`, `-R`, `--recursive`)."""

    spellings: tuple[str, ...]


@dataclass(frozen=True)
class Condition:
    """One `when`/`unless` block. Every field that is set must hold (AND); list items are alternatives (OR)."""

    file: str
    line: int
    programs: frozenset[str] = frozenset()           # exact normalised program names
    program_globs: tuple[str, ...] = ()              # `mkfs.*`, `python3*`
    program_paths: tuple[re.Pattern[str], ...] = ()  # globs over the program as written (`/tmp/**`)
    flags_all: tuple[FlagGroup, ...] = ()            # each group must be present
    flags_any: tuple[FlagGroup, ...] = ()            # at least one group present
    args_regex: re.Pattern[str] | None = None        # searched in each argument
    paths: tuple[re.Pattern[str], ...] = ()          # path-like arguments and redirection targets
    path_literals: tuple[str, ...] = ()              # the `paths` entries without wildcards
    writes: tuple[re.Pattern[str], ...] = ()         # redirection targets that are written
    command_regex: re.Pattern[str] | None = None     # searched in the normalised simple command
    via: frozenset[str] = frozenset()                # wrapper chain contains one of these
    fed_by: frozenset[str] = frozenset()             # output of one of these reaches stdin/arguments
    pipes_to: frozenset[str] = frozenset()           # output goes to one of these through a pipe
    destination: tuple[re.Pattern[str], ...] = ()    # the destination operand (cp/mv/install/ln/rsync)
    stdin_regex: re.Pattern[str] | None = None       # searched in literal stdin data (here-doc, echo |)
    recursive: bool | None = None                    # calls the inline function it is defined in
    opaque: bool | None = None
    starts_shell: bool | None = None
    dynamic_args: bool | None = None
    dynamic_paths: bool | None = None
    no_args: bool | None = None

    @property
    def program_keys(self) -> frozenset[str] | None:
        """Programs this condition can match (for the index); None = any program."""
        if self.programs or self.program_globs:
            return self.programs
        return None


@dataclass(frozen=True)
class Rule:
    """A command rule: who and where, what (any `when` matches, no `unless` matches), action and reason."""

    id: str
    action: Action
    reason: str
    file: str
    line: int
    when: tuple[Condition, ...]
    unless: tuple[Condition, ...] = ()
    users: tuple[str, ...] = ()       # globs over the user name; empty = anyone
    groups: frozenset[str] = frozenset()
    targets: tuple[str, ...] = ()     # globs over the target name; empty = any target
    approval_timeout: float = DEFAULT_APPROVAL_TIMEOUT
    approvers: int = DEFAULT_APPROVERS
    order: int = 0                    # position in the set (files sorted by name, then file order)


@dataclass(frozen=True)
class SessionRule:
    """A session-level rule: may this principal open a shell / forward ports / use sftp on a target."""

    id: str
    kinds: tuple[str, ...]
    action: Action
    reason: str
    file: str
    line: int
    users: tuple[str, ...] = ()
    groups: frozenset[str] = frozenset()
    targets: tuple[str, ...] = ()
    order: int = 0


@dataclass(frozen=True)
class AccountRule:
    """Which of a target's accounts a principal gets: the first matching rule wins; none matching means
    the target's least-privileged account (the first it lists)."""

    id: str
    account: str
    file: str
    line: int
    users: tuple[str, ...] = ()
    groups: frozenset[str] = frozenset()
    targets: tuple[str, ...] = ()
    order: int = 0


@dataclass(frozen=True)
class MaskingSection:
    """A top-level `masking:` block, kept raw for the masking package (not interpreted here)."""

    file: str
    line: int
    data: Any


@dataclass(frozen=True)
class PolicyTestCase:
    """One policy test: command, identity and target → expected action (and optionally rule id)."""

    name: str          # `file:line`
    command: str
    user: str
    groups: tuple[str, ...]
    target: str
    expect: Action
    rule: str | None = None
