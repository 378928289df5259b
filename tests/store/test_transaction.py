"""Store.transaction groups writes into one commit; a rollback takes the audit events with it and the
chain continues from what is stored."""

from __future__ import annotations

import pytest

from bastion import audit
from bastion.clock import FakeClock
from bastion.store.db import Store
from bastion.store.sessions import get_session, start_session


def _start(store: Store, sid: str) -> None:
    start_session(store, id=sid, user="u", auth_method="publickey", client_addr="127.0.0.1:1", target="t",
                  account="a", kind="exec", command="true", started_at=1.0, recording_path=None)


def test_rolled_back_rows_and_events_are_gone_and_the_chain_stays_whole(tmp_path):
    clock = FakeClock()
    store = Store.open(tmp_path / "s.sqlite3", clock=clock)
    log = audit.SqliteAuditLog(store, clock)
    with store.transaction():
        _start(store, "kept")
        log.emit(audit.SessionStart(session_id="kept", user="u", target="t"))
    with pytest.raises(RuntimeError):
        with store.transaction():
            _start(store, "lost")
            log.emit(audit.SessionStart(session_id="lost", user="u", target="t"))
            raise RuntimeError("boom")
    log.emit(audit.SessionStart(session_id="after", user="u", target="t"))
    assert get_session(store, "kept") is not None and get_session(store, "lost") is None
    assert [r["session_id"] for r in store.query("SELECT session_id FROM audit_events ORDER BY seq")] == \
        ["kept", "after"]
    report = audit.verify(store, tmp_path)
    assert report.ok, report.problems
    store.close()


def test_background_checkpoints_keep_the_wal_small_and_stop_on_close(tmp_path):
    import time

    clock = FakeClock()
    store = Store.open(tmp_path / "s.sqlite3", clock=clock)
    store.checkpoint_in_background(interval=0.05)
    for i in range(300):
        _start(store, f"s{i}")
    time.sleep(0.3)
    wal = tmp_path / "s.sqlite3-wal"
    store.close()
    assert not wal.exists() or wal.stat().st_size == 0  # truncated at close
    again = Store.open(tmp_path / "s.sqlite3", clock=clock)
    assert len(again.query("SELECT id FROM sessions")) == 300
    again.close()
