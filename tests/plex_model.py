"""A pure model of how Plex applies one edit to an item (for the property tests only).

Strict on purpose: a parameter Plex would not understand raises, so a typo in diff.py fails the
tests instead of silently doing nothing. ``tag_mode`` models the two behaviours plexsync must
not rely on: a sent tag list either replaces the item's list or is appended to it.
``removals_first`` models Plex applying ``tag-`` removals before or after the sent list.

Like real Plex: tags are library-wide objects matched case-insensitively (NFC + lower case,
defined here independently of plexsync): a sent tag whose key the library already knows takes
the library's spelling (``library``: spellings held by other items; then the item's own
tags), and a removal drops every tag with its key. ``year.locked`` / ``actor.locked`` are
valid parameters that Plex ignores: those locks are never reported.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Iterable
from typing import Literal
from urllib.parse import unquote

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
    PlexEdit,
    PlexItemState,
)

TagMode = Literal["append", "replace"]
SCALAR_FIELDS = {
    TITLE: "title",
    SUMMARY: "summary",
    STUDIO: "studio",
    DATE: "originally_available_at",
}
TAG_FIELDS = {GENRE: "genres", ACTOR: "actors", COLLECTION: "collections"}
LOCKABLE = {*SCALAR_FIELDS, YEAR, *TAG_FIELDS, THUMB}
UNREPORTED_LOCKS = {YEAR, ACTOR}

_VALUE = re.compile(r"^(\w+)\.value$")
_LOCKED = re.compile(r"^(\w+)\.locked$")
_TAG_ITEM = re.compile(r"^(\w+)\[(\d+)\]\.tag\.tag$")
_TAG_REMOVE = re.compile(r"^(\w+)\[\]\.tag\.tag-$")


def tag_key(name: str) -> str:
    return unicodedata.normalize("NFC", name).lower()


def apply_edit(
    state: PlexItemState,
    edit: PlexEdit,
    tag_mode: TagMode,
    removals_first: bool = False,
    library: Iterable[str] = (),
) -> PlexItemState:
    """The item as Plex would hold it after the edit PUT, the /:/rate call and the upload.

    ``library``: tag spellings other items of the library hold (for every tag kind)."""
    values: dict[str, object] = {}
    locks = set(state.locked)
    sent: dict[str, dict[int, str]] = {}
    removed: dict[str, list[str]] = {}
    for key, raw in edit.params.items():
        if match := _VALUE.match(key):
            values[_scalar_field(match.group(1))] = _parse_value(match.group(1), str(raw))
        elif match := _LOCKED.match(key):
            _apply_lock(locks, match.group(1), raw)
        elif match := _TAG_ITEM.match(key):
            sent.setdefault(_tag_field(match.group(1)), {})[int(match.group(2))] = str(raw)
        elif match := _TAG_REMOVE.match(key):
            removed[_tag_field(match.group(1))] = _parse_removals(str(raw))
        else:
            raise ValueError(f"Plex does not understand edit parameter {key!r}")
    for name in set(sent) | set(removed):
        existing = list(getattr(state, name))
        spellings: dict[str, str] = {}
        for known in [*library, *existing]:
            spellings.setdefault(tag_key(known), known)
        values[name] = _apply_tags(
            existing,
            _ordered(sent.get(name)),
            removed.get(name, []),
            tag_mode,
            removals_first,
            spellings,
        )
    if edit.set_rating:
        values["user_rating"] = edit.rating
    if edit.upload_poster and not edit.rating_key:
        raise ValueError("poster upload without a rating key")
    return dataclasses.replace(state, locked=frozenset(locks), **values)  # type: ignore[arg-type]


def _scalar_field(name: str) -> str:
    if name == YEAR:
        return "year"
    if name not in SCALAR_FIELDS:
        raise ValueError(f"unknown field {name!r}")
    return SCALAR_FIELDS[name]


def _tag_field(name: str) -> str:
    if name not in TAG_FIELDS:
        raise ValueError(f"unknown tag field {name!r}")
    return TAG_FIELDS[name]


def _parse_value(name: str, raw: str) -> object:
    if name == YEAR:
        return int(raw) if raw else None
    if name == DATE:
        if raw and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
            raise ValueError(f"bad date {raw!r}")
        return raw or None
    return raw


def _apply_lock(locks: set[str], name: str, raw: object) -> None:
    if name not in LOCKABLE:
        raise ValueError(f"unknown lockable field {name!r}")
    if raw not in (0, 1, "0", "1"):
        raise ValueError(f"bad lock value {raw!r}")
    if name in UNREPORTED_LOCKS:
        return
    if str(raw) == "1":
        locks.add(name)
    else:
        locks.discard(name)


def _parse_removals(raw: str) -> list[str]:
    if not raw:
        raise ValueError("empty removal list")
    return [unquote(part) for part in raw.split(",")]


def _ordered(items: dict[int, str] | None) -> list[str] | None:
    if items is None:
        return None
    if sorted(items) != list(range(len(items))):
        raise ValueError(f"tag indexes are not 0..n-1: {sorted(items)}")
    return [items[index] for index in range(len(items))]


def _apply_tags(
    existing: list[str],
    sent: list[str] | None,
    removals: list[str],
    tag_mode: TagMode,
    removals_first: bool,
    spellings: dict[str, str],
) -> tuple[str, ...]:
    gone = {tag_key(tag) for tag in removals}
    tags = _unique(existing)
    if removals_first:
        tags = [tag for tag in tags if tag_key(tag) not in gone]
    if sent is not None:
        base = [] if tag_mode == "replace" else tags
        tags = _unique([*base, *(spellings.get(tag_key(tag), tag) for tag in sent)])
    if not removals_first:
        tags = [tag for tag in tags if tag_key(tag) not in gone]
    return tuple(tags)


def _unique(tags: Iterable[str]) -> list[str]:
    """One tag per key (the first spelling), as an item holds them."""
    out: dict[str, str] = {}
    for tag in tags:
        out.setdefault(tag_key(tag), tag)
    return list(out.values())
