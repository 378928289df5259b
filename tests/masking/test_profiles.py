"""Masking profiles from policy `masking:` sections: schema, selection, validation errors."""

from __future__ import annotations

import pytest

from bastion.errors import MaskingConfigError
from bastion.masking.detectors import BUILTIN_IDS
from bastion.masking.profiles import MaskingProfile, build_profiles
from tests.masking.conftest import mask_chunks, mask_whole

SECTION = {
    "profiles": {
        "strict": {"extra_keys": ["pin_code"], "replacement": "fixed", "text": "[REDACTED]"},
        "lenient": {"detectors": "all", "exclude": ["credit-card"], "idle_release_ms": 20},
        "acme": {
            "detectors": ["password-assignment"],
            "custom": [{"id": "acme-token", "regex": "ACME_(?P<secret>[A-Z0-9]{32})", "description": "ACME"}],
        },
    },
    "select": [
        {"profile": "strict", "targets": ["db-*"], "groups": ["contractors"]},
        {"profile": "acme", "users": ["alice"]},
    ],
    "default": "lenient",
}


def test_empty_gives_the_default_set_with_every_builtin() -> None:
    ps = build_profiles([])
    assert ps.default().detectors == frozenset(BUILTIN_IDS) | {"secret-command-output"}
    assert ps.select("anyone", [], "any") == MaskingProfile()


def test_selection_rules_first_match_then_default() -> None:
    ps = build_profiles([("policies/a.yaml", 3, SECTION)])
    assert ps.select("bob", ["contractors"], "db-1").name == "strict"
    assert ps.select("bob", ["ops"], "db-1").name == "lenient"
    assert ps.select("alice", [], "web-1").name == "acme"
    assert ps.default().name == "lenient"
    lenient = ps.get("lenient")
    assert "credit-card" not in lenient.detectors and lenient.idle_release == pytest.approx(0.02)


def test_profile_effects_extra_keys_fixed_text_and_custom_patterns() -> None:
    ps = build_profiles([("a.yaml", 1, SECTION)])
    strict = ps.get("strict")
    assert mask_whole(b"PIN_CODE=4242 x\n", strict) == b"PIN_CODE=[REDACTED]\n"
    acme = ps.get("acme")
    tok = b"ACME_" + b"Q1" * 16
    assert mask_whole(b"t " + tok + b" end\n", acme) == b"t ACME_[MASKED:acme-token] end\n"
    assert mask_chunks([b"t AC", b"ME_Q1Q1", tok[9:] + b" end\n"], acme) == b"t ACME_[MASKED:acme-token] end\n"
    assert mask_whole(b"ghp_" + b"A" * 36 + b"\n", acme) == b"ghp_" + b"A" * 36 + b"\n"  # off in this profile


@pytest.mark.parametrize(
    ("section", "reason"),
    [
        ({"profiles": {"x": {"detectors": ["no-such-detector"]}}}, "unknown detector 'no-such-detector'"),
        ({"profiles": {"x": {"replacement": "rot13"}}}, "replacement must be one of"),
        ({"profiles": {"x": {"custom": [{"id": "bad", "regex": "AB(unclosed"}]}}}, "does not compile"),
        ({"profiles": {"x": {"custom": [{"id": "slow", "regex": "AB(a+)+$"}]}}}, "unbounded"),
        ({"profiles": {"x": {"custom": [{"id": "wide", "regex": "AB.*"}]}}}, "unbounded"),
        ({"profiles": {"x": {"custom": [{"id": "nohead", "regex": "[a-z]{8}"}]}}}, "literal characters"),
        ({"profiles": {"x": {"custom": [{"id": "backref", "regex": "AB(x)\\1"}]}}}, "RE2"),
        ({"profiles": {"x": {"custom": [{"id": "jwt", "regex": "ABC{3}"}]}}}, "clashes with a built-in"),
        ({"profiles": {"x": {"idle_release_ms": 0}}}, "idle_release_ms"),
        ({"profiles": {"x": {"colour": "red"}}}, "unknown key"),
        ({"select": [{"profile": "ghost"}]}, "unknown profile 'ghost'"),
        ({"default": "ghost"}, "unknown profile 'ghost'"),
        ({"profiles": ["x"]}, "must be a mapping"),
        ("nope", "must be a mapping"),
    ],
)
def test_errors_name_file_line_and_reason(section: object, reason: str) -> None:
    with pytest.raises(MaskingConfigError) as err:
        build_profiles([("policies/p.yaml", 7, section)])
    assert str(err.value).startswith("policies/p.yaml:7:")
    assert reason in str(err.value)


def test_duplicate_profile_across_files_is_an_error() -> None:
    with pytest.raises(MaskingConfigError, match="a.yaml:2.*already defined at b.yaml:5|b.yaml:5"):
        build_profiles([("b.yaml", 5, {"profiles": {"x": {}}}), ("a.yaml", 2, {"profiles": {"x": {}}})])


def test_custom_regex_runs_in_linear_time_on_hostile_input() -> None:
    custom = [{"id": "nested", "regex": "AB(?:a{1,20}){1,20}Z"}]
    ps = build_profiles([("a.yaml", 1, {"profiles": {"c": {"custom": custom}}})])
    data = b"AB" + b"a" * 5000 + b"!\n"
    assert mask_whole(data, ps.get("c")) == data  # RE2: no catastrophic backtracking


def test_a_profile_with_every_detector_off_passes_output_through():
    from bastion.masking.profiles import build_profiles
    from bastion.masking.stream import StreamMasker

    profiles = build_profiles([("p.yaml", 1, {"profiles": {"off": {"detectors": []}}, "default": "off"})])
    masker = StreamMasker(profiles.default())
    text = b"AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"
    assert masker.feed(text) + masker.finish() == text
