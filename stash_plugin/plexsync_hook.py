"""Stash raw-interface entry of the plexsync plugin: the scene hook (tasks: plexsync_tasks.py).

Stash runs ``python {pluginDir}/plexsync_hook.py`` and writes one JSON document to stdin.

- A hook (``args.hookContext``) records the scene event in ``$PLEXSYNC_HOME/queue.db``
  (one fsync'd SQLite transaction, see ``plexsync.enqueue``), warns in Stash's log when no
  worker has a fresh heartbeat in ``state.db``, and exits. Standard library only, no
  network: the user's save in Stash waits for this process.
- A task (``args.mode``) is dispatched to ``plexsync_tasks.TASK_MODES`` (imported only then:
  this file stays small because Stash's Python compiles it on every run).

stdout carries exactly one ``{"output": ...}`` or ``{"error": ...}`` object; stderr lines use
Stash's ``\\x01<level>\\x02`` log prefix. Exit status 0 on success, 1 on any error.
"""

from __future__ import annotations

import os
import sys

try:  # json's C parts: `import json` also imports re and enum, ~5 ms of a ~20 ms hook
    from _json import encode_basestring_ascii as _json_string
    from _json import make_scanner as _make_scanner

    FAST_JSON = True
except ImportError:  # not CPython: the json module does the same, only slower to import
    FAST_JSON = False

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs hook latency at run time
    from collections.abc import Mapping
    from typing import BinaryIO

# realpath: a symlinked stash_plugin/ (plugins/plexsync -> /opt/plexsync/stash_plugin) must
# still find the repository the link points into.
PLUGIN_DIR = os.path.dirname(os.path.realpath(__file__))
REPO_DIR = os.path.dirname(PLUGIN_DIR)  # the repository: the plexsync package is in it
if sys.path[:1] != [REPO_DIR]:
    sys.path.insert(0, REPO_DIR)

# Stash passes the whole SceneUpdateInput, cover_image included (base64, often MBs).
MAX_INPUT_BYTES = 64 << 20
READ_CHUNK_BYTES = 1 << 20
# A Stash save waits for the hook: wait at most this long for a lock on queue.db (the worker
# waits 30 s).
HOOK_BUSY_TIMEOUT_MS = 10000
HEARTBEAT_STALE_S = 60.0
NO_WORKER_WARNING = (
    "plexsync: no worker is running: events are queued but not synced; "
    'run the plugin task "Start worker"'
)
MAX_SCENE_ID = (1 << 63) - 1
MAX_LOG_CHARS = 4000
HOOK_TRIGGERS = ("Scene.Create.Post", "Scene.Update.Post", "Scene.Destroy.Post")


class HookError(Exception):
    """A one-line failure reported to Stash as {"error": ...}."""


# ------------------------------------------------------------------ Stash I/O


def log(level: str, message: str) -> None:
    """One Stash log line on stderr (level: t d i w e p), bounded and single-line."""
    text = " ".join(str(message).replace("\x01", " ").replace("\x02", " ").split())
    if len(text) > MAX_LOG_CHARS:
        text = text[: MAX_LOG_CHARS - 3] + "..."
    sys.stderr.write(f"\x01{level}\x02{text}\n")
    sys.stderr.flush()


def emit(result: dict[str, str]) -> None:
    """Print {"output": ...} or {"error": ...} exactly as json.dumps would."""
    if not FAST_JSON:
        import json

        text = json.dumps(result)
    else:
        items = ", ".join(f"{_json_string(k)}: {_json_string(v)}" for k, v in result.items())
        text = "{" + items + "}"
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


class _DecoderContext:
    """The attributes _json's scanner reads from a json.JSONDecoder (json.loads' defaults)."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = float  # NaN, Infinity, -Infinity


def parse_json(text: str) -> object:
    """json.loads(text) through json's own C scanner. Raises ValueError on bad JSON."""
    if not FAST_JSON:
        import json

        return json.loads(text)
    whitespace = " \t\n\r"
    start = len(text) - len(text.lstrip(whitespace))
    try:
        value, end = _make_scanner(_DecoderContext)(text, start)  # type: ignore[arg-type]
    except StopIteration as exc:
        raise ValueError(f"Expecting value: char {exc.value}") from None
    except SystemError:  # CPython < 3.12 raises its JSONDecodeError only once json.decoder
        import json  # is imported; without it: SystemError. json.loads gives the real error.

        return json.loads(text)
    if text[end:].strip(whitespace):
        raise ValueError(f"Extra data: char {end}")
    return value


