"""Loading policy YAML: every fault reported as `file:line: reason`, all at once."""

from __future__ import annotations

import pytest

from bastion.errors import PolicyLoadError
from bastion.policy.evaluate import load_policy_set

GOOD = """\
default: allow
rules:
  - id: no-rm
    action: deny
    reason: no deleting
    when: {program: rm}
"""


def errors_of(directory) -> list[str]:
    with pytest.raises(PolicyLoadError) as info:
        load_policy_set(directory)
    return info.value.errors


def test_errors_carry_file_and_line(write_policy) -> None:
    directory = write_policy(**{"a.yaml": """\
default: allow
rules:
  - id: ok
    action: deny
    reason: fine
    when: {program: rm}
  - id: bad-action
    action: maybe
    reason: x
    when: {program: ls}
  - id: bad-regex
    action: deny
    reason: x
    when:
      args_regex: '(unclosed'
bogus: 1
"""})
    errs = errors_of(directory)
    path = str(directory / "a.yaml")
    assert f"{path}:8: rule 'bad-action': action must be allow, review or deny (got 'maybe')" in errs
    assert any(e.startswith(f"{path}:15: rule 'bad-regex': args_regex: invalid regular expression") for e in errs)
    assert any(e.startswith(f"{path}:16: unknown top-level key 'bogus'") for e in errs)
    assert len(errs) == 3


@pytest.mark.parametrize("text, line, fragment", [
    ("rules:\n  - id: x\n    action: deny\n    when: {program: rm}\n", 2, "a non-empty `reason` is required"),
    ("rules:\n  - id: x\n    action: deny\n    reason: r\n", 2, "`when` is required"),
    ("rules:\n  - id: x\n    action: deny\n    reason: r\n    when: {progrm: rm}\n", 5, "unknown condition 'progrm'"),
    ("rules:\n  - id: x\n    action: deny\n    reason: r\n    when: {flags_any: [rf]}\n", 5, "must be options"),
    ("rules:\n  - id: x\n    action: deny\n    reason: r\n    when: {paths: '@nope'}\n", 5, "unknown list '@nope'"),
    ("default: sometimes\n", 1, "default must be one of"),
    ("rules: [\n", 2, "invalid YAML"),
    ("rules:\n  - id: a\n    id: b\n", 3, "duplicate key 'id'"),
    ("sessions:\n  - id: s\n    kinds: [teleport]\n    action: deny\n    reason: r\n", 3, "unknown kind 'teleport'"),
    ("rules:\n  - id: x\n    action: review\n    reason: r\n    when: {}\n    approval: {timeout: soon}\n", 6,
     "approval timeout must be a positive duration"),
])
def test_single_faults(write_policy, text: str, line: int, fragment: str) -> None:
    directory = write_policy(**{"p.yaml": text})
    errs = errors_of(directory)
    assert any(e.startswith(f"{directory / 'p.yaml'}:{line}: ") and fragment in e for e in errs), errs


def test_duplicate_rule_ids_across_files(write_policy) -> None:
    directory = write_policy(**{"a.yaml": GOOD, "b.yaml": GOOD.replace("default: allow\n", "")})
    errs = errors_of(directory)
    assert any("duplicate rule id 'no-rm'" in e and e.startswith(str(directory / "b.yaml")) for e in errs)


def test_default_set_twice_is_an_error(write_policy) -> None:
    directory = write_policy(**{"a.yaml": "default: allow\n", "b.yaml": "default: deny\n"})
    assert any("default is already set" in e for e in errors_of(directory))


def test_missing_or_empty_directory_denies_everything(tmp_path) -> None:
    for directory in (tmp_path / "nope", tmp_path):
        ps = load_policy_set(directory)
        decision = ps.evaluate("ls", user="u")
        assert decision.action == "deny"
        assert decision.reason.startswith("no policy loaded (")
        assert ps.session_decision("shell", user="u").action == "deny"


def test_masking_sections_are_kept_raw_and_versioned(write_policy) -> None:
    directory = write_policy(**{"a.yaml": GOOD + "masking:\n  profiles:\n    strict: {detectors: []}\n"})
    ps = load_policy_set(directory)
    assert len(ps.masking_sections) == 1
    section = ps.masking_sections[0]
    assert section.line == 7 and section.data == {"profiles": {"strict": {"detectors": []}}}
    other = load_policy_set(write_policy(**{"a.yaml": GOOD + "masking:\n  profiles:\n    lax: {detectors: []}\n"}))
    assert other.version != ps.version


def test_version_is_content_hash(write_policy, tmp_path) -> None:
    a = load_policy_set(write_policy(**{"a.yaml": GOOD}))
    again = load_policy_set(write_policy(**{"a.yaml": GOOD}))
    assert a.version == again.version and len(a.version) == 64
    changed = load_policy_set(write_policy(**{"a.yaml": GOOD.replace("no deleting", "nope")}))
    assert changed.version != a.version


def test_test_files_are_not_loaded_as_rules(write_policy) -> None:
    directory = write_policy(**{"a.yaml": GOOD, "x.test.yaml": "cases: []\n", "tests__t.yaml": "cases: []\n"})
    ps = load_policy_set(directory)
    assert [r.id for r in ps.rules] == ["no-rm"]
    assert ps.files == (str(directory / "a.yaml"),)


def test_lists_may_include_lists(write_policy) -> None:
    directory = write_policy(**{"a.yaml": """\
lists:
  roots: [/, /etc]
  more: ["@roots", /usr]
rules:
  - id: r
    action: deny
    reason: r
    when: {program: rm, paths: "@more"}
"""})
    ps = load_policy_set(directory)
    assert ps.evaluate("rm /usr", user="u").action == "deny"
    assert ps.evaluate("rm /etc", user="u").action == "deny"
    assert ps.evaluate("rm /tmp", user="u").action == "allow"
