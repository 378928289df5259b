"""Shared fixtures: a real OpenSSH sshd target and gateways started the way `bastion serve` starts."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests.harness import GatewayHarness
from tests.sshd import SSHD, Sshd, start_sshd


@pytest.fixture(scope="session")
def sshd() -> Iterator[Sshd]:
    if not Path(SSHD).exists():
        if os.environ.get("CI"):
            pytest.fail("OpenSSH sshd is required in CI (.ci/run installs openssh-server)")
        pytest.skip("OpenSSH sshd not installed (apt-get install openssh-server)")
    server = start_sshd()
    yield server
    server.stop()


@pytest.fixture
def make_gateway(tmp_path: Path, sshd: Sshd) -> Iterator[Callable[..., GatewayHarness]]:
    started: list[GatewayHarness] = []

    def factory(**kwargs) -> GatewayHarness:
        workdir = tmp_path / f"gw{len(started)}"
        workdir.mkdir()
        harness = GatewayHarness(workdir, kwargs.pop("target", sshd), **kwargs).start()
        started.append(harness)
        return harness

    yield factory
    for harness in started:
        harness.stop()


@pytest.fixture
def gateway(make_gateway) -> GatewayHarness:
    return make_gateway()
