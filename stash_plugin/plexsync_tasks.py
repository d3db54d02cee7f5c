"""The plexsync plugin's Stash tasks (``args.mode``): start/restart the worker, run CLI commands.

Imported by ``plexsync_hook.py`` only for a task, never for a hook. Standard library only:
the worker and the CLI run in the venv ``plexsync_venv.ensure_worker_python`` bootstraps.
Every child gets the absolute ``PLEXSYNC_HOME`` and, unless the environment or config.toml
sets it, ``PLEXSYNC_STASH_URL`` built from Stash's ``server_connection``.
"""

from __future__ import annotations

import json
import os

from plexsync_hook import (
    HEARTBEAT_STALE_S,
    live_worker_row,
    log,
    one_line,
    pid_running,
    this_host,
)
from plexsync_venv import TaskError, ensure_worker_python, run_relay

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    Task = Callable[[dict[str, object], str], str]

STARTUP_CHECK_S = 2.0
STOP_WAIT_S = 35.0  # the worker lets in-flight tasks finish (Plex timeouts) after SIGTERM
SPAWN_FILE = "worker.spawn"
DOCKERENV = "/.dockerenv"


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
