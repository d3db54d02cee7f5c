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
    finish,
    hook_env,
    hook_module,
    run_hook,
    server_connection,
    start_hook,
)

pytestmark = pytest.mark.skipif(os.name != "posix", reason="stand-in venvs are POSIX scripts")

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


def test_venv_without_pip_is_rebuilt(tmp_path: Path, _isolated_env: Path) -> None:
    venv = tmp_path / "no-pip-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    assert subprocess.run([python, "-c", "import pip"], capture_output=True).returncode != 0
    env = hook_env(_isolated_env, PLEXSYNC_VENV=str(venv), PIP_NO_INDEX="1", PIP_FIND_LINKS="")
    run = run_hook(_isolated_env, task_payload("status"), env=env, timeout=240)
    assert run.code == 1, run  # no index to install from: pip itself runs now
    assert run.result["error"].startswith(f"pip install of plexsync into {venv} failed")
    assert "No module named pip" not in run.result["error"]
    assert f"recreating the worker virtualenv at {venv} (it has no pip)" in run.stderr
    assert subprocess.run([python, "-c", "import pip"], capture_output=True).returncode == 0


def old_pythons() -> list[str]:
    candidates = [f"/usr/bin/python3.{minor}" for minor in range(6, 11)]
    candidates += sorted(str(p) for p in Path("/root/.pyenv/versions").glob("3.*/bin/python3"))
    found = []
    for path in candidates:
        if os.access(path, os.X_OK):
            probe = subprocess.run(
                [path, "-c", "import sys; print(sys.version_info < (3, 11))"],
                capture_output=True,
                check=False,
            )
            if probe.stdout.strip() == b"True":
                found.append(path)
    return found


def test_too_old_plexsync_python_is_named_in_the_error(tmp_path: Path, _isolated_env: Path) -> None:
    olds = old_pythons()
    if not olds:
        pytest.skip("no Python older than 3.11 on this machine")
    venv = tmp_path / "new-venv"
    env = hook_env(_isolated_env, PLEXSYNC_VENV=str(venv), PLEXSYNC_PYTHON=olds[0])
    run = run_hook(_isolated_env, task_payload("start_worker"), env=env)
    assert run.code == 1
    error = run.result["error"]
    assert error.startswith("the plexsync worker needs Python >= 3.11, PLEXSYNC_PYTHON ")
    assert olds[0] in error and "set PLEXSYNC_PYTHON" in error
    assert not venv.exists()  # checked before anything was built


def test_plexsync_python_that_does_not_run(tmp_path: Path, _isolated_env: Path) -> None:
    venv = tmp_path / "new-venv"
    missing = str(tmp_path / "no-such-python")
    env = hook_env(_isolated_env, PLEXSYNC_VENV=str(venv), PLEXSYNC_PYTHON=missing)
    run = run_hook(_isolated_env, task_payload("status"), env=env)
    assert run.code == 1
    assert run.result["error"] == f"PLEXSYNC_PYTHON={missing} does not run as a Python interpreter"
    assert not venv.exists()


def test_plexsync_python_builds_the_venv(tmp_path: Path, _isolated_env: Path) -> None:
    record = tmp_path / "builder.jsonl"
    builder = tmp_path / "builder"
    builder.write_text(f'#!/bin/sh\necho "$@" >> {record}\nexec {sys.executable} "$@"\n')
    builder.chmod(0o755)
    venv = tmp_path / "built"
    env = hook_env(
        _isolated_env,
        PLEXSYNC_VENV=str(venv),
        PLEXSYNC_PYTHON=str(builder),
        PIP_NO_INDEX="1",
        PIP_FIND_LINKS="",
    )
    run = run_hook(_isolated_env, task_payload("status"), env=env, timeout=240)
    assert run.code == 1  # no index: the install step fails after the venv was built
    assert f"-m venv {venv}" in record.read_text().splitlines()
    assert (venv / "bin" / "python").exists()


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


# ------------------------------------------------------------------ consumer.sh, scripts/test

RECORDING_TOOL = """#!/bin/sh
echo "$(basename "$0") $*" >> "$TOOL_RECORD"
case "$*" in *"-m pytest"*) exit "${FAKE_PYTEST_RC:-0}" ;; esac
"""


def test_scripts_test_uses_plexsync_test_venv_by_absolute_path(tmp_path: Path) -> None:
    venv = tmp_path / "test venv"  # absolute, with a space
    (venv / "bin").mkdir(parents=True)
    for tool in ("python", "ruff", "mypy"):
        (venv / "bin" / tool).write_text(RECORDING_TOOL)
        (venv / "bin" / tool).chmod(0o755)
    record = tmp_path / "tools.log"
    env = {
        **hook_env(tmp_path),
        "PLEXSYNC_TEST_VENV": str(venv),
        "PLEXSYNC_VENV": str(tmp_path / "worker-venv-not-this"),
        "TOOL_RECORD": str(record),
    }
    script = str(REPO_ROOT / "scripts" / "test")
    proc = subprocess.run([script, "-q", "-k", "x"], env=env, capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert record.read_text().splitlines() == [
        "python -m pip install --quiet --disable-pip-version-check -e .[dev]",
        "ruff check .",
        "ruff format --check .",
        "mypy plexsync",
        "python -m pytest -q -k x",
    ]
    failed = subprocess.run(
        [script], env={**env, "FAKE_PYTEST_RC": "5"}, capture_output=True, check=False
    )
    assert failed.returncode == 1
    assert b"pytest collected no tests" in failed.stderr


def test_consumer_sh_checks_every_runtime_dependency(tmp_path: Path) -> None:
    # A python where plexsync, huey and plexapi import but click (the CLI) does not.
    partial = tmp_path / "partial-site"
    partial.mkdir()
    site = Path(
        subprocess.check_output(
            [
                sys.executable,
                "-c",
                "import huey, os; print(os.path.dirname(os.path.dirname(huey.__file__)))",
            ],
            text=True,
        ).strip()
    )
    (partial / "plexsync").symlink_to(REPO_ROOT / "plexsync")
    for name in ("huey", "plexapi", "requests", "urllib3", "idna", "certifi", "charset_normalizer"):
        (partial / name).symlink_to(site / name)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    partial_python = bin_dir / "python3"
    partial_python.write_text(
        f'#!/bin/sh\nPYTHONPATH="{partial}" exec "{sys.executable}" -S "$@"\n'
    )
    partial_python.chmod(0o755)
    probe = subprocess.run(
        [partial_python, "-c", "import plexsync, huey, plexapi"], capture_output=True, check=False
    )
    assert probe.returncode == 0, probe.stderr
    venv = real_cli_venv(tmp_path)
    env = {
        **hook_env(tmp_path / "home"),
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "PYTHON": str(partial_python),
        "PLEXSYNC_VENV": str(venv),
    }
    proc = subprocess.run(
        [str(REPO_ROOT / "consumer.sh"), "--help"],
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert b"Usage: " in proc.stdout and b"worker" in proc.stdout
