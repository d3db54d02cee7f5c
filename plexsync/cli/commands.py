"""Imports every command module so that each registers itself on the `cli` group."""

from plexsync.cli import config_cmd, dlq, doctor, reconcile, status, sync, worker

__all__ = ["config_cmd", "dlq", "doctor", "reconcile", "status", "sync", "worker"]
