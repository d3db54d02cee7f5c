"""The real worker (subprocess) against fake Plex and fake Stash: failure paths first."""

from __future__ import annotations

import json
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from plexsync import enqueue
from tests.e2e import Worker, hook_payload, run_cli, run_hook, wait_until, worker_env
from tests.fakes.plex import FakePlex
from tests.fakes.stash import FakeStash

pytestmark = pytest.mark.e2e


def stage(stash: FakeStash, plex: FakePlex, n: int) -> list[tuple[int, int]]:
    section = plex.add_section("Movies", locations=["/media"])
    pairs = []
    for i in range(n):
        scene_id = stash.add_scene(
            title=f"Scene {i}",
            details=f"Details of scene {i}",
            tags=["Tag A", f"Tag {i}"],
            performers=[f"Performer {i}"],
            studio="Studio X",
            rating100=80,
            files=[f"/data/scene{i:03d}.mp4"],
        )
        key = plex.add_item(section, title=f"file{i:03d}", files=[f"/media/scene{i:03d}.mp4"])
        pairs.append((scene_id, key))
    return pairs


def synced(plex: FakePlex, stash: FakeStash, scene_id: int, key: int) -> bool:
    item = plex.item(key)
    scene = stash.scene(scene_id)
    return (
        item.title == scene.title
        and item.summary == scene.details
        and sorted(item.genres) == sorted(scene.tags)
        and "title" in item.locked
    )


def all_synced(plex: FakePlex, stash: FakeStash, pairs: list[tuple[int, int]]) -> bool:
    return all(synced(plex, stash, s, k) for s, k in pairs)


def dlq_rows(home: Path) -> list[tuple]:
    db = home / "state.db"
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        try:
            return conn.execute("select id, error_class, attempts, cid from dlq").fetchall()
        except sqlite3.OperationalError:
            return []


def pending_count(home: Path) -> int:
    with sqlite3.connect(home / "queue.db") as conn:
        return int(conn.execute("select count(*) from pending").fetchone()[0])


def record_events(home: Path, scene_ids: list[int]) -> None:
    conn = enqueue.connect(str(home / "queue.db"))
    for scene_id in scene_ids:
        enqueue.record_event(conn, scene_id, "Scene.Update.Post")
    conn.close()


@pytest.fixture
def env(
    tmp_path: Path, fake_plex: FakePlex, fake_stash: FakeStash, _isolated_env: Path
) -> dict[str, str]:
    return worker_env(_isolated_env, fake_plex, fake_stash, PLEXSYNC_PATH_MAP="/data=/media")


def test_hook_to_plex_happy_path(
    env: dict[str, str], fake_plex: FakePlex, fake_stash: FakeStash, tmp_path: Path
) -> None:
    pairs = stage(fake_stash, fake_plex, 3)
    for scene_id, _ in pairs:
        result = run_hook(env, hook_payload(scene_id))
        assert result.returncode == 0, result.stdout + result.stderr
        assert "queued" in json.loads(result.stdout)["output"]
    worker = Worker(env, tmp_path / "w.log").start()
    try:
        wait_until(lambda: all_synced(fake_plex, fake_stash, pairs), 30, "scenes synced")
        wait_until(lambda: pending_count(Path(env["PLEXSYNC_HOME"])) == 0, 10, "pending cleared")
    finally:
        assert worker.stop() == 0
    log = worker.log()
    cid = json.loads(run_hook(env, hook_payload(pairs[0][0])).stdout)["output"].split("cid ")[-1]
    assert cid  # the hook reports the correlation id it recorded
    assert fake_plex.token not in log
    assert dlq_rows(Path(env["PLEXSYNC_HOME"])) == []


def test_plex_down_while_50_events_arrive(
    env: dict[str, str], fake_plex: FakePlex, fake_stash: FakeStash, tmp_path: Path
) -> None:
    home = Path(env["PLEXSYNC_HOME"])
    pairs = stage(fake_stash, fake_plex, 50)
    fake_plex.stop()
    worker = Worker(env, tmp_path / "w.log", threads=2).start()
    try:
        record_events(home, [s for s, _ in pairs])
        time.sleep(4)  # Plex stays down: tasks retry, the breaker opens
        status = json.loads(run_cli(env, "status", "--json").stdout)
        assert status["circuit"] in ("open", "half-open")
        fake_plex.start()
        wait_until(lambda: all_synced(fake_plex, fake_stash, pairs), 60, "50 scenes synced")
        wait_until(lambda: pending_count(home) == 0, 20, "pending cleared")
    finally:
        worker.stop()
    assert dlq_rows(home) == []


