"""The {Plex part file -> (section, ratingKey)} index, kept in the state DB.

Built by paging each movie section's listing once (`PlexClient.iter_listing`, 1,000 items a
request), never by searching Plex per scene. Refreshed incrementally with Plex's
`updatedAt>>=` filter since the newest updatedAt seen (minus a safety margin); rebuilt in
full when asked, when older than `max_age_hours`, or when the path-comparison mode changed.
A full rebuild drops items deleted from Plex.

Path comparison: `path_key()` normalises to NFC, `/` separators, no repeated or trailing
separator, and optionally casefolds. `map_path()` applies PLEXSYNC_PATH_MAP first.
"""

from __future__ import annotations

import re
import sqlite3
import time
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from plexsync.db import transaction
from plexsync.plex_xml import ListedItem, PlexSection

INCREMENTAL_MARGIN_SECONDS = 60
DEFAULT_MAX_AGE_HOURS = 6.0

_SCHEMA = """
create table if not exists plex_index_files (
    path_key text not null,
    file text not null,
    section_id text not null,
    rating_key text not null,
    primary key (path_key, rating_key)
) without rowid;
create index if not exists plex_index_files_item on plex_index_files (rating_key);
create index if not exists plex_index_files_section on plex_index_files (section_id);
create table if not exists plex_index_sections (
    section_id text primary key,
    title text not null,
    built_at real not null,
    refreshed_at real not null,
    max_updated_at integer not null,
    case_insensitive integer not null
);
"""


class ListingSource(Protocol):
    """What the index needs from Plex (PlexClient implements it)."""

    def iter_listing(
        self, section_id: str, *, updated_since: int | None = None, page_size: int = ...
    ) -> Iterable[ListedItem]: ...


@dataclass(frozen=True)
class Match:
    section_id: str
    rating_key: str
    file: str


@dataclass
class IndexStats:
    sections_full: int = 0
    sections_incremental: int = 0
    items_seen: int = 0
    files_indexed: int = 0  # rows written
    items_removed: int = 0  # dropped by a full rebuild or with a vanished section
    seconds: float = 0.0


# ---------------------------------------------------------------- pure path handling

_WINDOWS_PATH = re.compile(r"^(?:[A-Za-z]:|\\\\)")
_SEPARATORS = re.compile(r"/+")


def _is_windows(path: str) -> bool:
    return bool(_WINDOWS_PATH.match(path)) or ("\\" in path and "/" not in path)


def _slashes(path: str) -> str:
    return path.replace("\\", "/")


def map_path(stash_path: str, path_map: Sequence[tuple[str, str]]) -> str:
    """The path Plex sees for a Stash path: the longest matching stash prefix is replaced.

    Prefixes match whole path components (`/data` does not match `/database`). `\\` and `/`
    are equivalent when matching; the result uses `\\` when the Plex prefix is a Windows path.
    """
    slashed = _slashes(stash_path)
    best: tuple[str, str] | None = None
    for stash_prefix, plex_prefix in path_map:
        prefix = _slashes(stash_prefix).rstrip("/")
        matches = slashed == prefix or slashed.startswith(prefix + "/")
        if matches and (best is None or len(prefix) > len(_slashes(best[0]).rstrip("/"))):
            best = (stash_prefix, plex_prefix)
    if best is None:
        return stash_path
    rest = slashed[len(_slashes(best[0]).rstrip("/")) :]
    plex_prefix = best[1]
    if _is_windows(plex_prefix):
        return plex_prefix.rstrip("\\/") + rest.replace("/", "\\")
    return plex_prefix.rstrip("/") + rest


def path_key(path: str, case_insensitive: bool = False) -> str:
    """Comparison key of a file path: NFC, `/` separators, optional casefold."""
    key = unicodedata.normalize("NFC", path).replace("\\", "/")
    unc = key.startswith("//")
    key = _SEPARATORS.sub("/", key)
    if unc:
        key = "/" + key
    if len(key) > 1:
        key = key.rstrip("/")
    return key.casefold() if case_insensitive else key


def stash_path_keys(
    stash_paths: Iterable[str], path_map: Sequence[tuple[str, str]], case_insensitive: bool = False
) -> list[str]:
    return [path_key(map_path(p, path_map), case_insensitive) for p in stash_paths]


# ---------------------------------------------------------------- SQLite


def ensure_schema(conn: sqlite3.Connection) -> None:
    for statement in _SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)


def _write_items(
    conn: sqlite3.Connection, section_id: str, items: Iterable[ListedItem],
    case_insensitive: bool, replace_each: bool, stats: IndexStats,
) -> tuple[int, set[str]]:  # fmt: skip
    """Insert items' files; returns the newest updatedAt and the ratingKeys seen."""
    newest = 0
    seen: set[str] = set()
    batch: list[tuple[str, str, str, str]] = []
    for item in items:
        stats.items_seen += 1
        seen.add(item.rating_key)
        newest = max(newest, item.updated_at)
        if replace_each:
            conn.execute("delete from plex_index_files where rating_key = ?", (item.rating_key,))
        batch.extend(
            (path_key(f, case_insensitive), f, section_id, item.rating_key) for f in item.files
        )
        if len(batch) >= 2000:
            _flush(conn, batch, stats)
    _flush(conn, batch, stats)
    return newest, seen


def _flush(
    conn: sqlite3.Connection, batch: list[tuple[str, str, str, str]], stats: IndexStats
) -> None:
    conn.executemany(
        "insert or replace into plex_index_files (path_key, file, section_id, rating_key)"
        " values (?, ?, ?, ?)",
        batch,
    )
    stats.files_indexed += len(batch)
    batch.clear()


