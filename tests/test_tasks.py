"""The sync task's guards, executed through the real Huey instance (no consumer thread)."""

from __future__ import annotations

import os
import socket
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from huey.api import Task

from plexsync import matching, tasks
from plexsync.config import load_config
from plexsync.enqueue import SYNC_TASK_NAME
from plexsync.leases import lease
from plexsync.services import Services
from plexsync.state import StateStore
from tests.fakes.plex import FakePlex
from tests.fakes.stash import FakeStash


@pytest.fixture
def services(
    fake_plex: FakePlex, fake_stash: FakeStash, monkeypatch: pytest.MonkeyPatch
) -> Services:
    monkeypatch.setenv("PLEXSYNC_PLEX_URL", fake_plex.url)
    monkeypatch.setenv("PLEXSYNC_PLEX_TOKEN", fake_plex.token)
    monkeypatch.setenv("PLEXSYNC_STASH_URL", fake_stash.url)
    monkeypatch.setattr(matching, "_last_refresh", 0.0)  # no refresh "moments ago"
    svc = Services(load_config())
    tasks.configure(svc)
    return svc


def _queued_task(svc: Services, scene_id: int) -> Task:
    svc.pending.record(scene_id, "Scene.Update.Post")
    return tasks.huey.dequeue()


def test_second_task_for_a_busy_scene_waits_and_touches_nothing(
    services: Services, fake_plex: FakePlex, fake_stash: FakeStash
) -> None:
    section = fake_plex.add_section("Movies", locations=["/media"])
    key = fake_plex.add_item(section, title="x", files=["/media/a.mp4"])
    scene = fake_stash.add_scene(title="A", files=["/media/a.mp4"])
    task = _queued_task(services, scene)
    with lease(services.db, f"scene:{scene}"):  # another thread is syncing this scene
        tasks.huey.execute(task)
    assert fake_plex.log == [] and fake_plex.item(key).title == "x"
    assert tasks.huey.scheduled_count() == 1  # retried shortly, not dropped
    assert services.dlq.count() == 0
    later = datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=60)
    [retry] = tasks.huey.read_schedule(later)
    tasks.huey.execute(retry, timestamp=later)
    assert fake_plex.item(key).title == "A"
    assert services.pending.count() == 0


def test_consecutive_failure_count_resets_after_a_success(
    services: Services, fake_plex: FakePlex, fake_stash: FakeStash
) -> None:
    section = fake_plex.add_section("Movies", locations=["/media"])
    fake_plex.add_item(section, title="x", files=["/media/a.mp4"])
    scene = fake_stash.add_scene(title="A", files=["/media/a.mp4"])
    services.breaker.record_failure()
    services.breaker.record_failure()
    tasks.huey.execute(_queued_task(services, scene))
    assert services.breaker.read().failures == 0


def test_own_stale_heartbeat_is_not_another_worker(tmp_path: Path) -> None:
    state = StateStore(Services(load_config({"home": str(tmp_path)})).db)
    state.heartbeat("me-before-exec", started_at=time.time())  # same pid: an exec() restart
    assert state.live_worker(exclude_self=True) is None
    assert state.live_worker() is not None  # status/doctor: a row is a row
    state.db.conn().execute(
        "update worker set pid = ? , host = ?", (os.getppid(), socket.gethostname())
    )
    assert state.live_worker(exclude_self=True) is not None  # another live process


def test_a_later_successful_sync_resolves_the_scenes_dead_letters(
    services: Services, fake_plex: FakePlex, fake_stash: FakeStash
) -> None:
    section = fake_plex.add_section("Movies", locations=["/media"])
    fake_plex.add_item(section, title="x", files=["/media/a.mp4"])
    scene = fake_stash.add_scene(title="A", files=["/media/a.mp4"])
    other = fake_stash.add_scene(title="B", files=["/media/b.mp4"])
    for scene_id in (scene, other):
        services.dlq.add(f"t{scene_id}", SYNC_TASK_NAME, scene_id, {}, "401", "AuthError", 1, None)
    tasks.huey.execute(_queued_task(services, scene))
    assert [entry.scene_id for entry in services.dlq.list()] == [other]
