"""``plexsync doctor [--json]``: configuration, state, Stash, Plex, sections, path mapping."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click
from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.text import Text

from plexsync.cli import cli
from plexsync.cli.app import App, pass_app
from plexsync.cli.output import FAIL_MARK, OK_MARK, SKIP_MARK, echo_json, stdout_console
from plexsync.doctor import Check, doctor_ok, run_doctor
from plexsync.logs import setup_logging


def render_checks(checks: Sequence[Check]) -> RenderableType:
    lines: list[RenderableType] = []
    for check in checks:
        if check.ok:
            mark, style = OK_MARK, "green"
        elif check.skipped:
            mark, style = SKIP_MARK, "dim"
        else:
            mark, style = FAIL_MARK, "red"
        line = Text(f"{mark} ", style=f"bold {style}")
        line.append(f"{check.name}: ", style="bold")
        line.append(check.detail)
        lines.append(line)
        if check.hint and not check.ok:
            # Padded, so a long hint wraps under itself instead of at column 0.
            lines.append(
                Padding(Text(f"→ {check.hint}", style="yellow"), (0, 0, 0, 4), expand=False)
            )
    failed = [c for c in checks if not c.ok and not c.skipped]
    skipped = [c for c in checks if c.skipped]
    if not failed and not skipped:
        summary = Text(f"All {len(checks)} checks passed.", style="bold green")
    else:
        summary = Text(
            f"{len(failed)} check(s) failed, {len(skipped)} skipped, "
            f"{len(checks) - len(failed) - len(skipped)} passed.",
            style="bold red",
        )
    return Group(*lines, Text(), summary)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print {ok, checks: [...]} as JSON.")
@pass_app
def doctor(app: App, as_json: bool) -> None:
    """Check the setup; exit 1 if any check fails."""
    setup_logging(None, verbose=app.verbose)  # not app.setup_logging: the config may be bad
    checks = run_doctor(app.overrides)
    ok = doctor_ok(checks)
    if as_json:
        echo_json({"ok": ok, "checks": [c.as_json() for c in checks]})
    else:
        stdout_console().print(render_checks(checks))
    if not ok:
        sys.exit(1)
