"""The Stash hook as Stash runs it: a real subprocess, Stash's JSON on stdin, a real queue DB.

This module: what the hook reads and writes (real payloads, bad input, big input, its JSON).
Queue durability and concurrency: ``test_hook_queue.py``; worker check, home, imports:
``test_hook_environment.py``.
"""

from __future__ import annotations

import base64
import importlib
import io
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plexsync.config import load_config
from plexsync.enqueue import SYNC_TASK_NAME, task_data
from plexsync.queue import build_huey
from tests.hook_helpers import (
    OUTPUT_RE,
    PAYLOADS,
    assert_log_lines,
    feed_all,
    hook_module,
    hook_payload,
    pending_rows,
    run_hook,
    server_connection,
    start_hook,
    task_rows,
)

# ------------------------------------------------------------------ real payloads


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_real_payload_is_queued_as_a_huey_task(home: Path, name: str) -> None:
    payload = PAYLOADS[name]
    context = payload["args"]["hookContext"]
    run = run_hook(home, payload)

    assert run.code == 0, run
    assert set(run.result) == {"output"}
    match = OUTPUT_RE.match(run.result["output"])
    assert match, run.result
    verb, scene_id, trigger, task_id, cid = match.groups()
    assert (verb, int(scene_id), trigger) == ("queued", context["id"], context["type"])
    assert_log_lines(run.stderr)

    (message,) = task_rows(home)
    assert message.name == SYNC_TASK_NAME
    assert message.id == task_id
    assert message.args == (context["id"],)
    assert message.kwargs == {"cid": cid, "event": context["type"]}
    assert uuid.UUID(hex=task_id).version == 4
    pending = pending_rows(home)[context["id"]]
    assert (pending["seq"], pending["queued"], pending["task_id"]) == (1, 1, task_id)
    assert (pending["cid"], pending["event"]) == (cid, context["type"])


def test_real_huey_dequeues_the_hooks_task(home: Path) -> None:
    run = run_hook(home, PAYLOADS["update"])
    assert run.code == 0, run
    task_id = OUTPUT_RE.match(run.result["output"]).group(4)  # type: ignore[union-attr]

    huey = build_huey(load_config())
    calls: list[tuple[Any, ...]] = []

    def sync_scene(scene_id: int, cid: str | None = None, event: str | None = None) -> None:
        calls.append((scene_id, cid, event))

    sync_scene.__module__ = "plexsync.tasks"  # registers as plexsync.tasks.sync_scene
    huey.task(name="sync_scene")(sync_scene)
    task = huey.dequeue()
    assert task is not None
    assert (task.id, task.args, task.kwargs["event"]) == (task_id, (12,), "Scene.Update.Post")
    huey.execute(task)
    assert calls == [(12, task.kwargs["cid"], "Scene.Update.Post")]
    assert huey.dequeue() is None


def test_hook_task_name_is_the_one_the_worker_registers(home: Path) -> None:
    tasks = importlib.import_module("plexsync.tasks")
    registry = tasks.huey._registry
    assert registry.task_to_string(tasks.sync_scene.task_class) == SYNC_TASK_NAME


# ------------------------------------------------------------------ bad input


