"""Running the Stash hook as Stash runs it: payloads, the subprocess, the queue DB rows.

Shared by the hook and plugin-task tests; registered in ``tests/conftest.py`` for the ``home``
fixture.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from huey.registry import Message

from plexsync.db import Database
from plexsync.queue import JsonSerializer
from plexsync.state import StateStore

REPO_ROOT = Path(__file__).resolve().parent.parent
PLUGIN_DIR = REPO_ROOT / "stash_plugin"
HOOK = PLUGIN_DIR / "plexsync_hook.py"
OUTPUT_RE = re.compile(
    r"^(queued|coalesced) scene (\d+) \((Scene\.\w+\.Post)\) task ([0-9a-f]{32}) cid ([0-9a-f]+)$"
)
LOG_LINE_RE = re.compile(r"^\x01[tdiwep]\x02[^\n]*$")


# ------------------------------------------------------------------ helpers


def hook_module() -> ModuleType:
    if str(PLUGIN_DIR) not in sys.path:
        sys.path.insert(0, str(PLUGIN_DIR))
    return importlib.import_module("plexsync_hook")


def server_connection(host: str = "0.0.0.0", cookie: bool = True) -> dict[str, Any]:
    session = {
        "Name": "session",
        "Value": "MTcwMDAwMDAwMHxEdi1CQkFFQ180SUFBUkFCRUFBQV8=",
        "Path": "",
        "Domain": "",
        "Expires": "0001-01-01T00:00:00Z",
        "RawExpires": "",
        "MaxAge": 0,
        "Secure": False,
        "HttpOnly": False,
        "SameSite": 0,
        "Raw": "",
        "Unparsed": None,
    }
    return {
        "Scheme": "http",
        "Host": host,
        "Port": 9999,
        "SessionCookie": session if cookie else None,
        "Dir": "/root/.stash",
        "PluginDir": str(PLUGIN_DIR),
    }


def hook_payload(
    scene_id: Any, trigger: Any = "Scene.Update.Post", hook_input: Any = None, **extra: Any
) -> dict[str, Any]:
    context: dict[str, Any] = {"id": scene_id, "type": trigger, "input": hook_input, **extra}
    return {"server_connection": server_connection(), "args": {"hookContext": context}}


def hook_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLEXSYNC_")}
    env["PLEXSYNC_HOME"] = str(home)
    env.update(extra)
    return env


@dataclass
class HookRun:
    code: int
    stdout: str
    stderr: str

    @property
    def result(self) -> dict[str, Any]:
        lines = self.stdout.splitlines()
        assert len(lines) == 1, f"stdout must be one JSON line: {self.stdout!r}"
        parsed = json.loads(lines[0])
        assert isinstance(parsed, dict)
        return parsed


def start_hook(  # type: ignore[no-untyped-def]
    home: Path,
    env: dict[str, str] | None = None,
    args: tuple[str, ...] = (),
    command: list[str] | None = None,
    cwd: Path | None = None,
):
    return subprocess.Popen(
        command or [sys.executable, str(HOOK), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env or hook_env(home),
        cwd=cwd,
    )


def finish(proc: subprocess.Popen[bytes], stdin: bytes = b"", timeout: float = 60) -> HookRun:
    out, err = proc.communicate(stdin, timeout=timeout)
    return HookRun(proc.returncode, out.decode(), err.decode())


def run_hook(
    home: Path, payload: Any, env: dict[str, str] | None = None, timeout: float = 60
) -> HookRun:
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return finish(start_hook(home, env), data, timeout)


def task_rows(home: Path) -> list[Message]:
    db = home / "queue.db"
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        if not conn.execute("select 1 from sqlite_master where name='task'").fetchone():
            return []
        rows = conn.execute("select queue, data from task order by id").fetchall()
    assert all(queue == "plexsync" for queue, _ in rows)
    return [JsonSerializer().deserialize(bytes(data)) for _, data in rows]


def pending_rows(home: Path) -> dict[int, dict[str, Any]]:
    db = home / "queue.db"
    if not db.exists():
        return {}
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        if not conn.execute("select 1 from sqlite_master where name='pending'").fetchone():
            return {}
        return {r["scene_id"]: dict(r) for r in conn.execute("select * from pending")}


def feed_all(proc: subprocess.Popen[bytes], data: bytes, timeout: float = 60) -> HookRun:
    """Write every byte to the hook's stdin (BrokenPipeError if it stops reading), then wait."""
    assert proc.stdin is not None
    proc.stdin.write(data)  # the hook writes only a few lines before EOF: no deadlock
    proc.stdin.close()
    proc.stdin = None
    return finish(proc, timeout=timeout)


def heartbeat_store(home: Path) -> StateStore:
    """state.db as the worker creates it (plexsync.db schema, WAL)."""
    home.mkdir(mode=0o700, exist_ok=True)
    return StateStore(Database(home / "state.db"))


NO_WORKER_LINE = (
    "\x01w\x02plexsync: no worker is running: events are queued but not synced; "
    'run the plugin task "Start worker"'
)


def assert_log_lines(stderr: str) -> None:
    for line in stderr.splitlines():
        assert LOG_LINE_RE.match(line), f"not a Stash log line: {line!r}"
        assert len(line.encode()) < 64 * 1024


@pytest.fixture
def home(_isolated_env: Path) -> Path:
    return _isolated_env


DESTROY_INPUT = {
    "id": "31",
    "delete_file": False,
    "delete_generated": True,
    "checksum": None,
    "oshash": "a1b2c3d4e5f60718",
    "path": "/data/videos/Ünïcode scene.mp4",
}
PAYLOADS = {
    "create": hook_payload(11, "Scene.Create.Post", {"title": "New", "file_ids": ["5"]}),
    "update": hook_payload(
        12,
        "Scene.Update.Post",
        {"id": "12", "title": "Renamed", "rating100": 80, "tag_ids": ["1", "2"]},
        inputFields=["id", "title", "rating100", "tag_ids"],
    ),
    "destroy": hook_payload(31, "Scene.Destroy.Post", DESTROY_INPUT),
    "scan": hook_payload(44, "Scene.Update.Post", None),
    "no-cookie": {
        "server_connection": server_connection(cookie=False),
        "args": {"hookContext": {"id": 45, "type": "Scene.Create.Post", "input": None}},
    },
}
