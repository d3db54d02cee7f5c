"""The `plexsync` command line: a thin click layer over the domain modules.

Errors are translated to one friendly line at this edge (``friendly_errors``); a traceback
is shown only with ``-v``.
"""

from __future__ import annotations

import sys

import click

from plexsync import __version__
from plexsync.cli.app import App, friendly_errors, pass_app
from plexsync.config import SECRET_KEYS, env_name

__all__ = ["App", "cli", "main", "pass_app"]


class FriendlyGroup(click.Group):
    """Translates every command's errors into one friendly line (exit 1)."""

    def invoke(self, ctx: click.Context) -> object:
        with friendly_errors(verbose=bool(ctx.params.get("verbose"))):
            return super().invoke(ctx)


@click.group(cls=FriendlyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="plexsync")
@click.option(
    "--home",
    type=click.Path(file_okay=False),
    envvar=None,
    help="State directory (default: $PLEXSYNC_HOME or the user data dir).",
)
@click.option("-v", "--verbose", count=True, help="More logging on stderr (-vv for debug).")
@click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override one setting, e.g. --set plex_url=http://127.0.0.1:32400 (repeatable).",
)
@click.pass_context
def cli(ctx: click.Context, home: str | None, verbose: int, settings: tuple[str, ...]) -> None:
    """Keep a Plex library in step with Stash."""
    overrides: dict[str, str] = {}
    for item in settings:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.UsageError(f"--set expects KEY=VALUE, got {item!r}")
        key = key.strip().lower()
        if key in SECRET_KEYS:
            # A flag shows in `ps` and shell history: secrets come from env or config.toml.
            raise click.UsageError(
                f"--set {key}: secrets are not accepted on the command line; "
                f"use {env_name(key)} or {key} in config.toml"
            )
        overrides[key] = value
    if home:
        overrides["home"] = home
    ctx.obj = App(overrides=overrides, verbose=verbose)


def _register() -> None:
    from plexsync.cli import commands  # noqa: F401  (registers the commands on `cli`)


_register()


def main() -> None:
    with friendly_errors(verbose="-v" in sys.argv or "--verbose" in sys.argv):
        cli.main(prog_name="plexsync", standalone_mode=True)
