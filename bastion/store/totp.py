"""Queries on `totp_credentials` (one TOTP secret per name, the newest accepted time step, a lockout
deadline) and `totp_failures` (one row per refused code, for the lockout window)."""

from __future__ import annotations

from bastion.store.db import Store


def get_credential(store: Store, name: str) -> dict | None:
    rows = store.query("SELECT * FROM totp_credentials WHERE name = ?", [name])
    return rows[0] if rows else None


def put_credential(store: Store, *, name: str, secret: str, enrolled_at: float) -> bool:
    """Create or replace `name`'s secret, clearing its replay step, lockout and failures.
    Returns True when an older secret was replaced."""
    with store.db.atomic():
        replaced = bool(store.query("SELECT 1 AS x FROM totp_credentials WHERE name = ?", [name]))
        store.write(
            """INSERT INTO totp_credentials (name, secret, enrolled_at, last_step, locked_until)
               VALUES (?, ?, ?, NULL, NULL)
               ON CONFLICT (name) DO UPDATE SET secret = excluded.secret, enrolled_at = excluded.enrolled_at,
                   last_step = NULL, locked_until = NULL""",
            [name, secret, enrolled_at],
        )
        store.write("DELETE FROM totp_failures WHERE name = ?", [name])
    return replaced


def set_last_step(store: Store, name: str, step: int) -> None:
    store.write("UPDATE totp_credentials SET last_step = ? WHERE name = ?", [step, name])


def add_failure(store: Store, name: str, at: float) -> None:
    store.write("INSERT INTO totp_failures (name, at) VALUES (?, ?)", [name, at])


def count_failures(store: Store, name: str, since: float) -> int:
    """Failures strictly after `since`."""
    return int(store.query("SELECT count(*) AS n FROM totp_failures WHERE name = ? AND at > ?",
                           [name, since])[0]["n"])


def clear_failures(store: Store, name: str) -> None:
    store.write("DELETE FROM totp_failures WHERE name = ?", [name])


def prune_failures(store: Store, before: float) -> None:
    """Drop failures too old to count toward any lockout (keeps the table small)."""
    store.write("DELETE FROM totp_failures WHERE at <= ?", [before])


def set_locked_until(store: Store, name: str, until: float | None) -> None:
    store.write("UPDATE totp_credentials SET locked_until = ? WHERE name = ?", [until, name])
