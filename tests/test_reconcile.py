"""Reconciliation against the fake Stash and the fake Plex over real HTTP (real SQLite state).

Every scenario starts from a library synced by the real sync path (``sync.sync_scene``), then
changes something behind plexsync's back (no hook), and checks what reconcile finds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from plexsync import matching, sync
from plexsync.config import load_config
from plexsync.errors import AuthError, PermanentError, TransientError
from plexsync.model import DesiredState
from plexsync.plex_listing import listing_drift, parse_rows
from plexsync.reconcile import (
    OVERLAP,
    WATERMARK_KEY,
    newest_stamp,
    overlap_since,
    parse_stamp,
    run_reconcile,
)
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


def _services(stash: FakeStash, plex: FakePlex) -> Services:
    config = load_config(
        {"stash_url": stash.url, "plex_url": plex.url, "plex_token": FAKE_PLEX_TOKEN}
    )
    return Services(config)


@pytest.fixture
def lib(fake_stash: FakeStash, fake_plex: FakePlex) -> Library:
    section = fake_plex.add_section("Movies", locations=[MOVIES])
    library = Library(fake_stash, fake_plex, _services(fake_stash, fake_plex), section, {})
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


# ---------------------------------------------------------------- incremental


def test_incremental_finds_a_change_made_without_hook_and_sync_fixes_plex(synced: Library) -> None:
    scene_id = next(iter(synced.pairs))
    rating_key = synced.pairs[scene_id]
    synced.stash.edit_scene(scene_id, title="Renamed by auto-tag", tags=["Alpha", "New tag"])

    report = run_reconcile(synced.services)

    assert report["mode"] == "incremental"
    assert report["checked"] >= 1 and report["enqueued"] == 1
    assert report["reasons"] == {"changed in Stash": 1}
    assert synced.pending() == {scene_id: "reconcile"}
    assert synced.plex.log == []  # incremental never talks to Plex
    assert sync.sync_scene(synced.services, scene_id) == "updated"
    item = synced.plex.item(rating_key)
    assert item.title == "Renamed by auto-tag"
    assert sorted(item.genres) == ["Alpha", "New tag"]
    # Applied now: the next pass (which re-reads the scene in its overlap) enqueues nothing.
    synced.clear_pending()
    again = run_reconcile(synced.services)
    assert again["checked"] >= 1 and again["enqueued"] == 0


def test_nothing_changed_enqueues_nothing_and_writes_nothing(synced: Library) -> None:
    ticks: list[tuple[int, int | None]] = []
    incremental = run_reconcile(synced.services)
    full = run_reconcile(synced.services, full=True, progress=lambda d, t: ticks.append((d, t)))

    for report in (incremental, full):
        assert report["enqueued"] == 0 and report["errors"] == 0, report
        assert report["unmatched"] == 0 and report["orphans"] == 0
    assert full["checked"] == 3
    assert synced.pending() == {} and synced.queued_tasks() == 0
    assert synced.plex.writes() == []
    paths = {r.path for r in synced.plex.reads()}
    assert paths == {"/library/sections", f"/library/sections/{synced.section}/all"}
    assert full["plex_requests"] == len(synced.plex.reads()) == 2
    assert ticks[-1] == (3, 3)


def test_first_run_without_plex_walks_stash_alone(fake_stash: FakeStash) -> None:
    services = Services(load_config({"stash_url": fake_stash.url}))
    ids = [fake_stash.add_scene(title=f"S{i}", files=[f"/x/{i}.mp4"]) for i in range(3)]

    report = run_reconcile(services)

    assert report["mode"] == "stash-only (first run)"
    assert report["checked"] == 3 and report["enqueued"] == 3
    assert services.state.get_meta(WATERMARK_KEY) == fake_stash.scene(ids[-1]).updated_at
    assert run_reconcile(services)["mode"] == "incremental"
    with pytest.raises(PermanentError, match="Plex is not configured"):
        run_reconcile(services, full=True)


def test_overlap_window_sees_a_scene_stamped_in_the_past(lib: Library) -> None:
    day = datetime.fromisoformat("2024-03-01T12:00:00+00:00")
    step = OVERLAP + timedelta(hours=1)  # each scene outside the previous one's overlap
    ids = [lib.add(i, updated_at=(day + i * step).isoformat()) for i in range(4)]
    lib.sync_all()
    run_reconcile(lib.services)
    watermark = lib.services.state.get_meta(WATERMARK_KEY)
    assert watermark == (day + 3 * step).isoformat()
    stamp = parse_stamp(watermark)
    assert stamp is not None
    # Stash's clock/zone put these edits before the watermark: one inside the overlap window.
    lib.stash.edit_scene(ids[0], title="Inside", updated_at=(stamp - OVERLAP / 3).isoformat())
    lib.stash.edit_scene(
        ids[1], title="Outside", updated_at=(stamp - OVERLAP - timedelta(minutes=25)).isoformat()
    )

    report = run_reconcile(lib.services)

    assert report["mode"] == "incremental"
    assert report["checked"] == 2  # the newest scene (overlap re-read) and ids[0]
    assert lib.pending() == {ids[0]: "reconcile"}
    assert lib.services.state.get_meta(WATERMARK_KEY) == watermark  # never moves back


def test_pages_and_repeated_passes_are_deduplicated(lib: Library) -> None:
    stamp = "2024-05-05T10:00:00+00:00"
    ids = [lib.add(i, updated_at=stamp) for i in range(7)]  # one bulk edit: same stamp
    lib.services.state.set_meta(WATERMARK_KEY, "2024-05-05T09:59:59+00:00")

    first = run_reconcile(lib.services, per_page=2)
    second = run_reconcile(lib.services, per_page=3)

    assert first["checked"] == second["checked"] == 7
    assert first["enqueued"] == 7 and first["coalesced"] == 0
    assert first["reasons"] == {"never applied": 7}
    assert second["coalesced"] == 7  # still waiting: folded into the same tasks
    assert sorted(lib.pending()) == ids
    assert lib.queued_tasks() == 7


def test_watermark_keeps_the_stash_zone_style(make_fake_stash, fake_plex: FakePlex) -> None:
    stash = make_fake_stash(utc_offset_minutes=120)
    services = _services(stash, fake_plex)
    fake_plex.add_section("Movies", locations=[MOVIES])
    a = stash.add_scene(title="A", files=[f"{MOVIES}/a.mp4"])
    run_reconcile(services)
    watermark = services.state.get_meta(WATERMARK_KEY)
    assert watermark is not None and watermark.endswith("+02:00")
    stash.edit_scene(a, title="A2")
    stash.clear_requests()
    report = run_reconcile(services)
    assert report["mode"] == "incremental" and report["checked"] == 1
    assert services.state.get_meta(WATERMARK_KEY) == stash.scene(a).updated_at


# ---------------------------------------------------------------- full: drift in Plex


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        ({"title": "Edited by hand"}, "drift: title"),
        ({"summary": "A summary typed in Plex"}, "drift: summary"),
        ({"studio": "Other studio"}, "drift: studio"),
        ({"year": 1999, "originally_available_at": "1999-01-01"}, "drift: year"),
        ({"user_rating": 1.0}, "drift: userRating"),
        ({"genres": ["Genre added in Plex"]}, "drift: genre"),
        ({"genres": []}, "drift: genre"),
    ],
)
def test_full_detects_a_hand_edit_in_plex_and_sync_restores_it(
    synced: Library, edit: dict[str, object], reason: str
) -> None:
    scene_id, rating_key = next(iter(synced.pairs.items()))
    before = synced.plex.item(rating_key)
    synced.plex.edit_by_hand(rating_key, **edit)

    assert run_reconcile(synced.services)["enqueued"] == 0  # Stash unchanged: invisible here
    report = run_reconcile(synced.services, full=True)

    assert report["enqueued"] == 1 and reason in report["reasons"], report
    assert synced.pending() == {scene_id: "reconcile"}
    assert synced.plex.writes() == []
    assert sync.sync_scene(synced.services, scene_id) == "updated"
    after = synced.plex.item(rating_key)
    for name in edit:
        value = getattr(after, name)
        expected = getattr(before, name)
        assert (sorted(value) if isinstance(value, list) else value) == (
            sorted(expected) if isinstance(expected, list) else expected
        )


def test_full_detects_plex_restored_with_new_rating_keys_and_deleted_scenes(
    synced: Library,
) -> None:
    (a, old_key), (b, _), (c, _) = synced.pairs.items()
    item = synced.plex.item(old_key)
    synced.plex.remove_item(old_key)  # Plex restored from an old backup: a fresh item
    new_key = synced.plex.add_item(synced.section, title=item.title, files=item.files)
    synced.stash.delete_scene(c)  # the Destroy hook was missed

    report = run_reconcile(synced.services, full=True)

    assert report["enqueued"] == 1 and report["forgotten"] == 1
    assert synced.services.state.get_applied(c) is None
    assert synced.services.state.get_applied(b) is not None
    assert any(
        r.startswith(f"Plex item changed ({old_key} -> {new_key})") for r in report["reasons"]
    )
    assert synced.pending() == {a: "reconcile"}
    assert report["orphans"] == 1  # c's Plex item is claimed by no scene now
    assert sync.sync_scene(synced.services, a) == "updated"
    assert synced.plex.item(new_key).title == "Scene 1"


def test_unmatched_scene_and_orphan_plex_item_are_reported(synced: Library) -> None:
    lonely = synced.add(50, in_plex=False)
    orphan = synced.plex.add_item(synced.section, title="Nobody's", files=[f"{MOVIES}/x.mp4"])

    report = run_reconcile(synced.services, full=True)

    assert report["unmatched"] == 1
    assert report["unmatched_examples"] == [
        {"scene_id": lonely, "paths": [f"{MOVIES}/scene050.mp4"]}
    ]
    assert [u.scene_id for u in synced.services.state.unmatched()] == [lonely]
    assert report["orphans"] == 1
    assert report["orphan_examples"][0]["rating_key"] == str(orphan)
    assert report["orphan_examples"][0]["file"] == f"{MOVIES}/x.mp4"
    assert report["enqueued"] == 0 and synced.pending() == {}


def test_two_scenes_on_one_plex_file_are_reported_not_enqueued(synced: Library) -> None:
    twin = synced.stash.add_scene(title="Twin", files=[f"{MOVIES}/scene001.mp4"])
    report = run_reconcile(synced.services, full=True)
    assert report["ambiguous"] == 1
    assert twin not in synced.pending()


def test_dry_run_lists_what_would_change_and_changes_nothing(synced: Library) -> None:
    (a, _), (b, key_b), _ = synced.pairs.items()
    synced.stash.edit_scene(a, details="New details")
    synced.plex.edit_by_hand(key_b, title="Hand")
    lonely = synced.add(60, in_plex=False)
    watermark = synced.services.state.get_meta(WATERMARK_KEY)

    report = run_reconcile(synced.services, full=True, dry_run=True)
    incremental = run_reconcile(synced.services, dry_run=True)

    assert {w["scene_id"]: w["reason"] for w in report["would_change"]} == {
        a: "changed in Stash; drift: summary",  # Plex still shows the old details
        b: "drift: title",
    }
    assert report["enqueued"] == 2 and report["dry_run"] is True
    assert report["unmatched"] == 1
    assert {w["scene_id"] for w in incremental["would_change"]} == {a, lonely}
    assert synced.pending() == {} and synced.queued_tasks() == 0
    assert synced.services.state.unmatched() == []
    assert synced.services.state.get_meta(WATERMARK_KEY) == watermark
    assert synced.plex.writes() == []


# ---------------------------------------------------------------- errors and recovery


def test_a_scene_failing_validation_is_counted_and_the_rest_go_on(
    synced: Library, caplog: pytest.LogCaptureFixture
) -> None:
    from loguru import logger

    handler = logger.add(caplog.handler, level="ERROR", format="{message}")
    ids = list(synced.pairs)
    bad = synced.add(70, rating100=150)
    synced.stash.edit_scene(ids[1], title="Fine change")
    try:
        report = run_reconcile(synced.services)
    finally:
        logger.remove(handler)
    assert report["errors"] == 1
    assert synced.pending() == {ids[1]: "reconcile"}
    assert f"scene {bad}" in caplog.text and "rating100" in caplog.text


def test_stash_down_raises_and_keeps_the_watermark(synced: Library) -> None:
    watermark = synced.services.state.get_meta(WATERMARK_KEY)
    synced.stash.stop()
    with pytest.raises(TransientError, match="Stash"):
        run_reconcile(synced.services)
    assert synced.services.state.get_meta(WATERMARK_KEY) == watermark


def test_plex_down_or_refusing_the_token_raises_in_full_mode(synced: Library) -> None:
    synced.plex.fail_next(1, 401)
    with pytest.raises(AuthError) as refused:
        run_reconcile(synced.services, full=True)
    assert FAKE_PLEX_TOKEN not in str(refused.value)
    synced.plex.stop()
    with pytest.raises(TransientError, match="Plex"):
        run_reconcile(synced.services, full=True)
    assert run_reconcile(synced.services)["errors"] == 0  # incremental needs no Plex


def test_lost_pending_tasks_are_re_enqueued(synced: Library) -> None:
    scene_id = next(iter(synced.pairs))
    synced.services.pending.record(scene_id, "Scene.Update.Post")
    conn = synced.services.pending.conn()
    conn.execute("delete from task")  # the worker died holding it
    conn.execute("update pending set updated_at = ?", (time.time() - 3600,))

    report = run_reconcile(synced.services)

    assert report["recovered"] == 1 and synced.queued_tasks() == 1


# ---------------------------------------------------------------- pure parts


def test_overlap_since_keeps_the_offset_style() -> None:
    def minus(text: str) -> str:
        return (datetime.fromisoformat(text) - OVERLAP).isoformat()

    assert timedelta(hours=1) < OVERLAP  # more than a DST shift
    assert overlap_since("2024-03-01T12:00:00+02:00") == minus("2024-03-01T12:00:00+02:00")
    assert overlap_since("2024-03-01T00:05:00Z") == minus("2024-03-01T00:05:00+00:00").replace(
        "+00:00", "Z"
    )
    assert overlap_since("2024-03-01T12:00:00.250+00:00") == minus("2024-03-01T12:00:00.250+00:00")
    assert minus("2024-03-01T12:00:00.250+00:00").endswith(":00.250000+00:00")
    assert overlap_since("not a time") is None
    assert newest_stamp(["2024-03-01T12:00:00+02:00", "2024-03-01T11:00:00Z", "junk"]) == (
        "2024-03-01T11:00:00Z"
    )


REAL_LISTING = b"""<?xml version="1.0" encoding="UTF-8"?>
<MediaContainer size="2" totalSize="2" offset="0">
 <Video ratingKey="11" title="Scene 1" summary="S" studio="Site A" year="2023"
        originallyAvailableAt="2023-01-02" userRating="8.0" updatedAt="5">
  <Media><Part file="/m/a.mp4"/></Media>
  <Genre tag="Alpha"/><Genre tag="Beta"/>
  <Role tag="P"/>
  <Collection tag="Site: Site A"/>
  <Field locked="1" name="title"/><Field locked="1" name="summary"/>
  <Field locked="1" name="studio"/><Field locked="1" name="originallyAvailableAt"/>
  <Field locked="1" name="year"/><Field locked="1" name="genre"/>
  <Field locked="1" name="actor"/><Field locked="1" name="collection"/>
 </Video>
 <Video ratingKey="12" title="Scene 1" summary="S" studio="Site A" year="2023"
        originallyAvailableAt="2023-01-02" userRating="8.0" updatedAt="6">
  <Media><Part file="/m/b.mp4"/></Media>
  <Genre tag="Alpha"/><Collection tag="Favourites"/>
  <Field locked="1" name="title"/>
 </Video>
