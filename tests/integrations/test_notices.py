"""The gateway's caller notices: parsing every documented shape, and the text the model reads about them."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.integrations.notices import hold_timeout_text, parse_gateway_notice, refusal_text

CASES = [
    ("bastion: denied by policy (rule no-rm-root): deleting system paths is not allowed",
     {"kind": "denied", "rule": "no-rm-root", "reason": "deleting system paths is not allowed"}),
    ("bastion: denied by policy (rule pkg-install): requires approval: package installs need a human",
     {"kind": "review_required", "rule": "pkg-install", "reason": "package installs need a human"}),
    ("bastion: held for review (request 17, rule pkg-install): package installs need a human; waiting up to 10m",
     {"kind": "held", "request": "17", "rule": "pkg-install", "reason": "package installs need a human",
      "duration": "10m"}),
    ("bastion: still waiting for review (request 17, 9m30s left)",
     {"kind": "waiting", "request": "17", "duration": "9m30s"}),
    ("bastion: approved by carol (request 17)", {"kind": "approved", "reviewer": "carol", "request": "17"}),
    ("bastion: approved by carol and dave (request 18)",
     {"kind": "approved", "reviewer": "carol and dave", "request": "18"}),
    ("bastion: denied by reviewer carol (request 17): not during the freeze",
     {"kind": "reviewer_denied", "reviewer": "carol", "request": "17", "reason": "not during the freeze"}),
    ("bastion: review expired (request 17): no verdict within 10m",
     {"kind": "expired", "request": "17", "duration": "10m"}),
    ("bastion: review cancelled (request 17): session ended",
     {"kind": "cancelled", "request": "17", "reason": "session ended"}),
    ("bastion: target web-1 unreachable: cannot connect: Connection refused",
     {"kind": "unreachable", "target": "web-1", "reason": "cannot connect: Connection refused"}),
    ("bastion: unknown or unauthorised target db-9; connect as USER:TARGET",
     {"kind": "unknown_target", "target": "db-9"}),
]


@pytest.mark.parametrize("line, expected", CASES, ids=[c[1]["kind"] + str(i) for i, c in enumerate(CASES)])
def test_every_documented_shape(line, expected):
    notice = parse_gateway_notice(line + "\n")
    assert notice is not None
    for field, value in expected.items():
        assert getattr(notice, field) == value
    assert notice.line == line


def test_crlf_from_a_pty_and_reasons_with_punctuation():
    notice = parse_gateway_notice("bastion: denied by policy (rule r1): a (b); c: d\r\n")
    assert notice is not None and (notice.rule, notice.reason) == ("r1", "a (b); c: d")
    held = parse_gateway_notice("bastion: held for review (request 3, rule opaque): x; y; waiting up to 1m")
    assert held is not None and (held.reason, held.duration) == ("x; y", "1m")


@pytest.mark.parametrize("line", [
    "", "hello", "denied by policy (rule x): y", "bastion:denied by policy (rule x): y",
    "bastion: internal error; session closed", "bastion: policy error; command not run",
    "bastion: denied by policy rule x: y", "bastion: held for review (request 3): no rule part",
    "  bastion: denied by policy (rule x): y",
])
def test_anything_else_is_not_a_notice(line):
    assert parse_gateway_notice(line) is None


def test_which_notices_end_the_command():
    ends = {kind for line, fields in CASES if (n := parse_gateway_notice(line)) and n.ends_command
            for kind in [n.kind]}
    assert ends == {"denied", "review_required", "reviewer_denied", "expired", "cancelled", "unreachable",
                    "unknown_target"}


rule_ids = st.from_regex(r"[a-z][a-z0-9_.-]{0,30}", fullmatch=True)
reasons = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=80).map(str.strip).filter(
    lambda r: r and not r.startswith("requires approval: "))


@settings(max_examples=100, deadline=None)
@given(rule=rule_ids, reason=reasons)
def test_denial_round_trip(rule, reason):
    notice = parse_gateway_notice(f"bastion: denied by policy (rule {rule}): {reason}\n")
    assert notice is not None and (notice.kind, notice.rule, notice.reason) == ("denied", rule, reason)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200))
def test_parser_never_raises(line):
    notice = parse_gateway_notice(line)
    assert notice is None or line.startswith("bastion: ")


def test_refusal_text_names_rule_reason_and_what_to_do():
    text = refusal_text(parse_gateway_notice(CASES[0][0]), "rm -rf /")
    assert "`rm -rf /`" in text and "policy rule no-rm-root" in text
    assert "Reason: deleting system paths is not allowed." in text
    assert "Do not retry it unchanged" in text
    opaque = refusal_text(parse_gateway_notice("bastion: denied by policy (rule opaque): cannot be analysed"))
    assert "could not be analysed statically" in opaque and "written out literally" in opaque
    default = refusal_text(parse_gateway_notice("bastion: denied by policy (rule default): no rule matched"))
    assert "policy's default" in default
    review = refusal_text(parse_gateway_notice(CASES[1][0]))
    assert "human reviewer's approval" in review and "package installs need a human" in review
    unreachable = refusal_text(parse_gateway_notice(CASES[9][0]))
    assert "not a problem with the command" in unreachable
    long_command = "echo " + "x" * 500
    assert "..." in refusal_text(parse_gateway_notice(CASES[0][0]), long_command)


def test_hold_timeout_text():
    held = parse_gateway_notice(CASES[2][0])
    text = hold_timeout_text(held, 2.5, "apt-get install -y cowsay")
    assert "request 17, rule pkg-install: package installs need a human" in text
    assert "within 2.5 s" in text and "did not run" in text
