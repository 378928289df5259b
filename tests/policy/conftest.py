"""Shared fixtures for policy tests: the shipped policy set and a helper to write policy directories."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from bastion.policy.evaluate import PolicySet, load_policy_set

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "policies"


@pytest.fixture(scope="session")
def shipped() -> PolicySet:
    return load_policy_set(SHIPPED)


@pytest.fixture
def write_policy(tmp_path: Path) -> Callable[..., Path]:
    """Write `name -> YAML text` files into a fresh directory and return it."""

    def write(**files: str) -> Path:
        directory = tmp_path / "pol"
        directory.mkdir(exist_ok=True)
        for name, text in files.items():
            path = directory / name.replace("__", "/")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        return directory

    return write
