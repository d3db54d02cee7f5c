"""``plexsync config show``: the effective configuration, secrets masked, with sources."""

from __future__ import annotations

from typing import Any

import click
from rich import box
from rich.table import Table

from plexsync.cli import cli
from plexsync.cli.app import App, pass_app
from plexsync.cli.output import echo_json, stdout_console
from plexsync.config import Config, env_name


def config_rows(config: Config) -> dict[str, dict[str, Any]]:
    """{key: {"value", "source", "env"}}: masked values and where each came from."""
    return {
        key: {
            "value": value,
            "source": config.sources.get(key, "default"),
            "env": env_name(key),
        }
        for key, value in config.masked().items()
    }


@cli.group("config")
def config_group() -> None:
    """Inspect the configuration."""


@config_group.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON: {key: {value, source}}.")
@pass_app
def config_show(app: App, as_json: bool) -> None:
    """Show the effective configuration (secrets masked) and where each value came from."""
    app.setup_logging(to_file=False)
    rows = config_rows(app.config)
    if as_json:
        echo_json(rows)
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column("Setting", no_wrap=True)
    table.add_column("Value", overflow="fold")
    table.add_column("From", no_wrap=True)
    for key, row in rows.items():
        value = row["value"]
        shown = "" if value is None else str(value).lower() if isinstance(value, bool) else value
        table.add_row(key, str(shown) or "(empty)", row["source"])
    console = stdout_console()
    console.print(table)
    console.print("Environment names: PLEXSYNC_<SETTING>; file: $PLEXSYNC_HOME/config.toml")
