"""The sync engine end to end, in process: real Stash client, real Plex adapter, both fakes
over HTTP, in both Plex tag modes (append and replace)."""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Iterator

import pytest

from plexsync import matching
from plexsync.config import load_config
from plexsync.errors import AmbiguousMatchError, UnmatchedError
from plexsync.services import Services
from plexsync.sync import plan_scene, sync_scene
from tests.fakes.plex import FakePlex
from tests.fakes.stash import FakeStash, make_png

FULL = {
    "title": "A “Curly” Title — with ✨",
    "details": "Line one\nLine two",
    "date": "2024-03-15",
    "rating100": 85,
    "studio": "Site Studio",
    "parent_studio": "Network",
    "tags": ["Outdoor", "Blonde", "Ignored"],
    "performers": ["Ann", "Bea"],
}
# The locks Plex reports (and so the fake): no "year", no "actor" (see plexsync/diff.py).
LOCKED = {"title", "summary", "studio", "originallyAvailableAt", "genre", "collection", "thumb"}


@pytest.fixture
def plex(both_tag_modes: FakePlex) -> FakePlex:
    return both_tag_modes


@pytest.fixture
def services(
    plex: FakePlex, fake_stash: FakeStash, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Services]:
    monkeypatch.setenv("PLEXSYNC_PLEX_URL", plex.url)
    monkeypatch.setenv("PLEXSYNC_PLEX_TOKEN", plex.token)
    monkeypatch.setenv("PLEXSYNC_STASH_URL", fake_stash.url)
    monkeypatch.setenv("PLEXSYNC_PATH_MAP", "/data=/media")
    monkeypatch.setenv("PLEXSYNC_IGNORE_TAGS", "ignored")
    monkeypatch.setattr(matching, "_last_refresh", 0.0)
    yield Services(load_config())


def _stage(plex: FakePlex, stash: FakeStash, **fields: object) -> tuple[int, int]:
    section = plex.add_section("Movies", locations=["/media"])
    key = plex.add_item(section, title="raw file name", files=["/media/a.mp4"])
    scene = stash.add_scene(files=["/data/a.mp4"], image=make_png((10, 20, 30)), **fields)
    return scene, key


def test_full_scene_fields_locks_and_request_counts(
    services: Services, plex: FakePlex, fake_stash: FakeStash
) -> None:
    scene, key = _stage(plex, fake_stash, **FULL)
    matching.refresh_index(services, force=True)  # the index is built once, not per scene
    plex.clear_log()
    assert sync_scene(services, scene) == "updated"
    item = plex.item(key)
    assert item.title == FULL["title"] and item.summary == FULL["details"]
    assert item.studio == "Site Studio"
    assert (item.originally_available_at, item.year) == ("2024-03-15", 2024)
    assert sorted(item.genres) == ["Blonde", "Outdoor"]  # "Ignored" is ignored
    assert sorted(item.actors) == ["Ann", "Bea"]
    assert sorted(item.collections) == ["Site: Site Studio", "Studio: Network"]
    assert item.user_rating == 8.5
    assert item.locked >= LOCKED and not {"year", "actor"} & item.locked
    assert len(item.posters) == 1
    # Changed scene: 1 read + 1 edit PUT, + rate and poster because both changed.
    assert [(r.method, r.path) for r in plex.reads()] == [("GET", f"/library/metadata/{key}")]
    assert sorted(r.method + " " + r.path for r in plex.writes()) == sorted(
        ["PUT /library/sections/1/all", "PUT /:/rate", f"POST /library/metadata/{key}/posters"]
    )

    # Unchanged resync: one read, zero writes (no lock-only PUT for year/actor, which the
    # fake, like Plex, never reports as locked).
    plex.clear_log()
    assert sync_scene(services, scene) == "unchanged"
    assert len(plex.reads()) == 1 and plex.writes() == []


def test_removals_and_clears_reach_plex(
    services: Services, plex: FakePlex, fake_stash: FakeStash
) -> None:
    scene, key = _stage(plex, fake_stash, **FULL)
    sync_scene(services, scene)
    fake_stash.edit_scene(
        scene, tags=["Outdoor"], performers=["Bea"], details="", rating100=None, studio=None
    )
    plex.clear_log()
    assert sync_scene(services, scene) == "updated"
    item = plex.item(key)
    assert item.genres == ["Outdoor"] and item.actors == ["Bea"]
    assert item.summary == "" and item.user_rating is None and item.studio == ""
    assert item.collections == []
    assert {"summary", "genre", "collection"} <= item.locked
    assert len([w for w in plex.writes() if w.path.endswith("/all")]) == 1  # one edit PUT


