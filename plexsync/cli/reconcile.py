"""``plexsync reconcile [--full] [--dry-run] [--json]``: reconciliation in the foreground."""

from __future__ import annotations

import sys
from typing import Any

import click

from plexsync.cli import cli
from plexsync.cli.app import App, pass_app
from plexsync.cli.output import echo_json
from plexsync.cli.progress import progress_bar, progress_enabled


def summary_lines(report: dict[str, Any], dry_run: bool) -> list[str]:
    """The human summary of one reconcile report (keys beyond the four are optional)."""
    verb = "would enqueue" if dry_run else "enqueued"
    mode = str(report.get("mode") or ("dry run" if dry_run else "reconcile"))
    if dry_run and "dry run" not in mode:
        mode += ", dry run"
    lines = [
        f"Reconcile ({mode}): checked {report.get('checked', 0)} scene(s); "
        f"{verb} {report.get('enqueued', 0)}, {report.get('unmatched', 0)} unmatched, "
        f"{report.get('errors', 0)} error(s)."
    ]
    for item in report.get("would_change") or []:
        if isinstance(item, dict):
            lines.append(f"  scene {item.get('scene_id')}: {item.get('reason', '')}")
        else:
            lines.append(f"  {item}")
    for item in report.get("unmatched_examples") or []:
        paths = ", ".join(item.get("paths") or []) or "(no file)"
        lines.append(f"  unmatched: scene {item.get('scene_id')}: Plex has no {paths}")
    if report.get("recovered"):
        lines.append(f"Re-queued {report['recovered']} scene(s) whose task was lost.")
    if report.get("orphans"):
        lines.append(f"{report['orphans']} Plex item(s) match no Stash scene.")
    if report.get("errors"):
        lines.append("The errors were logged above (and in $PLEXSYNC_HOME/logs).")
    return lines


@cli.command()
@click.option("--full", is_flag=True, help="Check every scene, not only recent changes.")
@click.option("--dry-run", is_flag=True, help="Report what would be enqueued; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@pass_app
def reconcile(app: App, full: bool, dry_run: bool, as_json: bool, no_progress: bool) -> None:
    """Run reconciliation now and print its summary (exit 1 if any scene errored)."""
    app.setup_logging(to_file=not dry_run)
    app.use_stash_plugin_settings()
    from plexsync.leases import RECONCILE, lease
    from plexsync.reconcile import run_reconcile

    services = app.services
    # One reconcile at a time, also against the worker's periodic one (LeaseHeld → exit 1).
    with (
        lease(services.db, RECONCILE),
        progress_bar("Reconciling", progress_enabled(no_progress)) as update,
    ):
        report = run_reconcile(services, full=full, dry_run=dry_run, progress=update)
    if as_json:
        echo_json(report)
    else:
        click.echo("\n".join(summary_lines(report, dry_run)))
    if report.get("errors"):
        sys.exit(1)
