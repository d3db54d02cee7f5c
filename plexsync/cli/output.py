"""Output helpers shared by the commands: JSON on stdout, rich rendering for people.

Colours are used only when stdout is a terminal and ``NO_COLOR`` is unset (rich checks both);
without a terminal rich renders plain text at 80 columns.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import click
from rich.console import Console

OK_MARK, FAIL_MARK, SKIP_MARK = "✓", "✗", "-"


def stdout_console() -> Console:
    return Console(highlight=False)


def stderr_console() -> Console:
    return Console(stderr=True, highlight=False)


def echo_json(data: Any) -> None:
    """Machine output: exactly one JSON document on stdout."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False))


def when(value: str | None) -> str:
    """An ISO-8601 timestamp for people: local time, to the second, '-' when unknown."""
    if not value:
        return "-"
    moment = datetime.fromisoformat(value).astimezone()
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def one_line(text: str, limit: int = 60) -> str:
    first = " ".join(text.split())
    return first if len(first) <= limit else first[: limit - 1] + "…"
