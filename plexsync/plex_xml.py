"""Pure parsing of Plex XML answers (no I/O): item state, sections, listing pages."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import NamedTuple, TypeVar

from plexsync.errors import NotFoundError
from plexsync.model import PlexItemState

T = TypeVar("T")


class PlexSection(NamedTuple):
    id: str
    title: str
    locations: tuple[str, ...]


class SectionEntry(NamedTuple):
    id: str
    title: str
    type: str
    locations: tuple[str, ...]


class ListedItem(NamedTuple):
    """One item of a section listing: just what the path index needs."""

    rating_key: str
    updated_at: int
    files: tuple[str, ...]


class ListingPage(NamedTuple):
    items: list[ListedItem]
    total_size: int | None


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(text) if text not in (None, "") else None
    except ValueError:
        return None


def _float_or_none(text: str | None) -> float | None:
    try:
        return float(text) if text not in (None, "") else None
    except ValueError:
        return None


def _part_files(video: ET.Element) -> tuple[str, ...]:
    return tuple(
        part.attrib["file"]
        for media in video.iter("Media")
        for part in media.iter("Part")
        if part.attrib.get("file")
    )


def parse_item_state(root: ET.Element, rating_key: str, section_id: str) -> PlexItemState:
    """PlexItemState from GET /library/metadata/{key}."""
    video = root.find("Video")
    if video is None:
        video = next((c for c in root if c.attrib.get("ratingKey") == str(rating_key)), None)
    if video is None:
        raise NotFoundError(f"Plex item {rating_key} is not a movie (or no longer exists)")
    attrib = video.attrib

    def tags(element: str) -> tuple[str, ...]:
        return tuple(t.attrib["tag"] for t in video.findall(element) if "tag" in t.attrib)

    return PlexItemState(
        rating_key=str(attrib.get("ratingKey", rating_key)),
        section_id=str(
            attrib.get("librarySectionID") or root.get("librarySectionID") or section_id
        ),
        title=attrib.get("title", ""),
        summary=attrib.get("summary", ""),
        studio=attrib.get("studio", ""),
        originally_available_at=attrib.get("originallyAvailableAt") or None,
        year=_int_or_none(attrib.get("year")),
        genres=tags("Genre"),
        actors=tags("Role"),
        collections=tags("Collection"),
        user_rating=_float_or_none(attrib.get("userRating")),
        locked=frozenset(
            f.attrib["name"]
            for f in video.findall("Field")
            if f.attrib.get("locked") == "1" and "name" in f.attrib
        ),
        files=_part_files(video),
    )


def parse_sections(root: ET.Element) -> list[SectionEntry]:
    return [
        SectionEntry(
            id=str(d.attrib.get("key", "")),
            title=d.attrib.get("title", ""),
            type=d.attrib.get("type", ""),
            locations=tuple(loc.attrib.get("path", "") for loc in d.findall("Location")),
        )
        for d in root.findall("Directory")
    ]


def parse_listing(body: bytes, row: Callable[[ET.Element], T | None]) -> tuple[list[T], int | None]:
    """Rows of one page of /library/sections/{id}/all, parsed incrementally (each element is
    freed once ``row`` has read it), and the container's totalSize."""
    rows: list[T] = []
    total: int | None = None
    depth = 0
    for event, elem in ET.iterparse(io.BytesIO(body), events=("start", "end")):
        if event == "start":
            if depth == 0:
                total = _int_or_none(elem.attrib.get("totalSize") or elem.attrib.get("size"))
            depth += 1
            continue
        depth -= 1
        if depth == 1:  # a direct child of MediaContainer: Video (or anything else)
            if elem.attrib.get("ratingKey"):
                item = row(elem)
                if item is not None:
                    rows.append(item)
            elem.clear()
    return rows, total


def _listed_item(video: ET.Element) -> ListedItem:
    updated = _int_or_none(video.attrib.get("updatedAt")) or 0
    return ListedItem(video.attrib["ratingKey"], updated, _part_files(video))


def parse_listing_page(body: bytes) -> ListingPage:
    """One listing page with just what the path index needs."""
    return ListingPage(*parse_listing(body, _listed_item))