def one_line(text: object, limit: int = 500) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


# ------------------------------------------------------------------ state directory


def default_home(environ: Mapping[str, str] | None = None) -> str:
    """platformdirs.user_data_dir("plexsync", appauthor=False), re-implemented with stdlib."""
    env = os.environ if environ is None else environ
    if sys.platform == "win32":
        base = env.get("LOCALAPPDATA") or os.path.expanduser("~\\AppData\\Local")
    elif sys.platform == "darwin":
        base = os.path.expanduser("~/Library/Application Support")
    else:
        base = env.get("XDG_DATA_HOME", "")
        if not base.strip():
            base = os.path.expanduser("~/.local/share")
    return os.path.join(base, "plexsync")


def plexsync_home(environ: Mapping[str, str] | None = None) -> str:
    """The absolute state directory (a relative PLEXSYNC_HOME is taken from the cwd)."""
    env = os.environ if environ is None else environ
    value = env.get("PLEXSYNC_HOME")
    return os.path.abspath(os.path.expanduser(value) if value else default_home(env))


def ensure_private_dir(path: str) -> None:
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        if os.name == "posix" and os.stat(path).st_mode & 0o077:
            os.chmod(path, 0o700)
    except OSError as exc:
        raise HookError(f"cannot create PLEXSYNC_HOME {path}: {exc.strerror}") from None


# ------------------------------------------------------------------ input


def read_all(stream: BinaryIO, limit: int = MAX_INPUT_BYTES) -> bytes:
    """stdin up to EOF; over ``limit`` bytes the rest is read and dropped, then HookError.

    Always reads to EOF, so Stash never blocks writing into a pipe nobody reads.
    """
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = stream.read(READ_CHUNK_BYTES)
        if not chunk:
            break
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        elif chunks:
            chunks.clear()  # over the cap: keep draining, hold nothing
    if size > limit:
        raise HookError(f"input larger than {limit} bytes")
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def read_payload(stream: BinaryIO) -> dict[str, object]:
    data = read_all(stream)
    if not data.strip():
        raise HookError("empty input: expected one JSON document on stdin")
    try:
        payload = parse_json(data.decode("utf-8"))
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError included
        raise HookError(f"input is not JSON: {one_line(exc, 200)}") from None
    except RecursionError:
        raise HookError("input is not JSON: nested too deeply") from None
    if not isinstance(payload, dict):
        raise HookError("input is not a JSON object")
    return payload


def parse_hook_context(context: object) -> tuple[int, str]:
    """(scene_id, trigger) from args.hookContext, or HookError naming what is wrong."""
    if not isinstance(context, dict):
        raise HookError("args.hookContext is not an object")
    scene_id = context.get("id")
    if type(scene_id) is not int:  # bool, str and float ids are rejected
        raise HookError(f"args.hookContext.id is not an integer: {one_line(repr(scene_id), 80)}")
    if not 0 < scene_id <= MAX_SCENE_ID:
        raise HookError(f"args.hookContext.id out of range: {scene_id}")
    trigger = context.get("type")
    if trigger not in HOOK_TRIGGERS:
        raise HookError(f"unknown hook type {one_line(repr(trigger), 80)}")
    if context.get("input") is not None and not isinstance(context["input"], dict):
        raise HookError("args.hookContext.input is neither null nor an object")
    return scene_id, str(trigger)


# ------------------------------------------------------------------ worker heartbeat


def this_host() -> str:
    """socket.gethostname() without importing socket (it imports enum: hook latency)."""
    if hasattr(os, "uname"):
        return os.uname().nodename
    import socket

    return socket.gethostname()


def pid_running(pid: int) -> bool:
    """Whether pid is a live process here (a zombie is not; on Windows: assume it is)."""
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
    try:  # Linux: an exited child its parent has not reaped yet still answers kill(0)
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rpartition(b")")[2][1:2] != b"Z"
    except OSError:
        return True


def sqlite_readonly_uri(path: str) -> str:
    """A ``file:`` URI opening path read-only (no pathlib: it costs hook latency)."""
    path = path.replace("\\", "/")
    if not path.startswith("/"):
        path = "/" + path  # Windows drive letter
    for char, escaped in (("%", "%25"), ("?", "%3f"), ("#", "%23")):
        path = path.replace(char, escaped)
    return f"file:{path}?mode=ro"


