"""mapping.desired_state: one test per rule of the INTERFACE table."""

from __future__ import annotations

import pytest

from plexsync.mapping import (
    clean_names,
    desired_state,
    is_managed_collection,
    parse_date,
    poster_url,
    tag_key,
)
from plexsync.model import Scene

SCREENSHOT = "http://stash:9999/scene/7/screenshot?t=1700000000"


def scene(**fields: object) -> Scene:
    return Scene(id=7, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("title", ["", "   ", "\t\n"])
def test_empty_title_leaves_plex_title_alone(title: str) -> None:
    assert desired_state(scene(title=title)).title is None


def test_title_is_kept_exactly() -> None:
    assert desired_state(scene(title=" Ünïcode: Title ")).title == " Ünïcode: Title "


def test_details_become_summary_and_empty_details_clear_it() -> None:
    assert desired_state(scene(details="Line 1\nLine 2")).summary == "Line 1\nLine 2"
    assert desired_state(scene(details="")).summary == ""


def test_studio_name_and_no_studio_clears() -> None:
    assert desired_state(scene(studio="Acme")).studio == "Acme"
    assert desired_state(scene()).studio == ""
    assert desired_state(scene(studio="  ")).studio == ""


def test_full_date_sets_date_and_year() -> None:
    desired = desired_state(scene(date="2021-03-04"))
    assert (desired.originally_available_at, desired.year) == ("2021-03-04", 2021)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, (None, None)),
        ("", (None, None)),
        ("2019", (None, 2019)),
        ("2019-07", (None, 2019)),
        ("2019-13", (None, None)),
        ("2021-02-30", (None, None)),
        ("not a date", (None, None)),
        ("20210304", (None, None)),
        ("0000", (None, None)),
    ],
)
def test_partial_and_invalid_dates(value: str | None, expected: tuple[object, object]) -> None:
    assert parse_date(value) == expected


def test_genres_minus_ignored_tags_case_insensitively_sorted_and_deduplicated() -> None:
    desired = desired_state(
        scene(tags=("zeta", "Blonde", "blonde", "BLONDE", " Alpha ", "Hidden", "", "  ")),
        ignore_tags=["hidden ", "NOPE"],
    )
    assert desired.genres == ("Alpha", "Blonde", "zeta")


def test_first_spelling_wins_and_sort_is_deterministic() -> None:
    assert clean_names(["b", "B", "a"]) == ("a", "b")
    assert clean_names(["B", "b", "a"]) == ("a", "B")
    assert clean_names(["Ab", "aB"]) == clean_names(["Ab", "aB"]) == ("Ab",)


def test_tag_key_is_nfc_lower_case_not_casefold() -> None:
    assert tag_key("BLONDE") == tag_key("Blonde") == "blonde"
    assert tag_key("Ame\u0301lie") == tag_key("AM\u00c9LIE")  # NFD and NFC, any case
    assert tag_key("Straße") != tag_key("Strasse")  # casefold would merge them
    assert clean_names(["Straße", "STRASSE", "strasse"]) == ("STRASSE", "Straße")
    assert clean_names(["Ame\u0301lie", "am\u00e9lie"]) == ("Ame\u0301lie",)
    assert clean_names(["Straße", "x"], ignore=["STRASSE"]) == ("Straße", "x")


def test_actors_are_performer_names_deduplicated() -> None:
    desired = desired_state(scene(performers=("Jane Doe", "jane doe", "Ann", "")))
    assert desired.actors == ("Ann", "Jane Doe")


def test_ignore_tags_do_not_affect_actors() -> None:
    desired = desired_state(scene(performers=("Ann",), tags=("Ann",)), ignore_tags=["Ann"])
    assert desired.actors == ("Ann",) and desired.genres == ()


def test_site_collection_and_parent_studio_collection() -> None:
    assert desired_state(scene(studio="Acme")).collections == ("Site: Acme",)
    desired = desired_state(scene(studio="Acme Red", parent_studio="Acme"))
    assert desired.collections == ("Site: Acme Red", "Studio: Acme")
    assert desired_state(scene()).collections == ()


def test_parent_without_studio_is_ignored_gracefully() -> None:
    assert desired_state(scene(parent_studio="Acme")).collections == ("Studio: Acme",)


def test_managed_collection_prefixes_are_exact() -> None:
    assert is_managed_collection("Site: Acme")
    assert is_managed_collection("Studio: Acme")
    assert not is_managed_collection("site: Acme")
    assert not is_managed_collection("Favourites")
    assert not is_managed_collection("Sites: Acme")


@pytest.mark.parametrize(
    ("rating100", "expected"), [(None, None), (0, 0.0), (85, 8.5), (100, 10.0), (1, 0.1)]
)
def test_rating_is_rating100_over_ten(rating100: int | None, expected: float | None) -> None:
    rating = desired_state(scene(rating100=rating100)).user_rating
    assert rating == expected
    assert rating is None or isinstance(rating, float)


def test_poster_is_the_screenshot() -> None:
    assert desired_state(scene(screenshot_url=SCREENSHOT)).poster_url == SCREENSHOT


@pytest.mark.parametrize(
    "url",
    [
        None,
        "",
        "http://stash:9999/scene/7/preview",
        "http://stash:9999/scene/7/preview?t=1",
        "http://stash:9999/scene/7/webp",
        "http://stash:9999/scene/7/stream.mp4?resolution=ORIGINAL",
        "http://stash:9999/generated/7.MP4",
        "http://stash:9999/scene/7/stream",
    ],
)
def test_never_a_preview_video_as_poster(url: str | None) -> None:
    assert poster_url(url) is None
    assert desired_state(scene(screenshot_url=url)).poster_url is None


def test_same_scene_same_fingerprint_and_changes_change_it() -> None:
    base = scene(title="T", tags=("b", "a"), studio="S")
    same = scene(title="T", tags=("a", "b"), studio="S")
    assert desired_state(base).fingerprint() == desired_state(same).fingerprint()
    assert desired_state(base).fingerprint() != desired_state(scene(title="U")).fingerprint()
