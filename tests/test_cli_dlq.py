"""`plexsync dlq list|show|purge` and `plexsync requeue`, seeded through the real stores."""

from __future__ import annotations

import io
import json
import time
import uuid
from datetime import datetime

import pytest
from click.testing import CliRunner
from rich.console import Console

from plexsync.cli import cli
from plexsync.cli.dlq import render_dlq
from plexsync.config import load_config
from plexsync.enqueue import SYNC_TASK_NAME
from plexsync.services import Services

DLQ_KEYS = {"id", "task", "scene_id", "error", "error_class", "attempts", "failed_at"}


@pytest.fixture
def services() -> Services:
    return Services(load_config())


def add_entry(
    services: Services, scene_id: int | None = 7, task: str = SYNC_TASK_NAME, **kw: object
) -> str:
    entry_id = str(kw.pop("id", uuid.uuid4()))
    services.dlq.add(
        id=entry_id,
        task=task,
        scene_id=scene_id,
        args={"args": [] if scene_id is None else [scene_id], "kwargs": {"cid": "cid-1"}},
        error=str(kw.pop("error", "Plex refused the token (401): set PLEXSYNC_PLEX_TOKEN")),
        error_class=str(kw.pop("error_class", "AuthError")),
        attempts=int(kw.pop("attempts", 6)),  # type: ignore[call-overload]
        cid="cid-1",
    )
    return entry_id


def invoke(*args: str) -> object:
    return CliRunner().invoke(cli, list(args))


# ------------------------------------------------------------------ list


def test_list_json_fields(services: Services) -> None:
    first = add_entry(services, 7)
    second = add_entry(services, None, task="plexsync.tasks.reconcile_full", error_class="X")
    result = invoke("dlq", "list", "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert [e["id"] for e in data] == [first, second]
    for entry in data:
        assert set(entry) == DLQ_KEYS
        assert isinstance(entry["id"], str) and isinstance(entry["task"], str)
        assert entry["scene_id"] is None or type(entry["scene_id"]) is int
        assert isinstance(entry["error"], str) and isinstance(entry["error_class"], str)
        assert type(entry["attempts"]) is int
        assert abs(datetime.fromisoformat(entry["failed_at"]).timestamp() - time.time()) < 60
    assert data[0]["scene_id"] == 7 and data[0]["attempts"] == 6
    assert data[0]["task"] == SYNC_TASK_NAME and data[0]["error_class"] == "AuthError"
    assert data[1]["scene_id"] is None


def test_list_empty() -> None:
    result = invoke("dlq", "list")
    assert result.exit_code == 0 and result.stdout.strip() == "No dead letters."
    result = invoke("dlq", "list", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout) == []


def test_list_human_at_80_columns(services: Services) -> None:
    ids = [add_entry(services, 100 + i, error="x" * 300) for i in range(3)]
    result = invoke("dlq", "list")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines)
    for entry_id in ids:  # the full ID, to copy into `dlq show`
        assert any(line.startswith(entry_id) for line in lines)
    assert "3 dead letter(s)" in result.stdout


def test_render_dlq_recorded_console_fits_and_shows_values(services: Services) -> None:
    add_entry(services, 4242, attempts=3, error="a long error " * 20)
    add_entry(services, None, task="plexsync.tasks.reconcile_full")
    console = Console(record=True, width=80, file=io.StringIO(), force_terminal=True)
    console.print(render_dlq(services.dlq.list()))
    text = console.export_text()
    assert all(len(line) <= 80 for line in text.splitlines())
    assert "4242" in text and "reconcile_full" in text and "sync_scene" in text
    assert "AuthError: a long error" in text and "…" in text


# ------------------------------------------------------------------ show


