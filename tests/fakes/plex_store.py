"""In-memory library of the fake Plex server: sections, items, edits, and their XML.

Pure data and rendering, no sockets: `tests/fakes/plex.py` serves it over HTTP. All methods
expect the caller (FakePlex) to hold its lock.

Behaviours of real Plex that the fake reproduces on purpose:
- Tags (genres, actors, collections) are library-wide objects matched case-insensitively
  (NFC + lower case): the first spelling the library saw wins, so adding "blonde" where
  "Blonde" exists gives the item "Blonde", and a removal of "BLONDE" drops it.
- Plex reports no ``year`` or ``actor`` lock (the year follows the originallyAvailableAt lock):
  ``year.locked`` / ``actor.locked`` are accepted and ignored, never stored nor rendered.
- Listings are in title order unless ``sort=`` asks otherwise (addedAt, id, title, titleSort,
  updatedAt; ``field:asc|desc``, comma-separated, optionally ``movie.``-prefixed).
"""

from __future__ import annotations

import copy
import hashlib
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote
from xml.sax.saxutils import quoteattr

TAG_FIELDS = {"genre": "genres", "actor": "actors", "collection": "collections"}
TAG_ELEMENTS = {"genre": "Genre", "actor": "Role", "collection": "Collection"}
VALUE_FIELDS = {
    "title": "title",
    "summary": "summary",
    "studio": "studio",
    "originallyAvailableAt": "originally_available_at",
    "year": "year",
}
LISTING_GENRES = 2  # real Plex truncates tag lists in listings; so does the fake
UNREPORTED_LOCKS = frozenset({"year", "actor"})  # Plex never reports these locks
SORT_FIELDS = {
    "addedAt": lambda item: item.added_at,
    "id": lambda item: item.rating_key,
    "title": lambda item: item.title.casefold(),
    "titleSort": lambda item: item.title.casefold(),
    "updatedAt": lambda item: item.updated_at,
}


def tag_key(name: str) -> str:
    """How the fake (like Plex) matches tag names: NFC, lower case."""
    return unicodedata.normalize("NFC", name).lower()


class FakePlexError(Exception):
    """An HTTP error the fake answers with."""

    def __init__(self, status: int, text: str = "") -> None:
        super().__init__(text)
        self.status = status
        self.text = text


@dataclass
class FakeSection:
    id: int
    title: str
    type: str = "movie"
    agent: str = "tv.plex.agents.none"
    locations: list[str] = field(default_factory=list)
    item_keys: list[int] = field(default_factory=list)


@dataclass
class FakeItem:
    """Current state of one fake Plex movie (what `FakePlex.item()` returns a copy of)."""

    rating_key: int
    section_id: int
    title: str
    summary: str = ""
    studio: str = ""
    originally_available_at: str | None = None
    year: int | None = None
    user_rating: float | None = None
    genres: list[str] = field(default_factory=list)
    actors: list[str] = field(default_factory=list)
    collections: list[str] = field(default_factory=list)
    locked: set[str] = field(default_factory=set)
    medias: list[list[str]] = field(default_factory=list)  # one list of part files per Media
    posters: list[str] = field(default_factory=list)  # sha256 of every uploaded poster
    thumb: str | None = None
    added_at: int = 0
    updated_at: int = 0

    @property
    def files(self) -> list[str]:
        return [f for media in self.medias for f in media]


def _attrs(**values: object) -> str:
    return "".join(f" {k}={quoteattr(str(v))}" for k, v in values.items() if v is not None)


def container(children: str = "", **attrs: object) -> bytes:
    head = '<?xml version="1.0" encoding="UTF-8"?>\n'
    return f"{head}<MediaContainer{_attrs(**attrs)}>{children}</MediaContainer>".encode()


