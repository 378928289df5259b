"""Queries on the `sessions` table: one row per client session channel, opened when it starts and closed
(or marked interrupted by the next start after a crash) when it ends."""

from __future__ import annotations

from pathlib import Path

from bastion.errors import RecordingError, StoreError
from bastion.recording.asciicast import header_line
from bastion.recording.repair import repair_recording
from bastion.store.db import Store

SESSION_KINDS = ("exec", "shell", "subsystem")
# closed: ended normally; terminated: ended by the gateway (shutdown, reviewer, recording failure);
# interrupted: found open at the next start after a crash; failed: never got going (upstream, recorder).
END_STATUSES = ("closed", "terminated", "interrupted", "failed")
INTERRUPTED_ERROR = "gateway stopped while the session was open"


def start_session(
    store: Store,
    *,
    id: str,
    user: str,
    auth_method: str | None,
    client_addr: str | None,
    target: str | None,
    account: str | None,
    kind: str,
    command: str | None,
    started_at: float,
    recording_path: str | Path | None,
    policy_version: str | None = None,
) -> None:
    """Insert an `open` session row. StoreError if the id exists or the write fails."""
    if kind not in SESSION_KINDS:
        raise StoreError(f"session kind must be one of {SESSION_KINDS}, got {kind!r}")
    store.write(
        """INSERT INTO sessions (id, user, auth_method, client_addr, target, account, kind, command,
               started_at, status, bytes_in, bytes_out, recording_path, policy_version)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', 0, 0, ?, ?)""",
        [id, user, auth_method, client_addr, target, account, kind, command, started_at,
         None if recording_path is None else str(recording_path), policy_version],
    )


def forget_recording(store: Store, id: str) -> None:
    """The session's recording file could not be created after all: its row names none."""
    store.write("UPDATE sessions SET recording_path = NULL WHERE id = ?", [id])


def end_session(
    store: Store,
    id: str,
    *,
    ended_at: float,
    status: str,
    exit_status: int | None = None,
    exit_signal: str | None = None,
    bytes_in: int,
    bytes_out: int,
    recording_sha256: str | None = None,
    error: str | None = None,
) -> None:
    """Close a session row. StoreError if the session is unknown or no longer open."""
    if status not in END_STATUSES:
        raise StoreError(f"end status must be one of {END_STATUSES}, got {status!r}")
    cursor = store.write(
        """UPDATE sessions SET ended_at = ?, status = ?, exit_status = ?, exit_signal = ?, bytes_in = ?,
               bytes_out = ?, recording_sha256 = ?, error = ?
           WHERE id = ? AND status = 'open'""",
        [ended_at, status, exit_status, exit_signal, bytes_in, bytes_out, recording_sha256, error, id],
    )
    if cursor.rowcount != 1:
        raise StoreError(f"session {id!r} is unknown or already ended")


def mark_interrupted(store: Store, *, at: float, recordings_root: Path | None = None) -> list[str]:
    """After a crash (kill -9): every `open` session becomes `interrupted`. Each one's recording is repaired
    so it stays playable (torn last line cut, an "interrupted" marker added) and its SHA-256 is recorded.
    A relative recording path is taken relative to `recordings_root`. Returns the ids, oldest first."""
    rows = store.query("SELECT * FROM sessions WHERE status = 'open' ORDER BY started_at, id", [])
    ids: list[str] = []
    for row in rows:
        sha256: str | None = None
        error = INTERRUPTED_ERROR
        if row["recording_path"]:
            path = resolve_recording(row["recording_path"], recordings_root)
            title = f"{row['user']} on {row['target']}" if row["target"] else row["user"]
            fallback = header_line(
                width=80,
                height=24,
                timestamp=int(row["started_at"]),
                command=row["command"],
                title=title,
                env={},
            )
            try:
                sha256 = repair_recording(path, fallback_header=fallback)
            except RecordingError as exc:
                error = f"{INTERRUPTED_ERROR}; {exc}"
        store.write(
            """UPDATE sessions SET status = 'interrupted', ended_at = ?, recording_sha256 = ?, error = ?
               WHERE id = ? AND status = 'open'""",
            [at, sha256, error, row["id"]],
        )
        ids.append(row["id"])
    return ids


def get_session(store: Store, id: str) -> dict | None:
    rows = store.query("SELECT * FROM sessions WHERE id = ?", [id])
    return rows[0] if rows else None


def list_sessions(
    store: Store,
    *,
    user: str | None = None,
    target: str | None = None,
    status: str | None = None,
    limit: int = 50,
) -> list[dict]:
    """Newest first."""
    where, params = [], []
    for column, value in (("user", user), ("target", target), ("status", status)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    sql = "SELECT * FROM sessions"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY started_at DESC, id DESC LIMIT ?"
    return store.query(sql, [*params, int(limit)])


def resolve_recording(recording_path: str | Path, recordings_root: Path | None) -> Path:
    path = Path(recording_path)
    if not path.is_absolute() and recordings_root is not None:
        path = Path(recordings_root) / path
    return path

