"""Plain data shared by the pure core (mapping, diff) and the adapters (Stash, Plex).

No I/O here and no behaviour beyond small helpers: these are the nouns of plexsync.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Plex field names as they appear in <Field name="..." locked="1"/> and in edit params.
TITLE = "title"
SUMMARY = "summary"
STUDIO = "studio"
DATE = "originallyAvailableAt"
YEAR = "year"
GENRE = "genre"
ACTOR = "actor"
COLLECTION = "collection"
THUMB = "thumb"

SITE_PREFIX = "Site: "
STUDIO_PREFIX = "Studio: "
MANAGED_COLLECTION_PREFIXES = (SITE_PREFIX, STUDIO_PREFIX)


@dataclass(frozen=True)
class Scene:
    """A Stash scene after validation: exactly what the mapping needs."""

    id: int
    title: str = ""
    details: str = ""
    date: str | None = None  # YYYY-MM-DD
    rating100: int | None = None
    studio: str | None = None
    parent_studio: str | None = None
    tags: tuple[str, ...] = ()
    performers: tuple[str, ...] = ()
    files: tuple[str, ...] = ()  # absolute paths as Stash sees them
    screenshot_url: str | None = None
    updated_at: str = ""


@dataclass(frozen=True)
class DesiredState:
    """What the Plex item must look like for one scene (the INTERFACE table)."""

    title: str | None  # None: leave Plex's title alone (empty Stash title)
    summary: str  # "" clears it
    studio: str  # "" clears it
    originally_available_at: str | None  # YYYY-MM-DD; None clears it
    year: int | None
    genres: tuple[str, ...]  # exact set, sorted, de-duplicated case-insensitively
    actors: tuple[str, ...]  # exact set
    collections: tuple[str, ...]  # the managed ("Site: ", "Studio: ") collections, exact set
    user_rating: float | None  # 0-10; None unsets
    poster_url: str | None  # Stash screenshot URL (never the preview video)

    def fingerprint(self) -> str:
        """Stable hash of the desired state, to skip scenes whose state has not changed."""
        import hashlib
        import json

        data = json.dumps(self.__dict__, sort_keys=True, ensure_ascii=False, default=list)
        return hashlib.sha256(data.encode()).hexdigest()


@dataclass(frozen=True)
class PlexItemState:
    """The current state of one Plex item, read with one GET /library/metadata/{key}."""

    rating_key: str
    section_id: str
    title: str = ""
    summary: str = ""
    studio: str = ""
    originally_available_at: str | None = None
    year: int | None = None
    genres: tuple[str, ...] = ()
    actors: tuple[str, ...] = ()
    collections: tuple[str, ...] = ()
    user_rating: float | None = None
    locked: frozenset[str] = frozenset()  # Plex field names with locked="1"
    files: tuple[str, ...] = ()


@dataclass(frozen=True)
class FieldChange:
    field: str
    old: object
    new: object


@dataclass
class PlexEdit:
    """Everything that must be written to one Plex item; empty when nothing differs."""

    rating_key: str
    section_id: str
    # Query parameters of the ONE edit PUT (plexapi item.edit(**params) conventions:
    # "title.value", "title.locked", "genre[0].tag.tag", "genre[].tag.tag-", ...).
    params: dict[str, str | int] = field(default_factory=dict)
    set_rating: bool = False  # send /:/rate
    rating: float | None = None  # value for /:/rate (None: unset, rating=-1)
    upload_poster: bool = False  # poster content differs from the last upload
    changes: list[FieldChange] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.params and not self.set_rating and not self.upload_poster
