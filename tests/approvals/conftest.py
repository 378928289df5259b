"""Fixtures for the approval broker: a real SQLite file, a FakeClock, the real audit chain and TOTP."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pyotp
import pytest

from bastion.approvals import ApprovalBroker, ApprovalSettings
from bastion.audit import SqliteAuditLog
from bastion.clock import FakeClock
from bastion.identity.totp import TotpVerifier
from bastion.store.db import Store


class Authenticator:
    """A reviewer's phone: the enrolled secrets, codes read off at the fake clock's time."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.secrets: dict[str, str] = {}

    def code(self, name: str, *, offset_steps: int = 0) -> str:
        return pyotp.TOTP(self.secrets[name]).at(self.clock.now() + 30 * offset_steps)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "bastion.sqlite3"


@pytest.fixture
def store(db_path: Path, clock: FakeClock) -> Iterator[Store]:
    s = Store.open(db_path, clock=clock)
    yield s
    s.close()


@pytest.fixture
def audit(store: Store, clock: FakeClock) -> SqliteAuditLog:
    return SqliteAuditLog(store, clock)


@pytest.fixture
def totp(store: Store, clock: FakeClock, audit: SqliteAuditLog) -> TotpVerifier:
    return TotpVerifier(store, clock, audit)


@pytest.fixture
def phone(totp: TotpVerifier, clock: FakeClock) -> Authenticator:
    auth = Authenticator(clock)
    for name in ("alice", "carol", "dave"):
        auth.secrets[name] = totp.enroll(name).secret.expose()
    return auth


@pytest.fixture
def make_broker(store, audit, clock, totp) -> Callable[..., ApprovalBroker]:
    def factory(notifier=None, **settings) -> ApprovalBroker:
        return ApprovalBroker(store, audit, clock, ApprovalSettings(**settings), totp, notifier)

    return factory


@pytest.fixture
def broker(make_broker) -> ApprovalBroker:
    return make_broker()


def audit_rows(store: Store, name: str | None = None) -> list[dict]:
    """Audit events as stored, data decoded, optionally one name only."""
    sql, params = "SELECT * FROM audit_events", []
    if name is not None:
        sql += " WHERE name = ?"
        params.append(name)
    rows = store.query(sql + " ORDER BY seq", params)
    for row in rows:
        row["data"] = json.loads(row["data"])
    return rows


def hold_kwargs(**overrides) -> dict:
    """A typical held command: alice (an agent) installing a package on web-1."""
    base = dict(session_id="s-1", user="alice", groups=("agents",), target="web-1",
                command="apt-get install -y jq", grant_key="apt-get install -y jq", rules=("pkg-install",),
                reason="package installs need a human", policy_version="sha256:feed", timeout=None,
                approvers_required=1)
    base.update(overrides)
    return base
