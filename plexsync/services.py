"""Wiring: the stores and clients one process uses, built lazily from one Config."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from plexsync.breaker import CircuitBreaker
from plexsync.config import Config, ensure_home
from plexsync.db import Database
from plexsync.dlq import DeadLetterStore
from plexsync.pending import PendingStore
from plexsync.state import StateStore

if TYPE_CHECKING:
    from huey import SqliteHuey

    from plexsync.plex import PlexClient
    from plexsync.stash import StashClient


class Services:
    def __init__(self, config: Config) -> None:
        self.config = config
        ensure_home(config)

    @cached_property
    def db(self) -> Database:
        return Database(self.config.state_db)

    @cached_property
    def state(self) -> StateStore:
        return StateStore(self.db)

    @cached_property
    def dlq(self) -> DeadLetterStore:
        return DeadLetterStore(self.db)

    @cached_property
    def breaker(self) -> CircuitBreaker:
        return CircuitBreaker(self.db, self.config.breaker_threshold, self.config.breaker_cooldown)

    @cached_property
    def pending(self) -> PendingStore:
        return PendingStore(self.config.queue_db)

    @cached_property
    def huey(self) -> SqliteHuey:
        from plexsync.queue import build_huey

        return build_huey(self.config)

    @cached_property
    def stash(self) -> StashClient:
        from plexsync.stash import StashClient

        return StashClient.from_config(self.config)

    @cached_property
    def plex(self) -> PlexClient:
        from plexsync.plex import PlexClient

        return PlexClient.from_config(self.config)
