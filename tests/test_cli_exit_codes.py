"""The CLI as scripts see it: `python -m plexsync ...` in a subprocess, exit codes 0/1/2,
one friendly error line on stderr, JSON alone on stdout, --watch stopped by Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from plexsync.config import load_config
from plexsync.enqueue import SYNC_TASK_NAME
from plexsync.services import Services

REPO = Path(__file__).resolve().parent.parent


def plexsync(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "plexsync", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        timeout=60,
    )


def test_exit_0_status_json_only_json_on_stdout() -> None:
    proc = plexsync("status", "--json")
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["circuit"] == "closed"


def test_exit_0_nothing_to_do() -> None:
    proc = plexsync("requeue", "--all")
    assert proc.returncode == 0 and proc.stdout.strip() == "Nothing to requeue."
    proc = plexsync("dlq", "list", "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout) == []


def test_exit_1_unknown_dlq_id_one_line() -> None:
    proc = plexsync("dlq", "show", "does-not-exist")
    assert proc.returncode == 1
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert lines == ["Error: no dead letter with id 'does-not-exist' (see plexsync dlq list)"]
    proc = plexsync("requeue", "does-not-exist")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "args",
    [("dlq", "purge"), ("dlq", "purge", "--older-than", "3"), ("sync", "abc"), ("sync", "-5"),
     ("sync",), ("requeue",), ("status", "--bogus")],
)  # fmt: skip
def test_exit_2_usage(args: tuple[str, ...]) -> None:
    proc = plexsync(*args)
    assert proc.returncode == 2, proc.stderr
    assert "Usage:" in proc.stderr and proc.stdout == ""


def test_bad_config_is_one_line_exit_1() -> None:
    proc = plexsync("status", env={"PLEXSYNC_RETRIES": "many"})
    assert proc.returncode == 1
    assert (
        proc.stderr.strip() == "Error: configuration: PLEXSYNC_RETRIES: not a whole number: 'many'"
    )


def test_requeue_non_scene_task_through_tasks_module() -> None:
    services = Services(load_config())
    services.dlq.add("r1", "plexsync.tasks.reconcile_full", None, {"args": [], "kwargs": {}},
                     "Plex down", "TransientError", 6, None)  # fmt: skip
    services.dlq.add("bad", "plexsync.tasks.no_such_task", None, {"args": [], "kwargs": {}},
                     "x", "X", 1, None)  # fmt: skip
    proc = plexsync("requeue", "r1")
    assert proc.returncode == 0, proc.stderr
    assert "Requeued 1 task(s)." in proc.stdout
    assert services.dlq.get("r1") is None
    rows = services.pending.conn().execute("select data from task").fetchall()
    names = [json.loads(bytes(r[0]))["__message__"]["name"] for r in rows]
    assert names == ["plexsync.tasks.reconcile_full"]
    proc = plexsync("requeue", "bad")
    assert proc.returncode == 1 and "no_such_task" in proc.stderr
    assert services.dlq.get("bad") is not None  # kept: nothing was queued for it


def test_status_watch_stops_cleanly_on_ctrl_c() -> None:
    Services(load_config()).pending.record(3, "test")
    proc = subprocess.Popen(
        [sys.executable, "-m", "plexsync", "status", "--watch", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())
        assert first["queued"] == 1
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err


def test_sync_scene_ids_queue_for_the_worker() -> None:
    proc = plexsync("sync", "41", "42")
    assert proc.returncode == 0 and "Queued 2 scene(s)" in proc.stdout
    rows = Services(load_config()).pending.conn().execute("select data from task").fetchall()
    args = [json.loads(bytes(r[0]))["__message__"]["args"] for r in rows]
    assert args == [[41], [42]]
    assert SYNC_TASK_NAME in bytes(rows[0][0]).decode()


def test_worker_command_runs_until_sigint() -> None:
    env = {**os.environ, "PLEXSYNC_RECONCILE_MINUTES": "0"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "plexsync", "worker", "--workers", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=env,
    )
    try:
        services = Services(load_config())
        for _ in range(300):  # up to 30 s for the interpreter and the consumer to start
            if services.state.live_worker() is not None or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert services.state.live_worker() is not None, "worker never sent a heartbeat"
        assert json.loads(plexsync("status", "--json").stdout)["worker"]["alive"] is True
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert services.state.live_worker() is None


def test_worker_rejects_bad_thread_count() -> None:
    proc = plexsync("worker", "--workers", "0")
    assert proc.returncode == 2 and "--workers" in proc.stderr


def test_traceback_only_with_verbose() -> None:
    args = ("--set", "stash_url=http://127.0.0.1:9", "sync", "--all", "--no-progress")
    quiet = plexsync(*args)
    assert quiet.returncode == 1 and "Traceback" not in quiet.stderr
    assert quiet.stderr.strip().splitlines()[-1].startswith("Error: Stash ")
    loud = plexsync("-v", *args)
    assert loud.returncode == 1 and "Traceback" in loud.stderr
