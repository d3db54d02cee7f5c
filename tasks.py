"""Entry point for `huey_consumer tasks.huey`: the Huey instance and every plexsync task."""

from plexsync.tasks import huey, reconcile_full, reconcile_incremental, sync_scene

__all__ = ["huey", "reconcile_full", "reconcile_incremental", "sync_scene"]