def live_worker_row(home: str, now: float | None = None) -> tuple[int, str, float] | None:
    """(pid, host, heartbeat_at) of a worker with a heartbeat under 60 s old, or None.

    Reads ``state.db``'s ``worker`` table read-only; a worker on this host must also still
    be running. Raises sqlite3.Error when state.db cannot be read (locked, corrupt).
    """
    import sqlite3
    import time

    path = os.path.join(home, "state.db")
    if not os.path.exists(path):
        return None
    now = time.time() if now is None else now
    conn = sqlite3.connect(sqlite_readonly_uri(path), uri=True, timeout=1.0)
    try:
        rows = conn.execute(
            "select pid, host, heartbeat_at from worker where heartbeat_at >= ? "
            "order by heartbeat_at desc",
            (now - HEARTBEAT_STALE_S,),
        ).fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return None  # state.db of a CLI command: no worker ever started here
        raise
    finally:
        conn.close()
    host_here = this_host()
    for pid, host, heartbeat_at in rows:
        if host == host_here and not pid_running(int(pid)):
            continue
        return int(pid), str(host), float(heartbeat_at)
    return None


def warn_without_worker(home: str) -> None:
    """The Stash log warning after a hook when no worker will pick the event up."""
    import sqlite3

    try:
        alive = live_worker_row(home) is not None
    except (sqlite3.Error, OSError, ValueError, TypeError) as exc:
        log("d", f"plexsync: worker heartbeat not checked: {one_line(exc, 200)}")
        return
    if not alive:
        log("w", NO_WORKER_WARNING)


# ------------------------------------------------------------------ the hook


def handle_hook(context: object) -> str:
    scene_id, trigger = parse_hook_context(context)
    import sqlite3

    from plexsync.enqueue import connect, record_event

    home = plexsync_home()
    ensure_private_dir(home)
    try:
        conn = connect(os.path.join(home, "queue.db"), HOOK_BUSY_TIMEOUT_MS)
        try:
            task_id, cid, coalesced = record_event(conn, scene_id, trigger)
        finally:
            conn.close()
    except (sqlite3.Error, OSError) as exc:
        raise HookError(f"queue database {home}/queue.db: {one_line(exc, 200)}") from None
    verb = "coalesced" if coalesced else "queued"
    message = f"{verb} scene {scene_id} ({trigger}) task {task_id} cid {cid}"
    log("d", f"plexsync: {message}")
    warn_without_worker(home)
    return message


def run(payload: dict[str, object]) -> str:
    args = payload.get("args")
    if not isinstance(args, dict):
        raise HookError("no args object in input")
    if "hookContext" in args:  # a hook never runs a task, whatever its defaultArgs say
        return handle_hook(args["hookContext"])
    mode = args.get("mode")
    if mode is None:
        raise HookError("no args.hookContext and no args.mode in input")
    if PLUGIN_DIR not in sys.path:  # run via runpy or python -P: the script dir is missing
        sys.path.insert(1, PLUGIN_DIR)
    from plexsync_tasks import TASK_MODES, TaskError

    task = TASK_MODES.get(mode) if isinstance(mode, str) else None
    if task is None:
        known = ", ".join(TASK_MODES)
        raise HookError(f"unknown mode {one_line(repr(mode), 80)} (known: {known})")
    home = plexsync_home()
    ensure_private_dir(home)
    try:
        return task(payload, home)
    except TaskError as exc:
        raise HookError(str(exc)) from None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        if len(argv) == 2 and argv[0] == "--mode":  # a task run by hand from a shell
            payload: dict[str, object] = {"args": {"mode": argv[1]}}
        else:
            payload = read_payload(sys.stdin.buffer)
        output = run(payload)
    except HookError as exc:
        log("e", f"plexsync: {exc}")
        emit({"error": str(exc)})
        return 1
    except Exception as exc:  # Stash shows {"error"}; a traceback would only clutter its log
        message = f"internal error: {type(exc).__name__}: {one_line(exc, 300)}"
        log("e", f"plexsync: {message}")
        emit({"error": message})
        return 1
    emit({"output": output})
    return 0


if __name__ == "__main__":
    sys.exit(main())
