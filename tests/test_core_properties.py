"""Properties of the pure core, against a model of Plex in both tag modes.

For any scene and any current Plex item: applying compute_edit yields the desired state (managed
fields equal and locked, user collections kept, empty-title scenes leave the title alone), and
a second compute_edit on the result is EMPTY (an unchanged resync writes nothing).

The model is real Plex's behaviour: tags matched case-insensitively with the library's
spelling winning (so tag lists are compared by key), and no ``year``/``actor`` lock reported.
"""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from plexsync.diff import compute_edit, ratings_equal
from plexsync.mapping import desired_state, is_managed_collection
from plexsync.model import (
    ACTOR,
    COLLECTION,
    DATE,
    GENRE,
    STUDIO,
    SUMMARY,
    THUMB,
    TITLE,
    YEAR,
    DesiredState,
    PlexEdit,
    PlexItemState,
    Scene,
)
from tests.plex_model import apply_edit, tag_key

# The locks real Plex reports (no year, no actor: see diff.py).
LOCKABLE = [TITLE, SUMMARY, STUDIO, DATE, GENRE, COLLECTION, THUMB]
LOCKED_WITHOUT_TITLE = {SUMMARY, STUDIO, DATE, GENRE, COLLECTION}
# Names chosen to collide: case variants, padding, separators and characters that need encoding.
TRICKY = [
    "Blonde", "blonde", "BLONDE", " Blonde ", "Sci-Fi", "sci-fi", "a,b", "R&B", "50%", "x=y",
    "Ünïcode", "ünïcode", "日本語", "", "  ", "Straße", "STRASSE", "+plus", "-minus",
]  # fmt: skip
names = st.one_of(st.sampled_from(TRICKY), st.text(max_size=10))
name_lists = st.lists(names, max_size=6)
plex_names = names.filter(bool)  # Plex holds no empty tag
dates = st.one_of(
    st.none(),
    st.dates().map(lambda d: d.isoformat()),
    st.sampled_from(["", "2019", "2019-07", "2021-02-30", "garbage"]),
)
ratings100 = st.one_of(st.none(), st.sampled_from([0, 1, 50, 85, 100]), st.integers(0, 100))
scenes = st.builds(
    Scene,
    id=st.integers(1, 10_000),
    title=st.one_of(st.sampled_from(["", "   ", "Same"]), st.text(max_size=15)),
    details=st.one_of(st.just(""), st.text(max_size=20)),
    date=dates,
    rating100=ratings100,
    studio=st.one_of(st.none(), names),
    parent_studio=st.one_of(st.none(), names),
    tags=name_lists.map(tuple),
    performers=name_lists.map(tuple),
    screenshot_url=st.one_of(st.none(), st.just("http://s/scene/1/screenshot?t=1")),
)
collections = st.one_of(
    names.map(lambda n: "Site: " + n), names.map(lambda n: "Studio: " + n), plex_names
)
current_states = st.builds(
    PlexItemState,
    rating_key=st.just("42"),
    section_id=st.just("1"),
    title=st.one_of(st.just("Same"), st.text(max_size=10)),
    summary=st.text(max_size=10),
    studio=names,
    originally_available_at=st.one_of(st.none(), st.dates().map(lambda d: d.isoformat())),
    year=st.one_of(st.none(), st.integers(1900, 2100)),
    # An item holds one tag per key (Plex matches tags case-insensitively).
    genres=st.lists(plex_names, unique_by=tag_key, max_size=6).map(tuple),
    actors=st.lists(plex_names, unique_by=tag_key, max_size=6).map(tuple),
    collections=st.lists(collections, unique_by=tag_key, max_size=6).map(tuple),
    user_rating=st.one_of(st.none(), st.floats(0, 10, allow_nan=False)),
    locked=st.frozensets(st.sampled_from(LOCKABLE)),
)
hashes = st.one_of(st.none(), st.sampled_from(["h1", "h2"]))
# Spellings other items of the library hold: Plex answers with these, whatever was sent.
libraries = st.lists(st.one_of(plex_names, collections), max_size=6)


def keys(names: object) -> set[str]:
    assert isinstance(names, tuple | list | set | frozenset)
    return {tag_key(name) for name in names}


def assert_is_desired(result: PlexItemState, current: PlexItemState, desired: DesiredState) -> None:
    if desired.title is None:
        assert result.title == current.title
        assert (TITLE in result.locked) == (TITLE in current.locked)
    else:
        assert result.title == desired.title and TITLE in result.locked
    assert result.summary == desired.summary
    assert result.studio == desired.studio
    assert result.originally_available_at == desired.originally_available_at
    assert result.year == desired.year
    assert keys(result.genres) == keys(desired.genres)
    assert keys(result.actors) == keys(desired.actors)
    wanted = keys(desired.collections)

    def ours(name: str) -> bool:
        return is_managed_collection(name) or tag_key(name) in wanted

    assert keys([c for c in result.collections if ours(c)]) == wanted
    user_now = keys([c for c in result.collections if not ours(c)])
    assert user_now == keys([c for c in current.collections if not ours(c)])
    assert ratings_equal(result.user_rating, desired.user_rating)
    assert result.locked >= LOCKED_WITHOUT_TITLE
    assert not {YEAR, ACTOR} & (result.locked - current.locked)  # Plex ignores those locks


