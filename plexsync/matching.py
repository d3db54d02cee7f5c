"""Find the Plex item of a scene through the path index (no per-scene search).

Any of a scene's files may be the one Plex has. A file not in the index triggers one
incremental index refresh (rate-limited across tasks), then UnmatchedError. Two Plex
items for one scene, or one item already claimed by another live scene, is reported as
AmbiguousMatchError, never guessed.

Stale rows: an incremental refresh only adds and updates rows, so an item Plex deleted and
re-created at the same path (new ratingKey) leaves its old row behind: the scene then matches
two items, or the one it matches is gone (404 on read). Both are permanent errors, so before
failing the index is rebuilt in FULL once (``rebuild_index``; skipped when another task
finished a full rebuild after this one read the stale rows) and the scene matched again.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from loguru import logger

from plexsync import path_index
from plexsync.errors import AmbiguousMatchError, UnmatchedError, from_plex
from plexsync.model import Scene
from plexsync.services import Services

REFRESH_MIN_INTERVAL_S = 15.0
_refresh_lock = threading.RLock()
_last_refresh = 0.0
_last_full_rebuild = 0.0


@dataclass(frozen=True)
class Match:
    section_id: str
    rating_key: str
    file: str


def plex_keys(scene: Scene, services: Services) -> dict[str, str]:
    """{index key: mapped Plex path} for each of the scene's files."""
    cfg = services.config
    out = {}
    for stash_path in scene.files:
        mapped = path_index.map_path(stash_path, cfg.path_map)
        out[path_index.path_key(mapped, cfg.path_case_insensitive)] = mapped
    return out


def refresh_index(services: Services, full: bool = False, force: bool = False) -> bool:
    """Refresh the path index unless another task did so moments ago. True if it ran."""
    global _last_refresh, _last_full_rebuild
    with _refresh_lock:
        if not force and not full and time.monotonic() - _last_refresh < REFRESH_MIN_INTERVAL_S:
            return False
        with from_plex():
            sections = services.plex.movie_sections()
            stats = path_index.refresh_index(
                services.db.conn(),
                services.plex,
                sections,
                full=full,
                case_insensitive=services.config.path_case_insensitive,
            )
        _last_refresh = time.monotonic()
        if stats.sections_incremental == 0:
            _last_full_rebuild = _last_refresh
        logger.debug("path index refreshed: {}", stats)
        return True


def rebuild_index(services: Services, seen_at: float) -> bool:
    """Rebuild the index in full to drop stale rows read at ``seen_at`` (time.monotonic()),
    unless a full rebuild finished after that (another task already dropped them)."""
    with _refresh_lock:
        if _last_full_rebuild > seen_at:
            return False
        logger.info("path index: stale rows (an item deleted or re-created in Plex): rebuilding")
        return refresh_index(services, full=True, force=True)


def _lookup(services: Services, keys: dict[str, str]) -> list[path_index.Match]:
    return path_index.lookup(services.db.conn(), list(keys))


def match_scene(services: Services, scene: Scene) -> Match:
    """The one Plex item that has one of the scene's files (see the module docstring)."""
    seen_at = time.monotonic()
    try:
        return _match_once(services, scene)
    except AmbiguousMatchError:
        rebuild_index(services, seen_at)
    return _match_once(services, scene)


def _match_once(services: Services, scene: Scene) -> Match:
    if not scene.files:
        raise UnmatchedError(f"scene {scene.id} has no file in Stash")
    keys = plex_keys(scene, services)
    found = _lookup(services, keys)
    if not found:
        # Refresh (or, when another task refreshed moments ago, wait for it) and look again.
        refresh_index(services)
        found = _lookup(services, keys)
    if not found:
        paths = tuple(keys.values())
        raise UnmatchedError(
            f"scene {scene.id}: no Plex item has {paths[0]!r}"
            + (f" (or {len(paths) - 1} other file(s))" if len(paths) > 1 else ""),
            paths=paths,
        )
    items = {(m.section_id, m.rating_key): m for m in found}
    if len(items) > 1:
        listed = ", ".join(f"{rk} ({m.file})" for (_, rk), m in sorted(items.items()))
        raise AmbiguousMatchError(f"scene {scene.id} matches several Plex items: {listed}")
    m = next(iter(items.values()))
    return Match(m.section_id, m.rating_key, m.file)


def other_claimant(services: Services, scene_id: int, rating_key: str) -> int | None:
    """Another scene last synced to the same Plex item, if it still exists in Stash."""
    row = (
        services.db.conn()
        .execute(
            "select scene_id from applied where rating_key = ? and scene_id != ?",
            (rating_key, scene_id),
        )
        .fetchone()
    )
    if row is None:
        return None
    other = int(row[0])
    if services.stash.find_scene(other) is None:
        services.state.forget_scene(other)
        return None
    return other
