"""The plugin's Stash tasks (args.mode), run through the hook as Stash runs them.

The worker venv is a directory whose ``bin/python`` is a recording stand-in (or a wrapper
around this checkout's venv for the real CLI), selected with PLEXSYNC_VENV.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from plexsync import __version__
from tests.test_hook import (
    REPO_ROOT,
    HookRun,
    assert_log_lines,
    hook_env,
    hook_module,
    run_hook,
    server_connection,
)

pytestmark = pytest.mark.skipif(os.name != "posix", reason="stand-in venvs are POSIX scripts")

FAKE_PYTHON = """#!{python}
import json, os, sys, time
with open(os.environ["FAKE_RECORD"], "a") as fh:
    fh.write(json.dumps({{"argv": sys.argv[1:], "pid": os.getpid(), "sid": os.getsid(0),
                          "home": os.environ.get("PLEXSYNC_HOME"),
                          "stash_url": os.environ.get("PLEXSYNC_STASH_URL")}}) + "\\n")
behaviour = os.environ.get("FAKE_BEHAVIOUR", "")
if sys.argv[1:4] == ["-m", "plexsync", "worker"]:
    if behaviour == "crash":
        sys.exit(3)
    print("worker output goes nowhere", flush=True)
    time.sleep(60)
elif sys.argv[1:3] == ["-m", "pip"]:
    print("Successfully installed plexsync")
else:
    print("line one")
    print("Error: Plex said no" if behaviour == "fail" else "summary: 3 queued")
    sys.exit(2 if behaviour == "fail" else 0)
"""


def task_payload(mode: str, host: str = "0.0.0.0") -> dict[str, Any]:
    return {"server_connection": server_connection(host), "args": {"mode": mode}}


def make_venv(root: Path, script: str, version: str | None = __version__) -> Path:
    venv = root / "venv"
    (venv / "bin").mkdir(parents=True)
    python = venv / "bin" / "python"
    python.write_text(script)
    python.chmod(0o755)
    if version is not None:
        (venv / ".plexsync-installed").write_text(version + "\n")
    return venv


@pytest.fixture
def fake(tmp_path: Path, _isolated_env: Path) -> Iterator[dict[str, Any]]:
    venv = make_venv(tmp_path, FAKE_PYTHON.format(python=sys.executable))
    record = tmp_path / "record.jsonl"
    env = hook_env(_isolated_env, PLEXSYNC_VENV=str(venv), FAKE_RECORD=str(record))
    state: dict[str, Any] = {"home": _isolated_env, "venv": venv, "env": env}

    def records() -> list[dict[str, Any]]:
        if not record.exists():
            return []
        return [json.loads(line) for line in record.read_text().splitlines()]

    state["records"] = records
    yield state
    for rec in records():  # stop the stand-in workers this test started, and only those
        if is_stand_in(rec["pid"], venv):
            os.kill(rec["pid"], signal.SIGKILL)


def is_stand_in(pid: int, venv: Path) -> bool:
    """True while pid is still a process of our stand-in python (pids get reused)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return str(venv).encode() in cmdline


def write_heartbeat(home: Path, pid: int, host: str, age_s: float) -> None:
    with sqlite3.connect(home / "state.db") as conn:
        conn.execute(
            "create table if not exists worker (id text primary key, pid integer, host text, "
            "started_at real, heartbeat_at real)"
        )
        now = time.time()
        conn.execute(
            "insert or replace into worker values (?, ?, ?, ?, ?)",
            (f"w{pid}", pid, host, now, now - age_s),
        )


def tasks_module() -> Any:
    hook_module()
    import plexsync_tasks

    return plexsync_tasks


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


def test_outdated_venv_is_reinstalled_before_use(tmp_path: Path, _isolated_env: Path) -> None:
    venv = make_venv(tmp_path, FAKE_PYTHON.format(python=sys.executable), version="0.0.1")
    record = tmp_path / "record.jsonl"
    env = hook_env(_isolated_env, PLEXSYNC_VENV=str(venv), FAKE_RECORD=str(record))
    run = run_hook(_isolated_env, task_payload("status"), env=env)
    assert run.code == 0, run
    pip, status = (json.loads(line) for line in record.read_text().splitlines())
    assert pip["argv"][:4] == ["-m", "pip", "install", "--disable-pip-version-check"]
    assert pip["argv"][-1] == str(REPO_ROOT)
    assert status["argv"] == ["-m", "plexsync", "status"]
    assert (venv / ".plexsync-installed").read_text().strip() == __version__


