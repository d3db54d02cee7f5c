"""The Stash hook as Stash runs it: a real subprocess, Stash's JSON on stdin, a real queue DB."""

from __future__ import annotations

import base64
import importlib
import io
import json
import os
import re
import socket
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import platformdirs
import pytest
from huey.registry import Message
from hypothesis import given
from hypothesis import strategies as st

from plexsync.config import load_config
from plexsync.db import Database
from plexsync.enqueue import BUSY_TIMEOUT_MS, SYNC_TASK_NAME, connect, task_data
from plexsync.queue import JsonSerializer, build_huey
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


# ------------------------------------------------------------------ real payloads


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


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_real_payload_is_queued_as_a_huey_task(home: Path, name: str) -> None:
    payload = PAYLOADS[name]
    context = payload["args"]["hookContext"]
    run = run_hook(home, payload)

    assert run.code == 0, run
    assert set(run.result) == {"output"}
    match = OUTPUT_RE.match(run.result["output"])
    assert match, run.result
    verb, scene_id, trigger, task_id, cid = match.groups()
    assert (verb, int(scene_id), trigger) == ("queued", context["id"], context["type"])
    assert_log_lines(run.stderr)

    (message,) = task_rows(home)
    assert message.name == SYNC_TASK_NAME
    assert message.id == task_id
    assert message.args == (context["id"],)
    assert message.kwargs == {"cid": cid, "event": context["type"]}
    assert uuid.UUID(hex=task_id).version == 4
    pending = pending_rows(home)[context["id"]]
    assert (pending["seq"], pending["queued"], pending["task_id"]) == (1, 1, task_id)
    assert (pending["cid"], pending["event"]) == (cid, context["type"])


def test_real_huey_dequeues_the_hooks_task(home: Path) -> None:
    run = run_hook(home, PAYLOADS["update"])
    assert run.code == 0, run
    task_id = OUTPUT_RE.match(run.result["output"]).group(4)  # type: ignore[union-attr]

    huey = build_huey(load_config())
    calls: list[tuple[Any, ...]] = []

    def sync_scene(scene_id: int, cid: str | None = None, event: str | None = None) -> None:
        calls.append((scene_id, cid, event))

    sync_scene.__module__ = "plexsync.tasks"  # registers as plexsync.tasks.sync_scene
    huey.task(name="sync_scene")(sync_scene)
    task = huey.dequeue()
    assert task is not None
    assert (task.id, task.args, task.kwargs["event"]) == (task_id, (12,), "Scene.Update.Post")
    huey.execute(task)
    assert calls == [(12, task.kwargs["cid"], "Scene.Update.Post")]
    assert huey.dequeue() is None


def test_hook_task_name_is_the_one_the_worker_registers(home: Path) -> None:
    tasks = importlib.import_module("plexsync.tasks")
    registry = tasks.huey._registry
    assert registry.task_to_string(tasks.sync_scene.task_class) == SYNC_TASK_NAME


# ------------------------------------------------------------------ bad input