def test_user_collections_survive_and_empty_title_is_left_alone(
    services: Services, plex: FakePlex, fake_stash: FakeStash
) -> None:
    scene, key = _stage(plex, fake_stash, title="", studio="Site Studio")
    plex.edit_by_hand(key, collections=["My Favourites", "Site: Old Studio"])
    sync_scene(services, scene)
    item = plex.item(key)
    assert item.title == "raw file name"
    assert sorted(item.collections) == ["My Favourites", "Site: Site Studio"]
    assert "title" not in item.locked


def test_poster_uploaded_once_and_again_only_when_the_image_changes(
    services: Services, plex: FakePlex, fake_stash: FakeStash
) -> None:
    scene, key = _stage(plex, fake_stash, **FULL)
    sync_scene(services, scene)
    fake_stash.edit_scene(scene, details="new details")  # new ?t= in the URL, same image
    sync_scene(services, scene)
    assert len(plex.item(key).posters) == 1
    fake_stash.edit_scene(scene, image=make_png((200, 0, 0)))
    sync_scene(services, scene)
    assert len(plex.item(key).posters) == 2


def test_multi_file_scene_matches_the_file_plex_has(
    services: Services, plex: FakePlex, fake_stash: FakeStash
) -> None:
    section = plex.add_section("Movies", locations=["/media"])
    key = plex.add_item(section, title="x", files=["/media/second.mp4"])
    scene = fake_stash.add_scene(title="Two files", files=["/data/first.mp4", "/data/second.mp4"])
    assert sync_scene(services, scene) == "updated"
    assert plex.item(key).title == "Two files"


def test_path_map_with_nfd_stash_and_nfc_plex(
    services: Services, plex: FakePlex, fake_stash: FakeStash
) -> None:
    name = "Amélie à la plage.mp4"
    section = plex.add_section("Movies", locations=["/media"])
    key = plex.add_item(section, title="x", files=[f"/media/{unicodedata.normalize('NFC', name)}"])
    nfd = f"/data/{unicodedata.normalize('NFD', name)}"
    assert nfd != f"/data/{unicodedata.normalize('NFC', name)}"
    scene = fake_stash.add_scene(title="Plage", files=[nfd])
    assert sync_scene(services, scene) == "updated"
    assert plex.item(key).title == "Plage"


def test_unmatched_and_ambiguous_are_reported_not_guessed(
    services: Services, plex: FakePlex, fake_stash: FakeStash
) -> None:
    section = plex.add_section("Movies", locations=["/media"])
    one = plex.add_item(section, title="one", files=["/media/one.mp4"])
    two = plex.add_item(section, title="two", files=["/media/two.mp4"])
    missing = fake_stash.add_scene(title="Missing", files=["/data/nowhere.mp4"])
    with pytest.raises(UnmatchedError, match=r"/media/nowhere\.mp4"):
        sync_scene(services, missing)
    both = fake_stash.add_scene(title="Both", files=["/data/one.mp4", "/data/two.mp4"])
    plex.clear_log()
    with pytest.raises(AmbiguousMatchError, match="several Plex items"):
        sync_scene(services, both)
    listings = [r for r in plex.reads() if r.path.endswith("/all")]
    assert len(listings) == 1  # one full rebuild to rule out stale rows, then the error
    assert plex.writes() == []
    assert (plex.item(one).title, plex.item(two).title) == ("one", "two")


def test_deleted_scene_forgets_its_state(
    services: Services, plex: FakePlex, fake_stash: FakeStash
) -> None:
    scene, _key = _stage(plex, fake_stash, **FULL)
    sync_scene(services, scene)
    assert services.state.get_applied(scene) is not None
    fake_stash.delete_scene(scene)
    assert sync_scene(services, scene) == "deleted"
    assert services.state.get_applied(scene) is None


def test_dry_run_plan_lists_fields_and_writes_nothing(
    services: Services, plex: FakePlex, fake_stash: FakeStash
) -> None:
    scene, _key = _stage(plex, fake_stash, **FULL)
    plan = plan_scene(services, scene)
    text = "\n".join(plan.lines())
    assert "title: 'raw file name' → 'A “Curly” Title — with ✨'" in text
    assert "genres: +Blonde +Outdoor" in text
    assert "poster: new image" in text
    assert plex.writes() == []


