"""The error types every layer raises, classified by what the worker must do with them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from plexsync.redact import redact


class PlexsyncError(Exception):
    """Base class. Messages are one line and never carry a secret."""

    def __init__(self, message: str) -> None:
        super().__init__(redact(message))

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class ConfigError(PlexsyncError):
    """Invalid configuration: fix the named key."""


class TransientError(PlexsyncError):
    """Worth retrying: timeouts, refused connections, 429/5xx, garbage bodies."""

    def __init__(
        self, message: str, retry_after: float | None = None, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status


class PermanentError(PlexsyncError):
    """Retrying cannot help (401/403/400, invalid data): straight to the dead-letter queue."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AuthError(PermanentError):
    """A token or API key was refused."""


class NotFoundError(PermanentError):
    """The item or scene no longer exists."""


class ValidationFailed(PermanentError):
    """Stash returned data that does not fit the expected shape."""


class UnmatchedError(PlexsyncError):
    """The scene's file is not (yet) in Plex: retried on the longer unmatched schedule."""

    def __init__(self, message: str, paths: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.paths = paths


class AmbiguousMatchError(PermanentError):
    """Two Plex items for one scene, or one item claimed by two scenes: reported, not guessed."""


class PlexTransientError(TransientError):
    """A transient error that came from Plex: it counts towards the circuit breaker."""


@contextmanager
def from_plex() -> Iterator[None]:
    """Mark transient errors raised inside as Plex's (Stash's do not open the breaker)."""
    try:
        yield
    except PlexTransientError:
        raise
    except TransientError as exc:
        raise PlexTransientError(exc.message, exc.retry_after, exc.status) from exc
