"""Queries on the `commands` table: every command line submitted in a session, with the policy decision
that was taken on it and, once known, its exit status."""

from __future__ import annotations

import json
from collections.abc import Sequence

from bastion.errors import StoreError
from bastion.store.db import Store


def record_command(
    store: Store,
    *,
    session_id: str,
    text: str,
    at: float,
    user: str | None,
    groups: Sequence[str],
    target: str | None,
    action: str,
    rules: Sequence[str],
    reason: str | None,
    policy_version: str | None,
    opaque: bool,
) -> int:
    """Insert a command row; returns its id (for `set_command_exit`)."""
    cursor = store.write(
        """INSERT INTO commands (session_id, text, at, user, groups, target, action, rules, reason,
               policy_version, opaque)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        [session_id, text, at, user, json.dumps(list(groups)), target, action, json.dumps(list(rules)),
         reason, policy_version, 1 if opaque else 0],
    )
    assert cursor.lastrowid is not None
    return int(cursor.lastrowid)


def set_command_exit(store: Store, command_id: int, exit_status: int | None) -> None:
    cursor = store.write("UPDATE commands SET exit_status = ? WHERE id = ?", [exit_status, command_id])
    if cursor.rowcount != 1:
        raise StoreError(f"command {command_id} is unknown")


def commands_for_session(store: Store, session_id: str) -> list[dict]:
    """In the order they were submitted."""
    rows = store.query("SELECT * FROM commands WHERE session_id = ? ORDER BY at, id", [session_id])
    return [_decode(row) for row in rows]


def search_commands(
    store: Store,
    *,
    since: float | None = None,
    user: str | None = None,
    target: str | None = None,
    action: str | None = None,
    text: str | None = None,
    limit: int = 100,
) -> list[dict]:
    """Newest first. `text` matches a substring of the command line (case-sensitive, no wildcards)."""
    where, params = [], []
    if since is not None:
        where.append("at >= ?")
        params.append(since)
    for column, value in (("user", user), ("target", target), ("action", action)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if text is not None:
        # instr() rather than LIKE: no wildcard escaping, and it is case-sensitive like a shell.
        where.append("instr(text, ?) > 0")
        params.append(text)
    sql = "SELECT * FROM commands"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY at DESC, id DESC LIMIT ?"
    return [_decode(row) for row in store.query(sql, [*params, int(limit)])]


def _decode(row: dict) -> dict:
    row["groups"] = json.loads(row["groups"]) if row["groups"] else []
    row["rules"] = json.loads(row["rules"]) if row["rules"] else []
    row["opaque"] = bool(row["opaque"])
    return row
