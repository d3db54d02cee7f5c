"""Desired state vs current Plex state -> the ONE edit that makes them equal. Pure: no I/O.

Contract (tests/test_core_properties.py checks it against a model of Plex):
- Nothing differs and every lock Plex reports is present -> an EMPTY edit (zero writes).
- Every managed field whose value differs is sent as ``X.value`` + ``X.locked=1``.
- Locks: a field whose value matches but is not locked gets ``X.locked=1`` alone (a lost lock is
  drift) ONLY for the fields whose lock Plex reports (``REPORTED_LOCKS``: title, summary,
  studio, originallyAvailableAt, genre, collection, thumb). Plex governs the year through the
  originallyAvailableAt lock and reports no ``year`` or ``actor`` lock (python-plexapi #816,
  Casvt/Plex-scripts #174): those two still get ``X.locked=1`` with a value change, never a
  lock-only write (else every sync would write, and reconcile would see drift forever).
- Tag lists (genre, actor, collection) are sent in full AND with explicit ``tag-`` removals, so
  the edit is correct whether Plex appends to or replaces the existing list.
- Collections: only ``Site: ``/``Studio: `` collections are ours. The list sent is the desired
  managed collections plus the item's other collections (a replacing Plex keeps them);
  removals name only managed collections. A collection whose key equals a desired one is ours
  whatever its spelling.
- Tag names are compared by ``mapping.tag_key`` (NFC + lower case), as Plex matches them: tags
  are library-wide objects, and Plex may answer with a capitalisation other than the one sent.
  A tag list is converged when the key sets are equal; removals are the current names whose key
  is not desired. Deliberate trade-off: a case-only rename in Stash ("blonde" -> "Blonde") is
  NOT propagated (Plex would keep its existing spelling anyway, and sending it on every sync
  would never converge).
- Rating: sent through /:/rate only when it differs by 0.05 or more (None = unset); not locked.
- Poster: uploaded only when the screenshot's content hash differs from the last uploaded
  one (the URL changes on every Stash edit, the content does not); ``thumb.locked=1`` then.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import quote

from plexsync.mapping import is_managed_collection, tag_key, tag_sort_key
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
    FieldChange,
    PlexEdit,
    PlexItemState,
)

RATING_TOLERANCE = 0.05
LOCK = "lock"  # FieldChange.field of a lock-only change; FieldChange.new is the Plex field name
RATING = "rating"
POSTER = "poster"
TAG_LABELS = {GENRE: "genres", ACTOR: "actors", COLLECTION: "collections"}
# The locks real Plex reports as <Field locked="1" name=...>; only these get lock-only writes.
REPORTED_LOCKS = frozenset({TITLE, SUMMARY, STUDIO, DATE, GENRE, COLLECTION, THUMB})


def compute_edit(
    desired: DesiredState,
    current: PlexItemState,
    poster_hash: str | None,
    last_poster_hash: str | None,
) -> PlexEdit:
    """The single edit that turns ``current`` into ``desired``; empty when nothing differs."""
    edit = PlexEdit(rating_key=current.rating_key, section_id=current.section_id)
    locked = current.locked
    if desired.title is not None:
        _scalar(edit, locked, TITLE, current.title, desired.title)
    _scalar(edit, locked, SUMMARY, current.summary, desired.summary)
    _scalar(edit, locked, STUDIO, current.studio, desired.studio)
    _scalar(edit, locked, DATE, current.originally_available_at, desired.originally_available_at)
    _scalar(edit, locked, YEAR, current.year, desired.year)
    _tags(edit, locked, GENRE, current.genres, desired.genres)
    _tags(edit, locked, ACTOR, current.actors, desired.actors)
    managed_now, unmanaged = split_collections(current.collections, desired.collections)
    _tags(edit, locked, COLLECTION, managed_now, desired.collections, keep=unmanaged)

    if not ratings_equal(current.user_rating, desired.user_rating):
        edit.set_rating = True
        edit.rating = desired.user_rating
        edit.changes.append(FieldChange(RATING, current.user_rating, desired.user_rating))

    # Upload when the image changed, or when Plex lost the poster lock (a restore or an
    # agent refresh may have replaced our image): the content hash alone cannot see that.
    if poster_hash is not None and (poster_hash != last_poster_hash or THUMB not in locked):
        edit.upload_poster = True
        edit.params[f"{THUMB}.locked"] = 1
        edit.changes.append(FieldChange(POSTER, last_poster_hash, poster_hash))
    return edit


def ratings_equal(a: float | None, b: float | None) -> bool:
    """Plex stores ratings as floats: equal within RATING_TOLERANCE; None only equals None."""
    if a is None or b is None:
        return a is b
    return abs(a - b) < RATING_TOLERANCE


def split_collections(
    current: Iterable[str], desired: Iterable[str]
) -> tuple[list[str], list[str]]:
    """(ours, the user's) among an item's collections: ours are the managed-prefix ones and
    any whose ``tag_key`` is a desired collection's (Plex may hold another spelling)."""
    wanted = {tag_key(name) for name in desired}
    ours: list[str] = []
    theirs: list[str] = []
    for name in current:
        (ours if is_managed_collection(name) or tag_key(name) in wanted else theirs).append(name)
    return ours, theirs


def encode_removals(names: Iterable[str]) -> str:
    """Value of ``X[].tag.tag-``: comma-joined, each name percent-encoded (commas included)."""
    return ",".join(quote(name, safe="") for name in names)


def describe_edit(edit: PlexEdit) -> list[str]:
    """One human-readable line per change, for ``plexsync sync --dry-run``."""
    lines: list[str] = []
    for change in edit.changes:
        if change.field == LOCK:
            lines.append(f"lock: {change.new}")
        elif change.field in TAG_LABELS.values():
            lines.append(f"{change.field}: {_tag_delta(change.old, change.new)}")
        elif change.field == RATING:
            lines.append(f"rating: {_rating_text(change.old)} → {_rating_text(change.new)}")
        elif change.field == POSTER:
            lines.append("poster: new image")
        else:
            lines.append(f"{change.field}: {_value_text(change.old)} → {_value_text(change.new)}")
    return lines


def _scalar(edit: PlexEdit, locked: frozenset[str], name: str, old: object, new: object) -> None:
    if old != new:
        edit.params[f"{name}.value"] = "" if new is None else str(new)
        edit.params[f"{name}.locked"] = 1
        edit.changes.append(FieldChange(name, old, new))
    elif name not in locked and name in REPORTED_LOCKS:
        _lock_only(edit, name)


def _tags(
    edit: PlexEdit,
    locked: frozenset[str],
    name: str,
    current: Iterable[str],
    desired: tuple[str, ...],
    keep: Iterable[str] = (),
) -> None:
    now = [tag for tag in dict.fromkeys(current) if tag]  # Plex holds no empty tag
    wanted = {tag_key(tag) for tag in desired}
    if {tag_key(tag) for tag in now} == wanted:
        if name not in locked and name in REPORTED_LOCKS:
            _lock_only(edit, name)
        return
    sent = list(desired)
    sent_keys = set(wanted)
    for tag in keep:
        if tag and tag_key(tag) not in sent_keys:
            sent_keys.add(tag_key(tag))
            sent.append(tag)
    for index, tag in enumerate(sent):
        edit.params[f"{name}[{index}].tag.tag"] = tag
    removals = sorted((tag for tag in now if tag_key(tag) not in wanted), key=tag_sort_key)
    if removals:
        edit.params[f"{name}[].tag.tag-"] = encode_removals(removals)
    edit.params[f"{name}.locked"] = 1
    old = tuple(sorted(now, key=tag_sort_key))
    edit.changes.append(FieldChange(TAG_LABELS[name], old, desired))


def _lock_only(edit: PlexEdit, name: str) -> None:
    edit.params[f"{name}.locked"] = 1
    edit.changes.append(FieldChange(LOCK, None, name))


def _tag_delta(old: object, new: object) -> str:
    before = list(old) if isinstance(old, tuple | list) else []
    after = list(new) if isinstance(new, tuple | list) else []
    before_keys = {tag_key(n) for n in before}
    after_keys = {tag_key(n) for n in after}
    added = sorted((n for n in after if tag_key(n) not in before_keys), key=tag_sort_key)
    gone = sorted((n for n in before if tag_key(n) not in after_keys), key=tag_sort_key)
    return " ".join([f"+{_tag_text(n)}" for n in added] + [f"-{_tag_text(n)}" for n in gone])


def _tag_text(name: str) -> str:
    plain = name and not name.startswith(("+", "-", "'", '"'))
    return name if plain and not any(c.isspace() or c == "," for c in name) else repr(name)


def _rating_text(value: object) -> str:
    return "unset" if value is None else f"{value:.1f}" if isinstance(value, float) else str(value)


def _value_text(value: object) -> str:
    return "(none)" if value is None else repr(value)
