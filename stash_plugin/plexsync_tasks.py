"""The plexsync plugin's Stash tasks (``args.mode``): start/restart the worker, run CLI commands.

Imported by ``plexsync_hook.py`` only for a task, never for a hook. Standard library only:
the worker and the CLI run in ``$PLEXSYNC_HOME/venv`` (override: ``PLEXSYNC_VENV``), which
``ensure_worker_python`` creates with ``$PLEXSYNC_PYTHON`` (default: Stash's Python, must be
>= 3.11) and fills with ``pip install {pluginDir}/..`` on first use. Every child gets the
absolute ``PLEXSYNC_HOME`` and, unless the environment or config.toml sets it,
``PLEXSYNC_STASH_URL`` built from Stash's ``server_connection``.
"""

from __future__ import annotations

import json
import os
import sys

from plexsync_hook import (
    HEARTBEAT_STALE_S,
    REPO_DIR,
    live_worker_row,
    log,
    one_line,
    pid_running,
    this_host,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    Task = Callable[[dict[str, object], str], str]

STARTUP_CHECK_S = 2.0
STOP_WAIT_S = 35.0  # the worker lets in-flight tasks finish (Plex timeouts) after SIGTERM
SPAWN_FILE = "worker.spawn"
INSTALLED_MARKER = ".plexsync-installed"
MIN_PYTHON = (3, 11)
DOCKERENV = "/.dockerenv"
# Prints "major.minor", then fails (exit 1) when pip is missing from that interpreter.
PROBE_CODE = "import sys; print('%d.%d' % sys.version_info[:2], flush=True); import pip"


class TaskError(Exception):
    """A one-line task failure, reported to Stash as {"error": ...}."""


# ------------------------------------------------------------------ tasks: environment


def stash_url(server_connection: object) -> str | None:
    """Stash's base URL from server_connection (0.0.0.0 / empty / :: host -> 127.0.0.1)."""
    if not isinstance(server_connection, dict) or not server_connection.get("Port"):
        return None
    scheme = str(server_connection.get("Scheme") or "http")
    host = str(server_connection.get("Host") or "")
    if host in ("", "0.0.0.0", "::", "[::]"):
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{scheme}://{host}:{server_connection['Port']}"


def _config_sets(home: str, key: str) -> bool:
    path = os.path.join(home, "config.toml")
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError:
        return False
    try:
        import tomllib

        return key in tomllib.loads(raw.decode("utf-8", "replace"))
    except ImportError:  # Python < 3.11: a line starting with the key is close enough
        return any(line.split("=", 1)[0].strip() == key for line in raw.decode().splitlines())
    except ValueError:
        return False  # the CLI reports a broken config.toml itself


def child_env(payload: dict[str, object], home: str) -> dict[str, str]:
    """Environment of the worker / CLI: PLEXSYNC_HOME, and Stash's URL unless configured."""
    env = dict(os.environ)
    env["PLEXSYNC_HOME"] = os.path.abspath(home)  # the worker runs with cwd=home
    env.setdefault("PYTHONUNBUFFERED", "1")
    url = stash_url(payload.get("server_connection"))
    if url and not env.get("PLEXSYNC_STASH_URL") and not _config_sets(home, "stash_url"):
        env["PLEXSYNC_STASH_URL"] = url
    return env


def venv_python(venv: str) -> str:
    if os.name == "nt":
        return os.path.join(venv, "Scripts", "python.exe")
    return os.path.join(venv, "bin", "python")


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


# ------------------------------------------------------------------ tasks: worker liveness


def live_worker(home: str, now: float | None = None) -> str | None:
    """A description of a live worker from state.db's heartbeats, or None."""
    import sqlite3
    import time

    now = time.time() if now is None else now
    try:
        row = live_worker_row(home, now)
    except sqlite3.Error:
        return None
    if row is None:
        return None
    pid, host, heartbeat_at = row
    return f"pid {pid} on {host}, heartbeat {max(0.0, now - heartbeat_at):.0f} s ago"


def docker_home_warning(
    home: str, server_connection: object, dockerenv: str = DOCKERENV
) -> str | None:
    """A warning when Stash runs in Docker and the home is outside Stash's config dir."""
    if not os.path.exists(dockerenv) or not isinstance(server_connection, dict):
        return None
    config_dir = server_connection.get("Dir")
    if not isinstance(config_dir, str) or not config_dir:
        return None
    home_real, dir_real = os.path.realpath(home), os.path.realpath(config_dir)
    if os.path.commonpath([home_real, dir_real]) == dir_real:
        return None
    return (
        f"plexsync: PLEXSYNC_HOME is {home}, outside Stash's config dir {config_dir}, and "
        "Stash runs in Docker: the queue, dead letters and worker venv are lost when the "
        "container is recreated; set PLEXSYNC_HOME to a path on a volume, e.g. "
        f"{os.path.join(config_dir, 'plexsync')}"
    )


def _recent_spawn(home: str) -> int | None:
    """pid of a worker this task started less than a heartbeat period ago, still running."""
    import time

    try:
        with open(os.path.join(home, SPAWN_FILE), encoding="utf-8") as fh:
            spawn = json.load(fh)
        pid, at = int(spawn["pid"]), float(spawn["at"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if time.time() - at > HEARTBEAT_STALE_S or not pid_running(pid) or os.name != "posix":
        return None
    return pid


# ------------------------------------------------------------------ tasks


def task_start_worker(payload: dict[str, object], home: str) -> str:
    import subprocess
    import time

    warning = docker_home_warning(home, payload.get("server_connection"))
    if warning:
        log("w", warning)
    alive = live_worker(home)
    if alive:
        log("i", f"plexsync: worker already running ({alive})")
        return f"worker already running ({alive})"
    pid = _recent_spawn(home)
    if pid is not None:
        return f"worker is starting (pid {pid}); no second worker started"
    env = child_env(payload, home)
    python = ensure_worker_python(env, home)
    options: dict[str, object] = {}
    if os.name == "nt":
        flags = subprocess.DETACHED_PROCESS | subprocess.CREATE_NEW_PROCESS_GROUP  # type: ignore[attr-defined]
        options["creationflags"] = flags
    else:
        options["start_new_session"] = True
    log("i", f"plexsync: starting the worker: {python} -m plexsync worker")
    try:
        proc = subprocess.Popen(
            [python, "-m", "plexsync", "worker"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=True,
            cwd=home,
            env=env,
            **options,  # type: ignore[call-overload]
        )
    except OSError as exc:
        raise TaskError(f"cannot start the worker {python}: {exc.strerror}") from None
    try:
        code = proc.wait(timeout=STARTUP_CHECK_S)
    except subprocess.TimeoutExpired:
        with open(os.path.join(home, SPAWN_FILE), "w", encoding="utf-8") as fh:
            json.dump({"pid": proc.pid, "at": time.time()}, fh)
        log("i", f"plexsync: worker started (pid {proc.pid}); logs in {home}/logs")
        return f"worker started (pid {proc.pid})"
    raise TaskError(
        f"the worker exited at once with code {code}; run the 'Show status' task or see "
        f"{os.path.join(home, 'logs')}"
    )


def _is_plexsync_process(pid: int) -> bool:
    """False when /proc shows pid runs something else (a reused pid); True if unknown."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return b"plexsync" in fh.read()
    except OSError:
        return True


def stop_worker(pid: int, timeout: float = STOP_WAIT_S) -> None:
    """SIGTERM the worker pid on this host and wait until it has exited."""
    import signal
    import time

    if not _is_plexsync_process(pid):
        raise TaskError(f"pid {pid} of the worker heartbeat is not a plexsync process here")
    log("i", f"plexsync: stopping the worker (pid {pid}): SIGTERM, waiting up to {timeout:g} s")
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    except PermissionError:
        raise TaskError(f"not allowed to stop the worker (pid {pid})") from None
    deadline = time.monotonic() + timeout
    while pid_running(pid):
        if time.monotonic() > deadline:
            raise TaskError(f"the worker (pid {pid}) did not stop within {timeout:g} s")
        time.sleep(0.1)
    log("i", f"plexsync: the worker (pid {pid}) stopped")


def task_restart_worker(payload: dict[str, object], home: str) -> str:
    """Stop the live worker on this host (if any), then start one as "Start worker" does."""
    import sqlite3

    if os.name != "posix":
        raise TaskError("Restart worker needs a POSIX system: stop the worker by hand")
    try:
        row = live_worker_row(home)
    except sqlite3.Error as exc:
        raise TaskError(f"cannot read the worker heartbeat in {home}/state.db: {exc}") from None
    if row is not None:
        pid, host, _ = row
        if host != this_host():
            raise TaskError(f"the worker (pid {pid}) runs on host {host}: restart it there")
        stop_worker(pid)
    else:
        log("i", "plexsync: no worker is running")
    return "restart: " + task_start_worker(payload, home)


def _cli_task(*cli_args: str) -> Task:
    def task(payload: dict[str, object], home: str) -> str:
        env = child_env(payload, home)
        python = ensure_worker_python(env, home)
        command = "plexsync " + " ".join(cli_args)
        log("i", f"plexsync: running {command}")
        code, tail = run_relay([python, "-m", "plexsync", *cli_args], env)
        last = tail[-1] if tail else "no output"
        if code != 0:
            raise TaskError(f"{command} failed (exit {code}): {one_line(last)}")
        return f"{command}: {one_line(last)}"

    task.__name__ = "task_" + "_".join(a.strip("-") for a in cli_args)
    return task


TASK_MODES: dict[str, Task] = {
    "start_worker": task_start_worker,
    "restart_worker": task_restart_worker,
    "sync_all": _cli_task("sync", "--all"),
    "reconcile": _cli_task("reconcile"),
    "status": _cli_task("status"),
    "requeue_dlq": _cli_task("requeue", "--all"),
}
