"""SQLite connections for plexsync's own state: 0600 files, WAL, busy timeout, schema on open."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from plexsync.config import touch_private

BUSY_TIMEOUT_S = 30.0

STATE_DDL = (
    # Dead-letter queue: tasks that failed for good.
    """create table if not exists dlq (
        id text primary key, task text not null, scene_id integer, args text not null,
        error text not null, error_class text not null, attempts integer not null,
        first_failed_at real not null, failed_at real not null, cid text)""",
    "create index if not exists dlq_failed_at on dlq (failed_at)",
    # Circuit breaker shared by every worker thread and process.
    """create table if not exists breaker (
        name text primary key, state text not null, failures integer not null,
        opened_at real, probe_at real, updated_at real not null)""",
    # Worker heartbeats (also read by the stdlib hook's start_worker task).
    """create table if not exists worker (
        id text primary key, pid integer, host text, started_at real, heartbeat_at real)""",
    # What was last applied to Plex per scene (fingerprint of the desired state).
    """create table if not exists applied (
        scene_id integer primary key, rating_key text not null, section_id text not null,
        fingerprint text not null, applied_at real not null)""",
    "create index if not exists applied_rating_key on applied (rating_key)",
    # Content hash of the poster last uploaded to each Plex item.
    """create table if not exists posters (
        rating_key text primary key, sha256 text not null, uploaded_at real not null)""",
    # Scenes whose files Plex does not have (yet), with the reason.
    """create table if not exists unmatched (
        scene_id integer primary key, reason text not null, paths text not null,
        attempts integer not null, first_at real not null, last_at real not null)""",
    # Exclusive leases across threads and processes (e.g. one reconcile at a time).
    """create table if not exists leases (
        name text primary key, owner text not null, expires_at real not null)""",
    # Small facts: last success/failure, reconcile watermark, alert times.
    "create table if not exists meta (key text primary key, value text not null)",
)


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """One write transaction (lock taken at once), committed on exit, rolled back on error;
    joins a transaction already open on the connection."""
    own = not conn.in_transaction
    if own:
        conn.execute("begin immediate")  # take the write lock now, not at the first write
    try:
        yield
    except BaseException:
        if own:
            conn.rollback()
        raise
    if own:
        conn.commit()


class Database:
    """One SQLite file, one connection per thread (sqlite3 connections are not thread-safe)."""

    def __init__(self, path: Path, ddl: tuple[str, ...] = STATE_DDL) -> None:
        self.path = path
        self._ddl = ddl
        self._local = threading.local()
        self._ready = False
        self._ready_lock = threading.Lock()

    def conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._open()
            self._local.conn = conn
        return conn

    def _open(self) -> sqlite3.Connection:
        touch_private(self.path)
        conn = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        conn.execute(f"pragma busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
        if conn.execute("pragma journal_mode").fetchone()[0] != "wal":
            conn.execute("pragma journal_mode=wal")
        # FULL: a dead letter must be on disk before its pending record (queue.db, FULL)
        # is dropped, or a power cut between the two loses the event.
        conn.execute("pragma synchronous=FULL")
        with self._ready_lock:
            if not self._ready:
                with transaction(conn):
                    for ddl in self._ddl:
                        conn.execute(ddl)
                self._ready = True
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
