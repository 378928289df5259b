"""Re-decide recorded commands with a candidate policy and list the ones whose decision would change.

Reads the audit store's `commands` table (id, session_id, text, at, user, groups, target, action, rules,
reason, policy_version, opaque, exit_status) read-only. This is how a team reviews policy drift and tunes
false positives before a new version goes live.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from bastion.errors import StoreError
from bastion.policy.evaluate import PolicyDecision, PolicySet


@dataclass(frozen=True)
class RecordedCommand:
    id: int
    text: str
    at: float
    user: str
    groups: tuple[str, ...]
    target: str
    action: str
    rules: tuple[str, ...]


@dataclass(frozen=True)
class Change:
    command: RecordedCommand
    new: PolicyDecision


def read_commands(db_path: Path, since: float | None) -> Iterator[RecordedCommand]:
    """Recorded commands at or after `since` (epoch seconds), oldest first."""
    if not Path(db_path).exists():
        raise StoreError(f"audit store not found: {db_path}")
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open audit store {db_path}: {exc}") from exc
    try:
        query = "SELECT id, text, at, user, groups, target, action, rules FROM commands"
        params: tuple = ()
        if since is not None:
            query += " WHERE at >= ?"
            params = (since,)
        try:
            rows = conn.execute(query + " ORDER BY at, id", params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read commands from {db_path}: {exc}") from exc
        for row in rows:
            yield RecordedCommand(int(row[0]), row[1] or "", float(row[2] or 0), row[3] or "",
                                  tuple(_json_list(row[4])), row[5] or "*", row[6] or "", tuple(_json_list(row[7])))
    finally:
        conn.close()


def _json_list(value: object) -> list[str]:
    if not value:
        return []
    try:
        data = json.loads(value) if isinstance(value, str) else value
    except json.JSONDecodeError:
        return [str(value)]
    return [str(x) for x in data] if isinstance(data, list) else [str(data)]


def changes(policy: PolicySet, commands: Iterator[RecordedCommand]) -> Iterator[Change]:
    """Commands whose action or deciding rules differ under `policy`."""
    for cmd in commands:
        new = policy.evaluate(cmd.text, user=cmd.user, groups=cmd.groups, target=cmd.target)
        if new.action != cmd.action or tuple(new.rules) != cmd.rules:
            yield Change(cmd, new)
