"""plexsync.scene_schema: raw Stash scenes (recorded-style fixtures) into model.Scene."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plexsync.errors import PermanentError, ValidationFailed
from plexsync.model import Scene
from plexsync.scene_schema import clean_text, load_scene

FIXTURES = Path(__file__).parent / "fixtures" / "stash"


def recorded(name: str) -> dict[str, Any]:
    payload = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    scene: dict[str, Any] = payload["data"]["findScene"]
    return scene


def test_full_scene_maps_every_field() -> None:
    scene = load_scene(recorded("full_scene.json"))
    assert scene == Scene(
        id=101,
        title="Harbour Lights",
        details="Evening shoot at the harbour.",
        date="2025-06-14",
        rating100=80,
        studio="Seaside Films",
        parent_studio="Coastal Media",
        tags=("Outdoor", "Sunset"),
        performers=("Alex Doe", "Sam Roe"),
        files=("/media/stash/Seaside/harbour-lights.mp4",),
        screenshot_url="http://0.0.0.0:9999/scene/101/screenshot?t=1795600800",
        updated_at="2026-11-25T10:00:00+00:00",
    )


def test_minimal_scene_nulls_become_empty_values() -> None:
    scene = load_scene(recorded("minimal_scene.json"))
    assert scene == Scene(id=7, updated_at="2026-11-25T09:00:00+00:00")
    assert scene.title == "" and scene.details == ""
    assert scene.files == ()  # a scene without files is valid here; matching rejects it later


def test_absent_optional_keys_are_defaults() -> None:
    assert load_scene({"id": 5}) == Scene(id=5)


def test_multi_file_scene_keeps_every_file_once_in_order() -> None:
    scene = load_scene(recorded("multi_file_scene.json"))
    assert scene.files == ("/media/stash/a/part1.mp4", "/media/stash/b/Part1 (copy).mkv")
    assert scene.parent_studio is None
    assert scene.tags == ("Outdoor", "Beach")  # " Outdoor " trimmed, then de-duplicated


def test_unicode_kept_and_only_control_characters_removed() -> None:
    scene = load_scene(recorded("unicode_scene.json"))
    assert scene.title == "“Café” — naïve ✨ 🎬  double  space "
    assert scene.details == (
        "Line one\nLine two\n\n\tIndented “quote” ‘single’ bell nul nel csi\u200b zwé"
    )
    assert scene.studio == "Studio Étoile"
    assert scene.parent_studio == "日本スタジオ"
    assert scene.tags == ("Ünïcödé", "🔥 hot")
    assert scene.performers == ("José Ñúñez", "Zoë")


@pytest.mark.parametrize(
    ("fixture", "message"),
    [
        ("bad_rating.json", "scene 404: rating100: must be between 0 and 100, got 150"),
        (
            "bad_date.json",
            "scene 505: date: must be YYYY-MM-DD (or YYYY-MM, YYYY), got '2025-02-30'",
        ),
        ("missing_id.json", "scene ?: id: missing"),
    ],
)
def test_bad_recorded_payloads_fail_with_one_line_naming_the_field(
    fixture: str, message: str
) -> None:
    with pytest.raises(ValidationFailed) as info:
        load_scene(recorded(fixture))
    assert str(info.value) == message
    assert isinstance(info.value, PermanentError)


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"id": "0"}, "scene 0: id: must be a positive whole number, got '0'"),
        ({"id": "-3"}, "scene -3: id: must be a positive whole number, got '-3'"),
        ({"id": True}, "scene ?: id: must be a positive whole number, got True"),
        ({"rating100": -1}, "scene 9: rating100: must be between 0 and 100, got -1"),
        (
            {"rating100": "80"},
            "scene 9: rating100: must be a whole number between 0 and 100, got '80'",
        ),
        (
            {"date": "14/06/2025"},
            "scene 9: date: must be YYYY-MM-DD (or YYYY-MM, YYYY), got '14/06/2025'",
        ),
        ({"title": 12}, "scene 9: title: must be a string, got 12"),
        ({"studio": "Seaside"}, "scene 9: studio: wrong type"),
        ({"studio": {"parent_studio": None}}, "scene 9: studio.name: missing"),
        ({"tags": [{"name": "ok"}, {"name": None}]}, "scene 9: tags[1].name: must not be null"),
        ({"performers": [{"id": "1"}]}, "scene 9: performers[0].name: missing"),
        (
            {"files": [{"path": ""}]},
            "scene 9: files[0].path: must be a non-empty path string, got ''",
        ),
        ({"paths": {"screenshot": 5}}, "scene 9: paths.screenshot: must be a URL string, got 5"),
    ],
)
def test_invalid_fields_are_named(patch: dict[str, Any], message: str) -> None:
    raw = {"id": "9", **patch}
    with pytest.raises(ValidationFailed) as info:
        load_scene(raw)
    assert str(info.value) == message
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("value", ["2024", "2024-02", "2024-02-29", "", None])
def test_dates_full_partial_or_empty(value: str | None) -> None:
    expected = value or None
    assert load_scene({"id": 1, "date": value}).date == expected


@pytest.mark.parametrize(
    "value", ["2023-02-29", "2024-00", "24-01-01", "2024-1-1", "2024-01-01T00:00"]
)
def test_impossible_or_malformed_dates_rejected(value: str) -> None:
    with pytest.raises(ValidationFailed, match=r"^scene 1: date: "):
        load_scene({"id": 1, "date": value})


@pytest.mark.parametrize("value", [0, 100, None])
def test_rating_bounds_inclusive(value: int | None) -> None:
    assert load_scene({"id": 1, "rating100": value}).rating100 == value


def test_not_an_object() -> None:
    with pytest.raises(ValidationFailed, match=r"^scene \?: expected an object, got list$"):
        load_scene([])


def test_multiline_or_huge_bad_value_still_gives_one_short_line() -> None:
    with pytest.raises(ValidationFailed) as info:
        load_scene({"id": "7", "date": "2024\n-01"})
    assert "\n" not in str(info.value)
    with pytest.raises(ValidationFailed) as info:
        load_scene({"id": "7", "title": ["x" * 5000]})
    assert str(info.value).startswith("scene 7: title: must be a string, got ['xxx")
    assert len(str(info.value)) <= 300


@given(st.text())
def test_clean_text_removes_only_control_characters(text: str) -> None:
    cleaned = clean_text(text)
    assert "\r" not in cleaned
    for char in cleaned:
        code = ord(char)
        assert char in "\n\t" or not (code < 0x20 or 0x7F <= code <= 0x9F)
    kept = [c for c in text.replace("\r\n", "\n").replace("\r", "\n")]
    expected = "".join(
        c for c in kept if c in "\n\t" or not (ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F)
    )
    assert cleaned == expected
