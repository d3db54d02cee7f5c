"""Plex section listings as reconciliation reads them: every item's listing row, in pages.

The full reconcile pages ``/library/sections/{id}/all`` once (1,000 items a request) and uses
the same rows twice: to rebuild the path index (``ListingTee`` is a ``path_index``
``ListingSource``) and to compare each synced item with its scene's desired state.
No per-item GET and no per-scene search.

What a listing row can show, and so what ``listing_drift`` compares:
- scalar attributes: title, summary, studio, originallyAvailableAt, year, userRating. Plex
  omits an empty attribute, so an attribute is compared only when the listing carries it on
  at least one row (then its absence on a row means "empty"); one nobody carries is skipped.
- tags (Genre, Role = actors, Collection): listings TRUNCATE tag lists, so only what a row
  shows is trusted: a listed tag that the scene does not want is drift, and a row with no tag
  of a kind while the scene wants some is drift. A missing tag next to others is invisible.
  Names are compared by ``mapping.tag_key`` (Plex matches tags case-insensitively), and a
  collection is ours as ``diff.split_collections`` decides.
- locks (``<Field locked="1" name=...>``): compared only when the listing carries Field
  elements at all; then every field in ``LOCKED_FIELDS`` must be locked. Plex reports no
  ``year`` or ``actor`` lock (see diff.py), so those two are never asked for.
- never visible in a listing: the poster (the thumb URL is no content hash).
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import quote

from plexsync.diff import ratings_equal, split_collections
from plexsync.mapping import tag_key
from plexsync.model import (
    ACTOR,
    COLLECTION,
    DATE,
    GENRE,
    STUDIO,
    SUMMARY,
    TITLE,
    YEAR,
    DesiredState,
)
from plexsync.plex import LISTING_SORT, PlexClient
from plexsync.plex_errors import classify
from plexsync.plex_xml import ListedItem, parse_listing

PAGE_SIZE = 1000
RATING = "userRating"
FIELD = "Field"  # marker in ``carried``: the listing carries lock information
SCALARS = (TITLE, SUMMARY, STUDIO, DATE, YEAR, RATING)
TAG_KINDS = {"Genre": GENRE, "Role": ACTOR, "Collection": COLLECTION}
LOCKED_FIELDS = (SUMMARY, STUDIO, DATE, GENRE, COLLECTION)  # + title when the scene has one


def text_digest(text: str) -> str:
    """Compact stand-in for a long text (summaries), so 50,000 rows stay small."""
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


@dataclass(frozen=True, slots=True)
class ListingRow:
    """One listed item: the compared attributes present (summary as a digest), tags by kind."""

    rating_key: str
    updated_at: int
    files: tuple[str, ...]
    values: dict[str, str]
    tags: dict[str, tuple[str, ...]]
    locked: frozenset[str]


@dataclass
class ListingPage:
    rows: list[ListingRow]
    total_size: int | None
    carried: set[str] = field(default_factory=set)


def parse_rows(body: bytes) -> ListingPage:
    """Rows of one listing page (pure). ``carried`` names every scalar attribute, tag kind
    and "Field" present on at least one row."""
    carried: set[str] = set()
    rows, total = parse_listing(body, lambda video: _row(video, carried))
    return ListingPage(rows, total, carried)


def _row(video: ET.Element, carried: set[str]) -> ListingRow:
    attrib = video.attrib
    values = {name: attrib[name] for name in SCALARS if name in attrib}
    if SUMMARY in values:
        values[SUMMARY] = text_digest(values[SUMMARY])
    carried.update(values)
    tags: dict[str, list[str]] = {}
    locked: set[str] = set()
    files: list[str] = []
    for child in video:
        kind = TAG_KINDS.get(child.tag)
        if kind is not None and child.attrib.get("tag"):
            tags.setdefault(kind, []).append(child.attrib["tag"])
        elif child.tag == FIELD:
            carried.add(FIELD)
            if child.attrib.get("locked") == "1" and child.attrib.get("name"):
                locked.add(child.attrib["name"])
        elif child.tag == "Media":
            files.extend(p.attrib["file"] for p in child.iter("Part") if p.attrib.get("file"))
    carried.update(tags)
    return ListingRow(
        rating_key=attrib["ratingKey"],
        updated_at=_int(attrib.get("updatedAt")) or 0,
        files=tuple(files),
        values=values,
        tags={kind: tuple(names) for kind, names in tags.items()},
        locked=frozenset(locked),
    )


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text else None
    except ValueError:
        return None


class ListingTee:
    """A path-index ListingSource that keeps every row it pages through (by ratingKey).

    Pages with ``PlexClient._request`` (raw GET, classified errors, configured timeouts), in
    the same stable order as ``PlexClient.iter_listing`` (``plex.LISTING_SORT``).
    """

    def __init__(self, client: PlexClient, page_size: int = PAGE_SIZE) -> None:
        self.client = client
        self.page_size = page_size
        self.rows: dict[str, ListingRow] = {}
        self.carried: set[str] = set()
        self.requests = 0

    def iter_listing(
        self, section_id: str, *, updated_since: int | None = None, page_size: int = PAGE_SIZE
    ) -> Iterator[ListedItem]:
        params = {"type": "1", "sort": LISTING_SORT}
        if updated_since is not None:
            params["updatedAt>>"] = str(int(updated_since))
        path = f"/library/sections/{quote(str(section_id), safe='')}/all"
        size = self.page_size
        start = 0
        while True:
            headers = {"X-Plex-Container-Start": str(start), "X-Plex-Container-Size": str(size)}
            self.requests += 1
            body = self.client._request("GET", path, params=params, headers=headers)
            try:
                page = parse_rows(body)
            except ET.ParseError as exc:
                raise classify(exc, f"GET {path}") from None
            self.carried |= page.carried
            for row in page.rows:
                self.rows[row.rating_key] = row
                yield ListedItem(row.rating_key, row.updated_at, row.files)
            start += len(page.rows)
            if not page.rows or (page.total_size is not None and start >= page.total_size):
                return
            if page.total_size is None and len(page.rows) < size:
                return


def listing_drift(desired: DesiredState, row: ListingRow, carried: set[str]) -> list[str]:
    """Plex field names whose listed value differs from ``desired`` (see the module doc)."""
    drift: list[str] = []

    def scalar(name: str, want: str) -> None:
        if name in carried and row.values.get(name, "") != want:
            drift.append(name)

    if desired.title is not None:
        scalar(TITLE, desired.title)
    if SUMMARY in carried and row.values.get(SUMMARY, text_digest("")) != text_digest(
        desired.summary
    ):
        drift.append(SUMMARY)
    scalar(STUDIO, desired.studio)
    scalar(DATE, desired.originally_available_at or "")
    scalar(YEAR, "" if desired.year is None else str(desired.year))
    if RATING in carried and not ratings_equal(_float(row.values.get(RATING)), desired.user_rating):
        drift.append(RATING)
    wanted = {GENRE: desired.genres, ACTOR: desired.actors, COLLECTION: desired.collections}
    for kind, names in wanted.items():
        if kind not in carried:
            continue
        listed = row.tags.get(kind, ())
        ours = split_collections(listed, names)[0] if kind == COLLECTION else listed
        if {tag_key(n) for n in ours} - {tag_key(n) for n in names} or (names and not listed):
            drift.append(kind)
    if FIELD in carried:
        required = set(LOCKED_FIELDS) | ({TITLE} if desired.title is not None else set())
        drift.extend(f"lock:{name}" for name in sorted(required - row.locked))
    return drift


def _float(text: str | None) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None
