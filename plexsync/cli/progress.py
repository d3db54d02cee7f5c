"""A rich progress bar on stderr, only when stderr is a terminal and not disabled."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from plexsync.cli.output import stderr_console

ProgressCallback = Callable[[int, int | None], None]


def progress_enabled(disabled: bool) -> bool:
    return not disabled and sys.stderr.isatty()


@contextlib.contextmanager
def progress_bar(label: str, enabled: bool) -> Iterator[ProgressCallback | None]:
    """Yields ``update(done, total_or_None)``, or None when no bar should be drawn."""
    if not enabled:
        yield None
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=stderr_console(),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int | None = None) -> None:
            bar.update(task, completed=done, total=total)

        yield update