def test_plex_spelling_of_a_tag_is_converged_not_fought(
    services: Services, plex: FakePlex, fake_stash: FakeStash
) -> None:
    section = plex.add_section("Movies", locations=["/media"])
    plex.add_item(section, title="other", genres=["outdoor", "BLONDE"], actors=["ann"])
    key = plex.add_item(section, title="x", files=["/media/a.mp4"], genres=["Old"])
    scene = fake_stash.add_scene(
        title="T", files=["/data/a.mp4"], tags=["Outdoor", "Blonde"], performers=["Ann"]
    )
    assert sync_scene(services, scene) == "updated"
    item = plex.item(key)
    assert sorted(item.genres) == ["BLONDE", "outdoor"]  # the library's spelling wins
    assert item.actors == ["ann"]
    plex.clear_log()
    assert sync_scene(services, scene) == "unchanged"  # no re-send, no removal
    assert plex.writes() == []
    fake_stash.edit_scene(scene, tags=["outdoor", "New"])  # a case-only rename is not sent
    assert sync_scene(services, scene) == "updated"
    assert sorted(plex.item(key).genres) == ["New", "outdoor"]
    assert sync_scene(services, scene) == "unchanged"


def test_item_recreated_in_plex_is_found_after_one_full_rebuild(
    services: Services, plex: FakePlex, fake_stash: FakeStash
) -> None:
    scene, old = _stage(plex, fake_stash, title="Scene")
    assert sync_scene(services, scene) == "updated"
    plex.remove_item(old)  # Plex deleted and re-created the item: new ratingKey, same file
    new = plex.add_item(1, title="raw again", files=["/media/a.mp4"])
    fake_stash.edit_scene(scene, title="Scene 2")
    plex.clear_log()
    assert sync_scene(services, scene) == "updated"  # 404 on the stale row -> rebuild
    assert plex.item(new).title == "Scene 2"
    assert [r.status for r in plex.reads() if r.path == f"/library/metadata/{old}"] == [404]
    assert len([r for r in plex.reads() if r.path.endswith("/all")]) == 1
    assert services.state.get_applied(scene) is not None


def test_stale_row_next_to_the_new_one_is_not_ambiguous(
    services: Services, plex: FakePlex, fake_stash: FakeStash
) -> None:
    scene, old = _stage(plex, fake_stash, title="Scene")
    assert sync_scene(services, scene) == "updated"
    plex.remove_item(old)
    plex.advance_clock(120)
    new = plex.add_item(1, title="raw again", files=["/media/a.mp4"])
    matching.refresh_index(services, force=True)  # incremental: adds the new row only
    keys = {m.rating_key for m in matching.path_index.lookup(services.db.conn(), ["/media/a.mp4"])}
    assert keys == {str(old), str(new)}
    plex.clear_log()
    assert sync_scene(services, scene) == "updated"  # ambiguous -> one full rebuild -> new item
    assert plex.item(new).title == "Scene"
    assert len([r for r in plex.reads() if r.path.endswith("/all")]) == 1
    assert [r.path for r in plex.reads() if "/metadata/" in r.path] == [f"/library/metadata/{new}"]
    applied = services.db.conn().execute("select rating_key from applied").fetchall()
    assert applied == [(str(new),)]


def test_gone_item_still_fails_permanently_after_the_rebuild(
    services: Services, plex: FakePlex, fake_stash: FakeStash
) -> None:
    scene, key = _stage(plex, fake_stash, title="Scene")
    matching.refresh_index(services, force=True)
    plex.remove_item(key)
    with pytest.raises(UnmatchedError):
        sync_scene(services, scene)


def test_stale_rows_seen_before_another_tasks_rebuild_cost_no_second_rebuild(
    services: Services, plex: FakePlex
) -> None:
    plex.add_section("Movies", locations=["/media"])
    seen_at = time.monotonic()  # this task read (stale) rows here
    assert matching.refresh_index(services, full=True, force=True)  # another task rebuilt
    plex.clear_log()
    assert matching.rebuild_index(services, seen_at) is False
    assert plex.reads() == []
    assert matching.rebuild_index(services, time.monotonic()) is True
    assert len([r for r in plex.reads() if r.path.endswith("/all")]) == 1
