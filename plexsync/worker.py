"""`plexsync worker`: the Huey consumer plus start-up recovery, heartbeat and stall alerts."""

from __future__ import annotations

import signal
import threading
import time
import uuid

from loguru import logger

from plexsync.config import load_config
from plexsync.errors import ConfigError, PlexsyncError
from plexsync.services import Services

HEARTBEAT_INTERVAL_S = 10.0
ALERT_INTERVAL_S = 3600.0


def with_plugin_settings(services: Services) -> Services:
    """Merge the Stash plugin's settings (lowest precedence above defaults) when reachable."""
    try:
        settings = services.stash.plugin_settings("plexsync")
    except PlexsyncError as exc:
        logger.info("Stash plugin settings not read ({}); using env/config.toml", exc.message)
        return services
    if not settings:
        return services
    mapped = {_snake(k): v for k, v in settings.items()}
    try:
        config = load_config(plugin_settings=mapped)
    except ConfigError as exc:
        logger.error("ignoring Stash plugin settings: {}", exc.message)
        return services
    used = sorted(k for k, src in config.sources.items() if src == "stash plugin")
    if used:
        logger.info("using Stash plugin settings for: {}", ", ".join(used))
    return Services(config)


def _snake(name: str) -> str:
    out = "".join("_" + c.lower() if c.isupper() else c for c in name)
    return out.lstrip("_")


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


def run_worker(services: Services, workers: int = 1) -> None:
    """Run until SIGINT/SIGTERM; both stop intake and let in-flight tasks finish (grace)."""
    from plexsync import tasks

    live = services.state.live_worker()
    if live is not None:
        raise PlexsyncError(
            f"a worker is already running (pid {live.pid} on {live.host}); not starting another"
        )
    services = with_plugin_settings(services)
    tasks.configure(services)
    lost = services.pending.recover_lost(min_age_s=0)
    if lost:
        logger.warning("re-queued {} scene(s) whose task was lost: {}", len(lost), lost[:20])
    heartbeat = Heartbeat(services, uuid.uuid4().hex[:12])
    heartbeat.beat()
    heartbeat.start()
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
    # Both SIGTERM (docker stop, systemd) and SIGINT (Ctrl-C) stop gracefully.
    consumer._signal_actions[signal.SIGINT] = (False, True)
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
