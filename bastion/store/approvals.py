"""Queries on `approvals` (one row per held command, pending until a verdict, expiry or cancel) and
`approval_grants` (a reviewer's "this command for N minutes", matched on user, target, rules and grant key).

Rows come back as dicts with JSON columns decoded; `bastion.approvals` turns them into values. State changes
are conditional on the row still being `pending`, so a late second writer cannot overturn a verdict.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from bastion.store.db import Store

STATES = ("pending", "approved", "denied", "expired", "cancelled")
FINAL_STATES = ("approved", "denied", "expired", "cancelled")


def rules_key(rules: Sequence[str]) -> str:
    """The canonical form a grant matches rules on: sorted, de-duplicated, JSON."""
    return json.dumps(sorted(set(rules)), separators=(",", ":"))


def insert_request(
    store: Store,
    *,
    session_id: str,
    user: str,
    groups: Sequence[str],
    target: str,
    command: str,
    grant_key: str,
    rules: Sequence[str],
    reason: str,
    policy_version: str,
    requested_at: float,
    expires_at: float,
    approvers_required: int,
) -> int:
    cursor = store.write(
        """INSERT INTO approvals (session_id, user, groups, target, command, grant_key, rules, reason,
               policy_version, requested_at, expires_at, approvers_required, state, approvals)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', '[]')""",
        [session_id, user, json.dumps(list(groups)), target, command, grant_key, json.dumps(list(rules)),
         reason, policy_version, requested_at, expires_at, approvers_required],
    )
    assert cursor.lastrowid is not None
    return int(cursor.lastrowid)


def get_request(store: Store, request_id: int) -> dict | None:
    rows = store.query("SELECT * FROM approvals WHERE id = ?", [request_id])
    return _decode(rows[0]) if rows else None


def list_requests(store: Store, *, state: str | None = None, limit: int | None = 100,
                  newest_first: bool = True) -> list[dict]:
    sql, params = "SELECT * FROM approvals", []
    if state is not None:
        sql += " WHERE state = ?"
        params.append(state)
    sql += " ORDER BY id DESC" if newest_first else " ORDER BY id"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(int(limit))
    return [_decode(r) for r in store.query(sql, params)]


def pending_ids(store: Store, *, due_by: float | None = None) -> list[int]:
    """Ids of pending requests, oldest first; only those with expires_at <= due_by when given."""
    if due_by is None:
        rows = store.query("SELECT id FROM approvals WHERE state = 'pending' ORDER BY id")
    else:
        rows = store.query("SELECT id FROM approvals WHERE state = 'pending' AND expires_at <= ? ORDER BY id",
                           [due_by])
    return [int(r["id"]) for r in rows]


def finish_request(
    store: Store,
    request_id: int,
    *,
    state: str,
    decided_at: float,
    decided_by: str | None = None,
    decision_reason: str | None = None,
    approvals: Sequence[str] | None = None,
    grant_until: float | None = None,
) -> bool:
    """Move a pending request to a final state. False (nothing written) if it was no longer pending."""
    if state not in FINAL_STATES:
        raise ValueError(f"not a final approval state: {state!r}")
    sets = ["state = ?", "decided_at = ?", "decided_by = ?", "decision_reason = ?", "grant_until = ?"]
    params: list = [state, decided_at, decided_by, decision_reason, grant_until]
    if approvals is not None:
        sets.append("approvals = ?")
        params.append(json.dumps(list(approvals)))
    cursor = store.write(f"UPDATE approvals SET {', '.join(sets)} WHERE id = ? AND state = 'pending'",
                         [*params, request_id])
    return cursor.rowcount == 1


def add_partial_approval(store: Store, request_id: int, *, approvals: Sequence[str],
                         grant_offer: float | None) -> bool:
    """Record one more approval on a request that stays pending (it needs more approvers)."""
    cursor = store.write(
        "UPDATE approvals SET approvals = ?, grant_offer = ? WHERE id = ? AND state = 'pending'",
        [json.dumps(list(approvals)), grant_offer, request_id],
    )
    return cursor.rowcount == 1


# --- grants ----------------------------------------------------------------------------------------
def insert_grant(
    store: Store,
    *,
    request_id: int,
    user: str,
    target: str,
    rules: Sequence[str],
    grant_key: str,
    granted_by: str,
    granted_at: float,
    expires_at: float,
) -> int:
    cursor = store.write(
        """INSERT INTO approval_grants (request_id, user, target, rules, grant_key, granted_by, granted_at,
               expires_at, uses)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)""",
        [request_id, user, target, rules_key(rules), grant_key, granted_by, granted_at, expires_at],
    )
    assert cursor.lastrowid is not None
    return int(cursor.lastrowid)


def find_live_grant(store: Store, *, user: str, target: str, rules: Sequence[str], grant_key: str,
                    now: float) -> dict | None:
    """The live (unexpired, unrevoked) grant that matches, the one lasting longest first."""
    rows = store.query(
        """SELECT * FROM approval_grants
           WHERE user = ? AND target = ? AND grant_key = ? AND rules = ? AND expires_at > ?
                 AND revoked_at IS NULL
           ORDER BY expires_at DESC, id LIMIT 1""",
        [user, target, grant_key, rules_key(rules), now],
    )
    return _decode_grant(rows[0]) if rows else None


def record_grant_use(store: Store, grant_id: int, at: float) -> int:
    """Count one use; returns the new use count."""
    store.write("UPDATE approval_grants SET uses = uses + 1, last_used_at = ? WHERE id = ?", [at, grant_id])
    return int(store.query("SELECT uses FROM approval_grants WHERE id = ?", [grant_id])[0]["uses"])


def revoke_grant(store: Store, grant_id: int, *, at: float, by: str) -> bool:
    cursor = store.write(
        "UPDATE approval_grants SET revoked_at = ?, revoked_by = ? WHERE id = ? AND revoked_at IS NULL",
        [at, by, grant_id],
    )
    return cursor.rowcount == 1


def get_grant(store: Store, grant_id: int) -> dict | None:
    rows = store.query("SELECT * FROM approval_grants WHERE id = ?", [grant_id])
    return _decode_grant(rows[0]) if rows else None


def list_grants(store: Store, *, live_at: float | None = None, limit: int = 100) -> list[dict]:
    """Newest first; only grants live at `live_at` when given."""
    if live_at is None:
        rows = store.query("SELECT * FROM approval_grants ORDER BY id DESC LIMIT ?", [limit])
    else:
        rows = store.query(
            """SELECT * FROM approval_grants WHERE expires_at > ? AND revoked_at IS NULL
               ORDER BY id DESC LIMIT ?""",
            [live_at, limit],
        )
    return [_decode_grant(r) for r in rows]


def _decode(row: dict) -> dict:
    row["groups"] = json.loads(row["groups"]) if row["groups"] else []
    row["rules"] = json.loads(row["rules"]) if row["rules"] else []
    row["approvals"] = json.loads(row["approvals"]) if row["approvals"] else []
    return row


def _decode_grant(row: dict) -> dict:
    row["rules"] = json.loads(row["rules"]) if row["rules"] else []
    return row
