"""Incremental reconciliation and its failure paths, against the fake Stash and the fake Plex.

Real HTTP, real SQLite state. Full reconciliation: ``test_reconcile_full.py``. Every scenario
starts from a library synced by the real sync path (``sync.sync_scene``), then changes something
behind plexsync's back (no hook), and checks what reconcile finds.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest

from plexsync import sync
from plexsync.config import load_config
from plexsync.errors import AuthError, PermanentError, TransientError
from plexsync.reconcile import (
    OVERLAP,
    WATERMARK_KEY,
    newest_stamp,
    overlap_since,
    parse_stamp,
    run_reconcile,
)
from plexsync.services import Services
from tests.fakes.plex import FakePlex
from tests.fakes.plex_fixtures import FAKE_PLEX_TOKEN
from tests.fakes.stash import FakeStash
from tests.reconcile_helpers import MOVIES, Library, services_for

# ---------------------------------------------------------------- incremental


def test_incremental_finds_a_change_made_without_hook_and_sync_fixes_plex(synced: Library) -> None:
    scene_id = next(iter(synced.pairs))
    rating_key = synced.pairs[scene_id]
    synced.stash.edit_scene(scene_id, title="Renamed by auto-tag", tags=["Alpha", "New tag"])

    report = run_reconcile(synced.services)

    assert report["mode"] == "incremental"
    assert report["checked"] >= 1 and report["enqueued"] == 1
    assert report["reasons"] == {"changed in Stash": 1}
    assert synced.pending() == {scene_id: "reconcile"}
    assert synced.plex.log == []  # incremental never talks to Plex
    assert sync.sync_scene(synced.services, scene_id) == "updated"
    item = synced.plex.item(rating_key)
    assert item.title == "Renamed by auto-tag"
    assert sorted(item.genres) == ["Alpha", "New tag"]
    # Applied now: the next pass (which re-reads the scene in its overlap) enqueues nothing.
    synced.clear_pending()
    again = run_reconcile(synced.services)
    assert again["checked"] >= 1 and again["enqueued"] == 0


def test_nothing_changed_enqueues_nothing_and_writes_nothing(synced: Library) -> None:
    ticks: list[tuple[int, int | None]] = []
    incremental = run_reconcile(synced.services)
    full = run_reconcile(synced.services, full=True, progress=lambda d, t: ticks.append((d, t)))

    for report in (incremental, full):
        assert report["enqueued"] == 0 and report["errors"] == 0, report
        assert report["unmatched"] == 0 and report["orphans"] == 0
    assert full["checked"] == 3
    assert synced.pending() == {} and synced.queued_tasks() == 0
    assert synced.plex.writes() == []
    paths = {r.path for r in synced.plex.reads()}
    assert paths == {"/library/sections", f"/library/sections/{synced.section}/all"}
    assert full["plex_requests"] == len(synced.plex.reads()) == 2
    assert ticks[-1] == (3, 3)


def test_first_run_without_plex_walks_stash_alone(fake_stash: FakeStash) -> None:
    services = Services(load_config({"stash_url": fake_stash.url}))
    ids = [fake_stash.add_scene(title=f"S{i}", files=[f"/x/{i}.mp4"]) for i in range(3)]

    report = run_reconcile(services)

    assert report["mode"] == "stash-only (first run)"
    assert report["checked"] == 3 and report["enqueued"] == 3
    assert services.state.get_meta(WATERMARK_KEY) == fake_stash.scene(ids[-1]).updated_at
    assert run_reconcile(services)["mode"] == "incremental"
    with pytest.raises(PermanentError, match="Plex is not configured"):
        run_reconcile(services, full=True)


def test_overlap_window_sees_a_scene_stamped_in_the_past(lib: Library) -> None:
    day = datetime.fromisoformat("2024-03-01T12:00:00+00:00")
    step = OVERLAP + timedelta(hours=1)  # each scene outside the previous one's overlap
    ids = [lib.add(i, updated_at=(day + i * step).isoformat()) for i in range(4)]
    lib.sync_all()
    run_reconcile(lib.services)
    watermark = lib.services.state.get_meta(WATERMARK_KEY)
    assert watermark == (day + 3 * step).isoformat()
    stamp = parse_stamp(watermark)
    assert stamp is not None
    # Stash's clock/zone put these edits before the watermark: one inside the overlap window.
    lib.stash.edit_scene(ids[0], title="Inside", updated_at=(stamp - OVERLAP / 3).isoformat())
    lib.stash.edit_scene(
        ids[1], title="Outside", updated_at=(stamp - OVERLAP - timedelta(minutes=25)).isoformat()
    )

    report = run_reconcile(lib.services)

    assert report["mode"] == "incremental"
    assert report["checked"] == 2  # the newest scene (overlap re-read) and ids[0]
    assert lib.pending() == {ids[0]: "reconcile"}
    assert lib.services.state.get_meta(WATERMARK_KEY) == watermark  # never moves back


def test_pages_and_repeated_passes_are_deduplicated(lib: Library) -> None:
    stamp = "2024-05-05T10:00:00+00:00"
    ids = [lib.add(i, updated_at=stamp) for i in range(7)]  # one bulk edit: same stamp
    lib.services.state.set_meta(WATERMARK_KEY, "2024-05-05T09:59:59+00:00")

    first = run_reconcile(lib.services, per_page=2)
    second = run_reconcile(lib.services, per_page=3)

    assert first["checked"] == second["checked"] == 7
    assert first["enqueued"] == 7 and first["coalesced"] == 0
    assert first["reasons"] == {"never applied": 7}
    assert second["coalesced"] == 7  # still waiting: folded into the same tasks
    assert sorted(lib.pending()) == ids
    assert lib.queued_tasks() == 7


def test_watermark_keeps_the_stash_zone_style(make_fake_stash, fake_plex: FakePlex) -> None:
    stash = make_fake_stash(utc_offset_minutes=120)
    services = services_for(stash, fake_plex)
    fake_plex.add_section("Movies", locations=[MOVIES])
    a = stash.add_scene(title="A", files=[f"{MOVIES}/a.mp4"])
    run_reconcile(services)
    watermark = services.state.get_meta(WATERMARK_KEY)
    assert watermark is not None and watermark.endswith("+02:00")
    stash.edit_scene(a, title="A2")
    stash.clear_requests()
    report = run_reconcile(services)
    assert report["mode"] == "incremental" and report["checked"] == 1
    assert services.state.get_meta(WATERMARK_KEY) == stash.scene(a).updated_at


# ---------------------------------------------------------------- errors and recovery


def test_a_scene_failing_validation_is_counted_and_the_rest_go_on(
    synced: Library, caplog: pytest.LogCaptureFixture
) -> None:
    from loguru import logger

    handler = logger.add(caplog.handler, level="ERROR", format="{message}")
    ids = list(synced.pairs)
    bad = synced.add(70, rating100=150)
    synced.stash.edit_scene(ids[1], title="Fine change")
    try:
        report = run_reconcile(synced.services)
    finally:
        logger.remove(handler)
    assert report["errors"] == 1
    assert synced.pending() == {ids[1]: "reconcile"}
    assert f"scene {bad}" in caplog.text and "rating100" in caplog.text


def test_stash_down_raises_and_keeps_the_watermark(synced: Library) -> None:
    watermark = synced.services.state.get_meta(WATERMARK_KEY)
    synced.stash.stop()
    with pytest.raises(TransientError, match="Stash"):
        run_reconcile(synced.services)
    assert synced.services.state.get_meta(WATERMARK_KEY) == watermark


def test_plex_down_or_refusing_the_token_raises_in_full_mode(synced: Library) -> None:
    synced.plex.fail_next(1, 401)
    with pytest.raises(AuthError) as refused:
        run_reconcile(synced.services, full=True)
    assert FAKE_PLEX_TOKEN not in str(refused.value)
    synced.plex.stop()
    with pytest.raises(TransientError, match="Plex"):
        run_reconcile(synced.services, full=True)
    assert run_reconcile(synced.services)["errors"] == 0  # incremental needs no Plex


def test_lost_pending_tasks_are_re_enqueued(synced: Library) -> None:
    scene_id = next(iter(synced.pairs))
    synced.services.pending.record(scene_id, "Scene.Update.Post")
    conn = synced.services.pending.conn()
    conn.execute("delete from task")  # the worker died holding it
    conn.execute("update pending set updated_at = ?", (time.time() - 3600,))

    report = run_reconcile(synced.services)

    assert report["recovered"] == 1 and synced.queued_tasks() == 1


# ---------------------------------------------------------------- pure parts


def test_overlap_since_keeps_the_offset_style() -> None:
    def minus(text: str) -> str:
        return (datetime.fromisoformat(text) - OVERLAP).isoformat()

    assert timedelta(hours=1) < OVERLAP  # more than a DST shift
    assert overlap_since("2024-03-01T12:00:00+02:00") == minus("2024-03-01T12:00:00+02:00")
    assert overlap_since("2024-03-01T00:05:00Z") == minus("2024-03-01T00:05:00+00:00").replace(
        "+00:00", "Z"
    )
    assert overlap_since("2024-03-01T12:00:00.250+00:00") == minus("2024-03-01T12:00:00.250+00:00")
    assert minus("2024-03-01T12:00:00.250+00:00").endswith(":00.250000+00:00")
    assert overlap_since("not a time") is None
    assert newest_stamp(["2024-03-01T12:00:00+02:00", "2024-03-01T11:00:00Z", "junk"]) == (
        "2024-03-01T11:00:00Z"
    )