MALFORMED: dict[str, bytes | dict[str, Any] | list[Any]] = {
    "not-json": b"{this is not json",
    "empty": b"",
    "blank": b"  \n",
    "array": [1, 2],
    "no-args": {"server_connection": server_connection()},
    "no-hook-context": {"server_connection": server_connection(), "args": {}},
    "hook-context-list": {"args": {"hookContext": [12]}},
    "no-id": {"args": {"hookContext": {"type": "Scene.Update.Post", "input": None}}},
    "id-null": hook_payload(None),
    "id-string": hook_payload("12"),
    "id-negative": hook_payload(-1),
    "id-zero": hook_payload(0),
    "id-true": hook_payload(True),
    "id-float": hook_payload(1.5),
    "id-huge": hook_payload(1 << 63),
    "type-unknown": hook_payload(12, "Scene.Updated.Post"),
    "type-gallery": hook_payload(12, "Gallery.Update.Post"),
    "type-missing": {"args": {"hookContext": {"id": 12, "input": None}}},
    "input-string": hook_payload(12, "Scene.Update.Post", "title=x"),
    "unknown-mode": {"args": {"mode": "format_disk"}},
    "trailing-data": json.dumps(hook_payload(12)).encode() + b" {}",
    "not-utf8": json.dumps(hook_payload(12, "Scene.Update.Post", {"t": "x"}))
    .encode()
    .replace(b'"x"', b'"\xff"'),
    "nested-too-deeply": b"[" * 200_000,
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_bad_input_is_an_error_and_queues_nothing(home: Path, name: str) -> None:
    run = run_hook(home, MALFORMED[name])
    assert run.code == 1, run
    assert set(run.result) == {"error"}
    error = run.result["error"]
    assert error and "\n" not in error and "Traceback" not in error
    assert not error.startswith("internal error"), error
    assert_log_lines(run.stderr)
    assert "\x01e\x02" in run.stderr
    assert task_rows(home) == []
    assert pending_rows(home) == {}


# ------------------------------------------------------------------ big inputs, stdin drained


def cover_image_payload(scene_id: int, image_bytes: int) -> bytes:
    """A real SceneUpdateInput save with a new cover: Stash sends the image as base64."""
    cover = "data:image/jpeg;base64," + base64.b64encode(os.urandom(image_bytes)).decode()
    scene_input = {"id": str(scene_id), "title": "With cover", "cover_image": cover}
    fields = ["id", "title", "cover_image"]
    payload = hook_payload(scene_id, "Scene.Update.Post", scene_input, inputFields=fields)
    return json.dumps(payload).encode()


def test_save_with_a_5_mb_cover_image_is_queued(home: Path) -> None:
    data = cover_image_payload(77, 4 * 1024 * 1024)  # ~5.6 MB of JSON
    assert len(data) > 5_000_000
    started = time.monotonic()
    run = feed_all(start_hook(home), data)
    elapsed = time.monotonic() - started
    assert run.code == 0, run.stdout
    assert OUTPUT_RE.match(run.result["output"]).group(1, 2) == ("queued", "77")  # type: ignore[union-attr]
    assert [m.args for m in task_rows(home)] == [(77,)]
    assert elapsed < 2.0, f"hook took {elapsed:.2f} s on a 5 MB save (loose bound)"


@pytest.mark.parametrize("case", ["over-64-mib", "8-mib-not-json"])
def test_stdin_is_read_to_the_end_on_errors(home: Path, case: str) -> None:
    module = hook_module()
    if case == "over-64-mib":
        filler = "x" * (module.MAX_INPUT_BYTES + 1024)
        data = json.dumps(hook_payload(12, "Scene.Update.Post", {"details": filler})).encode()
        expected = f"input larger than {module.MAX_INPUT_BYTES} bytes"
    else:
        data = b"{" + b"x" * (8 << 20)
        expected = "input is not JSON"
    assert module.MAX_INPUT_BYTES == 64 << 20
    run = feed_all(start_hook(home), data)  # BrokenPipeError here = the hook stopped reading
    assert run.code == 1
    assert run.result["error"].startswith(expected)
    assert_log_lines(run.stderr)
    assert task_rows(home) == [] and pending_rows(home) == {}


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


# ------------------------------------------------------------------ no worker: warn in Stash's log


def test_hook_warns_when_no_worker_ever_ran(home: Path) -> None:
    run = run_hook(home, PAYLOADS["update"])
    assert run.code == 0
    assert run.stderr.splitlines()[-1] == NO_WORKER_LINE
    assert run.result["output"].startswith("queued scene 12")  # queued all the same


def test_hook_is_quiet_while_a_worker_heartbeat_is_fresh(home: Path) -> None:
    store = heartbeat_store(home)
    store.heartbeat("w-live", started_at=time.time() - 300)  # this test process, this host
    store.db.close()
    run = run_hook(home, PAYLOADS["update"])
    assert run.code == 0, run
    assert "\x01w\x02" not in run.stderr
    assert_log_lines(run.stderr)


def test_hook_is_quiet_for_a_worker_on_another_host(home: Path) -> None:
    store = heartbeat_store(home)
    store.db.conn().execute(
        "insert into worker values ('w-far', 999999999, 'nas.lan', ?, ?)", (0, time.time() - 5)
    )
    store.db.close()
    assert NO_WORKER_LINE not in run_hook(home, PAYLOADS["update"]).stderr


@pytest.mark.parametrize("case", ["stale", "process-gone", "no-worker-table"])
def test_hook_warns_when_the_worker_is_gone(home: Path, case: str) -> None:
    store = heartbeat_store(home)
    conn = store.db.conn()
    if case == "stale":
        store.heartbeat("w-old", started_at=0, now=time.time() - 61)
    elif case == "process-gone":
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        host = socket.gethostname()
        conn.execute(
            "insert into worker values ('w-dead', ?, ?, 0, ?)", (dead.pid, host, time.time())
        )
    else:
        conn.execute("drop table worker")
    store.db.close()
    run = run_hook(home, PAYLOADS["update"])
    assert run.code == 0, run
    assert NO_WORKER_LINE in run.stderr.splitlines()


def test_a_zombie_is_not_a_running_worker() -> None:
    module = hook_module()
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = time.monotonic() + 30
        while module.pid_running(child.pid) and time.monotonic() < deadline:
            time.sleep(0.02)  # exited but not reaped: a zombie that still answers kill(0)
        assert not module.pid_running(child.pid)
        os.kill(child.pid, 0)  # ... which kill(0) alone would call alive
    finally:
        child.wait()
    assert module.pid_running(os.getpid())


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


# ------------------------------------------------------------------ state dir, stdlib only


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


@pytest.mark.parametrize("xdg", [None, "/srv/xdg-data", "  "])
def test_default_home_matches_platformdirs(
    monkeypatch: pytest.MonkeyPatch, xdg: str | None, tmp_path: Path
) -> None:
    if xdg is None:
        monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    else:
        monkeypatch.setenv("XDG_DATA_HOME", xdg)
    expected = platformdirs.user_data_dir("plexsync", appauthor=False)
    assert hook_module().default_home() == expected
    monkeypatch.delenv("PLEXSYNC_HOME")
    assert hook_module().plexsync_home() == expected
    monkeypatch.setenv("PLEXSYNC_HOME", "~/elsewhere")
    assert hook_module().plexsync_home() == os.path.expanduser("~/elsewhere")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PLEXSYNC_HOME", "rel/home")
    assert hook_module().plexsync_home() == str(tmp_path / "rel" / "home")


def test_relative_home_is_taken_from_the_hooks_cwd(tmp_path: Path) -> None:
    env = hook_env(Path("rel/home"))
    run = finish(start_hook(tmp_path, env, cwd=tmp_path), json.dumps(hook_payload(5)).encode())
    assert run.code == 0, run
    assert pending_rows(tmp_path / "rel" / "home") != {}


def test_symlinked_plugin_dir_finds_the_repository(tmp_path: Path, home: Path) -> None:
    plugins = tmp_path / "stash" / "plugins"
    plugins.mkdir(parents=True)
    (plugins / "plexsync").symlink_to(PLUGIN_DIR, target_is_directory=True)
    # -S: no site-packages, so only the hook's own sys.path entry can find plexsync
    command = [sys.executable, "-S", str(plugins / "plexsync" / "plexsync_hook.py")]
    proc = start_hook(home, command=command, cwd=tmp_path)
    run = finish(proc, json.dumps(PAYLOADS["update"]).encode())
    assert run.code == 0, run
    assert [m.args for m in task_rows(home)] == [(12,)]


STDLIB_CHECK = textwrap.dedent(
    """
    import io, json, runpy, sys
    before = set(sys.modules)
    sys.stdin = io.TextIOWrapper(io.BytesIO(sys.argv[2].encode()))
    hook, sys.argv = sys.argv[1], sys.argv[1:2]
    try:
        runpy.run_path(hook, run_name="__main__")
    except SystemExit as exc:
        code = exc.code
    allowed = {"plexsync", "plexsync.enqueue", "plexsync_hook", "plexsync_tasks", "plexsync_venv"}
    new = sorted(set(sys.modules) - before)
    foreign = [m for m in new if m.split(".")[0] not in sys.stdlib_module_names
               and m not in allowed]
    plexsync = sys.modules.get("plexsync")
    print("REPORT " + json.dumps({"code": code, "foreign": foreign, "new": new,
                                  "plexsync": plexsync and plexsync.__file__}))
    """
)


@pytest.mark.parametrize("payload", [PAYLOADS["update"], {"args": {"mode": "no_such_mode"}}])
def test_hook_imports_only_the_standard_library(home: Path, payload: dict[str, Any]) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", STDLIB_CHECK, str(HOOK), json.dumps(payload)],
        capture_output=True,
        env=hook_env(home),
        timeout=60,
        check=False,
    )
    (line,) = [ln for ln in proc.stdout.decode().splitlines() if ln.startswith("REPORT ")]
    report = json.loads(line.removeprefix("REPORT "))
    assert report["foreign"] == [], report
    if "mode" in payload["args"]:
        assert report["code"] == 1
        assert "plexsync_tasks" in report["new"]  # the task module loads only for tasks
    else:
        assert report["code"] == 0
        assert Path(report["plexsync"]).parent == REPO_ROOT / "plexsync"
        assert "plexsync_tasks" not in report["new"]
        assert "plexsync_venv" not in report["new"]
        assert "subprocess" not in report["new"]


