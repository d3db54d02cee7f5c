"""The worker venv the plugin tasks bootstrap: install, reinstall, rebuild, PLEXSYNC_PYTHON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from plexsync import __version__
from tests.hook_helpers import REPO_ROOT, assert_log_lines, hook_env, run_hook
from tests.plugin_task_helpers import FAKE_PYTHON, POSIX_ONLY, make_venv, task_payload

pytestmark = POSIX_ONLY


# ------------------------------------------------------------------ venv bootstrap


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
