"""The schema of the audit store: the only place it lives. Each migration is a function applied once, in
order; add new ones at the end and never edit an applied one.

Uses sqlite-utils' `Migrations` where the installed version has it (4.x); otherwise a tiny runner keyed on
`PRAGMA user_version` applies the same functions.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlite_utils

try:
    from sqlite_utils import Migrations as _Migrations  # sqlite-utils >= 4
except ImportError:  # pragma: no cover - older sqlite-utils
    _Migrations = None

MIGRATION_SET = "bastion"

Migration = Callable[[sqlite_utils.Database], None]


def m001_sessions(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE sessions (
            id TEXT PRIMARY KEY,
            user TEXT NOT NULL,
            auth_method TEXT,
            client_addr TEXT,
            target TEXT,
            account TEXT,
            kind TEXT CHECK (kind IN ('exec', 'shell', 'subsystem')),
            command TEXT,
            started_at REAL NOT NULL,
            ended_at REAL,
            status TEXT NOT NULL DEFAULT 'open'
                CHECK (status IN ('open', 'closed', 'terminated', 'interrupted', 'failed')),
            exit_status INTEGER,
            exit_signal TEXT,
            bytes_in INTEGER NOT NULL DEFAULT 0,
            bytes_out INTEGER NOT NULL DEFAULT 0,
            recording_path TEXT,
            recording_sha256 TEXT,
            policy_version TEXT,
            error TEXT
        )
        """
    )
    db.execute("CREATE INDEX idx_sessions_started_at ON sessions (started_at)")
    db.execute("CREATE INDEX idx_sessions_status ON sessions (status)")
    db.execute("CREATE INDEX idx_sessions_user ON sessions (user)")


def m002_commands(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE commands (
            id INTEGER PRIMARY KEY,
            session_id TEXT NOT NULL,
            text TEXT NOT NULL,
            at REAL NOT NULL,
            user TEXT,
            groups TEXT,            -- JSON list
            target TEXT,
            action TEXT,
            rules TEXT,             -- JSON list of rule ids
            reason TEXT,
            policy_version TEXT,
            opaque INTEGER NOT NULL DEFAULT 0,
            exit_status INTEGER
        )
        """
    )
    db.execute("CREATE INDEX idx_commands_session_id ON commands (session_id)")
    db.execute("CREATE INDEX idx_commands_at ON commands (at)")


def m003_audit_events(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE audit_events (
            seq INTEGER PRIMARY KEY,
            at REAL NOT NULL,
            code TEXT NOT NULL,
            name TEXT NOT NULL,
            severity TEXT NOT NULL,
            session_id TEXT,
            user TEXT,
            data TEXT NOT NULL,     -- canonical JSON
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX idx_audit_events_session_id ON audit_events (session_id)")
    db.execute("CREATE INDEX idx_audit_events_at ON audit_events (at)")
    # INVARIANT: audit events are append-only. The hash chain detects tampering; these triggers stop the
    # gateway itself (or a careless operator) from rewriting history by accident.
    db.execute(
        """
        CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
        BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END
        """
    )
    db.execute(
        """
        CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
        BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END
        """
    )


def m004_approvals(db: sqlite_utils.Database) -> None:
    """Approval requests for held (`review`) commands, and the grants reviewers give with a verdict."""
    db.execute(
        """
        CREATE TABLE approvals (
            id INTEGER PRIMARY KEY,
            session_id TEXT NOT NULL,
            user TEXT NOT NULL,
            groups TEXT NOT NULL DEFAULT '[]',     -- JSON list
            target TEXT NOT NULL,
            command TEXT NOT NULL,
            grant_key TEXT NOT NULL,
            rules TEXT NOT NULL DEFAULT '[]',      -- JSON list of rule ids
            reason TEXT NOT NULL DEFAULT '',
            policy_version TEXT NOT NULL DEFAULT '',
            requested_at REAL NOT NULL,
            expires_at REAL NOT NULL,
            approvers_required INTEGER NOT NULL DEFAULT 1 CHECK (approvers_required >= 1),
            state TEXT NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending', 'approved', 'denied', 'expired', 'cancelled')),
            approvals TEXT NOT NULL DEFAULT '[]',  -- JSON list of reviewers who approved so far
            grant_offer REAL,                      -- smallest grant every approver so far offered
            decided_by TEXT,
            decided_at REAL,
            decision_reason TEXT,
            grant_until REAL
        )
        """
    )
    db.execute("CREATE INDEX idx_approvals_state_expires ON approvals (state, expires_at)")
    db.execute("CREATE INDEX idx_approvals_session_id ON approvals (session_id)")
    db.execute(
        """
        CREATE TABLE approval_grants (
            id INTEGER PRIMARY KEY,
            request_id INTEGER NOT NULL REFERENCES approvals (id),
            user TEXT NOT NULL,
            target TEXT NOT NULL,
            rules TEXT NOT NULL,                   -- canonical JSON list of rule ids (sorted)
            grant_key TEXT NOT NULL,
            granted_by TEXT NOT NULL,
            granted_at REAL NOT NULL,
            expires_at REAL NOT NULL,
            revoked_at REAL,
            revoked_by TEXT,
            uses INTEGER NOT NULL DEFAULT 0,
            last_used_at REAL
        )
        """
    )
    db.execute(
        "CREATE INDEX idx_approval_grants_match ON approval_grants (user, target, grant_key, rules, expires_at)"
    )


def m005_totp(db: sqlite_utils.Database) -> None:
    """TOTP secrets (reviewers now, TOTP logins later), the last accepted time step, and failed attempts."""
    db.execute(
        """
        CREATE TABLE totp_credentials (
            name TEXT PRIMARY KEY,
            secret TEXT NOT NULL,                  -- base32; see bastion/identity/totp.py
            enrolled_at REAL NOT NULL,
            last_step INTEGER,                     -- newest accepted time step (replay refusal)
            locked_until REAL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE totp_failures (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            at REAL NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX idx_totp_failures_name_at ON totp_failures (name, at)")


# Applied in this order; names are recorded in the database, so never rename one.
MIGRATIONS: list[Migration] = [m001_sessions, m002_commands, m003_audit_events, m004_approvals, m005_totp]


def migrate(db: sqlite_utils.Database) -> None:
    """Apply every pending migration. Idempotent."""
    if _Migrations is not None and hasattr(db, "atomic"):
        migrations = _Migrations(MIGRATION_SET)
        for fn in MIGRATIONS:
            migrations()(fn)
        migrations.apply(db)
        return
    _apply_by_user_version(db)  # pragma: no cover


def _apply_by_user_version(db: sqlite_utils.Database) -> None:  # pragma: no cover - sqlite-utils 3.x
    conn = db.conn
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    for number, fn in enumerate(MIGRATIONS, start=1):
        if number <= version:
            continue
        with conn:
            fn(db)
            conn.execute(f"PRAGMA user_version = {number}")
