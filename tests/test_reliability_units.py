"""Backoff, circuit breaker (shared through SQLite), pending records and the DLQ store."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pytest

from plexsync.backoff import backoff_delay, unmatched_delay
from plexsync.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker
from plexsync.config import load_config
from plexsync.db import Database
from plexsync.dlq import DeadLetterStore
from plexsync.pending import PendingStore
from plexsync.queue import build_huey


def test_backoff_grows_with_jitter_and_honours_retry_after() -> None:
    rng = random.Random(1)
    delays = [backoff_delay(n, 5, 300, rng=rng) for n in range(1, 10)]
    assert delays[0] == 5
    for n, d in enumerate(delays, start=1):
        assert 5 <= d <= min(300, 5 * 2 ** (n - 1))
    assert len({round(d, 3) for d in delays[2:]}) > 3  # jittered, not a fixed ladder
    assert backoff_delay(1, 5, 300, retry_after=42) == 42
    assert unmatched_delay(3, 600) == 2400


def test_breaker_opens_at_threshold_and_one_probe_wins(tmp_path: Path) -> None:
    db = Database(tmp_path / "state.db")
    br = CircuitBreaker(db, threshold=3, cooldown=10)
    t0 = 1000.0
    assert br.read(t0).state == CLOSED
    br.record_failure(t0)
    br.record_failure(t0)
    assert br.read(t0).state == CLOSED
    assert br.record_failure(t0).state == OPEN
    assert br.read(t0 + 5).state == OPEN and br.read(t0 + 5).retry_at == t0 + 10
    assert not br.try_acquire_probe(t0 + 5)
    assert br.read(t0 + 11).state == HALF_OPEN

    # Another process (a second connection to the same file) sees the same state, and
    # exactly one of many concurrent callers gets the probe.
    other = CircuitBreaker(Database(tmp_path / "state.db"), threshold=3, cooldown=10)
    wins: list[bool] = []
    barrier = threading.Barrier(8)

    def race() -> None:
        barrier.wait()
        wins.append(other.try_acquire_probe(t0 + 11))

    threads = [threading.Thread(target=race) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wins.count(True) == 1
    br.record_success()
    assert other.read().state == CLOSED and other.read().failures == 0


def test_failed_probe_reopens_for_another_cooldown(tmp_path: Path) -> None:
    br = CircuitBreaker(Database(tmp_path / "s.db"), threshold=1, cooldown=10)
    br.record_failure(100.0)
    assert br.try_acquire_probe(111.0)
    assert br.record_failure(111.0).state == OPEN
    assert br.read(115.0).state == OPEN


def _stores(tmp_path: Path) -> tuple[PendingStore, object]:
    cfg = load_config(environ={"PLEXSYNC_HOME": str(tmp_path)})
    huey = build_huey(cfg)
    return PendingStore(cfg.queue_db), huey


def test_claim_done_and_event_during_run(tmp_path: Path) -> None:
    pending, _ = _stores(tmp_path)
    task_id, _, _ = pending.record(1, "Scene.Update.Post")
    claim = pending.claim(1, task_id)
    assert claim is not None and not claim.superseded
    # An event while the task runs gets its own task (the row was claimed) ...
    task2, _, coalesced = pending.record(1, "Scene.Update.Post")
    assert not coalesced and task2 != task_id
    # ... so finishing the first task does not clear the newer event.
    assert pending.done(claim) is False
    assert pending.count() == 1
    claim2 = pending.claim(1, task2)
    assert claim2 is not None and pending.done(claim2) is True
    assert pending.count() == 0


def test_superseded_task_skips(tmp_path: Path) -> None:
    pending, _ = _stores(tmp_path)
    task_id, _, _ = pending.record(2, "x")
    claim = pending.claim(2, task_id)
    pending.requeued(2, "someone-else")  # no effect: not the owner
    other, _, _ = pending.record(2, "x")
    old = pending.claim(2, task_id)  # the old task comes back from a retry
    assert old is not None and old.superseded and old.task_id == other
    assert claim is not None


def test_recover_lost_requeues_tasks_that_vanished(tmp_path: Path) -> None:
    pending, huey = _stores(tmp_path)
    for scene in (1, 2, 3):
        pending.record(scene, "Scene.Update.Post")
    # Simulate a worker killed mid-task: Huey deleted task rows before running them.
    huey.storage.dequeue()
    huey.storage.dequeue()
    assert huey.pending_count() == 1
    lost = pending.recover_lost()
    assert sorted(lost) == [1, 2]
    assert huey.pending_count() == 3
    assert pending.recover_lost() == []  # idempotent: every row has its task again


def test_dlq_store_roundtrip_and_redaction(tmp_path: Path) -> None:
    from plexsync.redact import register_secret

    register_secret("tok-ABCDEFG")
    store = DeadLetterStore(Database(tmp_path / "state.db"))
    store.add(
        "t1", "plexsync.tasks.sync_scene", 5, {"args": [5]}, "401 tok-ABCDEFG", "AuthError", 1, "c1"
    )
    [entry] = store.list()
    assert entry.scene_id == 5 and entry.attempts == 1 and "tok-ABCDEFG" not in entry.error
    assert entry.as_json()["failed_at"].endswith("+00:00")
    assert store.count() == 1 and store.delete("t1") and store.count() == 0


@pytest.mark.parametrize("days,expected", [(None, 0), (1.0, 1)])
def test_dlq_purge(tmp_path: Path, days: float | None, expected: int) -> None:
    store = DeadLetterStore(Database(tmp_path / "state.db"))
    store.add("a", "t", None, {}, "e", "E", 1, None)
    store.add("b", "t", None, {}, "e", "E", 1, None)
    store.db.conn().execute("update dlq set failed_at = failed_at - 3 * 86400 where id = 'a'")
    store.purge(days)
    assert store.count() == expected


def test_lease_is_exclusive_and_expires(tmp_path: Path) -> None:
    from plexsync.leases import LeaseHeld, lease

    db = Database(tmp_path / "state.db")
    other = Database(tmp_path / "state.db")  # another process's connection
    with (
        lease(db, "reconcile"),
        pytest.raises(LeaseHeld, match="already running"),
        lease(other, "reconcile"),
    ):
        pass
    with lease(other, "reconcile"):  # released on exit
        pass
    # A holder that died (SIGKILL) leaves a row behind: it expires instead of blocking.
    db.conn().execute(
        "insert into leases (name, owner, expires_at) values ('reconcile', 'dead:1:1', 0)"
    )
    with lease(other, "reconcile"):
        pass
