"""``plexsync dlq list|show|purge`` and ``plexsync requeue``: the dead-letter queue."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import click
from rich.console import Group, RenderableType
from rich.text import Text

from plexsync.cli import cli
from plexsync.cli.app import App, pass_app
from plexsync.cli.output import echo_json, one_line, stdout_console, when
from plexsync.dlq import DeadLetter
from plexsync.enqueue import SYNC_TASK_NAME
from plexsync.errors import PlexsyncError
from plexsync.redact import redact
from plexsync.services import Services
from plexsync.state import iso

TASK_PREFIX = "plexsync.tasks."


def short_task(name: str) -> str:
    return name.removeprefix(TASK_PREFIX)


def render_dlq(entries: Sequence[DeadLetter]) -> RenderableType:
    """The human form of ``dlq list``: per entry one line of facts (the full ID, to copy)
    and one indented line with the error, cut with an ellipsis at the console's width."""
    id_width = max([len("ID"), *(len(e.id) for e in entries)])
    header = f"{'ID':<{id_width}}  {'Scene':>6}  {'Tries':>5}  {'Failed at':<11}  Task"
    lines: list[Text] = [Text(header, style="bold", no_wrap=True, overflow="ellipsis")]
    lines.append(Text("─" * len(header), style="dim", no_wrap=True, overflow="crop"))
    for entry in entries:
        scene = "-" if entry.scene_id is None else str(entry.scene_id)
        facts = (
            f"{entry.id:<{id_width}}  {scene:>6}  {entry.attempts:>5}  "
            f"{when(iso(entry.failed_at))[5:16]:<11}  {short_task(entry.task)}"
        )
        lines.append(Text(facts, no_wrap=True, overflow="ellipsis"))
        error = f"  {entry.error_class}: {one_line(entry.error, 500)}"
        lines.append(Text(error, style="red", no_wrap=True, overflow="ellipsis"))
    return Group(*lines)


def _scene_lines(services: Services, scene_id: int) -> list[str]:
    """The scene's title and files from Stash; one line saying why when Stash cannot tell."""
    try:
        raw = services.stash.find_scene(scene_id)
    except (PlexsyncError, OSError) as exc:
        message = exc.message if isinstance(exc, PlexsyncError) else str(exc)
        return [f"Stash unreachable, scene details not shown: {redact(one_line(message, 200))}"]
    if raw is None:
        return [f"Scene {scene_id} no longer exists in Stash."]
    files = [str(f.get("path")) for f in raw.get("files") or [] if isinstance(f, dict)]
    lines = [f"Title:       {raw.get('title') or '(untitled)'}"]
    lines += [f"File:        {path}" for path in files] or ["File:        (none)"]
    return lines


def show_text(entry: DeadLetter, scene_lines: list[str]) -> str:
    """Everything about one dead letter, as plain text (the error is never cut)."""
    rows = [
        f"ID:          {entry.id}",
        f"Task:        {entry.task}",
        f"Scene:       {'-' if entry.scene_id is None else entry.scene_id}",
        f"Attempts:    {entry.attempts}",
        f"First fail:  {when(iso(entry.first_failed_at))}",
        f"Last fail:   {when(iso(entry.failed_at))}",
        f"Correlation: {entry.cid or '-'}",
        f"Arguments:   {json.dumps(entry.args, ensure_ascii=False)}",
        *scene_lines,
        f"Error class: {entry.error_class}",
        "Error:",
        *("  " + line for line in (entry.error or "(no message)").splitlines()),
    ]
    return "\n".join(rows)


@cli.group()
def dlq() -> None:
    """Dead-lettered tasks: list, show, purge (requeue with `plexsync requeue`)."""


@dlq.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the entries as a JSON array.")
@pass_app
def dlq_list(app: App, as_json: bool) -> None:
    """List dead-lettered tasks, oldest first."""
    app.setup_logging(to_file=False)
    entries = app.services.dlq.list()
    if as_json:
        echo_json([entry.as_json() for entry in entries])
    elif not entries:
        click.echo("No dead letters.")
    else:
        console = stdout_console()
        console.print(render_dlq(entries))
        console.print(f"{len(entries)} dead letter(s). Details: plexsync dlq show ID")


@dlq.command("show")
@click.argument("entry_id", metavar="ID")
@pass_app
def dlq_show(app: App, entry_id: str) -> None:
    """Show one entry with its full error and the scene it was about."""
    app.setup_logging(to_file=False)
    services = app.services
    entry = services.dlq.get(entry_id)
    if entry is None:
        raise PlexsyncError(f"no dead letter with id {entry_id!r} (see plexsync dlq list)")
    scene_lines = [] if entry.scene_id is None else _scene_lines(services, entry.scene_id)
    click.echo(show_text(entry, scene_lines))


@dlq.command("purge")
@click.option(
    "--older-than",
    "older_than",
    type=click.FloatRange(min=0),
    metavar="DAYS",
    help="Only entries that failed more than DAYS days ago.",
)
@click.option("--yes", is_flag=True, help="Really delete (required).")
@pass_app
def dlq_purge(app: App, older_than: float | None, yes: bool) -> None:
    """Delete dead-letter entries (all, or those older than DAYS)."""
    if not yes:
        raise click.UsageError("dlq purge deletes entries for good: add --yes to confirm")
    app.setup_logging()
    deleted = app.services.dlq.purge(older_than)
    click.echo(f"Deleted {deleted} dead letter(s).")


def requeue_entries(services: Services, entries: Sequence[DeadLetter]) -> dict[str, int]:
    """Move entries back to the queue; each DLQ row is deleted only once its task is queued."""
    counts = {"requeued": 0, "coalesced": 0}
    for entry in entries:
        args: list[Any] = list(entry.args.get("args") or [])
        kwargs: dict[str, Any] = dict(entry.args.get("kwargs") or {})
        if entry.task == SYNC_TASK_NAME:
            scene_id = entry.scene_id if entry.scene_id is not None else int(args[0])
            _task_id, _cid, coalesced = services.pending.record(scene_id, "requeue", cid=entry.cid)
            counts["coalesced"] += int(coalesced)
        else:
            from plexsync.tasks import enqueue_by_name

            kwargs.pop("attempts", None)
            enqueue_by_name(entry.task, args, kwargs, services)
        services.dlq.delete(entry.id)
        counts["requeued"] += 1
    return counts


@cli.command()
@click.argument("entry_ids", metavar="ID...", nargs=-1)
@click.option("--all", "requeue_all", is_flag=True, help="Requeue every dead letter.")
@pass_app
def requeue(app: App, entry_ids: tuple[str, ...], requeue_all: bool) -> None:
    """Move dead-lettered tasks back to the queue (fresh retries)."""
    if requeue_all == bool(entry_ids):
        raise click.UsageError("give dead-letter IDs or --all (not both)")
    app.setup_logging()
    services = app.services
    if requeue_all:
        entries = services.dlq.list()
    else:
        found = {i: services.dlq.get(i) for i in dict.fromkeys(entry_ids)}
        unknown = [i for i, entry in found.items() if entry is None]
        if unknown:
            raise PlexsyncError(
                f"no dead letter with id {', '.join(map(repr, unknown))}; nothing requeued"
            )
        entries = [entry for entry in found.values() if entry is not None]
    if not entries:
        click.echo("Nothing to requeue.")
        return
    counts = requeue_entries(services, entries)
    note = f" ({counts['coalesced']} joined a task already waiting)" if counts["coalesced"] else ""
    click.echo(f"Requeued {counts['requeued']} task(s){note}.")
