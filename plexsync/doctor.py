"""``plexsync doctor``: checks that answer "why doesn't my scene show up in Plex?".

Every check returns a ``Check`` (never raises): a failed check carries a hint saying what to
do. Checks that need a service found unreachable earlier are skipped with the reason.
Remote calls are few: Stash healthz + version + one page of scenes, Plex ``/`` + sections,
and an incremental path-index refresh.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from plexsync.breaker import OPEN
from plexsync.config import Config, ensure_home, env_name, load_config
from plexsync.errors import ConfigError, PlexsyncError
from plexsync.state import iso

if TYPE_CHECKING:
    from plexsync.services import Services

DB_SUFFIXES = ("", "-wal", "-shm")


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    hint: str = ""
    skipped: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ok": self.ok,
            "detail": self.detail,
            "hint": self.hint,
            "skipped": self.skipped,
        }


def skipped(name: str, reason: str) -> Check:
    return Check(name, False, f"skipped: {reason}", skipped=True)


def _message(exc: BaseException) -> str:
    return exc.message if isinstance(exc, PlexsyncError) else f"{type(exc).__name__}: {exc}"


# ------------------------------------------------------------------ local checks


def check_config(overrides: Mapping[str, Any]) -> tuple[Check, Config | None]:
    try:
        config = load_config(overrides)
    except ConfigError as exc:
        hint = "fix that setting (environment, --set, or $PLEXSYNC_HOME/config.toml)"
        return Check("config", False, exc.message, hint), None
    from_file = [k for k, s in config.sources.items() if s == "config.toml"]
    detail = f"valid; home {config.home}"
    if from_file:
        detail += f"; {len(from_file)} setting(s) from config.toml"
    return Check("config", True, detail), config


def check_state_dir(config: Config) -> Check:
    """Exists (created 0700 if missing), writable, 0700; DB files 0600."""
    home = config.home
    if not home.exists():
        try:
            ensure_home(config)
        except ConfigError as exc:
            return Check("state dir", False, exc.message, f"create it: mkdir -m 700 {home}")
        return Check("state dir", True, f"created {home} (mode 0700)")
    if not home.is_dir():
        return Check("state dir", False, f"{home} is not a directory", f"set {env_name('home')}")
    try:
        with tempfile.TemporaryFile(dir=home):
            pass
    except OSError as exc:
        return Check(
            "state dir", False, f"{home} is not writable: {exc.strerror}", f"chown/chmod {home}"
        )
    problems = []
    mode = stat.S_IMODE(home.stat().st_mode)
    if os.name == "posix" and mode & 0o077:
        problems.append(f"{home} is mode {mode:04o}, not 0700")
    loose = []
    for db in (config.queue_db, config.state_db):
        for suffix in DB_SUFFIXES:
            path = db.with_name(db.name + suffix)
            if path.exists() and os.name == "posix":
                file_mode = stat.S_IMODE(path.stat().st_mode)
                if file_mode & 0o077:
                    loose.append(f"{path.name} is mode {file_mode:04o}")
    if loose:
        problems.append("not 0600: " + ", ".join(loose))
    if problems:
        files = " ".join(str(config.home / name.split(" ")[0]) for name in loose)
        hint = f"chmod 700 {home}" + (f"; chmod 600 {files}" if files else "")
        return Check("state dir", False, "; ".join(problems), hint)
    return Check("state dir", True, f"{home} (0700, DB files 0600)")


def check_queue(services: Services) -> Check:
    try:
        queued = services.huey.pending_count()
        scheduled = services.huey.scheduled_count()
        pending = services.pending.count()
    except Exception as exc:  # sqlite3.Error, OSError: any of them means "unreadable"
        return Check(
            "queue DB",
            False,
            f"{services.config.queue_db} unreadable: {_message(exc)}",
            "check the file's owner and mode; move it aside to start with an empty queue",
        )
    return Check(
        "queue DB", True, f"{queued} queued, {scheduled} scheduled, {pending} scene(s) pending"
    )


def check_worker(services: Services) -> Check:
    live = services.state.live_worker()
    if live is not None:
        return Check(
            "worker",
            True,
            f"running (pid {live.pid} on {live.host}, heartbeat {iso(live.heartbeat_at)})",
        )
    return Check(
        "worker",
        False,
        "no worker is running: queued scenes are not synced",
        "start it: plexsync worker (or ./consumer.sh, or the Stash plugin task)",
    )


def check_breaker(services: Services) -> Check:
    state = services.breaker.read()
    if state.state == OPEN:
        return Check(
            "circuit breaker",
            False,
            f"open after {state.failures} Plex failure(s); next probe at {iso(state.retry_at)}",
            "Plex kept failing; it is probed again automatically. Check Plex is up.",
        )
    return Check("circuit breaker", True, state.state)


def check_dlq(services: Services) -> Check:
    entries = services.dlq.list()
    if not entries:
        return Check("dead letters", True, "none")
    last = entries[-1]
    error = " ".join(last.error.split())[:160]
    return Check(
        "dead letters",
        False,
        f"{len(entries)} task(s) failed for good; latest: {last.error_class}: {error}",
        "plexsync dlq list / plexsync dlq show ID; fix the cause, then plexsync requeue --all",
    )


def check_unmatched(services: Services) -> Check:
    unmatched = services.state.unmatched()
    if not unmatched:
        return Check("unmatched scenes", True, "none")
    first = unmatched[0]
    return Check(
        "unmatched scenes",
        False,
        f"{len(unmatched)} scene(s) have no Plex item; e.g. {first.reason}",
        "let Plex scan the files, or fix PLEXSYNC_PATH_MAP (see 'path mapping'), "
        f"then: plexsync sync {first.scene_id}",
    )


def check_stall(services: Services) -> Check:
    from plexsync.health import stall_alert

    alert = stall_alert(services)
    if alert:
        return Check("stall alert", False, alert, "see the worker's log: $PLEXSYNC_HOME/logs")
    return Check("stall alert", True, "none")


# ------------------------------------------------------------------ orchestration


def run_doctor(overrides: Mapping[str, Any] | None = None) -> list[Check]:
    """All checks, in the order a person would fix them."""
    from plexsync.doctor_remote import check_path_mapping, check_plex, check_stash
    from plexsync.services import Services

    config_check, config = check_config(overrides or {})
    if config is None:
        return [config_check, skipped("other checks", "the configuration is invalid")]
    checks = [config_check, check_state_dir(config)]
    try:
        services = Services(config)
    except ConfigError as exc:
        return [*checks, skipped("other checks", exc.message)]
    checks.append(check_queue(services))
    stash_checks, stash_ok = check_stash(services)
    plex_checks, sections = check_plex(services)
    checks += stash_checks + plex_checks
    if not stash_ok:
        checks.append(skipped("path mapping", "Stash is not reachable"))
    elif sections is None:
        checks.append(skipped("path mapping", "Plex is not reachable"))
    else:
        checks.append(check_path_mapping(services, sections))
    local = (check_worker, check_breaker, check_dlq, check_unmatched, check_stall)
    for check in local:
        try:
            checks.append(check(services))
        except Exception as exc:  # a broken state DB must not hide the other answers
            name = check.__name__.removeprefix("check_").replace("_", " ")
            checks.append(Check(name, False, f"cannot read state: {_message(exc)}"))
    return checks


def doctor_ok(checks: list[Check]) -> bool:
    return all(c.ok for c in checks)


__all__ = [
    "Check",
    "check_config",
    "check_state_dir",
    "doctor_ok",
    "run_doctor",
]
