"""Sync one scene: fetch (Stash, Plex) → transform (pure mapping + diff) → save (one edit).

``sync_scene`` is what the worker's task runs; ``plan_scene`` is the same path without the
write, for ``plexsync sync --dry-run``.

A 404 on reading the matched item means the path index held a stale row (the item was
deleted, maybe re-created under a new ratingKey): the index is rebuilt in full once
(``matching.rebuild_index``) and the scene matched and read again before failing.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field

from loguru import logger

from plexsync.diff import compute_edit, describe_edit
from plexsync.errors import AmbiguousMatchError, NotFoundError, UnmatchedError, from_plex
from plexsync.mapping import desired_state
from plexsync.matching import Match, match_scene, other_claimant, rebuild_index
from plexsync.model import DesiredState, PlexEdit, PlexItemState, Scene
from plexsync.scene_schema import load_scene
from plexsync.services import Services


@dataclass
class SyncPlan:
    scene_id: int
    scene: Scene | None = None
    desired: DesiredState | None = None
    rating_key: str | None = None
    section_id: str | None = None
    edit: PlexEdit | None = None
    poster: bytes | None = field(default=None, repr=False)
    deleted: bool = False
    unmatched_reason: str | None = None

    def lines(self) -> list[str]:
        if self.deleted:
            return [f"scene {self.scene_id}: not in Stash (deleted): nothing to write"]
        if self.unmatched_reason:
            reason = self.unmatched_reason.removeprefix(f"scene {self.scene_id}: ")
            return [f"scene {self.scene_id}: unmatched: {reason}"]
        assert self.edit is not None
        head = f"scene {self.scene_id} → Plex item {self.rating_key}"
        if self.edit.empty:
            return [f"{head}: up to date, no write"]
        return [f"{head}:"] + [f"  {line}" for line in describe_edit(self.edit)]


def _poster(services: Services, desired: DesiredState) -> tuple[bytes | None, str | None]:
    if not desired.poster_url:
        return None, None
    image = services.stash.fetch_image(desired.poster_url)
    if not image:
        return None, None
    return image, hashlib.sha256(image).hexdigest()


def _claimed_match(services: Services, scene: Scene) -> Match:
    match = match_scene(services, scene)
    other = other_claimant(services, scene.id, match.rating_key)
    if other is not None:
        raise AmbiguousMatchError(
            f"Plex item {match.rating_key} ({match.file}) is claimed by scenes {other} "
            f"and {scene.id}"
        )
    return match


def _match_and_read(services: Services, scene: Scene) -> tuple[Match, PlexItemState]:
    seen_at = time.monotonic()
    match = _claimed_match(services, scene)
    try:
        with from_plex():
            return match, services.plex.read_item(match.rating_key, match.section_id)
    except NotFoundError:
        logger.info("scene {}: Plex item {} is gone", scene.id, match.rating_key)
        rebuild_index(services, seen_at)
    match = _claimed_match(services, scene)
    with from_plex():
        return match, services.plex.read_item(match.rating_key, match.section_id)


def plan_scene(services: Services, scene_id: int, *, catch_unmatched: bool = True) -> SyncPlan:
    """Everything needed to sync one scene, computed without writing to Plex."""
    plan = SyncPlan(scene_id)
    raw = services.stash.find_scene(scene_id)
    if raw is None:
        plan.deleted = True
        return plan
    plan.scene = scene = load_scene(raw)
    plan.desired = desired = desired_state(scene, services.config.ignore_tags)
    try:
        match, current = _match_and_read(services, scene)
    except UnmatchedError as exc:
        if not catch_unmatched:
            raise
        plan.unmatched_reason = exc.message
        return plan
    plan.rating_key, plan.section_id = match.rating_key, match.section_id
    plan.poster, poster_hash = _poster(services, desired)
    last_hash = services.state.poster_hash(match.rating_key)
    plan.edit = compute_edit(desired, current, poster_hash, last_hash)
    return plan


def apply_plan(services: Services, plan: SyncPlan) -> str:
    """Write the plan to Plex (one PUT at most, + rate, + poster) and record what was applied."""
    state = services.state
    if plan.deleted:
        state.forget_scene(plan.scene_id)
        return "deleted"
    assert plan.edit is not None and plan.desired is not None and plan.rating_key
    assert plan.section_id is not None
    edit = plan.edit
    if edit.empty:
        outcome = "unchanged"
    else:
        with from_plex():
            services.plex.apply(edit, plan.poster if edit.upload_poster else None)
        outcome = "updated"
        if edit.upload_poster and plan.poster is not None:
            state.set_poster_hash(plan.rating_key, hashlib.sha256(plan.poster).hexdigest())
    state.clear_unmatched(plan.scene_id)
    state.set_applied(plan.scene_id, plan.rating_key, plan.section_id, plan.desired.fingerprint())
    return outcome


def sync_scene(services: Services, scene_id: int) -> str:
    """Sync one scene; returns "updated", "unchanged" or "deleted". Raises PlexsyncError."""
    plan = plan_scene(services, scene_id, catch_unmatched=False)
    outcome = apply_plan(services, plan)
    if plan.edit is not None and not plan.edit.empty:
        logger.info(
            "scene {} → Plex item {}: {}",
            scene_id,
            plan.rating_key,
            "; ".join(describe_edit(plan.edit)),
        )
    else:
        logger.info("scene {}: {}", scene_id, outcome)
    return outcome


__all__ = ["SyncPlan", "apply_plan", "plan_scene", "sync_scene"]
