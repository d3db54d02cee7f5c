"""Doctor checks that talk to Stash and Plex, and the pure path helpers behind the
"path mapping" answer (closest Plex path, suggested PLEXSYNC_PATH_MAP)."""

from __future__ import annotations

import difflib
import itertools
import posixpath
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from plexsync.doctor import Check, skipped
from plexsync.errors import AuthError, PermanentError, PlexsyncError, TransientError

if TYPE_CHECKING:
    from plexsync.plex_xml import PlexSection
    from plexsync.services import Services

SAMPLE_SCENES = 25
CLOSEST_POOL_MAX = 5000


# ------------------------------------------------------------------ pure path helpers


def _parts(path: str) -> list[str]:
    return [p for p in path.replace("\\", "/").split("/") if p]


def closest_path(target: str, candidates: Sequence[str]) -> str | None:
    """The candidate most like ``target``: same file name first, then string similarity."""
    if not candidates:
        return None
    name = posixpath.basename(target.replace("\\", "/")).casefold()
    same_name = [
        c for c in candidates if posixpath.basename(c.replace("\\", "/")).casefold() == name
    ]
    pool = same_name or list(candidates[:CLOSEST_POOL_MAX])

    def score(candidate: str) -> tuple[int, float]:
        shared = 0
        for a, b in zip(reversed(_parts(candidate)), reversed(_parts(target)), strict=False):
            if a != b:
                break
            shared += 1
        return shared, difflib.SequenceMatcher(None, candidate, target).ratio()

    return max(pool, key=score)


def suggest_path_map(stash_path: str, plex_path: str) -> tuple[str, str] | None:
    """The ``stash_prefix=plex_prefix`` pair that maps one path onto the other, if the two
    share at least their file name (the differing leading directories become the pair)."""
    stash_parts, plex_parts = _parts(stash_path), _parts(plex_path)
    shared = 0
    for a, b in zip(reversed(stash_parts), reversed(plex_parts), strict=False):
        if a != b:
            break
        shared += 1
    if shared == 0 or shared == len(stash_parts) or shared == len(plex_parts):
        return None
    windows = ":" in plex_parts[0] or "\\" in plex_path

    def join(parts: list[str], original: str, win: bool) -> str:
        if win:
            return "\\".join(parts)
        return ("/" if original.startswith(("/", "\\")) else "") + "/".join(parts)

    stash_prefix = join(stash_parts[:-shared], stash_path, False)
    plex_prefix = join(plex_parts[:-shared], plex_path, windows)
    return stash_prefix, plex_prefix


# ------------------------------------------------------------------ Stash


def check_stash(services: Services) -> tuple[list[Check], bool]:
    """Stash reachable (healthz) and authenticated (version). Returns (checks, usable)."""
    url = services.config.stash_url
    stash = services.stash
    if not stash.healthz():
        return [
            Check(
                "Stash reachable",
                False,
                f"no answer from {url}/healthz",
                "start Stash, or set PLEXSYNC_STASH_URL to its address",
            ),
            skipped("Stash API key", "Stash is not reachable"),
        ], False
    reachable = Check("Stash reachable", True, url)
    try:
        version = stash.version()
    except AuthError as exc:
        return [
            reachable,
            Check(
                "Stash API key",
                False,
                exc.message,
                "Stash > Settings > Security > API Key; put it in PLEXSYNC_STASH_API_KEY",
            ),
        ], False
    except PlexsyncError as exc:
        hint = "check PLEXSYNC_STASH_URL points at Stash itself"
        return [reachable, Check("Stash API key", False, exc.message, hint)], False
    keyed = "API key accepted" if services.config.stash_api_key else "no API key needed"
    return [reachable, Check("Stash API key", True, f"Stash {version or '?'}; {keyed}")], True


# ------------------------------------------------------------------ Plex


