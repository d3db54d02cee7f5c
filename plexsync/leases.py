"""Exclusive leases in state.db: one holder across every thread and process.

Like Huey's ``lock_task``, but with an expiry, so a holder killed with SIGKILL does not
block the next periodic run until a worker restart.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator

from plexsync.db import Database
from plexsync.errors import PlexsyncError

RECONCILE = "reconcile"  # held by every reconcile, periodic or from the CLI


class LeaseHeld(PlexsyncError):
    """Another holder has the lease."""


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


@contextlib.contextmanager
def lease(db: Database, name: str, ttl_s: float = 3600.0) -> Iterator[None]:
    owner, now = _owner(), time.time()
    conn = db.conn()
    cur = conn.execute(
        "insert into leases (name, owner, expires_at) values (?, ?, ?) "
        "on conflict(name) do update set owner = excluded.owner, expires_at = excluded.expires_at "
        "where leases.expires_at < ?",
        (name, owner, now + ttl_s, now),
    )
    if cur.rowcount != 1:
        row = conn.execute("select owner from leases where name = ?", (name,)).fetchone()
        holder = row[0].rsplit(":", 1)[0] if row else "?"
        raise LeaseHeld(f"a {name} is already running ({holder})")
    try:
        yield
    finally:
        conn.execute("delete from leases where name = ? and owner = ?", (name, owner))
