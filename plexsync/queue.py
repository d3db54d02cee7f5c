"""The Huey queue: SqliteHuey in $PLEXSYNC_HOME/queue.db with a JSON serializer.

JSON (not pickle) is what lets the Stash hook, which may only use the standard library,
write a real Huey task straight into SqliteHuey's ``task`` table: see
``stash_plugin/plexsync_hook.py``, which writes exactly ``encode_message()``'s format.

Wire format of one task row's ``data``::

    {"__message__": {"id": "...", "name": "plexsync.tasks.sync_scene",
                     "args": [123], "kwargs": {"cid": "...", "event": "..."},
                     "eta": {"__datetime__": "2026-11-25T10:00:00"}, ...}}

Fields missing from the object default to None, as Huey's Message does itself.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from huey import SqliteHuey
from huey.registry import Message
from huey.serializer import Serializer

from plexsync.config import Config, ensure_home, touch_private
from plexsync.enqueue import QUEUE_NAME

# The pending table lives in the queue DB so that the hook records the event and its task
# in one transaction. See plexsync.pending.
BUSY_TIMEOUT_S = 30.0


def _encode(obj: Any) -> Any:
    if isinstance(obj, Message):
        return {"__message__": {k: _encode(v) for k, v in obj._asdict().items() if v is not None}}
    if isinstance(obj, dt.datetime):
        return {"__datetime__": obj.isoformat()}
    if isinstance(obj, dt.timedelta):
        return {"__timedelta__": obj.total_seconds()}
    if isinstance(obj, tuple | list):
        return [_encode(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): _encode(v) for k, v in obj.items()}
    if obj is None or isinstance(obj, str | int | float | bool):
        return obj
    raise TypeError(f"cannot queue a {type(obj).__name__} as JSON")


def _decode(obj: Any) -> Any:
    if isinstance(obj, list):
        return [_decode(v) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if "__message__" in obj:
        fields = {k: _decode(v) for k, v in obj["__message__"].items() if k in Message._fields}
        fields["args"] = tuple(fields.get("args") or ())
        fields["kwargs"] = fields.get("kwargs") or {}
        return Message(**fields)
    if "__datetime__" in obj:
        return dt.datetime.fromisoformat(obj["__datetime__"])
    if "__timedelta__" in obj:
        return dt.timedelta(seconds=obj["__timedelta__"])
    return {k: _decode(v) for k, v in obj.items()}


class JsonSerializer(Serializer):
    """Huey serializer writing compact UTF-8 JSON instead of pickle."""

    def _serialize(self, data: Any) -> bytes:
        return json.dumps(_encode(data), separators=(",", ":"), ensure_ascii=False).encode()

    def _deserialize(self, data: Any) -> Any:
        return _decode(json.loads(bytes(data)))


def encode_message(message: Message) -> bytes:
    return JsonSerializer().serialize(message)


def build_huey(config: Config) -> SqliteHuey:
    ensure_home(config)
    touch_private(config.queue_db)
    return SqliteHuey(
        QUEUE_NAME,
        filename=str(config.queue_db),
        results=False,
        utc=True,
        serializer=JsonSerializer(),
        fsync=True,
        journal_mode="wal",
        timeout=BUSY_TIMEOUT_S,
    )