def assert_well_formed(edit: PlexEdit, desired: DesiredState) -> None:
    if desired.title is None:
        assert not any(key.startswith("title.") for key in edit.params)
    for key in edit.params:
        if key.endswith(".value") or ".tag.tag" in key:
            field = key.split(".")[0].split("[")[0]
            assert edit.params[f"{field}.locked"] == 1, key


@settings(max_examples=200, deadline=None)
@given(
    scene=scenes,
    ignore=st.lists(names, max_size=3),
    current=current_states,
    poster_hash=hashes,
    last_hash=hashes,
    removals_first=st.booleans(),
    library=libraries,
)
def test_one_edit_reaches_desired_state_and_resync_is_empty(
    scene: Scene,
    ignore: list[str],
    current: PlexItemState,
    poster_hash: str | None,
    last_hash: str | None,
    removals_first: bool,
    library: list[str],
) -> None:
    desired = desired_state(scene, ignore)
    edit = compute_edit(desired, current, poster_hash, last_hash)
    assert_well_formed(edit, desired)
    uploaded_hash = poster_hash if edit.upload_poster else last_hash
    for mode in ("append", "replace"):
        result = apply_edit(current, edit, mode, removals_first, library)
        assert_is_desired(result, current, desired)
        if edit.upload_poster:
            assert THUMB in result.locked
        again = compute_edit(desired, result, poster_hash, uploaded_hash)
        assert again.empty, (mode, again.params, again.changes)
        assert again.changes == []


@settings(max_examples=100, deadline=None)
@given(scene=scenes, ignore=st.lists(names, max_size=3))
def test_mapping_is_deterministic_and_clean(scene: Scene, ignore: list[str]) -> None:
    desired = desired_state(scene, ignore)
    shuffled = dataclasses.replace(scene, tags=scene.tags[::-1], performers=scene.performers[::-1])
    reordered = desired_state(shuffled, ignore)
    ignored = {tag_key(name.strip()) for name in ignore}
    for tags in (desired.genres, desired.actors):
        assert len(keys(tags)) == len(tags)
        assert all(tag and tag == tag.strip() for tag in tags)
    assert not ignored & keys(desired.genres)
    # Reordering Stash's lists may pick another spelling of a case-duplicate, never another set.
    assert [tag_key(t) for t in reordered.genres] == [tag_key(t) for t in desired.genres]
    assert [tag_key(t) for t in reordered.actors] == [tag_key(t) for t in desired.actors]
    assert desired_state(scene, ignore) == desired


def recase(names: tuple[str, ...], cases: list[int]) -> tuple[str, ...]:
    """Each name as is, upper- or lower-cased (cases[i] % 3): same keys, other spellings."""
    styles = (str, str.upper, str.lower)
    out = []
    for i, name in enumerate(names):
        other = styles[cases[i % len(cases)] % 3](name) if cases else name
        out.append(other if tag_key(other) == tag_key(name) else name)  # "ß".upper() == "SS"
    return tuple(out)


@settings(max_examples=100, deadline=None)
@given(
    current=current_states,
    poster_hash=hashes,
    last_hash=hashes,
    cases=st.lists(st.integers(0, 2), max_size=6),
)
def test_edit_is_empty_exactly_when_nothing_differs(
    current: PlexItemState, poster_hash: str | None, last_hash: str | None, cases: list[int]
) -> None:
    """A desired state copied from the item, tag names in another case: only missing REPORTED
    locks and the poster may differ (never a lock-only year/actor write, no case-only edit)."""
    desired = DesiredState(
        title=current.title,
        summary=current.summary,
        studio=current.studio,
        originally_available_at=current.originally_available_at,
        year=current.year,
        genres=recase(current.genres, cases),
        actors=recase(current.actors, cases[::-1]),
        collections=recase(
            tuple(c for c in current.collections if is_managed_collection(c)), cases
        ),
        user_rating=current.user_rating,
        poster_url=None,
    )
    edit = compute_edit(desired, current, poster_hash, last_hash)
    missing_locks = {TITLE, *LOCKED_WITHOUT_TITLE} - current.locked
    expected = {f"{name}.locked": 1 for name in missing_locks}
    new_poster = poster_hash is not None and (
        poster_hash != last_hash or THUMB not in current.locked
    )
    if new_poster:
        expected[f"{THUMB}.locked"] = 1
    assert edit.params == expected
    assert not edit.set_rating
    assert edit.upload_poster is new_poster
    assert edit.empty is (not missing_locks and not new_poster)
