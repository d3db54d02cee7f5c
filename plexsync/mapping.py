"""Stash scene -> the Plex state it must produce (the INTERFACE table). Pure: no I/O.

Rules worth knowing (all decided here, nowhere else):
- Title: an empty/whitespace Stash title means "leave Plex's title alone" (None).
- Names (tags, performers, studios) are stripped; empty names are dropped; duplicates are
  removed by ``tag_key`` keeping the first spelling Stash gives; the result is sorted by
  (tag_key, name) so the same scene always maps to the same tuple.
- ``tag_key`` (NFC + ``str.lower``) is THE identity of a tag name everywhere (mapping, diff,
  reconcile): Plex's tags are library-wide objects matched case-insensitively, and Plex may
  answer with another capitalisation than the one sent. ``lower`` rather than ``casefold``, so
  "Straße" and "Strasse" stay two tags.
- Dates: a full ``YYYY-MM-DD`` sets originallyAvailableAt and year; a partial Stash date
  (``YYYY`` or ``YYYY-MM``) sets the year only; anything else clears both.
- Poster: the screenshot URL, never a preview video (``/preview``, ``/webp``, ``/stream``,
  video file extensions).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable
from urllib.parse import urlsplit

from plexsync.model import (
    MANAGED_COLLECTION_PREFIXES,
    SITE_PREFIX,
    STUDIO_PREFIX,
    DesiredState,
    Scene,
)

_PARTIAL_DATE = re.compile(r"^(\d{4})(?:-(\d{2}))?$")
_VIDEO_EXTENSIONS = (".mp4", ".m4v", ".webm", ".mkv", ".mov", ".avi", ".wmv", ".ts", ".m3u8")
_VIDEO_PATH_SEGMENTS = frozenset({"preview", "webp", "stream", "vtt"})


def desired_state(scene: Scene, ignore_tags: Iterable[str] = ()) -> DesiredState:
    """The Plex state that ``scene`` must produce; ``ignore_tags`` never become genres."""
    date, year = parse_date(scene.date)
    studio = _clean(scene.studio)
    return DesiredState(
        title=scene.title if scene.title and scene.title.strip() else None,
        summary=scene.details or "",
        studio=studio,
        originally_available_at=date,
        year=year,
        genres=clean_names(scene.tags, ignore=ignore_tags),
        actors=clean_names(scene.performers),
        collections=managed_collections(studio, _clean(scene.parent_studio)),
        user_rating=None if scene.rating100 is None else scene.rating100 / 10,
        poster_url=poster_url(scene.screenshot_url),
    )


def tag_key(name: str) -> str:
    """The identity of a tag name as Plex matches it: NFC, lower-cased (not casefolded)."""
    return unicodedata.normalize("NFC", name).lower()


def tag_sort_key(name: str) -> tuple[str, str]:
    """Deterministic order of tag names: by ``tag_key``, then by spelling."""
    return tag_key(name), name


def clean_names(names: Iterable[str], ignore: Iterable[str] = ()) -> tuple[str, ...]:
    """Stripped, non-empty names minus ``ignore``, de-duplicated by ``tag_key`` and sorted."""
    ignored = {tag_key(name.strip()) for name in ignore}
    seen: set[str] = set()
    kept: list[str] = []
    for raw in names:
        name = _clean(raw)
        key = tag_key(name)
        if not name or key in ignored or key in seen:
            continue
        seen.add(key)
        kept.append(name)
    return tuple(sorted(kept, key=tag_sort_key))


def managed_collections(studio: str, parent_studio: str) -> tuple[str, ...]:
    """``Site: <studio>`` plus ``Studio: <parent>`` when there is a parent studio."""
    collections: list[str] = []
    if studio:
        collections.append(SITE_PREFIX + studio)
    if parent_studio:
        collections.append(STUDIO_PREFIX + parent_studio)
    return tuple(collections)


def is_managed_collection(name: str) -> bool:
    """True for the collections plexsync owns (``Site: ``/``Studio: `` prefixes, exact case)."""
    return name.startswith(MANAGED_COLLECTION_PREFIXES)


def parse_date(value: str | None) -> tuple[str | None, int | None]:
    """(originallyAvailableAt, year) from a Stash date; see the module docstring."""
    text = (value or "").strip()
    if not text:
        return None, None
    try:
        full = dt.date.fromisoformat(text)
    except ValueError:
        full = None
    if full is not None and len(text) == 10:
        return full.isoformat(), full.year
    partial = _PARTIAL_DATE.match(text)
    if partial and int(partial.group(1)) > 0:
        month = partial.group(2)
        if month is None or 1 <= int(month) <= 12:
            return None, int(partial.group(1))
    return None, None


def poster_url(url: str | None) -> str | None:
    """The screenshot URL, or None when absent or when it points at a video (preview)."""
    if not url or not url.strip():
        return None
    path = urlsplit(url.strip()).path.lower()
    if path.endswith(_VIDEO_EXTENSIONS):
        return None
    if _VIDEO_PATH_SEGMENTS.intersection(segment for segment in path.split("/") if segment):
        return None
    return url.strip()


def _clean(name: str | None) -> str:
    return (name or "").strip()