def refresh_index(
    conn: sqlite3.Connection,
    client: ListingSource,
    sections: Sequence[PlexSection],
    *,
    full: bool = False,
    case_insensitive: bool = False,
    max_age_hours: float = DEFAULT_MAX_AGE_HOURS,
    now: float | None = None,
) -> IndexStats:
    """Bring the index up to date for `sections`; rows of other sections are dropped.

    Each section is written in its own transaction: a failure (classified PlexsyncError from
    the client) leaves that section's previous index intact and propagates.
    """
    started = time.monotonic()
    now = time.time() if now is None else now
    stats = IndexStats()
    ensure_schema(conn)
    wanted = {str(s.id) for s in sections}
    with transaction(conn):
        for (stale,) in conn.execute("select section_id from plex_index_sections").fetchall():
            if stale not in wanted:
                _drop_section(conn, stale, stats)
        for (stale,) in conn.execute("select distinct section_id from plex_index_files").fetchall():
            if stale not in wanted:
                _drop_section(conn, stale, stats)
    for section in sections:
        sid = str(section.id)
        meta = conn.execute(
            "select built_at, max_updated_at, case_insensitive from plex_index_sections"
            " where section_id = ?",
            (sid,),
        ).fetchone()
        rebuild = (
            full
            or meta is None
            or bool(meta[2]) != case_insensitive
            or now - meta[0] > max_age_hours * 3600
        )
        # Page Plex first, write after: a write transaction held across HTTP pages would
        # block every other state.db writer (heartbeat, dead letters) for the whole listing.
        if rebuild:
            listed = list(client.iter_listing(sid))
        else:
            since = max(0, int(meta[1]) - INCREMENTAL_MARGIN_SECONDS)
            listed = list(client.iter_listing(sid, updated_since=since))
        with transaction(conn):
            if rebuild:
                before = {
                    k for (k,) in conn.execute(
                        "select distinct rating_key from plex_index_files where section_id = ?",
                        (sid,),
                    )
                }  # fmt: skip
                conn.execute("delete from plex_index_files where section_id = ?", (sid,))
                newest, seen = _write_items(conn, sid, listed,
                                            case_insensitive, False, stats)  # fmt: skip
                stats.items_removed += len(before - seen)
                stats.sections_full += 1
                built_at, max_updated = now, newest
            else:
                newest, _ = _write_items(conn, sid, listed, case_insensitive, True, stats)
                stats.sections_incremental += 1
                built_at, max_updated = meta[0], max(int(meta[1]), newest)
            conn.execute(
                "insert or replace into plex_index_sections (section_id, title, built_at,"
                " refreshed_at, max_updated_at, case_insensitive) values (?, ?, ?, ?, ?, ?)",
                (sid, section.title, built_at, now, max_updated, int(case_insensitive)),
            )
    stats.seconds = time.monotonic() - started
    return stats


def _count_items(conn: sqlite3.Connection, section_id: str) -> int:
    row = conn.execute(
        "select count(distinct rating_key) from plex_index_files where section_id = ?",
        (section_id,),
    ).fetchone()
    return int(row[0])


def _drop_section(conn: sqlite3.Connection, section_id: str, stats: IndexStats) -> None:
    stats.items_removed += _count_items(conn, section_id)
    conn.execute("delete from plex_index_files where section_id = ?", (section_id,))
    conn.execute("delete from plex_index_sections where section_id = ?", (section_id,))


def lookup(conn: sqlite3.Connection, keys: Iterable[str]) -> list[Match]:
    """Index rows whose path_key is one of `keys` (from `path_key`/`stash_path_keys`).

    Several matches for one scene (two Plex items, or two sections) are all returned: the
    caller decides (AmbiguousMatchError). Order: by key order given, then section, ratingKey.
    """
    ensure_schema(conn)
    out: list[Match] = []
    seen: set[tuple[str, str, str]] = set()
    for key in dict.fromkeys(keys):
        rows = conn.execute(
            "select section_id, rating_key, file from plex_index_files where path_key = ?"
            " order by section_id, rating_key",
            (key,),
        ).fetchall()
        for row in rows:
            if row not in seen:
                seen.add(row)
                out.append(Match(*row))
    return out


def lookup_paths(
    conn: sqlite3.Connection,
    stash_paths: Iterable[str],
    path_map: Sequence[tuple[str, str]],
    case_insensitive: bool = False,
) -> list[Match]:
    """`lookup` for a scene's Stash file paths (path map applied)."""
    return lookup(conn, stash_path_keys(stash_paths, path_map, case_insensitive))


def indexed_items(conn: sqlite3.Connection) -> dict[str, list[Match]]:
    """Every indexed Plex item: ratingKey -> its files (for 'claimed by no scene' reports)."""
    ensure_schema(conn)
    items: dict[str, list[Match]] = {}
    for sid, key, file in conn.execute(
        "select section_id, rating_key, file from plex_index_files"
        " order by section_id, rating_key, file"
    ):
        items.setdefault(key, []).append(Match(sid, key, file))
    return items


def unclaimed_items(conn: sqlite3.Connection, claimed_rating_keys: Iterable[str]) -> list[Match]:
    """One Match (first file) per indexed item whose ratingKey no scene claimed."""
    claimed = {str(k) for k in claimed_rating_keys}
    return [files[0] for key, files in indexed_items(conn).items() if key not in claimed]


def index_age(conn: sqlite3.Connection, now: float | None = None) -> float | None:
    """Seconds since the oldest section's last refresh; None if never built."""
    ensure_schema(conn)
    row = conn.execute("select min(refreshed_at) from plex_index_sections").fetchone()
    if row is None or row[0] is None:
        return None
    return (time.time() if now is None else now) - float(row[0])
