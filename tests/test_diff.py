"""diff.compute_edit / describe_edit: example-based, one test per rule."""

from __future__ import annotations

import dataclasses
from urllib.parse import unquote

import pytest

from plexsync.diff import compute_edit, describe_edit, encode_removals
from plexsync.mapping import desired_state
from plexsync.model import DesiredState, PlexItemState, Scene
from tests.plex_model import apply_edit

# Every lock real Plex reports for a synced item: it never reports a year or actor lock.
ALL_LOCKS = frozenset(
    {"title", "summary", "studio", "originallyAvailableAt", "genre", "collection"}
)
SCENE = Scene(
    id=1,
    title="A Title",
    details="Some details",
    date="2022-05-06",
    rating100=70,
    studio="Acme Red",
    parent_studio="Acme",
    tags=("Brunette", "Outdoor"),
    performers=("Jane Doe",),
    screenshot_url="http://stash/scene/1/screenshot?t=5",
)
DESIRED = desired_state(SCENE)


def synced(desired: DesiredState = DESIRED, **overrides: object) -> PlexItemState:
    """A Plex item that already looks exactly like ``desired``, every field locked."""
    state = PlexItemState(
        rating_key="42",
        section_id="1",
        title=desired.title or "file name",
        summary=desired.summary,
        studio=desired.studio,
        originally_available_at=desired.originally_available_at,
        year=desired.year,
        genres=tuple(reversed(desired.genres)),  # Plex's order is not ours
        actors=desired.actors,
        collections=("My Favourites", *desired.collections),
        user_rating=desired.user_rating,
        locked=ALL_LOCKS | {"thumb"},
    )
    return dataclasses.replace(state, **overrides)  # type: ignore[arg-type]


def test_unchanged_resync_is_an_empty_edit() -> None:
    edit = compute_edit(DESIRED, synced(), "hash-1", "hash-1")
    assert edit.empty
    assert edit.params == {} and not edit.set_rating and not edit.upload_poster
    assert edit.changes == [] and describe_edit(edit) == []


def test_changed_title_is_sent_and_locked() -> None:
    edit = compute_edit(DESIRED, synced(title="Old"), None, None)
    assert edit.params == {"title.value": "A Title", "title.locked": 1}
    assert describe_edit(edit) == ["title: 'Old' → 'A Title'"]
    assert (edit.rating_key, edit.section_id) == ("42", "1")


def test_empty_stash_title_leaves_plex_title_and_lock_alone() -> None:
    desired = desired_state(dataclasses.replace(SCENE, title="  "))
    edit = compute_edit(
        desired, synced(desired, title="file.mp4", locked=ALL_LOCKS - {"title"}), None, None
    )
    assert edit.empty
    assert not any(key.startswith("title.") for key in edit.params)


def test_cleared_summary_is_sent_as_empty_value() -> None:
    desired = desired_state(dataclasses.replace(SCENE, details=""))
    edit = compute_edit(desired, synced(summary="Old details"), None, None)
    assert edit.params == {"summary.value": "", "summary.locked": 1}


def test_cleared_date_clears_date_and_year() -> None:
    desired = desired_state(dataclasses.replace(SCENE, date=None))
    edit = compute_edit(desired, synced(), None, None)
    assert edit.params == {
        "originallyAvailableAt.value": "",
        "originallyAvailableAt.locked": 1,
        "year.value": "",
        "year.locked": 1,
    }


def test_new_date_sends_date_and_year() -> None:
    edit = compute_edit(
        DESIRED, synced(originally_available_at="2000-01-01", year=2000), None, None
    )
    assert edit.params["originallyAvailableAt.value"] == "2022-05-06"
    assert edit.params["year.value"] == "2022"
    assert "year: 2000 → 2022" in describe_edit(edit)


def test_year_and_actor_locks_are_never_written_alone() -> None:
    # Plex reports no year/actor lock: a lock-only write for them would repeat on every sync.
    assert "year" not in ALL_LOCKS and "actor" not in ALL_LOCKS
    assert compute_edit(DESIRED, synced(), None, None).empty
    # With a value change they are still locked in the same PUT.
    edit = compute_edit(DESIRED, synced(year=1999, actors=("Someone",)), None, None)
    assert edit.params["year.value"] == "2022" and edit.params["year.locked"] == 1
    assert edit.params["actor[0].tag.tag"] == "Jane Doe" and edit.params["actor.locked"] == 1
    assert not any(change.field == "lock" for change in edit.changes)


