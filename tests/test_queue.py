"""The JSON serializer round-trips Huey messages, and the stdlib enqueuer writes real tasks."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from huey.registry import Message

from plexsync import enqueue
from plexsync.config import load_config
from plexsync.enqueue import SYNC_TASK_NAME
from plexsync.queue import JsonSerializer, build_huey


def test_message_round_trip() -> None:
    ser = JsonSerializer()
    eta = dt.datetime(2026, 11, 25, 10, 0, 0)
    msg = Message("abc", SYNC_TASK_NAME, eta, 0, 0, None, (5,), {"cid": "x", "attempts": 2})
    back = ser.deserialize(ser.serialize(msg))
    assert back == msg
    assert isinstance(back.args, tuple) and back.eta == eta


def test_enqueuer_row_is_a_huey_task(tmp_path: Path) -> None:
    cfg = load_config(environ={"PLEXSYNC_HOME": str(tmp_path)})
    huey = build_huey(cfg)
    conn = enqueue.connect(str(cfg.queue_db))
    task_id, cid, coalesced = enqueue.record_event(conn, 7, "Scene.Update.Post")
    assert not coalesced
    assert huey.pending_count() == 1
    message = huey.serializer.deserialize(huey.storage.dequeue())
    assert message.id == task_id
    assert message.name == SYNC_TASK_NAME
    assert message.args == (7,)
    assert message.kwargs == {"cid": cid, "event": "Scene.Update.Post"}


def test_events_coalesce_while_task_waits(tmp_path: Path) -> None:
    cfg = load_config(environ={"PLEXSYNC_HOME": str(tmp_path)})
    huey = build_huey(cfg)
    conn = enqueue.connect(str(cfg.queue_db))
    first = enqueue.record_event(conn, 3, "Scene.Update.Post")
    for _ in range(19):
        again = enqueue.record_event(conn, 3, "Scene.Update.Post")
        assert again[:2] == first[:2] and again[2] is True
    assert huey.pending_count() == 1
    assert conn.execute("select seq from pending where scene_id = 3").fetchone()[0] == 20