</MediaContainer>"""

DESIRED = DesiredState(
    title="Scene 1", summary="S", studio="Site A", originally_available_at="2023-01-02",
    year=2023, genres=("Alpha", "Beta", "Gamma"), actors=("P",),
    collections=("Site: Site A",), user_rating=8.0, poster_url=None,
)  # fmt: skip


def test_listing_rows_compare_what_a_real_listing_shows() -> None:
    page = parse_rows(REAL_LISTING)
    full, partial = page.rows
    assert page.total_size == 2 and full.files == ("/m/a.mp4",)
    # Truncated genre list (Gamma not listed) is no drift; everything locked: none at all.
    assert listing_drift(DESIRED, full, page.carried) == []
    drift = listing_drift(DESIRED, partial, page.carried)
    assert "actor" in drift  # wanted, none listed
    assert "collection" not in drift  # "Favourites" is not ours; ours may be truncated away
    assert "lock:genre" in drift and "lock:title" not in drift
    # A listing without Field elements or tags cannot show locks or tags: no claim on them.
    no_locks = {c for c in page.carried if c not in ("Field", "actor", "genre")}
    assert listing_drift(DESIRED, partial, no_locks) == []
    changed = DesiredState(**{**DESIRED.__dict__, "summary": "T", "user_rating": None})
    assert listing_drift(changed, full, page.carried) == ["summary", "userRating"]


REAL_PLEX_ROW = b"""<?xml version="1.0" encoding="UTF-8"?>
<MediaContainer size="1" totalSize="1" offset="0">
 <Video ratingKey="11" title="Scene 1" summary="S" studio="Site A" year="2023"
        originallyAvailableAt="2023-01-02" userRating="8.0" updatedAt="5">
  <Media><Part file="/m/a.mp4"/></Media>
  <Genre tag="ALPHA"/><Genre tag="beta"/><Role tag="p"/>
  <Collection tag="site: site a"/><Collection tag="Favourites"/>
  <Field locked="1" name="title"/><Field locked="1" name="summary"/>
  <Field locked="1" name="studio"/><Field locked="1" name="originallyAvailableAt"/>
  <Field locked="1" name="genre"/><Field locked="1" name="collection"/>
 </Video>