MALFORMED: dict[str, bytes | dict[str, Any] | list[Any]] = {
    "not-json": b"{this is not json",
    "empty": b"",
    "blank": b"  \n",
    "array": [1, 2],
    "no-args": {"server_connection": server_connection()},
    "no-hook-context": {"server_connection": server_connection(), "args": {}},
    "hook-context-list": {"args": {"hookContext": [12]}},
    "no-id": {"args": {"hookContext": {"type": "Scene.Update.Post", "input": None}}},
    "id-null": hook_payload(None),
    "id-string": hook_payload("12"),
    "id-negative": hook_payload(-1),
    "id-zero": hook_payload(0),
    "id-true": hook_payload(True),
    "id-float": hook_payload(1.5),
    "id-huge": hook_payload(1 << 63),
    "type-unknown": hook_payload(12, "Scene.Updated.Post"),
    "type-gallery": hook_payload(12, "Gallery.Update.Post"),
    "type-missing": {"args": {"hookContext": {"id": 12, "input": None}}},
    "input-string": hook_payload(12, "Scene.Update.Post", "title=x"),
    "unknown-mode": {"args": {"mode": "format_disk"}},
    "trailing-data": json.dumps(hook_payload(12)).encode() + b" {}",
    "not-utf8": json.dumps(hook_payload(12, "Scene.Update.Post", {"t": "x"}))
    .encode()
    .replace(b'"x"', b'"\xff"'),
    "nested-too-deeply": b"[" * 200_000,
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_bad_input_is_an_error_and_queues_nothing(home: Path, name: str) -> None:
    run = run_hook(home, MALFORMED[name])
    assert run.code == 1, run
    assert set(run.result) == {"error"}
    error = run.result["error"]
    assert error and "\n" not in error and "Traceback" not in error
    assert not error.startswith("internal error"), error
    assert_log_lines(run.stderr)
    assert "\x01e\x02" in run.stderr
    assert task_rows(home) == []
    assert pending_rows(home) == {}


# ------------------------------------------------------------------ big inputs, stdin drained


def cover_image_payload(scene_id: int, image_bytes: int) -> bytes:
    """A real SceneUpdateInput save with a new cover: Stash sends the image as base64."""
    cover = "data:image/jpeg;base64," + base64.b64encode(os.urandom(image_bytes)).decode()
    scene_input = {"id": str(scene_id), "title": "With cover", "cover_image": cover}
    fields = ["id", "title", "cover_image"]
    payload = hook_payload(scene_id, "Scene.Update.Post", scene_input, inputFields=fields)
    return json.dumps(payload).encode()


def test_save_with_a_5_mb_cover_image_is_queued(home: Path) -> None:
    data = cover_image_payload(77, 4 * 1024 * 1024)  # ~5.6 MB of JSON
    assert len(data) > 5_000_000
    started = time.monotonic()
    run = feed_all(start_hook(home), data)
    elapsed = time.monotonic() - started
    assert run.code == 0, run.stdout
    assert OUTPUT_RE.match(run.result["output"]).group(1, 2) == ("queued", "77")  # type: ignore[union-attr]
    assert [m.args for m in task_rows(home)] == [(77,)]
    assert elapsed < 2.0, f"hook took {elapsed:.2f} s on a 5 MB save (loose bound)"


@pytest.mark.parametrize("case", ["over-64-mib", "8-mib-not-json"])
def test_stdin_is_read_to_the_end_on_errors(home: Path, case: str) -> None:
    module = hook_module()
    if case == "over-64-mib":
        filler = "x" * (module.MAX_INPUT_BYTES + 1024)
        data = json.dumps(hook_payload(12, "Scene.Update.Post", {"details": filler})).encode()
        expected = f"input larger than {module.MAX_INPUT_BYTES} bytes"
    else:
        data = b"{" + b"x" * (8 << 20)
        expected = "input is not JSON"
    assert module.MAX_INPUT_BYTES == 64 << 20
    run = feed_all(start_hook(home), data)  # BrokenPipeError here = the hook stopped reading
    assert run.code == 1
    assert run.result["error"].startswith(expected)
    assert_log_lines(run.stderr)
    assert task_rows(home) == [] and pending_rows(home) == {}


# ------------------------------------------------------------------ json without `import json`

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(JSON_VALUES, st.sampled_from(["", " ", "\n\t "]))
def test_parse_json_equals_json_loads(value: Any, pad: str) -> None:
    text = pad + json.dumps(value, ensure_ascii=False) + pad
    assert hook_module().parse_json(text) == json.loads(text)


@pytest.mark.parametrize("text", ["", " ", "{", '{"a": 1} x', "[1,]", "NaNa", "'x'", "{} {}"])
def test_parse_json_rejects_what_json_loads_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        json.loads(text)
    with pytest.raises(ValueError):
        hook_module().parse_json(text)


@given(st.text(), st.text())
def test_emit_and_task_data_write_what_json_dumps_writes(text: str, other: str) -> None:
    module = hook_module()
    out = io.StringIO()
    real_stdout, sys.stdout = sys.stdout, out
    try:
        module.emit({"output": text})
    finally:
        sys.stdout = real_stdout
    assert out.getvalue() == json.dumps({"output": text}) + "\n"
    message = {
        "__message__": {
            "id": text,
            "name": SYNC_TASK_NAME,
            "retries": 0,
            "retry_delay": 0,
            "args": [12],
            "kwargs": {"cid": other, "event": text},
        }
    }
    expected = json.dumps(message, separators=(",", ":")).encode()
    assert task_data(text, 12, other, text) == expected
