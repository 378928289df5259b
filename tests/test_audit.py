"""Audit events, the hash-chained log and `verify`."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bastion import audit
from bastion.audit import (
    CATALOGUE, AuditEvent, ChannelRefused, GatewayStart, ListAuditLog, PolicyDecision, SessionEnd,
    SessionStart, SqliteAuditLog, verify,
)
from bastion.clock import FakeClock
from bastion.recording.recorder import Recorder, recording_path
from bastion.store.audit_events import GENESIS_HASH, canonical_json, row_hash
from bastion.store.db import Store
from bastion.store.sessions import end_session, start_session

REQUIRED = {"session.start", "session.end", "session.interrupted", "auth.success", "auth.failure",
            "target.refused", "upstream.failed", "upstream.hostkey_mismatch", "channel.refused",
            "policy.decision", "policy.loaded", "policy.reload_failed", "mask.hit", "recording.failed",
            "gateway.start", "gateway.stop"}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> Iterator[Store]:
    s = Store.open(tmp_path / "audit.db", clock=clock)
    yield s
    s.close()


def _rows(store: Store) -> list[dict]:
    return store.query("SELECT * FROM audit_events ORDER BY seq")


def _tamper(store: Store, sql: str) -> None:
    """What an attacker with file access does: drop the guard, edit history."""
    store.write("DROP TRIGGER audit_events_no_update")
    store.write("DROP TRIGGER audit_events_no_delete")
    store.write(sql)


# --- events ------------------------------------------------------------------------------------------
def test_catalogue_covers_the_agreed_events_with_unique_codes() -> None:
    assert REQUIRED <= set(CATALOGUE)
    codes = [cls.code for cls in CATALOGUE.values()]
    assert len(codes) == len(set(codes))
    for cls in CATALOGUE.values():
        assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen


def test_event_values() -> None:
    event = PolicyDecision(session_id="s1", user="alice", command="rm -rf /", action="deny",
                           rules=("no-rm-root",), reason="destructive", policy_version="p-1")
    assert (event.name, event.code, event.severity) == ("policy.decision", "T4000I", "info")
    assert event.data()["rules"] == ["no-rm-root"] and "session_id" not in event.data()
    assert ChannelRefused(kind="x11").severity == "warning"
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.action = "allow"  # type: ignore[misc]


def test_a_new_event_cannot_reuse_a_code() -> None:
    with pytest.raises(TypeError):
        @dataclasses.dataclass(frozen=True, kw_only=True)
        class Clash(AuditEvent):
            name = "approval.requested"
            code = "T4000I"
    assert "approval.requested" not in CATALOGUE


def test_list_audit_log_keeps_events() -> None:
    log = ListAuditLog()
    log.emit(GatewayStart(version="0.1.0", listen="127.0.0.1:2222"))
    assert log.names() == ["gateway.start"] and isinstance(log.events[0], GatewayStart)


# --- the chain ---------------------------------------------------------------------------------------
def test_rows_are_hash_chained(store: Store, clock: FakeClock) -> None:
    log = SqliteAuditLog(store, clock)
    log.emit(GatewayStart(version="0.1.0", listen="127.0.0.1:2222"))
    clock.advance(1.5)
    log.emit(SessionStart(session_id="s1", user="alice", target="web-1", command="uptime"))
    first, second = _rows(store)
    assert first["prev_hash"] == GENESIS_HASH and second["prev_hash"] == first["hash"]
    assert (second["seq"], second["at"], second["code"], second["severity"]) == (2, clock.now(), "T2000I", "info")
    assert json.loads(second["data"])["target"] == "web-1"
    body = canonical_json({k: second[k] for k in
                           ("seq", "at", "code", "name", "severity", "session_id", "user", "data")})
    assert second["hash"] == hashlib.sha256((first["hash"] + body).encode()).hexdigest()


def test_a_reopened_log_continues_the_chain(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "audit.db"
    with Store.open(path, clock=clock) as s:
        SqliteAuditLog(s, clock).emit(GatewayStart(version="0.1.0", listen="x"))
    with Store.open(path, clock=clock) as s:
        SqliteAuditLog(s, clock).emit(audit.GatewayStop())
        rows = _rows(s)
        assert [r["seq"] for r in rows] == [1, 2] and rows[1]["prev_hash"] == rows[0]["hash"]
        assert verify(s, tmp_path).ok


def _chain(store: Store, clock: FakeClock, n: int = 5) -> None:
    log = SqliteAuditLog(store, clock)
    for i in range(n):
        clock.advance(1)
        log.emit(PolicyDecision(session_id="s1", user="alice", command=f"cmd {i}", action="allow"))


def test_verify_detects_an_edited_row(store: Store, clock: FakeClock, tmp_path: Path) -> None:
    _chain(store, clock)
    assert verify(store, tmp_path).ok
    _tamper(store, """UPDATE audit_events SET data = replace(data, '"allow"', '"deny"') WHERE seq = 3""")
    report = verify(store, tmp_path)
    assert not report.ok and len(report.problems) == 1 and "seq 3" in report.problems[0]


def test_verify_detects_an_edit_that_recomputes_the_rows_own_hash(store: Store, clock: FakeClock,
                                                                   tmp_path: Path) -> None:
    _chain(store, clock)
    row = _rows(store)[1]
    row["user"] = "mallory"
    _tamper(store, f"UPDATE audit_events SET user = 'mallory', hash = '{row_hash(row['prev_hash'], row)}' "
                   "WHERE seq = 2")
    report = verify(store, tmp_path)
    assert not report.ok and "seq 3" in report.problems[0]  # the next link no longer matches


def test_verify_detects_a_deleted_row(store: Store, clock: FakeClock, tmp_path: Path) -> None:
    _chain(store, clock)
    _tamper(store, "DELETE FROM audit_events WHERE seq = 2")
    report = verify(store, tmp_path)
    assert not report.ok and "seq 3" in report.problems[0]


# --- recordings --------------------------------------------------------------------------------------
def _recorded_session(store: Store, clock: FakeClock, root: Path, sid: str) -> Path:
    log = SqliteAuditLog(store, clock)
    started = clock.now()
    path = recording_path(root, sid, started)
    rel = str(path.relative_to(root))
    start_session(store, id=sid, user="alice", auth_method="publickey", client_addr="127.0.0.1:1",
                  target="web-1", account="deploy", kind="exec", command="uptime", started_at=started,
                  recording_path=rel)
    rec = Recorder.open(path, width=80, height=24, started_at=started, command="uptime", title="alice on web-1",
                        env={}, clock=clock)
    rec.output(b" 10:00:00 up 3 days\r\n")
    sha = rec.close("exit 0")
    end_session(store, sid, ended_at=clock.now(), status="closed", exit_status=0, bytes_in=0, bytes_out=21,
                recording_sha256=sha)
    log.emit(SessionEnd(session_id=sid, user="alice", exit_status=0, bytes_out=21, recording_sha256=sha))
    return path


def test_verify_detects_an_altered_or_missing_recording(store: Store, clock: FakeClock, tmp_path: Path) -> None:
    altered = _recorded_session(store, clock, tmp_path, "s-altered")
    missing = _recorded_session(store, clock, tmp_path, "s-missing")
    _recorded_session(store, clock, tmp_path, "s-fine")
    assert verify(store, tmp_path).ok
    altered.write_bytes(altered.read_bytes().replace(b"3 days", b"9 days"))
    missing.unlink()
    report = verify(store, tmp_path)
    assert not report.ok
    assert any("s-altered" in p and "altered" in p for p in report.problems)
    assert any("s-missing" in p and "missing" in p for p in report.problems)
    assert not any("s-fine" in p for p in report.problems)


def test_verify_detects_a_rewritten_recording_hash(store: Store, clock: FakeClock, tmp_path: Path) -> None:
    """Altering the file and the sessions row together still disagrees with the chained session.end."""
    path = _recorded_session(store, clock, tmp_path, "s1")
    path.write_bytes(path.read_bytes().replace(b"3 days", b"9 days"))
    new_sha = hashlib.sha256(path.read_bytes()).hexdigest()
    store.write("UPDATE sessions SET recording_sha256 = ? WHERE id = 's1'", [new_sha])
    report = verify(store, tmp_path)
    assert not report.ok and any("audit trail" in p for p in report.problems)


def test_verify_flags_a_hashless_session_unless_its_recording_failed(store: Store, clock: FakeClock,
                                                                     tmp_path: Path) -> None:
    for sid in ("s-explained", "s-suspect"):
        path = recording_path(tmp_path, sid, clock.now())
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
        start_session(store, id=sid, user="alice", auth_method="publickey", client_addr=None, target="web-1",
                      account=None, kind="exec", command="true", started_at=clock.now(),
                      recording_path=str(path))
        end_session(store, sid, ended_at=clock.now(), status="terminated", bytes_in=0, bytes_out=0)
    SqliteAuditLog(store, clock).emit(audit.RecordingFailed(session_id="s-explained", reason="disk full"))
    report = verify(store, tmp_path)
    assert report.problems == ["session s-suspect: terminated without a recording hash"]
