"""The shipped policy's own test cases (policies/tests/*.yaml), one pytest case each."""

from __future__ import annotations

import pytest

from bastion.policy.testing import load_cases, run_case

from .conftest import SHIPPED

CASES, ERRORS = load_cases(SHIPPED)


def test_case_files_are_valid() -> None:
    assert ERRORS == []
    assert len(CASES) >= 150


@pytest.mark.parametrize("case", CASES, ids=[f"{c.name.rsplit('/', 1)[-1]}" for c in CASES])
def test_case(shipped, case) -> None:
    result = run_case(shipped, case)
    assert result.ok, f"{case.command!r}: {result.why}"


def test_agents_may_not_open_interactive_shells(shipped) -> None:
    d = shipped.session_decision("shell", user="bot", groups=["agents"], target="web-1")
    assert d.action == "deny" and d.rules == ("no-interactive-shell-for-agents",)
    assert shipped.session_decision("shell", user="alice", groups=["ops"], target="web-1").action == "allow"
    assert shipped.session_decision("port-forward", user="alice", groups=["ops"]).action == "deny"


def test_review_rules_have_a_timeout(shipped) -> None:
    for rule in shipped.rules:
        if rule.action == "review":
            assert 60 <= rule.approval_timeout <= 3600, rule.id
