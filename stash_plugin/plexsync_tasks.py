"""The plexsync plugin's Stash tasks (``args.mode``): start the worker, run CLI commands.

Imported by ``plexsync_hook.py`` only for a task, never for a hook. Standard library only:
the worker and the CLI run in ``$PLEXSYNC_HOME/venv`` (override: ``PLEXSYNC_VENV``), which
``ensure_worker_python`` creates and fills with ``pip install {pluginDir}/..`` on first use.
Every child gets ``PLEXSYNC_HOME`` and, unless the environment or config.toml sets it,
``PLEXSYNC_STASH_URL`` built from Stash's ``server_connection``.
"""

from __future__ import annotations

import json
import os
import sys

from plexsync_hook import REPO_DIR, log, one_line

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    Task = Callable[[dict[str, object], str], str]

HEARTBEAT_STALE_S = 60.0
STARTUP_CHECK_S = 2.0
SPAWN_FILE = "worker.spawn"
INSTALLED_MARKER = ".plexsync-installed"


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
    env["PLEXSYNC_HOME"] = home
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


def ensure_worker_python(env: dict[str, str], home: str) -> str:
    """The venv python with plexsync installed, bootstrapping the venv when missing."""
    from plexsync import __version__

    venv = env.get("PLEXSYNC_VENV") or os.path.join(home, "venv")
    python = venv_python(venv)
    marker = os.path.join(venv, INSTALLED_MARKER)
    try:
        with open(marker, encoding="utf-8") as fh:
            if os.path.exists(python) and fh.read().strip() == __version__:
                return python
    except OSError:
        pass
    if not os.path.exists(python):
        log("i", f"plexsync: creating the worker virtualenv at {venv}")
        code, tail = run_relay([sys.executable, "-m", "venv", venv], env, "d")
        if code != 0 or not os.path.exists(python):
            raise TaskError(
                f"cannot create the worker virtualenv {venv} (python -m venv exited {code}; "
                f"on Debian/Ubuntu install python3-venv): {one_line(tail[-1:] or '')}"
            )
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


def _pid_alive(pid: int) -> bool:
    if os.name != "posix":
        return True  # os.kill(pid, 0) would TerminateProcess on Windows
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def live_worker(home: str, now: float | None = None) -> str | None:
    """A description of a live worker from state.db's heartbeats, or None."""
    import socket
    import sqlite3
    import time
    from pathlib import Path

    now = time.time() if now is None else now
    path = Path(home, "state.db")
    if not path.exists():
        return None
    try:
        conn = sqlite3.connect(path.absolute().as_uri() + "?mode=ro", uri=True, timeout=5)
        try:
            rows = conn.execute(
                "select pid, host, heartbeat_at from worker order by heartbeat_at desc"
            ).fetchall()
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    hostname = socket.gethostname()
    for pid, host, heartbeat_at in rows:
        if heartbeat_at is None or now - heartbeat_at > HEARTBEAT_STALE_S:
            continue
        if host == hostname and not _pid_alive(int(pid)):
            continue
        return f"pid {pid} on {host}, heartbeat {max(0.0, now - heartbeat_at):.0f} s ago"
    return None


def _recent_spawn(home: str) -> int | None:
    """pid of a worker this task started less than a heartbeat period ago, still running."""
    import time

    try:
        with open(os.path.join(home, SPAWN_FILE), encoding="utf-8") as fh:
            spawn = json.load(fh)
        pid, at = int(spawn["pid"]), float(spawn["at"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if time.time() - at > HEARTBEAT_STALE_S or not _pid_alive(pid) or os.name != "posix":
        return None
    return pid


# ------------------------------------------------------------------ tasks


def task_start_worker(payload: dict[str, object], home: str) -> str:
    import subprocess
    import time

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
    "sync_all": _cli_task("sync", "--all"),
    "reconcile": _cli_task("reconcile"),
    "status": _cli_task("status"),
    "requeue_dlq": _cli_task("requeue", "--all"),
}
