"""Decisions: combining, who/where, flags/paths matching, opaque handling, sessions, the index."""

from __future__ import annotations

import pytest

from bastion.policy.evaluate import PolicySet, load_policy_set

POLICY = """\
default: allow
opaque: review
rules:
  - id: deny-rm-rf-root
    action: deny
    reason: no deleting the root
    when:
      program: rm
      flags_all: ["-r|-R|--recursive", "-f|--force"]
      paths: [/, /etc/**]
  - id: review-rm-recursive
    action: review
    reason: recursive delete needs a look
    approval: {timeout: 2m, approvers: 2}
    when: {program: rm, flags_any: ["-r|-R|--recursive"]}
  - id: allow-opaque-make
    action: allow
    reason: make with variables is fine
    when: {program: make, opaque: true}
  - id: deny-prod-kubectl
    action: deny
    reason: no kubectl on prod for agents
    groups: [agents]
    targets: ["prod-*"]
    when: {program: kubectl}
  - id: alice-only
    action: deny
    reason: alice may not reboot
    users: [alice]
    when: {program: reboot}
  - id: writes-etc
    action: review
    reason: writes /etc
    when: {writes: [/etc/**]}
  - id: regex-any
    action: deny
    reason: no pastebins
    when: {command_regex: 'pastebin\\.com'}
sessions:
  - id: no-shell-agents
    kinds: [shell]
    action: deny
    reason: agents use exec
    groups: [agents]
  - id: sftp-for-ops
    kinds: [subsystem:sftp, port-forward]
    action: allow
    reason: ops move files
    groups: [ops]
"""


@pytest.fixture
def ps(write_policy) -> PolicySet:
    return load_policy_set(write_policy(**{"p.yaml": POLICY}))


@pytest.mark.parametrize("command", ["rm -rf /", "rm -fr /", "rm -r -f /", "rm --recursive --force /",
                                     "rm -Rf /etc/x", "rm --recur --forc /", "rm -f -R //etc/../etc"])
def test_flags_in_any_form(ps: PolicySet, command: str) -> None:
    d = ps.evaluate(command, user="u")
    assert (d.action, d.rules) == ("deny", ("deny-rm-rf-root",))


def test_deny_beats_review_and_reports_only_deciding_rules(ps: PolicySet) -> None:
    d = ps.evaluate("rm -r build; rm -rf /", user="u")
    assert d.action == "deny" and d.rules == ("deny-rm-rf-root",)
    assert d.matched == "rm -rf /"
    assert d.approval_timeout is None


def test_review_carries_approval_options(ps: PolicySet) -> None:
    d = ps.evaluate("rm -r build", user="u")
    assert (d.action, d.rules, d.approval_timeout, d.approvers_required) == (
        "review", ("review-rm-recursive",), 120.0, 2)


def test_default_applies_when_nothing_matches(ps: PolicySet) -> None:
    d = ps.evaluate("ls -la", user="u")
    assert (d.action, d.rules) == ("allow", ())
    assert d.policy_version == ps.version


def test_opaque_goes_to_opaque_action_unless_explicitly_allowed(ps: PolicySet) -> None:
    d = ps.evaluate("$CC -o x x.c", user="u")
    assert d.action == "review" and d.opaque and d.rules == ()
    assert d.approval_timeout == 600.0
    assert ps.evaluate("make $TARGET", user="u").action == "allow"  # not opaque: args only
    d = ps.evaluate("a=make; $a all", user="u")
    assert (d.action, d.rules, d.opaque) == ("allow", ("allow-opaque-make",), True)


def test_an_allow_rule_without_opaque_does_not_allow_opaque(write_policy) -> None:
    ps = load_policy_set(write_policy(**{"p.yaml": """\
default: deny
rules:
  - id: allow-all
    action: allow
    reason: everything
    when: {}
"""}))
    assert ps.evaluate("ls", user="u").action == "allow"
    assert ps.evaluate("curl x | sh", user="u").action == "review"
    assert ps.evaluate("$x", user="u").action == "review"


def test_who_and_where(ps: PolicySet) -> None:
    assert ps.evaluate("kubectl get pods", user="bot", groups=["agents"], target="prod-db").action == "deny"
    assert ps.evaluate("kubectl get pods", user="bot", groups=["agents"], target="staging").action == "allow"
    assert ps.evaluate("kubectl get pods", user="bob", groups=["ops"], target="prod-db").action == "allow"
    assert ps.evaluate("reboot", user="alice").action == "deny"
    assert ps.evaluate("reboot", user="bob").action == "allow"


def test_redirect_targets_and_command_regex(ps: PolicySet) -> None:
    assert ps.evaluate("echo x > /etc/hosts", user="u").rules == ("writes-etc",)
    assert ps.evaluate("echo x > /tmp/hosts", user="u").action == "allow"
    assert ps.evaluate("curl https://pastebin.com/raw/x", user="u").rules == ("regex-any",)


def test_decision_json_shape(ps: PolicySet) -> None:
    data = ps.evaluate("rm -rf /", user="u").to_json()
    assert {"action", "rules", "matched", "reason", "opaque", "policy_version"} <= set(data)
    assert data["rules"] == ["deny-rm-rf-root"]


def test_sessions(ps: PolicySet) -> None:
    assert ps.session_decision("shell", user="bot", groups=["agents"]).action == "deny"
    assert ps.session_decision("shell", user="bob", groups=["ops"]).action == "allow"
    assert ps.session_decision("subsystem:sftp", user="bob", groups=["ops"]).action == "allow"
    assert ps.session_decision("subsystem:sftp", user="bot", groups=["agents"]).action == "deny"
    for kind in ("agent-forward", "x11", "port-forward"):
        assert ps.session_decision(kind, user="bot", groups=["agents"]).action == "deny"
    d = ps.session_decision("shell", user="bot", groups=["agents"])
    assert d.rules == ("no-shell-agents",) and d.reason == "agents use exec"


def test_rule_error_fails_closed(ps: PolicySet, monkeypatch) -> None:
    import bastion.policy.match as match

    def boom(self):  # noqa: ANN001, ANN202
        raise RuntimeError("kaput")

    monkeypatch.setattr(match.CommandView, "write_targets", property(boom))
    d = ps.evaluate("ls > out.txt", user="u")
    assert d.action == "deny"
    assert d.errors and "writes-etc" in d.errors[0] and "kaput" in d.errors[0]


def test_empty_policy_set() -> None:
    ps = PolicySet.empty("no policy loaded (test)")
    assert ps.evaluate("ls", user="u").reason == "no policy loaded (test)"


def test_index_limits_rules_checked(write_policy) -> None:
    rules = "".join(f"""
  - id: r{i}
    action: deny
    reason: r{i}
    when: {{program: prog{i}, flags_any: ["-x"]}}""" for i in range(500))
    ps = load_policy_set(write_policy(**{"p.yaml": "rules:" + rules + "\n"}))
    assert len(ps.candidate_rules("prog42")) == 1
    assert ps.candidate_rules("ls") == ()
    assert ps.evaluate("prog42 -x", user="u").rules == ("r42",)


def test_attached_short_option_value_is_a_path() -> None:
    from bastion.policy.match import _ATTACHED_PATH
    assert _ATTACHED_PATH.match("-d@/etc/shadow").group(1) == "@/etc/shadow"
    assert _ATTACHED_PATH.match("-T/etc/shadow").group(1) == "/etc/shadow"
    assert _ATTACHED_PATH.match("-d/") is None and _ATTACHED_PATH.match("-rf") is None
