"""A circuit breaker for Plex shared by every worker thread and process (state in SQLite).

closed --N consecutive transient failures--> open --cooldown elapsed--> half-open
half-open: exactly one caller wins the probe (an atomic UPDATE); its result closes the
breaker or re-opens it for another cooldown. While open, tasks are rescheduled without
spending their retries and without sending anything to Plex.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from plexsync.db import Database, transaction

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"
PROBE_LEASE_S = 30.0


@dataclass(frozen=True)
class BreakerState:
    state: str
    failures: int
    opened_at: float | None
    retry_at: float | None  # when the next probe may run (open only)


class CircuitBreaker:
    def __init__(self, db: Database, threshold: int, cooldown: float, name: str = "plex") -> None:
        self.db = db
        self.threshold = threshold
        self.cooldown = cooldown
        self.name = name

    def _ensure(self) -> None:
        self.db.conn().execute(
            "insert or ignore into breaker (name, state, failures, updated_at) "
            "values (?, 'closed', 0, ?)",
            (self.name, time.time()),
        )

    def read(self, now: float | None = None) -> BreakerState:
        """Read-only (no write lock): a missing row means closed."""
        now = time.time() if now is None else now
        row = (
            self.db.conn()
            .execute(
                "select state, failures, opened_at, probe_at from breaker where name = ?",
                (self.name,),
            )
            .fetchone()
        )
        if row is None:
            return BreakerState(CLOSED, 0, None, None)
        state, failures, opened_at, _probe_at = row
        if state == OPEN and opened_at is not None:
            retry_at = opened_at + self.cooldown
            if now >= retry_at:
                return BreakerState(HALF_OPEN, failures, opened_at, now)
            return BreakerState(OPEN, failures, opened_at, retry_at)
        return BreakerState(state, failures, opened_at, None)

    def try_acquire_probe(self, now: float | None = None) -> bool:
        """True for exactly one caller once the cooldown has elapsed (the half-open probe)."""
        now = time.time() if now is None else now
        cur = self.db.conn().execute(
            "update breaker set probe_at = ?, updated_at = ? where name = ? and state = 'open' "
            "and opened_at + ? <= ? and (probe_at is null or probe_at + ? <= ?)",
            (now, now, self.name, self.cooldown, now, PROBE_LEASE_S, now),
        )
        return cur.rowcount == 1

    def record_success(self) -> None:
        self._ensure()
        self.db.conn().execute(
            "update breaker set state = 'closed', failures = 0, opened_at = null, "
            "probe_at = null, updated_at = ? where name = ?",
            (time.time(), self.name),
        )

    def record_failure(self, now: float | None = None) -> BreakerState:
        """Count one transient failure; opens (or re-opens after a failed probe) at threshold."""
        now = time.time() if now is None else now
        self._ensure()
        conn = self.db.conn()
        with transaction(conn):
            state, failures = conn.execute(
                "select state, failures from breaker where name = ?", (self.name,)
            ).fetchone()
            failures += 1
            if state == OPEN or failures >= self.threshold:
                conn.execute(
                    "update breaker set state = 'open', failures = ?, opened_at = ?, "
                    "probe_at = null, updated_at = ? where name = ?",
                    (failures, now, now, self.name),
                )
            else:
                conn.execute(
                    "update breaker set failures = ?, updated_at = ? where name = ?",
                    (failures, now, self.name),
                )
        return self.read(now)