def test_bootstrap_failure_is_a_clear_error(tmp_path: Path, _isolated_env: Path) -> None:
    venv = tmp_path / "new-venv"
    env = hook_env(_isolated_env, PLEXSYNC_VENV=str(venv), PIP_NO_INDEX="1", PIP_FIND_LINKS="")
    run = run_hook(_isolated_env, task_payload("start_worker"), env=env, timeout=240)
    assert run.code == 1, run
    assert run.result["error"].startswith(f"pip install of plexsync into {venv} failed (exit ")
    assert f"\x01i\x02plexsync: creating the worker virtualenv at {venv}" in run.stderr
    assert (venv / "bin" / "python").exists()  # the venv step worked; the next run retries pip
    assert not (venv / ".plexsync-installed").exists()
    assert_log_lines(run.stderr)


# ------------------------------------------------------------------ CLI tasks

CLI_MODES = {
    "sync_all": ["sync", "--all"],
    "reconcile": ["reconcile"],
    "status": ["status"],
    "requeue_dlq": ["requeue", "--all"],
}


@pytest.mark.parametrize("mode", sorted(CLI_MODES))
def test_cli_task_relays_output_into_stashs_log(fake: dict[str, Any], mode: str) -> None:
    run = run_hook(fake["home"], task_payload(mode), env=fake["env"])
    assert run.code == 0, run
    command = "plexsync " + " ".join(CLI_MODES[mode])
    assert run.result == {"output": f"{command}: summary: 3 queued"}
    (rec,) = fake["records"]()
    assert rec["argv"] == ["-m", "plexsync", *CLI_MODES[mode]]
    assert rec["stash_url"] == "http://127.0.0.1:9999"
    lines = run.stderr.splitlines()
    assert "\x01i\x02line one" in lines and "\x01i\x02summary: 3 queued" in lines
    assert_log_lines(run.stderr)


def test_failing_cli_task_is_an_error(fake: dict[str, Any]) -> None:
    env = {**fake["env"], "FAKE_BEHAVIOUR": "fail"}
    run = run_hook(fake["home"], task_payload("reconcile"), env=env)
    assert run.code == 1
    assert run.result == {"error": "plexsync reconcile failed (exit 2): Error: Plex said no"}
    assert "\x01e\x02Error: Plex said no" in run.stderr.splitlines()


def real_cli_venv(root: Path) -> Path:
    wrapper = f'#!/bin/sh\nexec "{REPO_ROOT / ".venv" / "bin" / "python"}" "$@"\n'
    return make_venv(root, wrapper)


@pytest.mark.parametrize("mode", ["status", "requeue_dlq"])
def test_real_cli_task(tmp_path: Path, _isolated_env: Path, mode: str) -> None:
    venv = real_cli_venv(tmp_path)
    env = hook_env(_isolated_env, PLEXSYNC_VENV=str(venv))
    probe = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "plexsync", *CLI_MODES[mode], "--help"],
        capture_output=True,
        env=env,
        check=False,
    )
    if probe.returncode != 0:
        pytest.skip(f"`plexsync {' '.join(CLI_MODES[mode])}` is not available in .venv yet")
    run: HookRun = run_hook(_isolated_env, task_payload(mode), env=env, timeout=120)
    assert run.code == 0, run
    assert run.result["output"].startswith("plexsync " + " ".join(CLI_MODES[mode]) + ": ")
    assert len(run.stderr.splitlines()) >= 2  # "running ..." plus the command's own output
    assert_log_lines(run.stderr)


def test_task_from_a_shell_with_mode_flag(fake: dict[str, Any]) -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / "stash_plugin" / "plexsync_hook.py"), "--mode", "status"],
        capture_output=True,
        env=fake["env"],
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc
    assert json.loads(proc.stdout) == {"output": "plexsync status: summary: 3 queued"}
    assert fake["records"]()[0]["stash_url"] is None  # no server_connection: nothing invented


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
