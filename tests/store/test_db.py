"""Opening the store: WAL, synchronous=NORMAL, idempotent migrations, append-only audit_events."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bastion.clock import FakeClock
from bastion.errors import StoreError
from bastion.store import migrations
from bastion.store.audit_events import append_event
from bastion.store.db import Store


def test_open_creates_the_directory_and_uses_wal(tmp_path: Path, clock: FakeClock) -> None:
    store = Store.open(tmp_path / "new" / "dir" / "audit.db", clock=clock)
    assert store.db.journal_mode == "wal"
    assert store.db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert {"sessions", "commands", "audit_events"} <= set(store.db.table_names())
    store.close()


def test_migrations_are_idempotent(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "audit.db"
    Store.open(path, clock=clock).close()
    store = Store.open(path, clock=clock)
    migrations.migrate(store.db)  # a third time, on an open database
    applied = [r["name"] for r in store.query("SELECT name FROM _sqlite_migrations ORDER BY id")]
    assert applied == [fn.__name__ for fn in migrations.MIGRATIONS]
    store.close()


def test_schema_has_the_agreed_columns(store: Store) -> None:
    assert set(store.db["sessions"].columns_dict) == {
        "id", "user", "auth_method", "client_addr", "target", "account", "kind", "command", "started_at",
        "ended_at", "status", "exit_status", "exit_signal", "bytes_in", "bytes_out", "recording_path",
        "recording_sha256", "policy_version", "error"}
    assert set(store.db["commands"].columns_dict) == {
        "id", "session_id", "text", "at", "user", "groups", "target", "action", "rules", "reason",
        "policy_version", "opaque", "exit_status"}
    assert set(store.db["audit_events"].columns_dict) == {
        "seq", "at", "code", "name", "severity", "session_id", "user", "data", "prev_hash", "hash"}
    indexed = {tuple(i.columns) for i in store.db["commands"].indexes}
    assert {("session_id",), ("at",)} <= indexed


def test_audit_events_refuse_update_and_delete(store: Store) -> None:
    append_event(store, seq=1, prev_hash="0" * 64, at=1.0, code="T0000I", name="gateway.start",
                 severity="info", session_id=None, user=None, data={})
    for sql in ("UPDATE audit_events SET data = '{}' WHERE seq = 1", "DELETE FROM audit_events"):
        with pytest.raises(StoreError, match="append-only"):
            store.write(sql)
    assert store.query("SELECT count(*) AS n FROM audit_events") == [{"n": 1}]


def test_unopenable_path_is_a_store_error(tmp_path: Path, clock: FakeClock) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError):
        Store.open(blocker / "audit.db", clock=clock)


def test_not_a_database_is_a_store_error(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "audit.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError):
        Store.open(path, clock=clock)


def test_writes_are_visible_to_another_connection(store: Store) -> None:
    store.write("INSERT INTO sessions (id, user, kind, started_at) VALUES ('s1', 'alice', 'exec', 1.0)")
    other = sqlite3.connect(store.path)
    assert other.execute("SELECT user FROM sessions").fetchall() == [("alice",)]
    other.close()