def test_matching_but_unlocked_field_gets_a_lock_only_edit() -> None:
    edit = compute_edit(DESIRED, synced(locked=ALL_LOCKS - {"summary", "genre"}), None, None)
    assert edit.params == {"summary.locked": 1, "genre.locked": 1}
    assert describe_edit(edit) == ["lock: summary", "lock: genre"]


def test_genre_change_sends_full_list_and_encoded_removals() -> None:
    current = synced(genres=("Outdoor", "Blonde", "Rock, Paper & Scissors", "Ünï"))
    edit = compute_edit(DESIRED, current, None, None)
    assert edit.params == {
        "genre[0].tag.tag": "Brunette",
        "genre[1].tag.tag": "Outdoor",
        "genre[].tag.tag-": "Blonde,Rock%2C%20Paper%20%26%20Scissors,%C3%9Cn%C3%AF",
        "genre.locked": 1,
    }
    removals = str(edit.params["genre[].tag.tag-"]).split(",")
    assert [unquote(name) for name in removals] == ["Blonde", "Rock, Paper & Scissors", "Ünï"]
    assert describe_edit(edit) == ["genres: +Brunette -Blonde -'Rock, Paper & Scissors' -Ünï"]


def test_removal_encoding_escapes_every_reserved_character() -> None:
    assert encode_removals(["a/b", "50%", "x=y&z", "c,d"]) == "a%2Fb,50%25,x%3Dy%26z,c%2Cd"


def test_all_genres_removed_sends_only_removals() -> None:
    desired = desired_state(dataclasses.replace(SCENE, tags=()))
    edit = compute_edit(desired, synced(), None, None)
    assert edit.params == {"genre[].tag.tag-": "Brunette,Outdoor", "genre.locked": 1}


def test_case_only_difference_is_converged_and_sends_nothing() -> None:
    # Plex matches tags case-insensitively and may answer with its own spelling: converged.
    desired = desired_state(
        dataclasses.replace(SCENE, tags=("brunette", "OUTDOOR"), performers=("JANE DOE",))
    )
    assert compute_edit(desired, synced(), None, None).empty
    spelled = synced(collections=("site: acme red", "STUDIO: ACME", "My Favourites"))
    assert compute_edit(DESIRED, spelled, None, None).empty


def test_real_change_next_to_a_case_difference_removes_only_the_unwanted_tag() -> None:
    desired = desired_state(dataclasses.replace(SCENE, tags=("brunette", "Indoor")))
    edit = compute_edit(desired, synced(), None, None)
    assert edit.params["genre[].tag.tag-"] == "Outdoor"  # never "Brunette" (same key as sent)
    assert describe_edit(edit) == ["genres: +Indoor -Outdoor"]
    for mode in ("append", "replace"):
        for first in (False, True):
            after = apply_edit(synced(), edit, mode, removals_first=first)
            assert sorted(after.genres) == ["Brunette", "Indoor"]  # Plex keeps its spelling
            assert compute_edit(desired, after, None, None).empty


def test_user_collection_is_kept_in_plex_spelling_and_only_ours_removed() -> None:
    desired = desired_state(dataclasses.replace(SCENE, parent_studio=None))
    current = synced(collections=("Studio: Acme", "my favourites", "Site: Old"))
    edit = compute_edit(desired, current, None, None)
    sent = [v for k, v in edit.params.items() if k.startswith("collection[") and "-" not in k]
    assert sent == ["Site: Acme Red", "my favourites"]
    assert unquote(str(edit.params["collection[].tag.tag-"])).split(",") == [
        "Site: Old",
        "Studio: Acme",
    ]


def test_actor_change_uses_actor_field() -> None:
    edit = compute_edit(DESIRED, synced(actors=("John Roe",)), None, None)
    assert edit.params == {
        "actor[0].tag.tag": "Jane Doe",
        "actor[].tag.tag-": "John%20Roe",
        "actor.locked": 1,
    }


