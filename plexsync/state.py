"""The worker's durable facts in state.db: heartbeats, what was applied, posters, unmatched
scenes, and small meta values (last success/failure, reconcile watermark)."""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from plexsync.db import Database

HEARTBEAT_STALE_S = 60.0


def iso(ts: float | None) -> str | None:
    """Seconds since the epoch → ISO-8601 UTC (the INTERFACE's timestamp format)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Applied:
    scene_id: int
    rating_key: str
    section_id: str
    fingerprint: str
    applied_at: float


@dataclass(frozen=True)
class Unmatched:
    scene_id: int
    reason: str
    paths: tuple[str, ...]
    attempts: int
    first_at: float
    last_at: float


@dataclass(frozen=True)
class WorkerInfo:
    id: str
    pid: int
    host: str
    started_at: float
    heartbeat_at: float

    def alive(self, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        if now - self.heartbeat_at > HEARTBEAT_STALE_S:
            return False
        # On Windows os.kill(pid, 0) would terminate the process: trust the heartbeat there.
        if self.host == socket.gethostname() and os.name != "nt":
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return False
            except PermissionError:
                return True
        return True


class StateStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # ------------------------------------------------------------ meta
    def get_meta(self, key: str) -> str | None:
        row = self.db.conn().execute("select value from meta where key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.conn().execute(
            "insert into meta (key, value) values (?, ?) "
            "on conflict(key) do update set value = excluded.value",
            (key, value),
        )

    def _meta_time(self, key: str) -> float | None:
        value = self.get_meta(key)
        return float(value) if value else None

    def mark_success(self, now: float | None = None) -> None:
        self.set_meta("last_success", str(time.time() if now is None else now))

    def mark_failure(self, now: float | None = None) -> None:
        self.set_meta("last_failure", str(time.time() if now is None else now))

    @property
    def last_success(self) -> float | None:
        return self._meta_time("last_success")

    @property
    def last_failure(self) -> float | None:
        return self._meta_time("last_failure")

    # ------------------------------------------------------------ worker heartbeat
    def heartbeat(self, worker_id: str, started_at: float, now: float | None = None) -> None:
        self.db.conn().execute(
            "insert into worker (id, pid, host, started_at, heartbeat_at) values (?, ?, ?, ?, ?) "
            "on conflict(id) do update set heartbeat_at = excluded.heartbeat_at",
            (worker_id, os.getpid(), socket.gethostname(), started_at, now or time.time()),
        )

    def remove_worker(self, worker_id: str) -> None:
        self.db.conn().execute("delete from worker where id = ?", (worker_id,))

    def workers(self) -> list[WorkerInfo]:
        rows = self.db.conn().execute(
            "select id, pid, host, started_at, heartbeat_at from worker order by heartbeat_at desc"
        )
        return [WorkerInfo(*row) for row in rows]

    def live_worker(self, exclude_self: bool = False) -> WorkerInfo | None:
        """A live worker. ``exclude_self`` for a worker starting up: after an exec() restart,
        or as PID 1 in a restarted container, its own stale row must not count."""
        me = (os.getpid(), socket.gethostname()) if exclude_self else None
        return next((w for w in self.workers() if w.alive() and (w.pid, w.host) != me), None)

    # ------------------------------------------------------------ applied state per scene
    def get_applied(self, scene_id: int) -> Applied | None:
        row = (
            self.db.conn()
            .execute(
                "select scene_id, rating_key, section_id, fingerprint, applied_at "
                "from applied where scene_id = ?",
                (scene_id,),
            )
            .fetchone()
        )
        return Applied(*row) if row else None

    def all_applied(self) -> dict[int, Applied]:
        rows = self.db.conn().execute(
            "select scene_id, rating_key, section_id, fingerprint, applied_at from applied"
        )
        return {row[0]: Applied(*row) for row in rows}

    def set_applied(
        self, scene_id: int, rating_key: str, section_id: str, fingerprint: str
    ) -> None:
        self.db.conn().execute(
            "insert or replace into applied (scene_id, rating_key, section_id, fingerprint, "
            "applied_at) values (?, ?, ?, ?, ?)",
            (scene_id, rating_key, section_id, fingerprint, time.time()),
        )

    def forget_scene(self, scene_id: int) -> None:
        conn = self.db.conn()
        conn.execute("delete from applied where scene_id = ?", (scene_id,))
        conn.execute("delete from unmatched where scene_id = ?", (scene_id,))

    # ------------------------------------------------------------ posters
    def poster_hash(self, rating_key: str) -> str | None:
        row = (
            self.db.conn()
            .execute("select sha256 from posters where rating_key = ?", (rating_key,))
            .fetchone()
        )
        return row[0] if row else None

    def set_poster_hash(self, rating_key: str, sha256: str) -> None:
        self.db.conn().execute(
            "insert or replace into posters (rating_key, sha256, uploaded_at) values (?, ?, ?)",
            (rating_key, sha256, time.time()),
        )

    # ------------------------------------------------------------ unmatched scenes
    def record_unmatched(self, scene_id: int, reason: str, paths: tuple[str, ...]) -> int:
        """Record (or bump) an unmatched scene; returns its attempt count."""
        now = time.time()
        conn = self.db.conn()
        conn.execute(
            "insert into unmatched (scene_id, reason, paths, attempts, first_at, last_at) "
            "values (?, ?, ?, 1, ?, ?) on conflict(scene_id) do update set "
            "reason = excluded.reason, paths = excluded.paths, attempts = attempts + 1, "
            "last_at = excluded.last_at",
            (scene_id, reason, json.dumps(list(paths)), now, now),
        )
        row = conn.execute(
            "select attempts from unmatched where scene_id = ?", (scene_id,)
        ).fetchone()
        return int(row[0])

    def clear_unmatched(self, scene_id: int) -> None:
        self.db.conn().execute("delete from unmatched where scene_id = ?", (scene_id,))

    def unmatched(self) -> list[Unmatched]:
        rows = self.db.conn().execute(
            "select scene_id, reason, paths, attempts, first_at, last_at from unmatched "
            "order by scene_id"
        )
        return [Unmatched(r[0], r[1], tuple(json.loads(r[2])), r[3], r[4], r[5]) for r in rows]
