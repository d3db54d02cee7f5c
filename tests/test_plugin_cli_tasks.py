"""The plugin's CLI tasks relayed into Stash's log, and the shell entry points.

CLI tasks: sync_all, reconcile, status, requeue_dlq; shell entry points: consumer.sh,
scripts/test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.hook_helpers import REPO_ROOT, HookRun, assert_log_lines, hook_env, run_hook
from tests.plugin_task_helpers import POSIX_ONLY, make_venv, task_payload

pytestmark = POSIX_ONLY


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
