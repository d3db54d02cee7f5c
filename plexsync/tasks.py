"""The Huey instance and plexsync's tasks: the glue between the queue and the sync engine.

Retries are ours, not Huey's counter: every task is created with retries=0 and a transient
failure raises ``RetryTask(delay=...)`` (which in Huey 3 re-schedules without spending
retries) after counting the attempt in the task's own kwargs. So ``attempts`` is exact, the
delay is ours (exponential, jittered, Retry-After honoured), the circuit breaker can
re-schedule without spending anything, and whatever finally raises reaches SIGNAL_ERROR:
the dead-letter handler.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from huey import crontab
from huey.exceptions import RetryTask
from huey.signals import (
    SIGNAL_COMPLETE,
    SIGNAL_ERROR,
    SIGNAL_EXECUTING,
    SIGNAL_INTERRUPTED,
    SIGNAL_RETRYING,
)
from loguru import logger

from plexsync.backoff import backoff_delay, unmatched_delay
from plexsync.breaker import HALF_OPEN, OPEN
from plexsync.config import load_config
from plexsync.enqueue import SYNC_TASK_NAME
from plexsync.errors import (
    PermanentError,
    PlexTransientError,
    TransientError,
    UnmatchedError,
    from_plex,
)
from plexsync.leases import RECONCILE, LeaseHeld, lease
from plexsync.logs import bind_thread_cid
from plexsync.queue import build_huey
from plexsync.services import Services

huey = build_huey(load_config())
_services: Services | None = None
BUSY_PROBE_DELAY_S = 2.0
SCENE_LEASE_S = 600.0
SCENE_BUSY_DELAY_S = 2.0
RECONCILE_BUSY_DELAY_S = 300.0


def configure(services: Services) -> None:
    """Use these services (the worker's, with CLI flags and Stash plugin settings merged) in
    task bodies, and point the queue at their home (``--home`` may differ from the env)."""
    global _services
    _services = services
    filename = str(services.config.queue_db)
    if huey.storage_kwargs.get("filename") != filename:
        huey.storage_kwargs["filename"] = filename
        huey.storage = huey.create_storage()


def services() -> Services:
    global _services
    if _services is None:
        _services = Services(load_config())
    return _services


class _Reschedule(Exception):
    def __init__(self, delay: float, reason: str) -> None:
        super().__init__(reason)
        self.delay, self.reason = delay, reason


def _breaker_gate(svc: Services) -> None:
    """Before touching Plex: closed → go; open → reschedule; half-open → one probe."""
    state = svc.breaker.read()
    if state.state == OPEN:
        assert state.retry_at is not None
        raise _Reschedule(max(state.retry_at - time.time(), 0.5), "circuit open")
    if state.state == HALF_OPEN:
        if not svc.breaker.try_acquire_probe():
            raise _Reschedule(BUSY_PROBE_DELAY_S, "circuit half-open, another task probes")
        try:
            with from_plex():
                svc.plex.identity()
        except TransientError as exc:
            svc.breaker.record_failure()
            logger.warning("Plex probe failed, circuit stays open: {}", exc.message)
            raise _Reschedule(svc.config.breaker_cooldown, "circuit re-opened") from None
        svc.breaker.record_success()
        logger.info("Plex answered the probe: circuit closed")


@huey.task(context=True, name="sync_scene")
def sync_scene(
    scene_id: int,
    cid: str | None = None,
    event: str = "",
    attempts: int = 0,
    task: Any = None,
) -> str | None:
    """Sync one Stash scene to Plex (the task every hook event becomes)."""
    svc = services()
    task_id = task.id if task is not None else None
    with logger.contextualize(cid=cid or (task_id or "-")[:12]):
        try:
            # One task per scene at a time, across threads and processes: an older task
            # must never write after a newer one. A task that finds the scene busy waits;
            # its pending row stays queued, so new events keep coalescing into it.
            with lease(svc.db, f"scene:{scene_id}", ttl_s=SCENE_LEASE_S):
                return _sync_claimed(svc, scene_id, attempts, task)
        except LeaseHeld:
            logger.debug("scene {}: another task is syncing it; retry shortly", scene_id)
            raise RetryTask("scene busy", delay=SCENE_BUSY_DELAY_S) from None


def _sync_claimed(svc: Services, scene_id: int, attempts: int, task: Any) -> str:
    from plexsync import sync

    cfg = svc.config
    task_id = task.id if task is not None else None
    claim = svc.pending.claim(scene_id, task_id)
    if claim is not None and claim.superseded:
        logger.info("scene {}: superseded by task {}, skipping", scene_id, claim.task_id)
        return "superseded"
    try:
        _breaker_gate(svc)
        outcome = sync.sync_scene(svc, scene_id)
    except _Reschedule as exc:
        svc.pending.requeued(scene_id, task_id)
        logger.info("scene {}: {}; rescheduled in {:.0f}s", scene_id, exc.reason, exc.delay)
        raise RetryTask(exc.reason, delay=exc.delay) from None
    except UnmatchedError as exc:
        n = svc.state.record_unmatched(scene_id, exc.message, exc.paths)
        if n <= cfg.unmatched_retries:
            delay = unmatched_delay(n, cfg.unmatched_delay)
            svc.pending.requeued(scene_id, task_id)
            logger.warning(
                "{}; not in Plex yet? retry {}/{} in {:.0f}s",
                exc.message,
                n,
                cfg.unmatched_retries,
                delay,
            )
            raise RetryTask(exc.message, delay=delay) from None
        svc.pending.done(claim)
        logger.error("{}; recorded as unmatched after {} attempts", exc.message, n)
        return "unmatched"
    except (TransientError, sqlite3.OperationalError) as exc:
        error = _as_transient(exc)
        if isinstance(error, PlexTransientError):
            svc.breaker.record_failure()
        svc.state.mark_failure()
        attempt = attempts + 1
        task.kwargs["attempts"] = attempt
        if attempt > cfg.retries:
            logger.error("scene {}: giving up after {} attempts: {}", scene_id, attempt, error)
            if error is exc:
                raise
            raise error from exc
        delay = backoff_delay(attempt, cfg.retry_base, cfg.retry_max, error.retry_after)
        svc.pending.requeued(scene_id, task_id)
        logger.warning(
            "scene {}: {} (attempt {}/{}), retry in {:.1f}s",
            scene_id,
            error.message,
            attempt,
            cfg.retries + 1,
            delay,
        )
        raise RetryTask(error.message, delay=delay) from None
    except PermanentError as exc:
        svc.state.mark_failure()
        task.kwargs["attempts"] = attempts + 1
        logger.error("scene {}: permanent failure, not retried: {}", scene_id, exc.message)
        raise
    svc.pending.done(claim)
    svc.state.mark_success()
    resolved = svc.dlq.resolve_scene(scene_id, SYNC_TASK_NAME)
    if resolved:
        logger.info("scene {}: synced; {} earlier dead letter(s) resolved", scene_id, resolved)
    if svc.breaker.read().failures:
        svc.breaker.record_success()  # the breaker counts CONSECUTIVE failures
    return outcome


def _as_transient(exc: Exception) -> TransientError:
    """A busy local SQLite database is as transient as a slow Plex."""
    if isinstance(exc, TransientError):
        return exc
    if "locked" in str(exc) or "busy" in str(exc):
        return TransientError(f"local database busy: {exc}")
    raise exc


def _reconcile(full: bool, retry_if_busy: bool = False) -> dict[str, Any] | None:
    from plexsync.reconcile import run_reconcile

    svc = services()
    try:
        with lease(svc.db, RECONCILE):
            if not full:
                svc.state.set_meta("reconcile_started_at", str(time.time()))
            report = run_reconcile(svc, full=full, dry_run=False)
    except LeaseHeld as exc:
        if retry_if_busy:  # a weekly full pass must not wait a whole week for its next turn
            logger.info("full reconcile postponed 5 min: {}", exc.message)
            raise RetryTask(exc.message, delay=RECONCILE_BUSY_DELAY_S) from None
        logger.info("reconcile skipped: {}", exc.message)
        return None
    except TransientError as exc:
        # Plex or Stash down: the next period tries again; nothing to dead-letter.
        svc.state.mark_failure()
        logger.warning("reconcile{} skipped: {}", " (full)" if full else "", exc.message)
        return None
    logger.info("reconcile{}: {}", " (full)" if full else "", report)
    return report


@huey.periodic_task(crontab(minute="*"), name="reconcile_tick")
def reconcile_tick() -> None:
    """Every minute: start an incremental reconcile when PLEXSYNC_RECONCILE_MINUTES elapsed."""
    svc = services()
    minutes = svc.config.reconcile_minutes
    if minutes <= 0:
        return
    last = svc.state.get_meta("reconcile_started_at")
    if last is not None and time.time() - float(last) < minutes * 60 - 5:
        return
    _reconcile(full=False)


@huey.task(name="reconcile_incremental")
def reconcile_incremental() -> dict[str, Any] | None:
    return _reconcile(full=False)


@huey.task(name="reconcile_full")
def reconcile_full() -> dict[str, Any] | None:
    return _reconcile(full=True, retry_if_busy=True)


@huey.periodic_task(crontab(day_of_week="0", hour="4", minute="17"), name="reconcile_weekly")
def reconcile_weekly() -> None:
    """Weekly full reconcile: drift, restored Plex, lost locks, unmatched files."""
    if services().config.reconcile_minutes > 0:
        reconcile_full()  # enqueued as its own task, so it can wait for a busy lease


@huey.on_startup()
def _start_background() -> None:
    from plexsync.worker import start_background

    start_background(services())


TASKS_BY_NAME = {
    "plexsync.tasks.reconcile_incremental": reconcile_incremental,
    "plexsync.tasks.reconcile_full": reconcile_full,
    "plexsync.tasks.reconcile_tick": reconcile_incremental,
    "plexsync.tasks.reconcile_weekly": reconcile_full,
}


def enqueue_by_name(
    name: str, args: list[Any], kwargs: dict[str, Any], svc: Services | None = None
) -> None:
    """Requeue a dead-lettered non-scene task (scene tasks go through pending records)."""
    if svc is not None:
        configure(svc)
    try:
        task = TASKS_BY_NAME[name]
    except KeyError:
        raise PermanentError(f"cannot requeue unknown task {name!r}") from None
    task(*args, **kwargs)


# ------------------------------------------------------------------ dead-letter capture


@huey.signal(SIGNAL_ERROR)
def _dead_letter(signal: str, task: Any, exc: BaseException | None = None) -> None:
    """Every task that failed for good lands here (tasks run with retries=0)."""
    if getattr(task, "retries", 0):
        return  # Huey will retry it (not our tasks: they never set retries).
    svc = services()
    kwargs = dict(task.kwargs or {})
    kwargs.pop("task", None)
    scene_id = task.args[0] if task.args and isinstance(task.args[0], int) else None
    name = huey._registry.task_to_string(type(task))
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    svc.dlq.add(
        id=task.id,
        task=name,
        scene_id=scene_id,
        args={"args": list(task.args), "kwargs": kwargs},
        error=message,
        error_class=type(exc).__name__,
        attempts=int(kwargs.get("attempts") or 1),
        cid=kwargs.get("cid"),
    )
    if scene_id is not None:
        svc.pending.drop(scene_id, task.id)
    with logger.contextualize(cid=_cid_of(task)):
        logger.error("task {} {} for scene {} dead-lettered: {}", name, task.id, scene_id, message)


@huey.signal(SIGNAL_EXECUTING)
def _bind_cid(signal: str, task: Any, *args: Any) -> None:
    """Huey's own log lines about this task (e.g. its traceback) carry the event's cid."""
    bind_thread_cid(_cid_of(task))


@huey.signal(SIGNAL_COMPLETE, SIGNAL_ERROR, SIGNAL_RETRYING, SIGNAL_INTERRUPTED)
def _unbind_cid(signal: str, task: Any, *args: Any) -> None:
    bind_thread_cid(None)


def _cid_of(task: Any) -> str:
    return str((task.kwargs or {}).get("cid") or task.id[:12])


@huey.signal(SIGNAL_INTERRUPTED)
def _interrupted(signal: str, task: Any, *args: Any) -> None:
    with logger.contextualize(cid=_cid_of(task)):
        logger.warning("task {} interrupted by shutdown; its pending record re-queues it", task)