def test_collections_keep_user_collections_and_remove_only_managed() -> None:
    current = synced(collections=("Site: Old Site", "My Favourites", "Studio: Acme", "Watched"))
    edit = compute_edit(DESIRED, current, None, None)
    assert edit.params == {
        "collection[0].tag.tag": "Site: Acme Red",
        "collection[1].tag.tag": "Studio: Acme",
        "collection[2].tag.tag": "My Favourites",
        "collection[3].tag.tag": "Watched",
        "collection[].tag.tag-": "Site%3A%20Old%20Site",
        "collection.locked": 1,
    }
    for mode in ("append", "replace"):
        after = apply_edit(current, edit, mode)
        assert set(after.collections) == {
            "Site: Acme Red",
            "Studio: Acme",
            "My Favourites",
            "Watched",
        }


def test_studio_without_parent_removes_old_studio_collection() -> None:
    desired = desired_state(dataclasses.replace(SCENE, parent_studio=None))
    edit = compute_edit(desired, synced(), None, None)
    assert edit.params["collection[].tag.tag-"] == "Studio%3A%20Acme"
    assert edit.params["collection[0].tag.tag"] == "Site: Acme Red"
    assert edit.params["collection[1].tag.tag"] == "My Favourites"


def test_unmanaged_collections_alone_cause_no_edit() -> None:
    assert compute_edit(DESIRED, synced(collections=("X", *DESIRED.collections)), None, None).empty


def test_rating_change_and_unset() -> None:
    edit = compute_edit(DESIRED, synced(user_rating=8.5), None, None)
    assert (edit.set_rating, edit.rating, edit.params) == (True, 7.0, {})
    assert describe_edit(edit) == ["rating: 8.5 → 7.0"]
    unset = desired_state(dataclasses.replace(SCENE, rating100=None))
    edit = compute_edit(unset, synced(), None, None)
    assert (edit.set_rating, edit.rating) == (True, None)
    assert describe_edit(edit) == ["rating: 7.0 → unset"]


@pytest.mark.parametrize(
    ("plex", "differs"), [(7.0, False), (7.04, False), (6.96, False), (7.1, True), (None, True)]
)
def test_rating_tolerance(plex: float | None, differs: bool) -> None:
    assert compute_edit(DESIRED, synced(user_rating=plex), None, None).set_rating is differs


def test_rating_zero_is_not_unset() -> None:
    desired = desired_state(dataclasses.replace(SCENE, rating100=0))
    assert compute_edit(desired, synced(user_rating=None), None, None).set_rating
    assert not compute_edit(desired, synced(user_rating=0.0), None, None).set_rating


def test_new_poster_hash_uploads_and_locks_thumb() -> None:
    edit = compute_edit(DESIRED, synced(), "new-hash", "old-hash")
    assert edit.upload_poster and edit.params == {"thumb.locked": 1}
    assert describe_edit(edit) == ["poster: new image"]
    assert compute_edit(DESIRED, synced(), "first-hash", None).upload_poster


def test_same_poster_hash_never_uploads_even_when_url_changed() -> None:
    moved = dataclasses.replace(DESIRED, poster_url="http://stash/scene/1/screenshot?t=999")
    edit = compute_edit(moved, synced(), "same", "same")
    assert not edit.upload_poster and edit.empty


def test_lost_poster_lock_reuploads_same_image() -> None:
    unlocked = dataclasses.replace(synced(), locked=synced().locked - {"thumb"})
    edit = compute_edit(DESIRED, unlocked, "same-hash", "same-hash")
    assert edit.upload_poster and edit.params == {"thumb.locked": 1}


def test_no_poster_hash_never_uploads() -> None:
    assert not compute_edit(DESIRED, synced(), None, "old").upload_poster


def test_everything_differs_is_one_edit() -> None:
    current = PlexItemState(rating_key="42", section_id="1", title="x.mp4")
    edit = compute_edit(DESIRED, current, "h", None)
    fields = {key.split(".")[0].split("[")[0] for key in edit.params}
    assert fields == {
        "title",
        "summary",
        "studio",
        "originallyAvailableAt",
        "year",
        "genre",
        "actor",
        "collection",
        "thumb",
    }
    assert all(edit.params[f"{name}.locked"] == 1 for name in fields)
    assert edit.set_rating and edit.upload_poster
    lines = describe_edit(edit)
    assert len(lines) == len(edit.changes) == 10
    assert "genres: +Brunette +Outdoor" in lines and "actors: +'Jane Doe'" in lines
    after = apply_edit(current, edit, "append")
    assert compute_edit(DESIRED, after, "h", "h").empty
