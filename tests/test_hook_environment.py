"""The hook in its surroundings: the worker check, PLEXSYNC_HOME, its path, stdlib only."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import platformdirs
import pytest

from tests.hook_helpers import (
    HOOK,
    NO_WORKER_LINE,
    PAYLOADS,
    PLUGIN_DIR,
    REPO_ROOT,
    assert_log_lines,
    finish,
    heartbeat_store,
    hook_env,
    hook_module,
    hook_payload,
    pending_rows,
    run_hook,
    start_hook,
    task_rows,
)

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


# ------------------------------------------------------------------ home, plugin dir, stdlib only


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
