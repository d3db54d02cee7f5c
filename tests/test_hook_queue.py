"""The hook's queue DB under load and failure: locks, broken files, bursts, private files."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import time
from pathlib import Path

import pytest

from plexsync.enqueue import BUSY_TIMEOUT_MS, connect
from tests.hook_helpers import (
    DESTROY_INPUT,
    OUTPUT_RE,
    PAYLOADS,
    finish,
    hook_module,
    hook_payload,
    pending_rows,
    run_hook,
    start_hook,
    task_rows,
)

# ------------------------------------------------------------------ locked or broken queue DB


def test_locked_queue_fails_the_save_after_the_hooks_shorter_timeout(home: Path) -> None:
    assert run_hook(home, hook_payload(1)).code == 0
    assert hook_module().HOOK_BUSY_TIMEOUT_MS == 10000 < BUSY_TIMEOUT_MS
    blocker = sqlite3.connect(home / "queue.db", isolation_level=None)
    blocker.execute("begin exclusive")  # a writer that never lets go
    try:
        run = run_hook(home, hook_payload(2), timeout=25)  # the worker's 30 s would time out
    finally:
        blocker.execute("rollback")
        blocker.close()
    assert run.code == 1
    assert run.result["error"].startswith("queue database ")
    assert "locked" in run.result["error"]
    assert sorted(pending_rows(home)) == [1]


def test_connect_busy_timeout_parameter(tmp_path: Path) -> None:
    default = connect(str(tmp_path / "q.db"))
    short = connect(str(tmp_path / "q.db"), busy_timeout_ms=250)
    try:
        assert default.execute("pragma busy_timeout").fetchone()[0] == BUSY_TIMEOUT_MS
        assert short.execute("pragma busy_timeout").fetchone()[0] == 250
        default.execute("begin immediate")
        started = time.monotonic()
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            short.execute("begin immediate")
        assert time.monotonic() - started < BUSY_TIMEOUT_MS / 1000
    finally:
        default.close()
        short.close()


def test_unreadable_queue_db_is_an_error(home: Path) -> None:
    home.mkdir(mode=0o700)
    (home / "queue.db").write_bytes(b"this is not an SQLite database" * 100)
    run = run_hook(home, PAYLOADS["update"])
    assert run.code == 1
    assert run.result["error"].startswith("queue database ")
    assert "not a database" in run.result["error"]


def test_uncreatable_home_is_an_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    run = run_hook(blocker / "home", PAYLOADS["update"])
    assert run.code == 1
    assert run.result["error"].startswith(f"cannot create PLEXSYNC_HOME {blocker / 'home'}")


# ------------------------------------------------------------------ concurrency, coalescing


def test_sixteen_simultaneous_hooks_for_sixteen_scenes(home: Path) -> None:
    procs = [start_hook(home) for _ in range(16)]  # all started before any gets its input
    runs = [
        finish(proc, json.dumps(hook_payload(100 + i)).encode()) for i, proc in enumerate(procs)
    ]
    for run in runs:
        assert run.code == 0, run
        assert "locked" not in run.stdout + run.stderr
    messages = task_rows(home)
    assert sorted(m.args[0] for m in messages) == list(range(100, 116))
    assert len({m.id for m in messages}) == 16
    assert {sid: row["seq"] for sid, row in pending_rows(home).items()} == {
        sid: 1 for sid in range(100, 116)
    }


def test_twenty_rapid_saves_of_one_scene_become_one_task(home: Path) -> None:
    procs = [start_hook(home) for _ in range(20)]
    runs = [finish(proc, json.dumps(hook_payload(7)).encode()) for proc in procs]
    assert all(run.code == 0 for run in runs), runs
    outputs = [OUTPUT_RE.match(run.result["output"]) for run in runs]
    verbs = sorted(m.group(1) for m in outputs if m)
    assert verbs == ["coalesced"] * 19 + ["queued"]
    (message,) = task_rows(home)
    assert {m.group(4) for m in outputs if m} == {message.id}
    row = pending_rows(home)[7]
    assert (row["seq"], row["queued"], row["task_id"]) == (20, 1, message.id)


def test_event_after_the_worker_claimed_the_task_queues_a_new_one(home: Path) -> None:
    assert run_hook(home, hook_payload(9)).code == 0
    with sqlite3.connect(home / "queue.db") as conn:  # what a worker does when it starts a task
        conn.execute("delete from task")
        conn.execute("update pending set queued = 0, claimed_at = 1 where scene_id = 9")
    run = run_hook(home, hook_payload(9, "Scene.Destroy.Post", DESTROY_INPUT))
    assert run.code == 0
    assert run.result["output"].startswith("queued scene 9 (Scene.Destroy.Post)")
    (message,) = task_rows(home)
    assert message.kwargs["event"] == "Scene.Destroy.Post"
    assert pending_rows(home)[9]["seq"] == 2


# ------------------------------------------------------------------ state dir


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_state_files_are_private(home: Path) -> None:
    home.mkdir(mode=0o755)
    os.chmod(home, 0o755)
    procs = [start_hook(home) for _ in range(2)]
    for i, proc in enumerate(procs):
        assert finish(proc, json.dumps(hook_payload(1 + i)).encode()).code == 0
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    files = [p for p in home.iterdir() if p.name.startswith("queue.db")]
    assert files
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