</MediaContainer>"""


def test_listing_of_a_synced_item_as_real_plex_shows_it_is_no_drift() -> None:
    """No year/actor lock (Plex never reports them) and Plex's own tag spellings: no drift."""
    page = parse_rows(REAL_PLEX_ROW)
    (row,) = page.rows
    assert listing_drift(DESIRED, row, page.carried) == []
    unlocked = parse_rows(REAL_PLEX_ROW.replace(b'<Field locked="1" name="genre"/>', b""))
    assert listing_drift(DESIRED, unlocked.rows[0], unlocked.carried) == ["lock:genre"]
    other = DesiredState(**{**DESIRED.__dict__, "genres": ("Alpha",), "actors": ("Q",)})
    assert listing_drift(other, row, page.carried) == ["genre", "actor"]  # beta, p: not ours


def test_tags_spelled_otherwise_by_plex_converge_and_reconcile_finds_no_drift(
    lib: Library,
) -> None:
    lib.plex.add_item(lib.section, title="elsewhere", genres=["ALPHA", "beta"], actors=["p 1"])
    scene_id = lib.add(1, performers=["P 1"])
    lib.sync_all()
    item = lib.plex.item(lib.pairs[scene_id])
    assert sorted(item.genres) == ["ALPHA", "Gamma", "Tag 1", "beta"] and item.actors == ["p 1"]
    lib.plex.clear_log()
    assert sync.sync_scene(lib.services, scene_id) == "unchanged"
    report = run_reconcile(lib.services, full=True)
    assert report["enqueued"] == 0, report
    assert lib.pending() == {} and lib.plex.writes() == []
