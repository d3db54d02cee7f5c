"""The plugin's worker tasks (start_worker, restart_worker), run through the hook as Stash does.

Venv bootstrap: ``test_plugin_venv.py``; CLI tasks relayed to Stash's log:
``test_plugin_cli_tasks.py``; stand-in venvs: ``tests/plugin_task_helpers.py``.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.hook_helpers import (
    assert_log_lines,
    finish,
    hook_module,
    run_hook,
    server_connection,
    start_hook,
)
from tests.plugin_task_helpers import POSIX_ONLY, task_payload, tasks_module, write_heartbeat

pytestmark = POSIX_ONLY


# ------------------------------------------------------------------ start_worker


def test_start_worker_detaches_and_does_not_start_twice(fake: dict[str, Any]) -> None:
    started = time.monotonic()
    run = run_hook(fake["home"], task_payload("start_worker"), env=fake["env"], timeout=20)
    assert run.code == 0, run
    assert time.monotonic() - started < 15  # returned although the worker keeps running
    (worker,) = fake["records"]()
    assert run.result == {"output": f"worker started (pid {worker['pid']})"}
    assert worker["argv"] == ["-m", "plexsync", "worker"]
    assert worker["sid"] == worker["pid"] != os.getsid(0)  # its own session
    assert worker["home"] == str(fake["home"])
    assert worker["stash_url"] == "http://127.0.0.1:9999"
    os.kill(worker["pid"], 0)  # still alive after the task returned
    assert_log_lines(run.stderr)

    again = run_hook(fake["home"], task_payload("start_worker"), env=fake["env"])
    assert again.code == 0
    assert again.result["output"].startswith(f"worker is starting (pid {worker['pid']})")
    write_heartbeat(fake["home"], worker["pid"], socket.gethostname(), age_s=1)
    third = run_hook(fake["home"], task_payload("start_worker"), env=fake["env"])
    assert third.result["output"].startswith(f"worker already running (pid {worker['pid']}")
    assert len(fake["records"]()) == 1


def test_start_worker_reports_a_worker_that_dies_at_once(fake: dict[str, Any]) -> None:
    env = {**fake["env"], "FAKE_BEHAVIOUR": "crash"}
    run = run_hook(fake["home"], task_payload("start_worker"), env=env)
    assert run.code == 1
    assert run.result["error"].startswith("the worker exited at once with code 3")
    assert not (fake["home"] / "worker.spawn").exists()


def test_start_worker_keeps_a_configured_stash_url(fake: dict[str, Any]) -> None:
    (fake["home"]).mkdir(mode=0o700, exist_ok=True)
    (fake["home"] / "config.toml").write_text('stash_url = "http://stash.lan:9999"\n')
    run = run_hook(fake["home"], task_payload("start_worker"), env=fake["env"])
    assert run.code == 0, run
    assert fake["records"]()[0]["stash_url"] is None  # config.toml outranks Stash's address


def test_relative_home_reaches_the_worker_absolute(fake: dict[str, Any], tmp_path: Path) -> None:
    env = {**fake["env"], "PLEXSYNC_HOME": "rel/home"}
    data = json.dumps(task_payload("start_worker")).encode()
    run = finish(start_hook(fake["home"], env, cwd=tmp_path), data)
    assert run.code == 0, run
    (worker,) = fake["records"]()
    home = tmp_path / "rel" / "home"
    assert worker["home"] == str(home)  # not rel/home again, relative to cwd=home
    assert worker["cwd"] == str(home)


def test_start_worker_warns_in_docker_when_home_is_off_the_volume(
    fake: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    tasks = tasks_module()
    dockerenv = tmp_path / ".dockerenv"
    dockerenv.write_text("")
    monkeypatch.setattr(tasks, "DOCKERENV", str(dockerenv))
    for key in ("PLEXSYNC_VENV", "FAKE_RECORD"):
        monkeypatch.setenv(key, fake["env"][key])
    payload = task_payload("start_worker")  # server_connection Dir: /root/.stash
    fake["home"].mkdir(mode=0o700)
    output = tasks.task_start_worker(payload, str(fake["home"]))
    assert output.startswith("worker started (pid ")
    warnings = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("\x01w\x02")]
    assert len(warnings) == 1
    assert (
        f"PLEXSYNC_HOME is {fake['home']}, outside Stash's config dir /root/.stash" in warnings[0]
    )
    assert "set PLEXSYNC_HOME to a path on a volume, e.g. /root/.stash/plexsync" in warnings[0]


def test_docker_home_warning_cases(tmp_path: Path) -> None:
    warning = tasks_module().docker_home_warning
    dockerenv = tmp_path / ".dockerenv"
    config_dir = tmp_path / "stash-config"
    connection = {**server_connection(), "Dir": str(config_dir)}
    inside, outside = str(config_dir / "plexsync"), str(tmp_path / "elsewhere")
    assert warning(outside, connection, str(dockerenv)) is None  # not in Docker
    dockerenv.write_text("")
    assert warning(outside, connection, str(dockerenv)) is not None
    assert warning(inside, connection, str(dockerenv)) is None
    assert warning(str(config_dir) + "-other", connection, str(dockerenv)) is not None
    assert warning(outside, {**connection, "Dir": ""}, str(dockerenv)) is None  # unknown


# ------------------------------------------------------------------ restart_worker


def pid_running(pid: int) -> bool:
    return bool(hook_module().pid_running(pid))


def test_restart_worker_stops_the_live_worker_and_starts_a_new_one(
    fake: dict[str, Any],
) -> None:
    assert run_hook(fake["home"], task_payload("start_worker"), env=fake["env"]).code == 0
    (old,) = fake["records"]()
    write_heartbeat(fake["home"], old["pid"], socket.gethostname(), age_s=3)
    run = run_hook(fake["home"], task_payload("restart_worker"), env=fake["env"], timeout=60)
    assert run.code == 0, run
    old_record, new = fake["records"]()
    assert old_record == old and new["argv"] == ["-m", "plexsync", "worker"]
    assert run.result == {"output": f"restart: worker started (pid {new['pid']})"}
    assert not pid_running(old["pid"])
    assert pid_running(new["pid"])
    assert f"plexsync: the worker (pid {old['pid']}) stopped" in run.stderr
    assert_log_lines(run.stderr)


def test_restart_worker_without_a_worker_starts_one(fake: dict[str, Any]) -> None:
    run = run_hook(fake["home"], task_payload("restart_worker"), env=fake["env"])
    assert run.code == 0, run
    (worker,) = fake["records"]()
    assert run.result == {"output": f"restart: worker started (pid {worker['pid']})"}


def test_restart_worker_leaves_a_worker_on_another_host_alone(fake: dict[str, Any]) -> None:
    fake["home"].mkdir(mode=0o700)
    write_heartbeat(fake["home"], os.getpid(), "nas.lan", age_s=3)
    run = run_hook(fake["home"], task_payload("restart_worker"), env=fake["env"])
    assert run.code == 1
    assert run.result["error"] == (
        f"the worker (pid {os.getpid()}) runs on host nas.lan: restart it there"
    )
    assert fake["records"]() == []


IGNORES_SIGTERM = (
    "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('ready', flush=True); time.sleep(60)"
)


def test_stop_worker_gives_up_on_a_worker_that_does_not_stop() -> None:
    tasks = tasks_module()
    stubborn = subprocess.Popen(
        [sys.executable, "-c", IGNORES_SIGTERM, "plexsync"], stdout=subprocess.PIPE
    )
    try:
        assert stubborn.stdout is not None and stubborn.stdout.readline() == b"ready\n"
        with pytest.raises(tasks.TaskError, match=r"did not stop within 0\.5 s"):
            tasks.stop_worker(stubborn.pid, timeout=0.5)
        assert stubborn.poll() is None
    finally:
        stubborn.kill()
        stubborn.wait()


def test_stop_worker_never_signals_a_reused_pid() -> None:
    tasks = tasks_module()
    other = subprocess.Popen(["sleep", "30"])
    try:
        with pytest.raises(tasks.TaskError, match="not a plexsync process"):
            tasks.stop_worker(other.pid, timeout=0.5)
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()


# ------------------------------------------------------------------ pure parts


@pytest.mark.parametrize(
    ("connection", "url"),
    [
        ({"Scheme": "http", "Host": "0.0.0.0", "Port": 9999}, "http://127.0.0.1:9999"),
        ({"Scheme": "https", "Host": "", "Port": 443}, "https://127.0.0.1:443"),
        ({"Scheme": "http", "Host": "stash.lan", "Port": 9999}, "http://stash.lan:9999"),
        ({"Scheme": "http", "Host": "::1", "Port": 9999}, "http://[::1]:9999"),
        ({"Host": "0.0.0.0"}, None),
        (None, None),
    ],
)
def test_stash_url(connection: Any, url: str | None) -> None:
    assert tasks_module().stash_url(connection) == url


def test_child_env_keeps_an_explicit_stash_url(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    payload = task_payload("status")
    monkeypatch.setenv("PLEXSYNC_STASH_URL", "http://elsewhere:9999")
    env = tasks_module().child_env(payload, str(tmp_path))
    assert env["PLEXSYNC_STASH_URL"] == "http://elsewhere:9999"
    assert env["PLEXSYNC_HOME"] == str(tmp_path)


def test_live_worker_reads_heartbeats(tmp_path: Path) -> None:
    live_worker = tasks_module().live_worker
    host = socket.gethostname()
    assert live_worker(str(tmp_path)) is None  # no state.db
    sqlite3.connect(tmp_path / "state.db").close()
    assert live_worker(str(tmp_path)) is None  # no worker table
    write_heartbeat(tmp_path, os.getpid(), host, age_s=120)
    assert live_worker(str(tmp_path)) is None  # stale
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    write_heartbeat(tmp_path, dead.pid, host, age_s=1)
    assert live_worker(str(tmp_path)) is None  # fresh, but that process is gone
    write_heartbeat(tmp_path, 999_999_999, "another-host", age_s=5)
    assert live_worker(str(tmp_path)).startswith("pid 999999999 on another-host")
    write_heartbeat(tmp_path, os.getpid(), host, age_s=2)
    assert live_worker(str(tmp_path)).startswith(f"pid {os.getpid()} on {host}")
