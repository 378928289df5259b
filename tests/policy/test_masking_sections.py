"""Masking profiles share the policy files and their version: a broken masking section refuses the set."""

from __future__ import annotations

import pytest

from bastion.errors import PolicyLoadError
from bastion.policy.evaluate import load_policy_set


def test_a_broken_masking_section_fails_the_load_with_file_and_line(tmp_path):
    (tmp_path / "rules.yaml").write_text("default: allow\n")
    (tmp_path / "masking.yaml").write_text("masking:\n  profiles:\n    quiet: {detectors: [no-such-detector]}\n")
    with pytest.raises(PolicyLoadError) as raised:
        load_policy_set(tmp_path)
    assert "masking.yaml:" in raised.value.errors[0]


def test_a_valid_masking_section_is_part_of_the_version(tmp_path):
    (tmp_path / "rules.yaml").write_text("default: allow\n")
    before = load_policy_set(tmp_path).version
    (tmp_path / "masking.yaml").write_text("masking:\n  profiles:\n    quiet: {detectors: []}\n")
    after = load_policy_set(tmp_path)
    assert after.version != before and len(after.masking_sections) == 1
