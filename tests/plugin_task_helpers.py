"""Stand-in worker venvs for the plugin-task tests (the hook's ``args.mode`` tasks).

The worker venv is a directory whose ``bin/python`` is a recording stand-in (or a wrapper
around this checkout's venv for the real CLI), selected with PLEXSYNC_VENV. The ``fake``
fixture is registered in ``tests/conftest.py``.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from plexsync import __version__
from tests.hook_helpers import hook_env, hook_module, server_connection

POSIX_ONLY = pytest.mark.skipif(os.name != "posix", reason="stand-in venvs are POSIX scripts")

FAKE_PYTHON = """#!{python}
import json, os, sys, time
if sys.argv[1:2] == ["-c"]:  # the venv probe (version, pip): answer as this real python
    exec(compile(sys.argv[2], "-c", "exec"))
    sys.exit(0)
with open(os.environ["FAKE_RECORD"], "a") as fh:
    fh.write(json.dumps({{"argv": sys.argv[1:], "pid": os.getpid(), "sid": os.getsid(0),
                          "home": os.environ.get("PLEXSYNC_HOME"), "cwd": os.getcwd(),
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
