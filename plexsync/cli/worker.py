"""``plexsync worker``: the Huey consumer in the foreground (see plexsync.worker)."""

from __future__ import annotations

import click

from plexsync.cli import cli
from plexsync.cli.app import App, pass_app


@cli.command()
@click.option(
    "--workers",
    type=click.IntRange(min=1, max=32),
    default=1,
    show_default=True,
    help="Worker threads.",
)
@pass_app
def worker(app: App, workers: int) -> None:
    """Run the worker in the foreground until SIGINT/SIGTERM."""
    app.setup_logging(stderr_level="INFO")  # a foreground service shows what it does
    from plexsync.worker import run_worker

    run_worker(app.services, workers=workers, overrides=app.overrides)
