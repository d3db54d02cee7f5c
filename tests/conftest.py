"""Shared pytest set-up: fake Plex/Stash, hook, plugin-task, reconcile fixtures; isolated HOME."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = [
    "tests.fakes.plex_fixtures",
    "tests.fakes.stash_fixtures",
    "tests.hook_helpers",  # fixture: home
    "tests.plugin_task_helpers",  # fixture: fake (stand-in worker venv)
    "tests.reconcile_helpers",  # fixtures: lib, synced
]

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DIR = REPO_ROOT.parent / "shared"


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No test reads the developer's real config or state: PLEXSYNC_* cleared, HOME per test."""
    for key in list(os.environ):
        if key.startswith("PLEXSYNC_"):
            monkeypatch.delenv(key)
    home = tmp_path / "plexsync-home"
    monkeypatch.setenv("PLEXSYNC_HOME", str(home))
    yield home