def test_show_with_stash_unreachable(services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLEXSYNC_STASH_URL", "http://127.0.0.1:9")  # discard port: refused
    long_error = "first line\n" + "second line " * 40
    entry_id = add_entry(services, 7, error=long_error)
    result = invoke("dlq", "show", entry_id)
    assert result.exit_code == 0
    out = result.stdout
    assert entry_id in out and SYNC_TASK_NAME in out and "cid-1" in out
    assert "Stash unreachable" in out
    assert ("second line " * 40).strip() in out  # the whole error, uncut
    assert '"args": [7]' in out


def test_show_with_scene_from_stash(services: Services, fake_stash, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    scene_id = fake_stash.add_scene(title="Beach Day", files=["/data/a.mp4", "/data/b.mp4"])
    monkeypatch.setenv("PLEXSYNC_STASH_URL", fake_stash.url)
    entry_id = add_entry(services, scene_id)
    result = invoke("dlq", "show", entry_id)
    assert result.exit_code == 0
    assert "Beach Day" in result.stdout
    assert "/data/a.mp4" in result.stdout and "/data/b.mp4" in result.stdout


def test_show_unknown_id() -> None:
    result = invoke("dlq", "show", "nope")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and "nope" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1  # one friendly line, no traceback


# ------------------------------------------------------------------ purge


def test_purge_requires_yes(services: Services) -> None:
    add_entry(services)
    result = invoke("dlq", "purge")
    assert result.exit_code == 2 and "--yes" in result.stderr
    assert services.dlq.count() == 1


def test_purge_older_than(services: Services) -> None:
    old = add_entry(services, 1)
    add_entry(services, 2)
    services.db.conn().execute(
        "update dlq set failed_at = failed_at - 10 * 86400 where id = ?", (old,)
    )
    result = invoke("dlq", "purge", "--older-than", "5", "--yes")
    assert result.exit_code == 0 and "Deleted 1 dead letter(s)." in result.stdout
    assert [e.scene_id for e in services.dlq.list()] == [2]
    result = invoke("dlq", "purge", "--yes")
    assert result.exit_code == 0 and "Deleted 1 " in result.stdout
    assert services.dlq.count() == 0


# ------------------------------------------------------------------ requeue


def _queued_messages(services: Services) -> list[dict]:
    rows = services.pending.conn().execute("select data from task order by id").fetchall()
    return [json.loads(bytes(r[0]))["__message__"] for r in rows]


def test_requeue_scene_entries(services: Services) -> None:
    a, b = add_entry(services, 7), add_entry(services, 8)
    result = invoke("requeue", a, b)
    assert result.exit_code == 0 and "Requeued 2 task(s)." in result.stdout
    assert services.dlq.count() == 0
    messages = _queued_messages(services)
    assert [(m["name"], m["args"]) for m in messages] == [
        (SYNC_TASK_NAME, [7]),
        (SYNC_TASK_NAME, [8]),
    ]
    assert all(m["kwargs"] == {"cid": "cid-1", "event": "requeue"} for m in messages)
    assert services.huey.pending_count() == 2 and services.pending.count() == 2


def test_requeue_coalesces_into_waiting_task(services: Services) -> None:
    services.pending.record(7, "hook")
    add_entry(services, 7)
    result = invoke("requeue", "--all")
    assert result.exit_code == 0 and "1 joined a task already waiting" in result.stdout
    assert services.huey.pending_count() == 1 and services.dlq.count() == 0


def test_requeue_unknown_id_requeues_nothing(services: Services) -> None:
    known = add_entry(services, 7)
    result = invoke("requeue", known, "missing-id")
    assert result.exit_code == 1 and "missing-id" in result.stderr
    assert services.dlq.count() == 1 and services.huey.pending_count() == 0


def test_requeue_nothing_to_do() -> None:
    result = invoke("requeue", "--all")
    assert result.exit_code == 0 and "Nothing to requeue." in result.stdout


def test_requeue_usage_errors(services: Services) -> None:
    assert invoke("requeue").exit_code == 2
    assert invoke("requeue", "x", "--all").exit_code == 2
