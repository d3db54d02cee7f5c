"""Full reconciliation (``--full``: Stash against Plex's listing) over real HTTP, real SQLite.

Every scenario starts from a library synced by the real sync path (``sync.sync_scene``), then
changes something behind plexsync's back (no hook), and checks what reconcile finds.
"""

from __future__ import annotations

import pytest

from plexsync import sync
from plexsync.model import DesiredState
from plexsync.plex_listing import listing_drift, parse_rows
from plexsync.reconcile import WATERMARK_KEY, run_reconcile
from tests.reconcile_helpers import MOVIES, Library

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


# ---------------------------------------------------------------- pure parts: Plex listings


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
