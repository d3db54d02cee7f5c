"""Imports every command module so that each registers itself on the `cli` group."""

import plexsync.cli.config_cmd
import plexsync.cli.dlq
import plexsync.cli.doctor
import plexsync.cli.reconcile
import plexsync.cli.status
import plexsync.cli.sync
import plexsync.cli.worker  # noqa: F401
