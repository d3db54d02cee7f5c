"""The dead-letter queue: every task that failed for good, with its error and attempt count."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from plexsync.db import Database
from plexsync.redact import redact
from plexsync.state import iso


@dataclass(frozen=True)
class DeadLetter:
    id: str
    task: str
    scene_id: int | None
    args: dict[str, Any]  # {"args": [...], "kwargs": {...}}
    error: str
    error_class: str
    attempts: int
    first_failed_at: float
    failed_at: float
    cid: str | None

    def as_json(self) -> dict[str, Any]:
        """The INTERFACE's `dlq list --json` object."""
        return {
            "id": self.id,
            "task": self.task,
            "scene_id": self.scene_id,
            "error": self.error,
            "error_class": self.error_class,
            "attempts": self.attempts,
            "failed_at": iso(self.failed_at),
        }


_COLUMNS = "id, task, scene_id, args, error, error_class, attempts, first_failed_at, failed_at, cid"


def _row(row: tuple[Any, ...]) -> DeadLetter:
    values = list(row)
    values[3] = json.loads(values[3])
    return DeadLetter(*values)


class DeadLetterStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(
        self,
        id: str,
        task: str,
        scene_id: int | None,
        args: dict[str, Any],
        error: str,
        error_class: str,
        attempts: int,
        cid: str | None,
        first_failed_at: float | None = None,
    ) -> None:
        now = time.time()
        self.db.conn().execute(
            f"insert or replace into dlq ({_COLUMNS}) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                id,
                task,
                scene_id,
                redact(json.dumps(args, default=str)),
                redact(error),
                error_class,
                attempts,
                first_failed_at or now,
                now,
                cid,
            ),
        )

    def list(self) -> list[DeadLetter]:
        rows = self.db.conn().execute(f"select {_COLUMNS} from dlq order by failed_at, id")
        return [_row(r) for r in rows]

    def get(self, id: str) -> DeadLetter | None:
        row = self.db.conn().execute(f"select {_COLUMNS} from dlq where id = ?", (id,)).fetchone()
        return _row(row) if row else None

    def count(self) -> int:
        return int(self.db.conn().execute("select count(*) from dlq").fetchone()[0])

    def delete(self, id: str) -> bool:
        cur = self.db.conn().execute("delete from dlq where id = ?", (id,))
        return cur.rowcount == 1

    def resolve_scene(self, scene_id: int, task: str) -> int:
        """A later sync of the scene succeeded: its dead letters are moot."""
        cur = self.db.conn().execute(
            "delete from dlq where scene_id = ? and task = ?", (scene_id, task)
        )
        return cur.rowcount

    def purge(self, older_than_days: float | None = None) -> int:
        if older_than_days is None:
            cur = self.db.conn().execute("delete from dlq")
        else:
            cutoff = time.time() - older_than_days * 86400
            cur = self.db.conn().execute("delete from dlq where failed_at < ?", (cutoff,))
        return cur.rowcount
