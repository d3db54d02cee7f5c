"""End-to-end harness: the hook and the worker as real subprocesses against the fakes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.fakes.plex import FakePlex
from tests.fakes.stash import FakeStash

REPO = Path(__file__).resolve().parent.parent
HOOK = REPO / "stash_plugin" / "plexsync_hook.py"

FAST_RETRIES = {
    "PLEXSYNC_RETRY_BASE": "0.2",
    "PLEXSYNC_RETRY_MAX": "1",
    "PLEXSYNC_CONNECT_TIMEOUT": "1",
    "PLEXSYNC_READ_TIMEOUT": "1",
    "PLEXSYNC_BREAKER_THRESHOLD": "3",
    "PLEXSYNC_BREAKER_COOLDOWN": "1",
    "PLEXSYNC_UNMATCHED_DELAY": "0.5",
    "PLEXSYNC_RECONCILE_MINUTES": "0",
    "PLEXSYNC_SHUTDOWN_GRACE": "5",
}


def worker_env(home: Path, plex: FakePlex, stash: FakeStash, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLEXSYNC_")}
    env.update(FAST_RETRIES)
    env.update(
        PLEXSYNC_HOME=str(home),
        PLEXSYNC_PLEX_URL=plex.url,
        PLEXSYNC_PLEX_TOKEN=plex.token,
        PLEXSYNC_STASH_URL=stash.url,
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def hook_payload(scene_id: Any, hook_type: str = "Scene.Update.Post", **ctx: Any) -> dict:
    return {
        "server_connection": {
            "Scheme": "http",
            "Host": "0.0.0.0",
            "Port": 9999,
            "SessionCookie": None,
            "Dir": "/root/.stash",
            "PluginDir": str(HOOK.parent),
        },
        "args": {"hookContext": {"id": scene_id, "type": hook_type, "input": None, **ctx}},
    }


def run_hook(env: dict[str, str], payload: dict | str) -> subprocess.CompletedProcess[str]:
    data = payload if isinstance(payload, str) else json.dumps(payload)
    return subprocess.run(
        [sys.executable, str(HOOK)],
        input=data,
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "plexsync", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=REPO,
    )


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")


@dataclass
class Worker:
    """`python -m plexsync worker` in a subprocess, its log captured to a file."""

    env: dict[str, str]
    log_path: Path
    threads: int = 1
    proc: subprocess.Popen[bytes] | None = None
    _logs: list[Path] = field(default_factory=list)

    def start(self) -> Worker:
        self._log_file = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "plexsync", "-v", "worker", "--workers", str(self.threads)],
            env=self.env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._log_file.close()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log_file.close()
        return self.proc.returncode


def running_worker(env: dict[str, str], tmp: Path, threads: int = 1) -> Iterator[Worker]:
    worker = Worker(env, tmp / "worker.log", threads).start()
    try:
        yield worker
    finally:
        worker.stop()
