"""Record a scene event durably: the standard-library-only enqueuer shared by the Stash hook,
the CLI and the worker.

This module must import nothing outside the standard library (the Stash hook runs it with
Stash's bare Python, and each import costs hook latency). It writes a real Huey task into
SqliteHuey's ``task`` table in the JSON format of ``plexsync.queue.JsonSerializer``, and a
per-scene *pending* record, both in ONE transaction of the queue DB:

- ``pending`` holds one row per scene with unfinished work. ``seq`` grows with every event;
  ``queued=1`` means a task for the scene is waiting (queue or schedule), ``0`` means a worker
  has claimed it. An event for a scene whose task is still waiting is coalesced into that
  task (the task reads Stash's current data when it runs), so a burst of 20 saves becomes one
  Plex update with the final data.
- The worker clears the row only after the Plex write succeeded (``plexsync.pending``); rows
  whose task vanished (worker killed mid-task) are re-enqueued on start and by reconcile.
"""

from __future__ import annotations

import os
import sqlite3
import time

try:  # the C string encoder behind json.dumps, without json's re/enum imports (~5 ms)
    from _json import encode_basestring_ascii as _json_string
except ImportError:  # not CPython
    from json.encoder import py_encode_basestring_ascii as _json_string

QUEUE_NAME = "plexsync"
SYNC_TASK_NAME = "plexsync.tasks.sync_scene"
BUSY_TIMEOUT_MS = 30000

# Same DDL as huey.storage.SqliteStorage, so whichever side comes first creates it right.
HUEY_DDL = (
    "create table if not exists kv (queue text not null, key text not null, "
    "value blob not null, primary key(queue, key))",
    "create table if not exists schedule (id integer not null primary key, queue text not null, "
    "data blob not null, timestamp real not null)",
    "create index if not exists schedule_queue_timestamp on schedule (queue, timestamp)",
    "create table if not exists task (id integer not null primary key, queue text not null, "
    "data blob not null, priority real not null default 0.0)",
    "create index if not exists task_queue_priority_id on task (queue, priority desc, id)",
    "create table if not exists counter (queue text not null, key text not null, "
    "value integer not null default 0, primary key(queue, key))",
)
PENDING_DDL = (
    "create table if not exists pending ("
    "scene_id integer primary key, seq integer not null, queued integer not null, "
    "task_id text not null, cid text not null, event text not null, "
    "first_at real not null, updated_at real not null, claimed_at real)"
)


def connect(db_path: str, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> sqlite3.Connection:
    """Open the queue DB (created 0600, WAL, busy timeout) with the tables in place.

    ``busy_timeout_ms`` bounds every wait for another process's lock on this connection
    (the Stash hook passes a shorter one than the worker: a Stash save waits for it).
    """
    if not os.path.exists(db_path):
        os.makedirs(os.path.dirname(db_path) or ".", mode=0o700, exist_ok=True)
        # O_EXCL: never open (and close) a file SQLite may hold locks on. No contextlib
        # import here: every import costs the hook latency.
        try:  # noqa: SIM105
            os.close(os.open(db_path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600))
        except FileExistsError:
            pass
    timeout = busy_timeout_ms / 1000
    conn = sqlite3.connect(db_path, timeout=timeout, isolation_level=None)
    conn.execute(f"pragma busy_timeout={int(busy_timeout_ms)}")
    mode = conn.execute("pragma journal_mode").fetchone()[0]
    if mode != "wal":
        _retry_locked(lambda: conn.execute("pragma journal_mode=wal"), timeout)
    conn.execute("pragma synchronous=FULL")
    cur = conn.execute("select count(*) from sqlite_master where name in ('task','pending')")
    if cur.fetchone()[0] < 2:
        _retry_locked(lambda: _create_tables(conn), timeout)
    return conn


def new_uuid_hex() -> str:
    """A random UUID4 as 32 hex digits, like ``uuid.uuid4().hex``.

    Built from os.urandom because importing ``uuid`` (which imports ``platform``) costs the
    hook about 2 ms of its latency budget.
    """
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    return raw.hex()


def _create_tables(conn: sqlite3.Connection) -> None:
    conn.execute("begin immediate")
    try:
        for ddl in (*HUEY_DDL, PENDING_DDL):
            conn.execute(ddl)
        conn.execute("commit")
    except BaseException:
        conn.execute("rollback")
        raise


def _retry_locked(fn, timeout: float = BUSY_TIMEOUT_MS / 1000):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.005)


def task_data(task_id: str, scene_id: int, cid: str, event: str) -> bytes:
    """One Huey message for plexsync.tasks.sync_scene, as JsonSerializer writes it.

    Byte for byte ``json.dumps(message, separators=(",", ":")).encode()``.
    """
    if not isinstance(scene_id, int) or isinstance(scene_id, bool):
        raise TypeError(f"scene_id must be an int, got {type(scene_id).__name__}")
    text = (
        '{"__message__":{"id":'
        + _json_string(task_id)
        + ',"name":'
        + _json_string(SYNC_TASK_NAME)
        + ',"retries":0,"retry_delay":0,"args":['
        + str(int(scene_id))
        + '],"kwargs":{"cid":'
        + _json_string(cid)
        + ',"event":'
        + _json_string(event)
        + "}}}"
    )
    return text.encode()


def record_event(
    conn: sqlite3.Connection, scene_id: int, event: str, cid: str | None = None
) -> tuple[str, str, bool]:
    """Record one event for a scene. Returns (task_id, cid, coalesced).

    Durable when this returns: the transaction is committed with synchronous=FULL.
    """
    now = time.time()
    conn.execute("begin immediate")
    try:
        row = conn.execute(
            "select seq, queued, task_id, cid, first_at from pending where scene_id = ?",
            (scene_id,),
        ).fetchone()
        if row is not None and row[1] == 1:
            conn.execute(
                "update pending set seq = seq + 1, event = ?, updated_at = ? where scene_id = ?",
                (event, now, scene_id),
            )
            conn.execute("commit")
            return row[2], row[3], True
        task_id = new_uuid_hex()
        cid = cid or new_uuid_hex()[:12]
        seq = (row[0] + 1) if row else 1
        first_at = row[4] if row else now
        conn.execute(
            "insert or replace into pending (scene_id, seq, queued, task_id, cid, event, "
            "first_at, updated_at, claimed_at) values (?, ?, 1, ?, ?, ?, ?, ?, null)",
            (scene_id, seq, task_id, cid, event, first_at, now),
        )
        conn.execute(
            "insert into task (queue, data, priority) values (?, ?, 0)",
            (QUEUE_NAME, task_data(task_id, scene_id, cid, event)),
        )
        conn.execute("commit")
        return task_id, cid, False
    except BaseException:
        conn.execute("rollback")
        raise
