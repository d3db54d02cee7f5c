"""Queue and health summary (``plexsync status``, ``doctor``, the worker's hourly stall log).

``health_report`` reads only local SQLite state (queue DB and state DB): it never talks to
Plex or Stash, so it is cheap enough to run every 2 s (``status --watch``).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from plexsync.breaker import CLOSED, HALF_OPEN, OPEN
from plexsync.state import iso

if TYPE_CHECKING:
    from plexsync.services import Services

CIRCUIT_STATES = (CLOSED, OPEN, HALF_OPEN)


def _hours(seconds: float) -> str:
    hours = seconds / 3600
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"


def stall_alert(services: Services, now: float | None = None) -> str | None:
    """A plain sentence when work waits but nothing has succeeded for ``alert_hours``.

    Stalled means: scenes are pending (or tasks queued) AND both the last success and the
    oldest waiting event are older than ``config.alert_hours`` (a success after the oldest
    event means work is flowing; a fresh event after a long quiet spell is not a stall).
    """
    now = time.time() if now is None else now
    limit = services.config.alert_hours * 3600
    pending = services.pending.count()
    queued = services.huey.pending_count()
    if not pending and not queued:
        return None
    oldest = services.pending.oldest()
    last_success = services.state.last_success
    if oldest is None and last_success is None:
        return None  # queued tasks without a pending row carry no age: nothing to judge by
    reference = max(t for t in (oldest, last_success) if t is not None)
    if now - reference <= limit:
        return None
    waiting = f"{pending} scene(s) pending" if pending else f"{queued} task(s) queued"
    if last_success is None:
        waited = now - (oldest or now)
        since = f"nothing has synced yet and the oldest event has waited {_hours(waited)}"
    else:
        since = f"nothing has synced for {_hours(now - last_success)}"
    causes = []
    if services.state.live_worker() is None:
        causes.append("no worker is running (start one: plexsync worker)")
    breaker = services.breaker.read(now)
    if breaker.state != CLOSED:
        causes.append(f"the Plex circuit breaker is {breaker.state}")
    dead = services.dlq.count()
    if dead:
        causes.append(f"{dead} task(s) in the dead-letter queue (plexsync dlq list)")
    text = f"STALLED: {waiting}, {since} (alert after {services.config.alert_hours:g} h)"
    if causes:
        text += "; " + "; ".join(causes)
    else:
        text += "; run plexsync doctor"
    return text


def health_report(services: Services, now: float | None = None) -> dict[str, Any]:
    """The INTERFACE's ``status --json`` object plus pending/unmatched counts and the alert."""
    now = time.time() if now is None else now
    huey = services.huey
    worker = services.state.live_worker()
    workers = services.state.workers()
    last_heartbeat = max((w.heartbeat_at for w in workers), default=None)
    breaker = services.breaker.read(now)
    oldest = services.pending.oldest()
    return {
        "queued": int(huey.pending_count()),
        "scheduled": int(huey.scheduled_count()),
        "dlq": services.dlq.count(),
        "last_success": iso(services.state.last_success),
        "last_failure": iso(services.state.last_failure),
        "circuit": breaker.state,
        "worker": {"alive": worker is not None, "last_heartbeat": iso(last_heartbeat)},
        "pending": services.pending.count(),
        "oldest_pending": iso(oldest),
        "unmatched": len(services.state.unmatched()),
        "circuit_retry_at": iso(breaker.retry_at) if breaker.state == OPEN else None,
        "alert": stall_alert(services, now),
    }