def check_plex(services: Services) -> tuple[list[Check], list[PlexSection] | None]:
    """Plex reachable, token valid (server name/version), sections. Returns (checks, sections
    or None when Plex cannot be used)."""
    config = services.config
    names = ("Plex reachable", "Plex token", "Plex sections")
    if not config.plex_configured():
        missing = [
            env
            for env, value in (
                ("PLEXSYNC_PLEX_URL", config.plex_url),
                ("PLEXSYNC_PLEX_TOKEN", config.plex_token),
            )
            if not value
        ]
        return [
            Check(
                names[0],
                False,
                f"Plex is not configured: {' and '.join(missing)} unset",
                f"set {' and '.join(missing)} (see plexsync config show)",
            ),
            skipped(names[1], "Plex is not configured"),
            skipped(names[2], "Plex is not configured"),
        ], None
    url = str(config.plex_url)
    try:
        info = services.plex.server_info()
    except AuthError as exc:
        return [
            Check(names[0], True, url),
            Check(
                names[1], False, exc.message, "copy a valid X-Plex-Token into PLEXSYNC_PLEX_TOKEN"
            ),
            skipped(names[2], "Plex refused the token"),
        ], None
    except PlexsyncError as exc:
        hint = "is Plex running? check PLEXSYNC_PLEX_URL (and PLEXSYNC_PLEX_VERIFY_TLS)"
        if isinstance(exc, PermanentError) and not isinstance(exc, TransientError):
            hint = "check PLEXSYNC_PLEX_URL points at a Plex Media Server"
        return [
            Check(names[0], False, f"{url}: {exc.message}", hint),
            skipped(names[1], "Plex is not reachable"),
            skipped(names[2], "Plex is not reachable"),
        ], None
    checks = [
        Check(names[0], True, url),
        Check(names[1], True, f"accepted by {info.name or 'Plex'} (version {info.version})"),
    ]
    try:
        sections = services.plex.movie_sections()
    except PlexsyncError as exc:
        hint = "set PLEXSYNC_PLEX_SECTIONS to movie section titles, or leave it empty for all"
        return [*checks, Check(names[2], False, exc.message, hint)], None
    if not sections:
        hint = "add a Movies library in Plex that contains the Stash files"
        return [*checks, Check(names[2], False, "Plex has no movie section", hint)], None
    listed = ", ".join(f"{s.title!r} ({', '.join(s.locations) or 'no folder'})" for s in sections)
    return [*checks, Check(names[2], True, f"matching in {listed}")], sections


# ------------------------------------------------------------------ path mapping


def _sample_scenes(services: Services) -> list[dict[str, Any]]:
    scenes = services.stash.iter_all_scenes(per_page=SAMPLE_SCENES, light=True)
    return list(itertools.islice(scenes, SAMPLE_SCENES))


def check_path_mapping(services: Services, sections: list[PlexSection]) -> Check:
    """Sample Stash scenes and look their files up in the Plex path index."""
    from plexsync import path_index
    from plexsync.matching import refresh_index

    name = "path mapping"
    config = services.config
    try:
        sample = _sample_scenes(services)
        refresh_index(services, force=True)
    except PlexsyncError as exc:
        return Check(name, False, f"cannot sample: {exc.message}", "run plexsync doctor -v")
    with_files = [s for s in sample if s.get("files")]
    if not with_files:
        return Check(name, True, "Stash has no scenes with files yet: nothing to compare")
    conn = services.db.conn()
    unmatched: list[tuple[int, str, str]] = []
    for scene in with_files:
        paths = [str(f.get("path")) for f in scene["files"] if isinstance(f, dict)]
        if path_index.lookup_paths(conn, paths, config.path_map, config.path_case_insensitive):
            continue
        first = paths[0]
        unmatched.append((int(scene["id"]), first, path_index.map_path(first, config.path_map)))
    matched = len(with_files) - len(unmatched)
    detail = f"{matched}/{len(with_files)} sampled Stash scenes found in Plex"
    if not unmatched:
        return Check(name, True, detail)
    plex_files = [m.file for ms in path_index.indexed_items(conn).values() for m in ms]
    scene_id, stash_path, mapped = unmatched[0]
    closest = closest_path(mapped, plex_files)
    mapping = ";".join(f"{a}={b}" for a, b in config.path_map) or "(empty)"
    detail += (
        f"\n  scene {scene_id} not found:"
        f"\n    Stash path:   {stash_path}"
        f"\n    mapped path:  {mapped}   (PLEXSYNC_PATH_MAP={mapping})"
        f"\n    closest Plex: {closest or '(Plex movie sections are empty)'}"
    )
    suggestion = suggest_path_map(stash_path, closest) if closest else None
    if suggestion:
        hint = (
            f"Plex has this file under another folder: set "
            f"PLEXSYNC_PATH_MAP={suggestion[0]}={suggestion[1]}"
        )
    else:
        locations = ", ".join(loc for s in sections for loc in s.locations) or "none"
        hint = (
            "Plex has no file by that name: add the folder to a Plex movie library and scan "
            f"it (movie folders: {locations}), or fix PLEXSYNC_PATH_MAP"
        )
    return Check(name, False, detail, hint)
