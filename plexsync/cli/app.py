"""Shared CLI state (config, logging) and the translation of errors into one friendly line."""

from __future__ import annotations

import contextlib
import sqlite3
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click
from loguru import logger

from plexsync.config import Config, load_config
from plexsync.errors import (
    AuthError,
    ConfigError,
    PermanentError,
    PlexsyncError,
    TransientError,
)
from plexsync.logs import setup_logging
from plexsync.redact import redact

if TYPE_CHECKING:
    from plexsync.services import Services


@dataclass
class App:
    overrides: dict[str, Any]
    verbose: int = 0
    _config: Config | None = field(default=None, repr=False)
    _services: Services | None = field(default=None, repr=False)

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.overrides)
        return self._config

    @property
    def services(self) -> Services:
        """The stores and clients for this invocation (built on first use)."""
        if self._services is None:
            from plexsync.services import Services

            self._services = Services(self.config)
        return self._services

    def use_stash_plugin_settings(self) -> None:
        """Merge the Stash plugin's settings, as the worker does (for commands that talk to
        Plex, so they see the same configuration). Costs one GraphQL request."""
        from plexsync.plugin_settings import with_plugin_settings

        self._config = with_plugin_settings(self.config, self.overrides)
        self._services = None

    def setup_logging(self, to_file: bool = True, stderr_level: str | None = None) -> None:
        """stderr shows warnings (INFO with -v, DEBUG with -vv) unless a command asks for
        more; the file under $PLEXSYNC_HOME/logs always gets INFO."""
        config = self.config
        if stderr_level is not None and self.verbose > 1:
            stderr_level = "DEBUG"
        setup_logging(
            config.log_dir if to_file else None, verbose=self.verbose, stderr_level=stderr_level
        )
        logger.debug("home: {}", config.home)


pass_app = click.make_pass_decorator(App)


def friendly_message(exc: BaseException) -> str:
    if isinstance(exc, AuthError):
        return f"{exc.message}"
    if isinstance(exc, ConfigError):
        return f"configuration: {exc.message}"
    if isinstance(exc, TransientError | PermanentError | PlexsyncError):
        return exc.message
    return redact(f"{type(exc).__name__}: {exc}")


@contextlib.contextmanager
def friendly_errors(verbose: bool = False) -> Iterator[None]:
    try:
        yield
    except (PlexsyncError, OSError, sqlite3.Error) as exc:
        if verbose:
            logger.opt(exception=exc).info("traceback")
        click.echo(f"Error: {friendly_message(exc)}", err=True)
        sys.exit(1)
    except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
        raise
    except Exception as exc:  # a bug: still one redacted line (the traceback with -v)
        if verbose:
            logger.opt(exception=exc).info("traceback")
        click.echo(f"Error: unexpected {friendly_message(exc)} (run with -v for details)", err=True)
        sys.exit(1)
