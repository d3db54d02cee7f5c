"""Worker side of the per-scene pending records (see plexsync.enqueue for the writer side).

SqliteHuey deletes a task from its table before running it, so a worker killed mid-task
would lose it. The pending row outlives the task: it is cleared only after the Plex write
succeeded (or the task was dead-lettered), and rows whose task is nowhere in the queue or
schedule are re-enqueued by ``recover_lost``.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from plexsync import enqueue
from plexsync.db import transaction


@dataclass(frozen=True)
class Claim:
    scene_id: int
    seq: int
    cid: str
    task_id: str
    superseded: bool = False  # another task is waiting for this scene and will do the work


class PendingStore:
    def __init__(self, queue_db: Path) -> None:
        self.path = queue_db
        self._local = threading.local()

    def conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = enqueue.connect(str(self.path))
            self._local.conn = conn
        return conn

    def record(self, scene_id: int, event: str, cid: str | None = None) -> tuple[str, str, bool]:
        """Record an event (CLI sync, requeue, reconcile): same path as the Stash hook."""
        return enqueue.record_event(self.conn(), scene_id, event, cid)

    def claim(self, scene_id: int, task_id: str | None) -> Claim | None:
        """Mark the scene's task as running. None when no pending row exists (a task sent
        straight to Huey, or work already done)."""
        conn = self.conn()
        with transaction(conn):
            row = conn.execute(
                "select seq, queued, task_id, cid from pending where scene_id = ?", (scene_id,)
            ).fetchone()
            if row is None:
                return None
            seq, queued, owner, cid = row
            if task_id is not None and owner != task_id and queued == 1:
                return Claim(scene_id, seq, cid, owner, superseded=True)
            conn.execute(
                "update pending set queued = 0, claimed_at = ?, task_id = ? where scene_id = ?",
                (time.time(), task_id or owner, scene_id),
            )
            return Claim(scene_id, seq, cid, task_id or owner)

    def requeued(self, scene_id: int, task_id: str | None) -> None:
        """The task was rescheduled (retry): new events coalesce into it again."""
        self.conn().execute(
            "update pending set queued = 1, claimed_at = null where scene_id = ? and task_id = ?",
            (scene_id, task_id),
        )

    def done(self, claim: Claim | None) -> bool:
        """Clear the row unless a newer event arrived while the task ran (that one has its
        own task, enqueued by the hook because this row was claimed)."""
        if claim is None:
            return False
        cur = self.conn().execute(
            "delete from pending where scene_id = ? and seq = ?", (claim.scene_id, claim.seq)
        )
        return cur.rowcount == 1

    def drop(self, scene_id: int, task_id: str) -> bool:
        """The task was dead-lettered: its row goes (the DLQ row now carries the event)."""
        cur = self.conn().execute(
            "delete from pending where scene_id = ? and task_id = ?", (scene_id, task_id)
        )
        return cur.rowcount == 1

    def count(self) -> int:
        return int(self.conn().execute("select count(*) from pending").fetchone()[0])

    def oldest(self) -> float | None:
        row = self.conn().execute("select min(first_at) from pending").fetchone()
        return row[0] if row and row[0] is not None else None

    def _task_ids_in_queue(self) -> set[str]:
        ids: set[str] = set()
        for table in ("task", "schedule"):
            rows = self.conn().execute(
                f"select json_extract(cast(data as text), '$.__message__.id') from {table} "
                "where queue = ?",
                (enqueue.QUEUE_NAME,),
            )
            ids.update(r[0] for r in rows if r[0])
        return ids

    def recover_lost(self, min_age_s: float = 0.0) -> list[int]:
        """Re-enqueue pending scenes whose task is in neither the queue nor the schedule.

        min_age_s=0 is for worker start (nothing runs yet, so a claimed row is a lost task);
        reconcile passes an age so that a task running right now is left alone.
        """
        now = time.time()
        conn = self.conn()
        present = self._task_ids_in_queue()
        lost = []
        rows = conn.execute(
            "select scene_id, task_id, coalesce(claimed_at, updated_at), event, cid from pending"
        ).fetchall()
        for scene_id, task_id, since, event, cid in rows:
            if task_id in present or now - since < min_age_s:
                continue
            conn.execute("update pending set queued = 0 where scene_id = ?", (scene_id,))
            enqueue.record_event(conn, scene_id, event, cid)
            lost.append(scene_id)
        return lost