class PlexLibrary:
    def __init__(self, clock: Callable[[], int], tag_mode: str = "replace") -> None:
        if tag_mode not in ("replace", "append"):
            raise ValueError(f"tag_mode must be 'replace' or 'append', not {tag_mode!r}")
        self.clock = clock
        self.tag_mode = tag_mode
        self.sections: dict[int, FakeSection] = {}
        self.items: dict[int, FakeItem] = {}
        self._tags: dict[tuple[str, str], tuple[int, str]] = {}  # (kind, key) -> (id, spelling)
        self._next_key = 1000
        self._next_part = 1

    # ------------------------------------------------------------ staging

    def add_section(self, title: str, type: str, locations: Iterable[str]) -> int:
        section_id = max(self.sections, default=0) + 1
        self.sections[section_id] = FakeSection(section_id, title, type, locations=list(locations))
        return section_id

    def add_item(
        self,
        section_id: int,
        title: str,
        files: Iterable[str] = (),
        medias: Iterable[Iterable[str]] = (),
        **fields: object,
    ) -> int:
        section = self.sections[section_id]
        self._next_key += 1
        now = self.clock()
        all_medias = [list(m) for m in medias] + ([list(files)] if files else [])
        item = FakeItem(self._next_key, section_id, title, medias=all_medias)
        item.added_at = item.updated_at = now
        self._set_fields(item, fields)
        self.items[item.rating_key] = item
        section.item_keys.append(item.rating_key)
        return item.rating_key

    def bulk_add(self, section_id: int, n: int, path_pattern: str) -> list[int]:
        """`path_pattern` is formatted with `i` (0-based), e.g. '/media/movie{i:05d}.mp4'."""
        section = self.sections[section_id]
        now = self.clock()
        keys = []
        for i in range(n):
            self._next_key += 1
            key = self._next_key
            files = [path_pattern.format(i=i)]
            self.items[key] = FakeItem(key, section_id, f"Movie {i}", medias=[files],
                                       added_at=now, updated_at=now)  # fmt: skip
            keys.append(key)
        section.item_keys.extend(keys)
        return keys

    def edit_by_hand(self, rating_key: int, lock: bool = False, **fields: object) -> None:
        item = self.get(rating_key)
        self._set_fields(item, fields)
        if lock:
            names = {k for k, v in VALUE_FIELDS.items() if v in fields}
            names |= {k for k, v in TAG_FIELDS.items() if v in fields}
            item.locked |= names - UNREPORTED_LOCKS
        item.updated_at = self.clock()

    def remove_item(self, rating_key: int) -> None:
        item = self.items.pop(rating_key)
        self.sections[item.section_id].item_keys.remove(rating_key)

    def snapshot(self, rating_key: int) -> FakeItem:
        return copy.deepcopy(self.get(rating_key))

    def get(self, rating_key: int) -> FakeItem:
        try:
            return self.items[rating_key]
        except KeyError:
            raise FakePlexError(404, f"no item {rating_key}") from None

    def _set_fields(self, item: FakeItem, fields: Mapping[str, object]) -> None:
        kinds = {attr: kind for kind, attr in TAG_FIELDS.items()}
        for name, value in fields.items():
            if not hasattr(item, name) or name in ("rating_key", "section_id"):
                raise TypeError(f"FakeItem has no field {name!r}")
            if isinstance(value, (list, tuple, set, frozenset)):
                if name == "locked":
                    value = set(value) - UNREPORTED_LOCKS
                elif name in kinds:
                    value = self._item_tags(kinds[name], [], value)
                else:
                    value = list(value)
            setattr(item, name, value)

    def _spelling(self, kind: str, name: str) -> str:
        """The library's spelling of a tag (registering ``name`` when the key is new)."""
        key = (kind, tag_key(name))
        if key not in self._tags:
            self._tags[key] = (len(self._tags) + 1, name)
        return self._tags[key][1]

    def _item_tags(self, kind: str, base: list[str], added: Iterable[str]) -> list[str]:
        """``base`` plus ``added`` in the library's spellings, one tag per key."""
        out: dict[str, str] = {}
        for name in base:
            out.setdefault(tag_key(name), name)
        for name in added:
            out.setdefault(tag_key(name), self._spelling(kind, name))
        return list(out.values())

    # ------------------------------------------------------------ edits (HTTP)

    def edit(self, section_id: int, query: list[tuple[str, str]]) -> None:
        params = dict(query)
        if "id" not in params or not params["id"].strip():
            raise FakePlexError(400, "edit without id= would change every item of the section")
        targets = []
        for raw in params["id"].split(","):
            item = self.get(int(raw)) if raw.isdigit() else None
            if item is None or item.section_id != section_id:
                raise FakePlexError(404, f"no item {raw} in section {section_id}")
            targets.append(item)
        for item in targets:
            self._apply_edit(item, query)
            item.updated_at = self.clock()

    def _apply_edit(self, item: FakeItem, query: list[tuple[str, str]]) -> None:
        added: dict[str, list[tuple[int, str]]] = {}
        removed: dict[str, list[str]] = {}
        for key, value in query:
            name, _, rest = key.partition(".")
            if rest == "locked":
                if name not in UNREPORTED_LOCKS:
                    (item.locked.add if value == "1" else item.locked.discard)(name)
            elif rest == "value" and name in VALUE_FIELDS:
                self._set_value(item, name, value)
            elif rest == "tag.tag" and name.endswith("]") and "[" in name:
                tag, _, index = name[:-1].partition("[")
                if tag in TAG_FIELDS and index.isdigit():
                    added.setdefault(tag, []).append((int(index), value))
            elif rest == "tag.tag-" and name.endswith("[]") and name[:-2] in TAG_FIELDS:
                names = [unquote(n) for n in value.split(",") if n]
                removed.setdefault(name[:-2], []).extend(names)
        for tag in set(added) | set(removed):
            attr = TAG_FIELDS[tag]
            current: list[str] = getattr(item, attr)
            if tag in added:
                sent = [v for _, v in sorted(added[tag])]
                base = current if self.tag_mode == "append" else []
                current = self._item_tags(tag, base, sent)
            gone = {tag_key(name) for name in removed.get(tag, [])}
            setattr(item, attr, [v for v in current if tag_key(v) not in gone])

    @staticmethod
    def _set_value(item: FakeItem, name: str, value: str) -> None:
        if name == "year":
            if value and not value.isdigit():
                raise FakePlexError(400, f"year is not a number: {value!r}")
            item.year = int(value) if value else None
        elif name == "originallyAvailableAt":
            item.originally_available_at = value or None
        else:
            setattr(item, VALUE_FIELDS[name], value)

    def rate(self, params: Mapping[str, str]) -> None:
        if params.get("identifier") != "com.plexapp.plugins.library":
            raise FakePlexError(400, "bad identifier")
        item = self.get(int(params["key"])) if params.get("key", "").isdigit() else None
        if item is None:
            raise FakePlexError(404, "no such item")
        try:
            rating = float(params.get("rating", ""))
        except ValueError:
            raise FakePlexError(400, "bad rating") from None
        if rating != -1 and not 0 <= rating <= 10:
            raise FakePlexError(400, "rating out of range")
        item.user_rating = None if rating == -1 else rating

    def upload_poster(self, rating_key: int, body: bytes) -> None:
        item = self.get(rating_key)
        if not body:
            raise FakePlexError(400, "the fake only accepts poster bytes, not ?url=")
        digest = hashlib.sha256(body).hexdigest()
        item.posters.append(digest)
        item.thumb = f"/library/metadata/{rating_key}/thumb/{self.clock()}"

    # ------------------------------------------------------------ XML

    def tag_id(self, kind: str, name: str) -> int:
        self._spelling(kind, name)
        return self._tags[(kind, tag_key(name))][0]

    def _media_xml(self, item: FakeItem) -> str:
        out = []
        for m, media in enumerate(item.medias):
            parts = "".join(
                "<Part"
                + _attrs(id=item.rating_key * 100 + m * 10 + p, file=f, size=1000, container="mp4",
                         key=f"/library/parts/{item.rating_key}{m}{p}/file.mp4")
                + "/>"
                for p, f in enumerate(media)
            )  # fmt: skip
            out.append(
                f"<Media{_attrs(id=item.rating_key * 10 + m, container='mp4')}>{parts}</Media>"
            )
        return "".join(out)

    def _video_attrs(self, item: FakeItem, section: FakeSection) -> str:
        return _attrs(
            ratingKey=item.rating_key,
            key=f"/library/metadata/{item.rating_key}",
            guid=f"plex://movie/fake{item.rating_key}",
            type="movie",
            title=item.title,
            summary=item.summary,
            studio=item.studio or None,
            year=item.year,
            originallyAvailableAt=item.originally_available_at,
            userRating=item.user_rating,
            thumb=item.thumb,
            librarySectionID=section.id,
            librarySectionTitle=section.title,
            librarySectionKey=f"/library/sections/{section.id}",
            addedAt=item.added_at,
            updatedAt=item.updated_at,
        )

    def metadata_xml(self, rating_key: int) -> bytes:
        item = self.get(rating_key)
        section = self.sections[item.section_id]
        tags = "".join(
            f"<{TAG_ELEMENTS[kind]}{_attrs(id=self.tag_id(kind, name), tag=name)}/>"
            for kind, attr in TAG_FIELDS.items()
            for name in getattr(item, attr)
        )
        fields = "".join(f'<Field locked="1" name={quoteattr(n)}/>' for n in sorted(item.locked))
        attrs, media = self._video_attrs(item, section), self._media_xml(item)
        video = f"<Video{attrs}>{media}{tags}{fields}</Video>"
        return container(
            video, size=1, librarySectionID=section.id, identifier="com.plexapp.plugins.library"
        )

    def listing_xml(
        self, section_id: int, params: Mapping[str, str], start: int, size: int | None
    ) -> bytes:
        section = self.sections.get(section_id)
        if section is None:
            raise FakePlexError(404, f"no section {section_id}")
        keys = self._sorted(section.item_keys, params.get("sort", ""))
        if params.get("type", "1") != "1":
            keys = []
        for attr, param in (("updated_at", "updatedAt>>"), ("added_at", "addedAt>>")):
            if param in params:
                since = int(params[param])
                keys = [k for k in keys if getattr(self.items[k], attr) > since]
        page = keys[start : start + size] if size is not None else keys[start:]
        videos = []
        for key in page:
            item = self.items[key]
            genres = "".join(f"<Genre{_attrs(tag=g)}/>" for g in item.genres[:LISTING_GENRES])
            videos.append(
                f"<Video{self._video_attrs(item, section)}>{self._media_xml(item)}{genres}</Video>"
            )
        return container(
            "".join(videos), size=len(page), totalSize=len(keys), offset=start,
            librarySectionID=section.id, librarySectionTitle=section.title,
            viewGroup="movie", identifier="com.plexapp.plugins.library",
        )  # fmt: skip

    def _sorted(self, keys: list[int], sort: str) -> list[int]:
        """Keys in ``sort`` order; Plex's default is by title (ties: by ratingKey)."""
        order = [part.strip() for part in sort.split(",") if part.strip()] or ["titleSort"]
        out = sorted(keys)
        for part in reversed(order):
            field_name, _, direction = part.removeprefix("movie.").partition(":")
            if field_name not in SORT_FIELDS or direction not in ("", "asc", "desc"):
                raise FakePlexError(400, f"bad sort {part!r}")
            by = SORT_FIELDS[field_name]
            out.sort(key=lambda k: by(self.items[k]), reverse=direction == "desc")
        return out

    def sections_xml(self) -> bytes:
        dirs = []
        for s in self.sections.values():
            locs = "".join(
                f"<Location{_attrs(id=s.id * 100 + i, path=p)}/>" for i, p in enumerate(s.locations)
            )
            attrs = _attrs(key=s.id, type=s.type, title=s.title, agent=s.agent,
                           scanner="Plex Movie", language="en-US", uuid=f"fake-section-{s.id}",
                           updatedAt=self.clock())  # fmt: skip
            dirs.append(f"<Directory{attrs}>{locs}</Directory>")
        return container("".join(dirs), size=len(dirs), allowSync=0, title1="Plex Library")

    def posters_xml(self, rating_key: int) -> bytes:
        item = self.get(rating_key)
        last = len(item.posters) - 1
        photos = "".join(
            "<Photo"
            + _attrs(key=f"/library/metadata/{rating_key}/file?url=upload://posters/{h}",
                     ratingKey=f"upload://posters/{h}", provider="local", selected=int(i == last))
            + "/>"
            for i, h in enumerate(item.posters)
        )  # fmt: skip
        return container(photos, size=len(item.posters))
