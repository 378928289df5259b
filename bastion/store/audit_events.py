"""Queries on the append-only, hash-chained `audit_events` table.

Each row's `hash` is sha256(prev_hash + canonical JSON of the row's other columns); `prev_hash` is the hash
of the row before (64 zeros for the first). Editing, deleting or reordering a row breaks the chain at that
row, which `verify_chain` reports.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from typing import Any

from bastion.store.db import Store

GENESIS_HASH = "0" * 64
_CHAIN_COLUMNS = ("seq", "at", "code", "name", "severity", "session_id", "user", "data")


def canonical_json(value: Any) -> str:
    """Deterministic JSON: sorted keys, no spaces, UTF-8 text kept as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def row_hash(prev_hash: str, row: dict) -> str:
    """The chain hash of a row (a dict with at least the chained columns)."""
    body = canonical_json({column: row[column] for column in _CHAIN_COLUMNS})
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def last_link(store: Store) -> tuple[int, str]:
    """(seq, hash) of the newest row, or (0, GENESIS_HASH) for an empty table."""
    rows = store.query("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
    if not rows:
        return 0, GENESIS_HASH
    return int(rows[0]["seq"]), str(rows[0]["hash"])


def append_event(
    store: Store,
    *,
    seq: int,
    prev_hash: str,
    at: float,
    code: str,
    name: str,
    severity: str,
    session_id: str | None,
    user: str | None,
    data: dict,
) -> str:
    """Insert one chained row and return its hash. The caller owns `seq`/`prev_hash` (one writer)."""
    row = {
        "seq": seq,
        "at": float(at),
        "code": code,
        "name": name,
        "severity": severity,
        "session_id": session_id,
        "user": user,
        "data": canonical_json(data),
    }
    row["prev_hash"] = prev_hash
    row["hash"] = row_hash(prev_hash, row)
    store.write(
        """INSERT INTO audit_events (seq, at, code, name, severity, session_id, user, data, prev_hash, hash)
           VALUES (:seq, :at, :code, :name, :severity, :session_id, :user, :data, :prev_hash, :hash)""",
        row,
    )
    return row["hash"]


def iter_events(store: Store, *, batch: int = 1000) -> Iterator[dict]:
    """Every row in seq order, read in batches so a long history does not sit in memory."""
    after = -1
    while True:
        rows = store.query("SELECT * FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?", [after, batch])
        if not rows:
            return
        yield from rows
        after = rows[-1]["seq"]


def events_for_session(store: Store, session_id: str) -> list[dict]:
    rows = store.query("SELECT * FROM audit_events WHERE session_id = ? ORDER BY seq", [session_id])
    for row in rows:
        row["data"] = json.loads(row["data"])
    return rows


def verify_chain(store: Store, on_row: Callable[[dict], None] | None = None) -> str | None:
    """None when the whole chain holds, else a sentence naming the first broken link (by seq).
    `on_row` sees every row that was checked, in order (verify uses it to cross-check sessions)."""
    expected_prev = GENESIS_HASH
    expected_seq = 1
    for row in iter_events(store):
        seq = row["seq"]
        if seq != expected_seq:
            return f"audit_events: seq {seq} follows seq {expected_seq - 1} (rows {expected_seq}..{seq - 1} missing)"
        if row["prev_hash"] != expected_prev:
            return f"audit_events: seq {seq} prev_hash does not match the hash of the row before it"
        if row_hash(row["prev_hash"], row) != row["hash"]:
            return f"audit_events: seq {seq} was altered (its hash does not match its contents)"
        if on_row is not None:
            on_row(row)
        expected_prev = row["hash"]
        expected_seq = seq + 1
    return None
