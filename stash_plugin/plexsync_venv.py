"""The worker's virtualenv for the plugin's tasks: probe, (re)build, install plexsync into it.

Imported by ``plexsync_tasks.py`` (so only for a task, never for a hook). Standard library
only: the worker and the CLI run in ``$PLEXSYNC_HOME/venv`` (override: ``PLEXSYNC_VENV``),
which ``ensure_worker_python`` creates with ``$PLEXSYNC_PYTHON`` (default: Stash's Python,
must be >= 3.11) and fills with ``pip install {pluginDir}/..`` on first use.
"""

from __future__ import annotations

import os
import sys

from plexsync_hook import REPO_DIR, log, one_line

INSTALLED_MARKER = ".plexsync-installed"
MIN_PYTHON = (3, 11)
# Prints "major.minor", then fails (exit 1) when pip is missing from that interpreter.
PROBE_CODE = "import sys; print('%d.%d' % sys.version_info[:2], flush=True); import pip"


class TaskError(Exception):
    """A one-line task failure, reported to Stash as {"error": ...}."""


def run_relay(cmd: list[str], env: dict[str, str], level: str = "i") -> tuple[int, list[str]]:
    """Run cmd, relaying each output line into Stash's log. Returns (exit code, last lines)."""
    import subprocess
    from collections import deque

    tail: deque[str] = deque(maxlen=20)
    try:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            text=True,
            errors="replace",
            close_fds=True,
        )
    except OSError as exc:
        raise TaskError(f"cannot run {cmd[0]}: {exc.strerror}") from None
    assert proc.stdout is not None
    with proc.stdout:
        for raw in proc.stdout:
            line = raw.rstrip()
            if line:
                tail.append(line)
                log("e" if line.startswith("Error") else level, line)
    return proc.wait(), list(tail)


def venv_python(venv: str) -> str:
    if os.name == "nt":
        return os.path.join(venv, "Scripts", "python.exe")
    return os.path.join(venv, "bin", "python")


def probe_python(python: str, env: dict[str, str]) -> tuple[tuple[int, int] | None, bool]:
    """((major, minor) or None when it does not run, has pip) of an interpreter."""
    import subprocess

    try:
        proc = subprocess.run(
            [python, "-c", PROBE_CODE],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env=env,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None, False
    first = proc.stdout.decode("ascii", "replace").strip().splitlines()[:1]
    try:
        major, minor = (int(part) for part in first[0].split("."))
    except (IndexError, ValueError):
        return None, False
    return (major, minor), proc.returncode == 0


def dotted(version: tuple[int, ...]) -> str:
    return ".".join(str(part) for part in version)


def venv_builder(env: dict[str, str]) -> str:
    """The interpreter that builds the worker venv: $PLEXSYNC_PYTHON or Stash's Python.

    Raises TaskError, naming PLEXSYNC_PYTHON, unless it runs and is >= 3.11.
    """
    override = env.get("PLEXSYNC_PYTHON", "").strip()
    python = override or sys.executable
    if override:
        version, _ = probe_python(python, env)
        if version is None:
            raise TaskError(f"PLEXSYNC_PYTHON={python} does not run as a Python interpreter")
    else:
        version = (sys.version_info[0], sys.version_info[1])
    if version < MIN_PYTHON:
        need, found = dotted(MIN_PYTHON), dotted(version)
        source = "PLEXSYNC_PYTHON" if override else "Stash's Python"
        raise TaskError(
            f"the plexsync worker needs Python >= {need}, {source} {python} is {found}: set "
            f"PLEXSYNC_PYTHON (in Stash's environment) to a Python {need}+ interpreter, or "
            "point Stash's Python setting at one"
        )
    return python


def build_venv(venv: str, python: str, env: dict[str, str], why: str) -> None:
    """(Re)create venv with a pip in it (--clear when a broken venv is there)."""
    builder = venv_builder(env)
    clear = os.path.exists(os.path.join(venv, "pyvenv.cfg"))
    verb = "recreating" if clear else "creating"
    log("i", f"plexsync: {verb} the worker virtualenv at {venv} ({why})")
    cmd = [builder, "-m", "venv", *(["--clear"] if clear else []), venv]
    code, tail = run_relay(cmd, env, "d")
    hint = "on Debian/Ubuntu install python3-venv, or set PLEXSYNC_PYTHON"
    if code != 0 or not os.path.exists(python):
        raise TaskError(
            f"cannot create the worker virtualenv {venv} (python -m venv exited {code}; "
            f"{hint}): {one_line(tail[-1:] or '')}"
        )
    if not probe_python(python, env)[1]:
        raise TaskError(f"the worker virtualenv {venv} has no pip ({hint})")


def ensure_worker_python(env: dict[str, str], home: str) -> str:
    """The venv python with plexsync installed, bootstrapping the venv when missing.

    A venv that cannot run, is older than Python 3.11 or has no pip (``python -m venv``
    without Debian's python3-venv leaves one) is rebuilt with ``--clear``.
    """
    from plexsync import __version__

    venv = env.get("PLEXSYNC_VENV") or os.path.join(home, "venv")
    venv = os.path.abspath(venv)
    python = venv_python(venv)
    marker = os.path.join(venv, INSTALLED_MARKER)
    try:
        with open(marker, encoding="utf-8") as fh:
            if os.path.exists(python) and fh.read().strip() == __version__:
                return python
    except OSError:
        pass
    version, has_pip = probe_python(python, env) if os.path.exists(python) else (None, False)
    if version is None:
        exists = os.path.exists(python)
        build_venv(venv, python, env, "its python does not run" if exists else "first run")
    elif version < MIN_PYTHON:
        build_venv(venv, python, env, f"it has Python {dotted(version)}")
    elif not has_pip:
        build_venv(venv, python, env, "it has no pip")
    log("i", f"plexsync: installing plexsync {__version__} into {venv} (needs PyPI access)")
    pip = [python, "-m", "pip", "install", "--disable-pip-version-check", "--no-input"]
    code, tail = run_relay([*pip, REPO_DIR], env, "d")
    if code != 0:
        last = tail[-1] if tail else "no output"
        raise TaskError(f"pip install of plexsync into {venv} failed (exit {code}): {last}")
    with open(marker, "w", encoding="utf-8") as fh:
        fh.write(__version__ + "\n")
    log("i", f"plexsync: worker virtualenv ready at {venv}")
    return python
