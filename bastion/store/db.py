"""Store: opens the SQLite audit database (WAL, synchronous=NORMAL), applies migrations, and closes it.

Queries live next to the noun they serve (`sessions.py`, `commands.py`, `audit_events.py`) and take a
`Store`. One process, one writer: the gateway calls these from its event loop, so every call is small.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path
from typing import Callable, Iterator

import sqlite_utils

from bastion.clock import Clock
from bastion.errors import StoreError
from bastion.store.migrations import migrate


class Store:
    """An open audit database."""

    def __init__(self, db: sqlite_utils.Database, path: Path, clock: Clock) -> None:
        self.db = db
        self.path = path
        self.clock = clock
        self._rollback_hooks: list[Callable[[], None]] = []
        self._checkpointer: tuple[threading.Thread, threading.Event] | None = None

    @classmethod
    def open(cls, path: Path, *, clock: Clock) -> "Store":
        """Open (creating the parent directory and the file if needed), switch to WAL and migrate."""
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # The gateway may hand small calls to a worker thread; it remains the only writer.
            conn = sqlite3.connect(str(path), check_same_thread=False, timeout=5.0)
            db = sqlite_utils.Database(conn)
            db.execute("PRAGMA busy_timeout = 5000")
            db.enable_wal()
            # NORMAL in WAL mode: a power loss may lose the last transactions, never corrupt the file.
            db.execute("PRAGMA synchronous = NORMAL")
            migrate(db)
        except (sqlite3.Error, OSError, ValueError) as exc:
            raise StoreError(f"cannot open audit store {path}: {exc}") from exc
        return cls(db, path, clock)

    def write(self, sql: str, params: list | tuple = ()) -> sqlite3.Cursor:
        """Run one write statement (committed at once unless inside `db.atomic()`)."""
        try:
            return self.db.execute(sql, params)
        except sqlite3.Error as exc:
            raise StoreError(f"audit store write failed: {exc}") from exc

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes into one commit (each `write` alone commits at once). Nested use joins the outer
        transaction. On an error everything in it is rolled back and the error re-raised."""
        conn = self.db.conn
        if conn.in_transaction:
            yield
            return
        try:
            conn.execute("BEGIN")
        except sqlite3.Error as exc:
            raise StoreError(f"audit store transaction failed: {exc}") from exc
        try:
            yield
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            for hook in self._rollback_hooks:
                hook()
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            for hook in self._rollback_hooks:
                hook()
            raise StoreError(f"audit store commit failed: {exc}") from exc

    def on_rollback(self, hook: Callable[[], None]) -> None:
        """Call `hook` after a transaction is rolled back (the audit log re-reads its last link)."""
        self._rollback_hooks.append(hook)

    def query(self, sql: str, params: list | tuple = ()) -> list[dict]:
        """Run one read statement; rows as dicts keyed by column name."""
        try:
            cursor = self.db.execute(sql, params)
            columns = [c[0] for c in cursor.description]
            return [dict(zip(columns, row)) for row in cursor.fetchall()]
        except sqlite3.Error as exc:
            raise StoreError(f"audit store read failed: {exc}") from exc

    def checkpoint_in_background(self, interval: float = 1.0) -> None:
        """Move WAL checkpoints off the writer: SQLite's automatic checkpoint runs inside whichever commit
        crosses the threshold and fsyncs the database there, which showed up as 15–30 ms stalls in the
        gateway's p99 exec latency. A thread with its own connection checkpoints every `interval` instead
        (SQLite releases the GIL while it does the I/O)."""
        if self._checkpointer is not None:
            return
        try:
            self.db.execute("PRAGMA wal_autocheckpoint = 0")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot configure checkpoints for {self.path}: {exc}") from exc
        stop = threading.Event()

        def run() -> None:
            conn = sqlite3.connect(str(self.path), timeout=5.0, check_same_thread=False)
            try:
                while not stop.wait(interval):
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                conn.close()

        thread = threading.Thread(target=run, name="store-checkpoint", daemon=True)
        thread.start()
        self._checkpointer = (thread, stop)

    def close(self) -> None:
        if self._checkpointer is not None:
            thread, stop = self._checkpointer
            stop.set()
            thread.join(10)
            self._checkpointer = None
        try:
            self.db.conn.close()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot close audit store {self.path}: {exc}") from exc

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
