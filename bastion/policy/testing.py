"""Run a policy's own test cases (`policies/tests/*.yaml`, `*.test.yaml`) against a `PolicySet`.

Pure apart from reading the test files: `load_cases(directory)` reads them, `run_case` decides one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bastion.policy.evaluate import PolicyDecision, PolicySet
from bastion.policy.model import PolicyTestCase
from bastion.policy.parse import parse_test_cases, test_files


@dataclass(frozen=True)
class CaseResult:
    case: PolicyTestCase
    decision: PolicyDecision
    ok: bool
    why: str = ""


def load_cases(directory: Path) -> tuple[list[PolicyTestCase], list[str]]:
    """Every test case under `directory`, and `file:line: reason` errors for malformed ones."""
    cases: list[PolicyTestCase] = []
    errors: list[str] = []
    for path in test_files(Path(directory)):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            errors.append(f"{path}:1: cannot read: {exc}")
            continue
        got, errs = parse_test_cases(str(path), text)
        cases.extend(got)
        errors.extend(errs)
    return cases, errors


def run_case(policy: PolicySet, case: PolicyTestCase) -> CaseResult:
    decision = policy.evaluate(case.command, user=case.user, groups=case.groups, target=case.target)
    if decision.action != case.expect:
        return CaseResult(case, decision, False, f"expected {case.expect}, got {decision.action} "
                                                 f"(rules: {', '.join(decision.rules) or '-'}; {decision.reason})")
    if case.rule is not None and case.rule not in decision.rules:
        return CaseResult(case, decision, False, f"expected rule {case.rule}, got "
                                                 f"{', '.join(decision.rules) or 'none'}")
    return CaseResult(case, decision, True)