def test_429_retry_after_is_honoured(
    env: dict[str, str], fake_plex: FakePlex, fake_stash: FakeStash, tmp_path: Path
) -> None:
    [(scene_id, key)] = stage(fake_stash, fake_plex, 1)
    fake_plex.fail_next(1, 429, retry_after=3)
    record_events(Path(env["PLEXSYNC_HOME"]), [scene_id])
    worker = Worker(env, tmp_path / "w.log").start()
    try:
        wait_until(lambda: synced(fake_plex, fake_stash, scene_id, key), 30, "synced after 429")
    finally:
        worker.stop()
    log = fake_plex.log
    refused = [r for r in log if r.status == 429]
    assert len(refused) == 1
    after = [r for r in log if r.monotonic > refused[0].monotonic]
    assert after, "no request after the 429"
    assert after[0].monotonic - refused[0].monotonic >= 3.0
    assert dlq_rows(Path(env["PLEXSYNC_HOME"])) == []


def test_401_dead_letters_once_then_requeue_after_fix(
    env: dict[str, str], fake_plex: FakePlex, fake_stash: FakeStash, tmp_path: Path
) -> None:
    home = Path(env["PLEXSYNC_HOME"])
    [(scene_id, key)] = stage(fake_stash, fake_plex, 1)
    real_token = fake_plex.token
    fake_plex.set_token("another-token-entirely")
    record_events(home, [scene_id])
    worker = Worker(env, tmp_path / "w.log").start()
    try:
        wait_until(lambda: len(dlq_rows(home)) == 1, 30, "dead letter")
        [(dlq_id, error_class, attempts, cid)] = dlq_rows(home)
        assert error_class == "AuthError" and attempts == 1 and cid
        listed = json.loads(run_cli(env, "dlq", "list", "--json").stdout)
        assert listed[0]["id"] == dlq_id and "401" in listed[0]["error"]
        assert real_token not in json.dumps(listed)
        fake_plex.set_token(real_token)
        result = run_cli(env, "requeue", "--all")
        assert result.returncode == 0, result.stderr
        assert "1" in result.stdout
        wait_until(lambda: synced(fake_plex, fake_stash, scene_id, key), 30, "synced after fix")
    finally:
        worker.stop()
    assert dlq_rows(home) == []
    assert cid in worker.log()  # the correlation id travels from event to dead letter


def test_read_timeout_is_transient_and_configured(
    env: dict[str, str], fake_plex: FakePlex, fake_stash: FakeStash, tmp_path: Path
) -> None:
    [(scene_id, key)] = stage(fake_stash, fake_plex, 1)
    fake_plex.slow_next(1, 2.5)  # read timeout is 1 s
    record_events(Path(env["PLEXSYNC_HOME"]), [scene_id])
    worker = Worker(env, tmp_path / "w.log").start()
    try:
        wait_until(lambda: synced(fake_plex, fake_stash, scene_id, key), 30, "synced after timeout")
    finally:
        worker.stop()
    log = worker.log()
    # The configured read timeout (PLEXSYNC_READ_TIMEOUT=1) is the one that fired, and the
    # failure was retried as transient.
    assert "(read timeout=1.0) (attempt 1/6), retry in" in log, log[-2000:]
    assert dlq_rows(Path(env["PLEXSYNC_HOME"])) == []


def test_sigkill_mid_stream_converges(
    env: dict[str, str], fake_plex: FakePlex, fake_stash: FakeStash, tmp_path: Path
) -> None:
    home = Path(env["PLEXSYNC_HOME"])
    pairs = stage(fake_stash, fake_plex, 30)
    fake_plex.slow_next(200, 0.05)  # keep tasks in flight when the kill lands
    record_events(home, [s for s, _ in pairs])
    for round_ in range(3):
        worker = Worker(env, tmp_path / f"w{round_}.log", threads=2).start()
        time.sleep(1.5 + round_ * 0.5)
        worker.kill()
    worker = Worker(env, tmp_path / "final.log", threads=2).start()
    try:
        wait_until(lambda: all_synced(fake_plex, fake_stash, pairs), 60, "converged")
        wait_until(lambda: pending_count(home) == 0, 20, "pending cleared")
    finally:
        worker.stop()
    assert dlq_rows(home) == []
    for _, key in pairs:  # nothing applied twice in a harmful way: no duplicated tags
        item = fake_plex.item(key)
        assert len(item.genres) == len(set(item.genres))


