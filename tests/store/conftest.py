from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bastion.clock import FakeClock
from bastion.store.db import Store


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> Iterator[Store]:
    s = Store.open(tmp_path / "state" / "audit.db", clock=clock)
    yield s
    s.close()
