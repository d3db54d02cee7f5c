"""``plexsync status [--json] [--watch]``: queue and health summary from local state only."""

from __future__ import annotations

import json
import time
from typing import Any

import click
from rich.console import Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from plexsync.cli import cli
from plexsync.cli.app import App, pass_app
from plexsync.cli.output import echo_json, stdout_console, when
from plexsync.health import health_report

WATCH_INTERVAL_S = 2.0


def render_status(report: dict[str, Any]) -> RenderableType:
    """The human form of ``status``: a two-column table that fits 80 columns."""
    table = Table(title="plexsync status", show_header=False, title_justify="left", expand=False)
    table.add_column("what", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    worker = report["worker"]
    if worker["alive"]:
        worker_text = Text(f"running (heartbeat {when(worker['last_heartbeat'])})", "green")
    else:
        last = worker["last_heartbeat"]
        suffix = f" (last heartbeat {when(last)})" if last else ""
        worker_text = Text("not running" + suffix, "red")
    circuit = report["circuit"]
    circuit_text = Text(circuit, "green" if circuit == "closed" else "yellow")
    if circuit == "open" and report.get("circuit_retry_at"):
        circuit_text.append(f" (next probe {when(report['circuit_retry_at'])})")
    pending = str(report["pending"])
    if report.get("oldest_pending"):
        pending += f" (oldest {when(report['oldest_pending'])})"
    table.add_row("Worker", worker_text)
    table.add_row("Queued tasks", str(report["queued"]))
    table.add_row("Scheduled tasks", str(report["scheduled"]))
    table.add_row("Pending scenes", pending)
    table.add_row("Unmatched scenes", str(report["unmatched"]))
    table.add_row("Dead letters", Text(str(report["dlq"]), "red" if report["dlq"] else "green"))
    table.add_row("Last success", when(report["last_success"]))
    table.add_row("Last failure", when(report["last_failure"]))
    table.add_row("Plex circuit", circuit_text)
    if report.get("alert"):
        return Group(table, Text(report["alert"], style="bold red"))
    return table


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.option("--watch", is_flag=True, help="Refresh every 2 s until Ctrl-C.")
@pass_app
def status(app: App, as_json: bool, watch: bool) -> None:
    """Queue and health summary."""
    app.setup_logging(to_file=False)
    services = app.services
    if not watch:
        report = health_report(services)
        if as_json:
            echo_json(report)
        else:
            stdout_console().print(render_status(report))
        return
    try:
        if as_json:  # one JSON document per line, every 2 s
            while True:
                click.echo(json.dumps(health_report(services)), nl=True)
                time.sleep(WATCH_INTERVAL_S)
        with Live(
            render_status(health_report(services)),
            console=stdout_console(),
            auto_refresh=False,
        ) as live:
            while True:
                time.sleep(WATCH_INTERVAL_S)
                live.update(render_status(health_report(services)), refresh=True)
    except KeyboardInterrupt:
        return