def test_breaker_cuts_request_rate_while_plex_down(
    env: dict[str, str], fake_plex: FakePlex, fake_stash: FakeStash, tmp_path: Path
) -> None:
    pairs = stage(fake_stash, fake_plex, 20)
    fake_plex.fail_next(10_000, 503)
    record_events(Path(env["PLEXSYNC_HOME"]), [s for s, _ in pairs])
    worker = Worker(env, tmp_path / "w.log", threads=2).start()
    try:
        time.sleep(3)  # breaker opens after 3 failures
        fake_plex.clear_log()
        time.sleep(5)
        window = fake_plex.log
    finally:
        worker.stop()
        fake_plex.clear_faults()
    # 20 tasks retrying every ~0.2-1 s would send dozens of requests in 5 s; with the
    # breaker open only the half-open probe (every cooldown = 1 s) reaches Plex.
    assert len(window) <= 8, [(r.method, r.path) for r in window]
    assert all(r.path == "/identity" for r in window), [(r.method, r.path) for r in window]


def test_sigterm_lets_in_flight_task_finish(
    env: dict[str, str], fake_plex: FakePlex, fake_stash: FakeStash, tmp_path: Path
) -> None:
    [(scene_id, key)] = stage(fake_stash, fake_plex, 1)
    worker = Worker(env, tmp_path / "w.log").start()
    try:
        wait_until(lambda: "worker started" in worker.log(), 20, "worker start")
        fake_plex.slow_next(1, 0.8)
        record_events(Path(env["PLEXSYNC_HOME"]), [scene_id])
        wait_until(lambda: len(fake_plex.log) > 0, 10, "task started")
    finally:
        rc = worker.stop(signal.SIGTERM)
    assert rc == 0
    assert synced(fake_plex, fake_stash, scene_id, key)


def test_burst_of_20_saves_is_one_plex_update_with_final_data(
    env: dict[str, str], fake_plex: FakePlex, fake_stash: FakeStash, tmp_path: Path
) -> None:
    [(scene_id, key)] = stage(fake_stash, fake_plex, 1)
    for n in range(20):  # the user saves 20 times in a row; Stash runs the hook after each
        fake_stash.edit_scene(scene_id, title=f"Edit {n}")
        result = run_hook(env, hook_payload(scene_id, inputFields=["title"]))
        assert result.returncode == 0, result.stdout + result.stderr
    with sqlite3.connect(Path(env["PLEXSYNC_HOME"]) / "queue.db") as conn:
        assert conn.execute("select count(*) from task").fetchone()[0] == 1
    worker = Worker(env, tmp_path / "w.log").start()
    try:
        wait_until(lambda: fake_plex.item(key).title == "Edit 19", 30, "final title")
        wait_until(lambda: pending_count(Path(env["PLEXSYNC_HOME"])) == 0, 10, "pending cleared")
    finally:
        worker.stop()
    edits = [w for w in fake_plex.writes() if w.path.endswith("/all")]
    assert len(edits) == 1


def test_sighup_stops_gracefully_and_a_restart_is_not_refused(
    env: dict[str, str], fake_plex: FakePlex, fake_stash: FakeStash, tmp_path: Path
) -> None:
    [(scene_id, key)] = stage(fake_stash, fake_plex, 1)
    worker = Worker(env, tmp_path / "w1.log").start()
    wait_until(lambda: "worker started" in worker.log(), 20, "worker start")
    assert worker.stop(signal.SIGHUP) == 0  # logrotate / systemctl reload
    again = Worker(env, tmp_path / "w2.log").start()
    try:
        wait_until(lambda: "worker started" in again.log(), 20, "restart")
        record_events(Path(env["PLEXSYNC_HOME"]), [scene_id])
        wait_until(lambda: synced(fake_plex, fake_stash, scene_id, key), 30, "synced")
    finally:
        again.stop()
    assert "already running" not in again.log()
