"""Session rows: start, end, list, and the restart after a crash."""

from __future__ import annotations

from pathlib import Path

import pytest

from bastion.clock import FakeClock
from bastion.errors import StoreError
from bastion.store.db import Store
from bastion.store.sessions import end_session, get_session, list_sessions, mark_interrupted, start_session


def _start(store: Store, id: str, *, user: str = "alice", target: str = "web-1", at: float = 100.0,
           recording_path: str | None = None) -> None:
    start_session(store, id=id, user=user, auth_method="publickey", client_addr="127.0.0.1:50000",
                  target=target, account="deploy", kind="exec", command="uptime", started_at=at,
                  recording_path=recording_path, policy_version="p-abc")


def test_start_then_end(store: Store) -> None:
    _start(store, "s1", recording_path="2026/01/01/s1.cast")
    row = get_session(store, "s1")
    assert row is not None and row["status"] == "open" and row["bytes_in"] == 0 and row["ended_at"] is None
    end_session(store, "s1", ended_at=105.0, status="closed", exit_status=0, bytes_in=10, bytes_out=2048,
                recording_sha256="ab" * 32)
    row = get_session(store, "s1")
    assert row is not None
    assert (row["status"], row["exit_status"], row["bytes_out"], row["recording_sha256"]) == \
        ("closed", 0, 2048, "ab" * 32)
    assert row["policy_version"] == "p-abc" and row["recording_path"] == "2026/01/01/s1.cast"


def test_end_twice_or_unknown_is_an_error(store: Store) -> None:
    _start(store, "s1")
    end_session(store, "s1", ended_at=1.0, status="closed", bytes_in=0, bytes_out=0)
    with pytest.raises(StoreError):
        end_session(store, "s1", ended_at=2.0, status="failed", bytes_in=0, bytes_out=0)
    with pytest.raises(StoreError):
        end_session(store, "nope", ended_at=2.0, status="closed", bytes_in=0, bytes_out=0)


def test_duplicate_id_and_bad_kind_are_errors(store: Store) -> None:
    _start(store, "s1")
    with pytest.raises(StoreError):
        _start(store, "s1")
    with pytest.raises(StoreError):
        start_session(store, id="s2", user="a", auth_method=None, client_addr=None, target=None, account=None,
                      kind="tunnel", command=None, started_at=1.0, recording_path=None)


def test_list_filters_and_orders_newest_first(store: Store) -> None:
    _start(store, "a1", user="alice", at=1.0)
    _start(store, "a2", user="alice", target="db-1", at=2.0)
    _start(store, "b1", user="bob", at=3.0)
    end_session(store, "a1", ended_at=4.0, status="closed", bytes_in=0, bytes_out=0)
    assert [r["id"] for r in list_sessions(store)] == ["b1", "a2", "a1"]
    assert [r["id"] for r in list_sessions(store, user="alice")] == ["a2", "a1"]
    assert [r["id"] for r in list_sessions(store, user="alice", target="web-1")] == ["a1"]
    assert [r["id"] for r in list_sessions(store, status="open")] == ["b1", "a2"]
    assert [r["id"] for r in list_sessions(store, limit=1)] == ["b1"]
    assert get_session(store, "zzz") is None


def test_mark_interrupted_only_touches_open_sessions(store: Store, tmp_path: Path, clock: FakeClock) -> None:
    _start(store, "done", at=1.0)
    end_session(store, "done", ended_at=2.0, status="closed", bytes_in=0, bytes_out=0)
    _start(store, "open1", at=3.0, recording_path="2026/01/01/open1.cast")  # file never written
    _start(store, "open2", at=4.0)  # not recorded
    assert mark_interrupted(store, at=clock.now(), recordings_root=tmp_path) == ["open1", "open2"]
    assert mark_interrupted(store, at=clock.now(), recordings_root=tmp_path) == []
    rows = {r["id"]: r for r in list_sessions(store)}
    assert rows["done"]["status"] == "closed"
    assert rows["open1"]["status"] == rows["open2"]["status"] == "interrupted"
    assert rows["open1"]["ended_at"] == clock.now()
    # the missing file was recreated with a header, so the session still has something playable
    assert (tmp_path / "2026/01/01/open1.cast").read_bytes().startswith(b'{"version":2')
    assert rows["open1"]["recording_sha256"] is not None and rows["open2"]["recording_sha256"] is None
