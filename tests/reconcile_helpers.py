"""The library the reconcile tests start from: fake Stash + fake Plex, synced by the real path.

Fixtures ``lib`` (empty library, one Movies section) and ``synced`` (three scenes synced, then a
first reconcile) are registered in ``tests/conftest.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from plexsync import matching, sync
from plexsync.config import load_config
from plexsync.reconcile import WATERMARK_KEY, run_reconcile
from plexsync.services import Services
from tests.fakes.plex import FakePlex
from tests.fakes.plex_fixtures import FAKE_PLEX_TOKEN
from tests.fakes.stash import FakeStash

MOVIES = "/media/movies"


@dataclass
class Library:
    stash: FakeStash
    plex: FakePlex
    services: Services
    section: int
    pairs: dict[int, int]  # scene id -> Plex ratingKey

    def add(self, i: int, in_plex: bool = True, **fields: object) -> int:
        path = f"{MOVIES}/scene{i:03d}.mp4"
        values: dict[str, object] = {
            "title": f"Scene {i}",
            "details": f"Details of scene {i}",
            "date": f"2023-0{1 + i % 9}-1{i % 10}",
            "rating100": 40 + i,
            "studio": "Site A",
            "parent_studio": "Network",
            "tags": ["Alpha", "Beta", "Gamma", f"Tag {i}"],
            "performers": [f"Performer {i}"],
            "files": [path],
        }
        values.update(fields)
        scene_id = self.stash.add_scene(**values)
        if in_plex:
            self.pairs[scene_id] = self.plex.add_item(self.section, title=f"raw {i}", files=[path])
        return scene_id

    def sync_all(self) -> None:
        matching.refresh_index(self.services, full=True)
        for scene_id in self.pairs:
            assert sync.sync_scene(self.services, scene_id) == "updated"

    def pending(self) -> dict[int, str]:
        rows = self.services.pending.conn().execute("select scene_id, event from pending")
        return dict(rows.fetchall())

    def queued_tasks(self) -> int:
        return int(self.services.pending.conn().execute("select count(*) from task").fetchone()[0])

    def clear_pending(self) -> None:
        conn = self.services.pending.conn()
        conn.execute("delete from pending")
        conn.execute("delete from task")


def services_for(stash: FakeStash, plex: FakePlex) -> Services:
    config = load_config(
        {"stash_url": stash.url, "plex_url": plex.url, "plex_token": FAKE_PLEX_TOKEN}
    )
    return Services(config)


@pytest.fixture
def lib(fake_stash: FakeStash, fake_plex: FakePlex) -> Library:
    section = fake_plex.add_section("Movies", locations=[MOVIES])
    library = Library(fake_stash, fake_plex, services_for(fake_stash, fake_plex), section, {})
    return library


@pytest.fixture
def synced(lib: Library) -> Library:
    """Three scenes synced to Plex, then a first reconcile (sets the watermark)."""
    for i in range(1, 4):
        lib.add(i)
    lib.sync_all()
    first = run_reconcile(lib.services)
    assert first["mode"] == "full (first run)"
    assert first["enqueued"] == 0, first
    assert lib.services.state.get_meta(WATERMARK_KEY) is not None
    lib.plex.clear_log()
    return lib
