"""``plexsync sync SCENE_ID... | --all [--dry-run]``: enqueue syncs, or show what would change."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator

import click

from plexsync.cli import cli
from plexsync.cli.app import App, pass_app
from plexsync.cli.progress import progress_bar, progress_enabled
from plexsync.errors import AuthError, PermanentError
from plexsync.services import Services


def all_scene_ids(services: Services) -> Iterator[int]:
    for raw in services.stash.iter_all_scenes(light=True):
        yield int(raw["id"])


def enqueue_scenes(services: Services, scene_ids: Iterable[int]) -> tuple[int, int]:
    """Record a "cli" event per scene. Returns (new tasks, coalesced into waiting tasks)."""
    queued = coalesced = 0
    for scene_id in scene_ids:
        _task_id, _cid, joined = services.pending.record(scene_id, "cli")
        coalesced += int(joined)
        queued += int(not joined)
    return queued, coalesced


def print_plans(services: Services, scene_ids: Iterable[int]) -> int:
    """Print each scene's dry-run plan; returns how many scenes could not be planned."""
    from plexsync.sync import plan_scene

    failures = 0
    for scene_id in scene_ids:
        try:
            plan = plan_scene(services, scene_id)
        except AuthError:
            raise
        except PermanentError as exc:
            failures += 1
            click.echo(f"scene {scene_id}: cannot plan: {exc.message}")
            continue
        for line in plan.lines():
            click.echo(line)
    return failures


def _counted(ids: Iterable[int], update: object) -> Iterator[int]:
    for n, scene_id in enumerate(ids, 1):
        yield scene_id
        if callable(update):
            update(n, None)


@cli.command()
@click.argument("scene_ids", metavar="SCENE_ID...", nargs=-1, type=click.IntRange(min=1))
@click.option("--all", "sync_all", is_flag=True, help="Every scene in Stash.")
@click.option("--dry-run", is_flag=True, help="Print what would change in Plex; write nothing.")
@click.option("--no-progress", is_flag=True, help="No progress bar (--all).")
@pass_app
def sync(
    app: App, scene_ids: tuple[int, ...], sync_all: bool, dry_run: bool, no_progress: bool
) -> None:
    """Enqueue syncs of scenes (SCENE_ID is a Stash scene id)."""
    if sync_all == bool(scene_ids):
        raise click.UsageError("give SCENE_IDs or --all (not both)")
    app.setup_logging(to_file=not dry_run)
    if dry_run:
        app.use_stash_plugin_settings()
    services = app.services
    with progress_bar("Scenes", progress_enabled(no_progress) and sync_all) as update:
        ids: Iterable[int] = (
            _counted(all_scene_ids(services), update) if sync_all else dict.fromkeys(scene_ids)
        )
        if dry_run:
            failures = print_plans(services, ids)
        else:
            queued, coalesced = enqueue_scenes(services, ids)
    if dry_run:
        if failures:
            sys.exit(1)
        return
    total = queued + coalesced
    if not total:
        click.echo("Nothing to sync: Stash has no scenes.")
        return
    note = f", {coalesced} joined a task already waiting" if coalesced else ""
    click.echo(f"Queued {total} scene(s) ({queued} new task(s){note}).")
