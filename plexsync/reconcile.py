"""Reconciliation: find and enqueue what the Stash hooks missed.

Stash fires no hook on scene merge, auto-tag, imports or play-count changes; a worker can be
down for days; Plex can be restored from a backup; a user can edit a field in Plex by hand.

- Incremental (the periodic pass): page Stash scenes by ``updated_at`` since the watermark
  minus ``OVERLAP`` (Stash compares the stamps as strings in its local zone: never trust an
  exact watermark), de-duplicate by id, and enqueue each scene whose desired Plex state's
  fingerprint differs from the last applied one, or that was never applied. Plex is not
  contacted at all. The watermark advances to the newest ``updated_at`` seen, only after the
  pass completed.
- Full (``full=True``, weekly, and the FIRST run, when there is no watermark yet): walk every
  Stash scene AND the Plex listings (paged, which also rebuilds the path index; no per-item
  GET, no search), and enqueue scenes never applied, changed in Stash, now matching another
  Plex item, or whose listed Plex data drifted (see ``plex_listing`` for exactly which fields
  a listing can show). Scenes whose files Plex lacks are recorded as unmatched (not enqueued:
  their task could only fail); Plex items no scene claims are reported as orphans; applied
  rows of scenes gone from Stash are forgotten. A first run without Plex configured walks
  Stash alone (fingerprints only).
- Both passes re-enqueue pending tasks lost to crashes (``PendingStore.recover_lost``).

Dry run: nothing is enqueued and no state is written (the path index cache excepted);
``enqueued`` then counts what WOULD be enqueued and ``would_change`` lists why.
A scene that fails validation is counted in ``errors`` and logged; Stash or Plex failing
(unreachable, refused) raises the classified error: a partial pass changes no watermark.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from loguru import logger

from plexsync import path_index
from plexsync.errors import PlexsyncError
from plexsync.mapping import desired_state
from plexsync.matching import plex_keys
from plexsync.model import DesiredState, Scene
from plexsync.plex_listing import ListingTee, listing_drift
from plexsync.scene_schema import load_scene
from plexsync.services import Services
from plexsync.state import Applied

WATERMARK_KEY = "reconcile_watermark"
# Stash compares local-time strings: when DST ends the offset drops an hour, so the window
# must exceed one hour to see edits made in the repeated hour.
OVERLAP = timedelta(minutes=120)
LOST_TASK_MIN_AGE_S = 600.0
STASH_PAGE_SIZE = 500
PROGRESS_EVERY = 250
EXAMPLES = 5
EVENT = "reconcile"

Progress = Callable[[int, int | None], None]


# ---------------------------------------------------------------- Stash timestamps (pure)


def parse_stamp(text: str) -> datetime | None:
    """An RFC3339 Stash timestamp (``Z`` or ``+hh:mm``, optional fraction); None if not one."""
    value = text.strip()
    if not value:
        return None
    if value[-1] in "Zz":
        value = value[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def overlap_since(watermark: str, overlap: timedelta = OVERLAP) -> str | None:
    """``watermark - overlap`` formatted in the watermark's own style (offset, ``Z``,
    fraction or not), since Stash compares the filter value as a string."""
    parsed = parse_stamp(watermark)
    if parsed is None:
        return None
    text = watermark.strip()
    clock = text.partition("T")[2] or text.partition(" ")[2]
    fraction = "." in clock
    shifted = (parsed - overlap).isoformat(
        sep="T" if "T" in text else " ", timespec="microseconds" if fraction else "seconds"
    )
    if text[-1] in "Zz" and shifted.endswith("+00:00"):
        shifted = shifted[: -len("+00:00")] + text[-1]
    return shifted


def _order_key(stamp: datetime) -> float:
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).timestamp()


def newest_stamp(stamps: Iterable[str]) -> str | None:
    """The latest of the parseable stamps (compared as instants), as Stash wrote it."""
    best: tuple[float, str] | None = None
    for text in stamps:
        parsed = parse_stamp(text)
        if parsed is not None and (best is None or _order_key(parsed) > best[0]):
            best = (_order_key(parsed), text)
    return best[1] if best else None


# ---------------------------------------------------------------- the pass


@dataclass
class Report:
    mode: str
    dry_run: bool
    checked: int = 0
    enqueued: int = 0
    coalesced: int = 0  # of ``enqueued``: folded into a task already waiting for the scene
    unmatched: int = 0
    errors: int = 0
    recovered: int = 0
    ambiguous: int = 0
    forgotten: int = 0
    orphans: int = 0
    orphan_examples: list[dict[str, str]] = field(default_factory=list)
    unmatched_examples: list[dict[str, Any]] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)
    would_change: list[dict[str, Any]] = field(default_factory=list)
    watermark: str | None = None
    stash_requests: int = 0
    plex_requests: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "reasons"}
        out["reasons"] = dict(sorted(self.reasons.items()))
        if not self.dry_run:
            out.pop("would_change")
        out["seconds"] = round(self.seconds, 3)
        return out


class _Pass:
    def __init__(self, services: Services, report: Report, progress: Progress | None) -> None:
        self.services = services
        self.report = report
        self.progress = progress
        self.seen: set[int] = set()
        self.stamps: list[str] = []

    def scenes(self, raws: Iterable[dict[str, Any]]) -> Iterator[tuple[Scene, DesiredState]]:
        """Each scene seen for the first time that loads, with its desired state."""
        for raw in raws:
            if self._first_sight(raw):
                loaded = self._load(raw)
                if loaded is not None:
                    yield loaded

    def _first_sight(self, raw: dict[str, Any]) -> bool:
        """Count the scene once (ids de-duplicated across pages and overlap re-reads)."""
        try:
            scene_id = int(str(raw.get("id")))
        except ValueError:
            scene_id = -1 - len(self.seen)  # unparsable id: still counted, load_scene rejects it
        if scene_id in self.seen:
            return False
        self.seen.add(scene_id)
        self.stamps.append(str(raw.get("updated_at") or ""))
        self.report.checked += 1
        if self.progress is not None and self.report.checked % PROGRESS_EVERY == 0:
            self.progress(self.report.checked, None)
        return True

    def _load(self, raw: dict[str, Any]) -> tuple[Scene, DesiredState] | None:
        try:
            scene = load_scene(raw)
        except PlexsyncError as exc:
            self.report.errors += 1
            logger.error("reconcile: scene {}: {}", raw.get("id", "?"), exc.message)
            return None
        return scene, desired_state(scene, self.services.config.ignore_tags)

    def flag(self, scene_id: int, reasons: list[str]) -> None:
        self.report.reasons.update(reasons)
        self.report.enqueued += 1
        if self.report.dry_run:
            self.report.would_change.append({"scene_id": scene_id, "reason": "; ".join(reasons)})
            return
        _, _, coalesced = self.services.pending.record(scene_id, EVENT)
        self.report.coalesced += int(coalesced)
        logger.debug("reconcile: scene {} enqueued ({})", scene_id, "; ".join(reasons))


def _state_reasons(applied: Applied | None, fingerprint: str) -> list[str]:
    if applied is None:
        return ["never applied"]
    if applied.fingerprint != fingerprint:
        return ["changed in Stash"]
    return []


def _incremental(services: Services, run: _Pass, since: str | None, per_page: int) -> None:
    raws = services.stash.iter_scenes_updated_since(since, per_page=per_page)
    for scene, desired in run.scenes(raws):
        reasons = _state_reasons(services.state.get_applied(scene.id), desired.fingerprint())
        if reasons:
            run.flag(scene.id, reasons)


def _full(services: Services, run: _Pass, per_page: int) -> None:
    report, cfg, state = run.report, services.config, services.state
    plex = services.plex
    tee = ListingTee(plex)
    sections = plex.movie_sections()
    conn = services.db.conn()
    stats = path_index.refresh_index(
        conn, tee, sections, full=True, case_insensitive=cfg.path_case_insensitive
    )
    report.plex_requests = 1 + tee.requests
    logger.debug("reconcile: Plex listing read: {} item(s), {}", len(tee.rows), stats)
    applied = state.all_applied()
    claimed: dict[str, int] = {}
    for scene, desired in run.scenes(services.stash.iter_all_scenes(per_page=per_page)):
        keys = plex_keys(scene, services)
        found = {(m.section_id, m.rating_key): m for m in path_index.lookup(conn, list(keys))}
        if not found:
            _unmatched(services, run, scene, tuple(keys.values()))
            continue
        if len(found) > 1 or any(claimed.get(rk, scene.id) != scene.id for _, rk in found):
            for _, rk in found:
                claimed.setdefault(rk, scene.id)
            report.ambiguous += 1
            others = ", ".join(f"{rk} ({m.file})" for (_, rk), m in sorted(found.items()))
            logger.warning("reconcile: scene {}: ambiguous Plex match: {}", scene.id, others)
            continue
        _, rating_key = next(iter(found))
        claimed[rating_key] = scene.id
        last = applied.get(scene.id)
        reasons = _state_reasons(last, desired.fingerprint())
        if last is not None and last.rating_key != rating_key:
            reasons.append(f"Plex item changed ({last.rating_key} -> {rating_key})")
        row = tee.rows.get(rating_key)
        if row is not None:
            reasons.extend(f"drift: {name}" for name in listing_drift(desired, row, tee.carried))
        if reasons:
            run.flag(scene.id, reasons)
    gone = [scene_id for scene_id in applied if scene_id not in run.seen]
    report.forgotten = len(gone)
    if not report.dry_run:
        for scene_id in gone:
            state.forget_scene(scene_id)
    orphans = path_index.unclaimed_items(conn, claimed)
    report.orphans = len(orphans)
    report.orphan_examples = [
        {"rating_key": m.rating_key, "section_id": m.section_id, "file": m.file}
        for m in orphans[:EXAMPLES]
    ]


def _unmatched(services: Services, run: _Pass, scene: Scene, paths: tuple[str, ...]) -> None:
    report = run.report
    report.unmatched += 1
    reason = (
        f"scene {scene.id} has no file in Stash"
        if not paths
        else f"scene {scene.id}: no Plex item has {paths[0]!r}"
        + (f" (or {len(paths) - 1} other file(s))" if len(paths) > 1 else "")
    )
    if len(report.unmatched_examples) < EXAMPLES:
        report.unmatched_examples.append({"scene_id": scene.id, "paths": list(paths)})
    logger.info("reconcile: {}", reason)
    if not report.dry_run:
        services.state.record_unmatched(scene.id, reason, paths)


def run_reconcile(
    services: Services,
    full: bool = False,
    dry_run: bool = False,
    progress: Progress | None = None,
    *,
    per_page: int = STASH_PAGE_SIZE,
    overlap: timedelta = OVERLAP,
) -> dict[str, Any]:
    """One reconciliation pass; returns its report (``checked``, ``enqueued``, ``unmatched``,
    ``errors``, ``recovered``, ``orphans``, ``mode``, ... see ``Report``)."""
    started = time.monotonic()
    state = services.state
    watermark = state.get_meta(WATERMARK_KEY)
    since = overlap_since(watermark, overlap) if watermark else None
    if watermark and since is None:
        logger.warning("reconcile: unreadable watermark {!r}: walking everything", watermark)
    if full:
        mode = "full"
    elif since is None:
        mode = "full (first run)" if services.config.plex_configured() else "stash-only (first run)"
    else:
        mode = "incremental"
    report = Report(mode=mode, dry_run=dry_run)
    if not dry_run:
        report.recovered = len(services.pending.recover_lost(min_age_s=LOST_TASK_MIN_AGE_S))
    run = _Pass(services, report, progress)
    stash_before = services.stash.request_count
    if mode == "incremental":
        _incremental(services, run, since, per_page)
    elif mode.startswith("stash-only"):
        _incremental(services, run, None, per_page)
    else:
        _full(services, run, per_page)
    report.stash_requests = services.stash.request_count - stash_before
    report.watermark = newest_stamp([*run.stamps, *([watermark] if watermark else [])])
    if not dry_run and report.watermark and report.watermark != watermark:
        state.set_meta(WATERMARK_KEY, report.watermark)
    if progress is not None:
        progress(report.checked, report.checked)
    report.seconds = time.monotonic() - started
    return report.as_dict()


__all__ = ["OVERLAP", "WATERMARK_KEY", "newest_stamp", "overlap_since", "run_reconcile"]