# ------------------------------------------------------------------ json without `import json`

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(JSON_VALUES, st.sampled_from(["", " ", "\n\t "]))
def test_parse_json_equals_json_loads(value: Any, pad: str) -> None:
    text = pad + json.dumps(value, ensure_ascii=False) + pad
    assert hook_module().parse_json(text) == json.loads(text)


@pytest.mark.parametrize("text", ["", " ", "{", '{"a": 1} x', "[1,]", "NaNa", "'x'", "{} {}"])
def test_parse_json_rejects_what_json_loads_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        json.loads(text)
    with pytest.raises(ValueError):
        hook_module().parse_json(text)


@given(st.text(), st.text())
def test_emit_and_task_data_write_what_json_dumps_writes(text: str, other: str) -> None:
    module = hook_module()
    out = io.StringIO()
    real_stdout, sys.stdout = sys.stdout, out
    try:
        module.emit({"output": text})
    finally:
        sys.stdout = real_stdout
    assert out.getvalue() == json.dumps({"output": text}) + "\n"
    message = {
        "__message__": {
            "id": text,
            "name": SYNC_TASK_NAME,
            "retries": 0,
            "retry_delay": 0,
            "args": [12],
            "kwargs": {"cid": other, "event": text},
        }
    }
    expected = json.dumps(message, separators=(",", ":")).encode()
    assert task_data(text, 12, other, text) == expected
