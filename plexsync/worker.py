"""`plexsync worker`: the Huey consumer plus start-up recovery, heartbeat and stall alerts."""

from __future__ import annotations

import signal
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any

from loguru import logger

from plexsync.errors import PlexsyncError
from plexsync.plugin_settings import with_plugin_settings
from plexsync.services import Services

HEARTBEAT_INTERVAL_S = 10.0
ALERT_INTERVAL_S = 3600.0


class Heartbeat(threading.Thread):
    """Beats every few seconds; logs the stall alert once an hour while it holds."""

    def __init__(self, services: Services, worker_id: str) -> None:
        super().__init__(name="plexsync-heartbeat", daemon=True)
        self.services = services
        self.worker_id = worker_id
        self.started_at = time.time()
        self.stop_event = threading.Event()
        self._last_alert = 0.0

    def beat(self) -> None:
        self.services.state.heartbeat(self.worker_id, self.started_at)

    def run(self) -> None:
        from plexsync.health import stall_alert

        while not self.stop_event.wait(HEARTBEAT_INTERVAL_S):
            try:
                self.beat()
                if time.monotonic() - self._last_alert >= ALERT_INTERVAL_S:
                    alert = stall_alert(self.services)
                    if alert:
                        logger.warning("{}", alert)
                        self._last_alert = time.monotonic()
            except Exception as exc:  # never let the heartbeat thread die silently
                logger.warning("heartbeat failed: {}", exc)

    def stop(self) -> None:
        self.stop_event.set()
        self.services.state.remove_worker(self.worker_id)


_start_lock = threading.Lock()
_heartbeat: Heartbeat | None = None


def start_background(services: Services) -> Heartbeat:
    """Once per process, before tasks run: recover tasks lost to a crash, drop scene leases
    a killed worker left behind, and start the heartbeat. Called by ``run_worker`` and by
    the Huey start-up hook (so ``huey_consumer tasks.huey`` gets the same)."""
    global _heartbeat
    with _start_lock:
        if _heartbeat is not None:
            return _heartbeat
        other = services.state.live_worker(exclude_self=True)
        if other is not None:
            # Only reachable through huey_consumer: recovering now could twin tasks that the
            # other worker is running.
            logger.error(
                "another worker is running (pid {} on {}): skipping lost-task recovery",
                other.pid,
                other.host,
            )
        else:
            services.db.conn().execute("delete from leases where name like 'scene:%'")
            lost = services.pending.recover_lost(min_age_s=0)
            if lost:
                logger.warning(
                    "re-queued {} scene(s) whose task was lost: {}", len(lost), lost[:20]
                )
        heartbeat = Heartbeat(services, uuid.uuid4().hex[:12])
        heartbeat.beat()
        heartbeat.start()
        _heartbeat = heartbeat
        return heartbeat


def run_worker(
    services: Services, workers: int = 1, overrides: Mapping[str, Any] | None = None
) -> None:
    """Run until SIGINT/SIGTERM/SIGHUP; each stops intake and lets in-flight tasks finish."""
    from plexsync import tasks

    live = services.state.live_worker(exclude_self=True)
    if live is not None:
        raise PlexsyncError(
            f"a worker is already running (pid {live.pid} on {live.host}); not starting another"
        )
    config = with_plugin_settings(services.config, overrides)
    if config is not services.config:
        services = Services(config)
    tasks.configure(services)
    heartbeat = start_background(services)
    consumer = tasks.huey.create_consumer(
        workers=workers,
        worker_type="thread",
        periodic=True,
        flush_locks=True,
        shutdown_timeout=services.config.shutdown_grace,
        initial_delay=0.05,
        max_delay=1.0,
        graceful_signal="TERM",
    )
    # SIGTERM (docker stop, systemd) and SIGINT (Ctrl-C) stop gracefully; so does SIGHUP,
    # which Huey would answer with an exec() restart that leaves our heartbeat row behind.
    consumer._signal_actions[signal.SIGINT] = (False, True)
    consumer._signal_actions[signal.SIGHUP] = (False, True)
    logger.info(
        "worker started: {} thread(s), queue {}, Plex {}",
        workers,
        services.config.queue_db,
        services.config.plex_url or "(not configured)",
    )
    try:
        consumer.run()
    finally:
        heartbeat.stop()
        logger.info("worker stopped")
