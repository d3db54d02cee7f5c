"""A fake Stash server: real HTTP on 127.0.0.1, real GraphQL execution (graphql-core).

Queries are parsed, validated and executed against ``SUBSET_SDL`` (``tests/fakes/stash_graphql.py``,
with the resolvers): our own small schema holding only the types, fields and arguments plexsync
uses, with the names real Stash uses (the real schema check is ``tests/test_stash_schema.py``).
This module holds the HTTP server and the test API. Behaviour copied from Stash on purpose:

- parse/validation/variable errors -> HTTP 422 ``{"errors": [...]}``; a missing or wrong
  ``ApiKey`` header (when the fake has a key) -> 401 with an empty body; ``GET /healthz`` is open;
- ``updated_at`` is an RFC3339 string with an offset, and the ``updated_at`` filter compares
  strings; ``findScenes(ids:)`` ignores filter and paging and errors when an id is missing;
- ``paths.screenshot`` carries ``?t=<updated_at as unix seconds>``, so it changes on every edit
  even when the image does not; ``paths.preview`` is an MP4.

Edits made through the test API fire no hook (as Stash's auto-tag, merge, imports).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from tests.fakes.stash_graphql import (
    SCENE_FIELDS,
    SCHEMA,
    SUBSET_SDL,
    FakeScene,
    StashGraphQL,
    apply_fields,
    make_png,
    scene_image,
)

__all__ = ["SCHEMA", "SUBSET_SDL", "FakeScene", "FakeStash", "RequestRecord", "make_png"]

PREVIEW_BYTES = b"\x00\x00\x00\x18ftypmp42fake-preview-not-artwork"


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    query: str
    operation: str | None
    status: int
    had_api_key: bool


class FakeStash(StashGraphQL):
    """Start with ``start()`` (or use as a context manager); ``url`` is the base URL."""

    def __init__(
        self,
        api_key: str | None = None,
        version: str = "v0.30.1",
        utc_offset_minutes: int = 0,
        url_host: str = "127.0.0.1",
    ) -> None:
        super().__init__(version, url_host)
        self.api_key = api_key
        self._tz = timezone(timedelta(minutes=utc_offset_minutes))
        self._next_id = 1
        self._last_stamp: datetime | None = None
        self._fail: list[int] = []
        self._slow: list[float] = []
        self.requests: list[RequestRecord] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeStash:
        fake = self

        class Handler(_Handler):
            stash = fake

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening (connections are refused); ``start()`` resumes on the same port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeStash:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ------------------------------------------------------------------ test API: data

    def _stamp(self) -> str:
        """Now, to the second, in the fake's zone; strictly later than the previous stamp."""
        now = datetime.now(self._tz).replace(microsecond=0)
        if self._last_stamp is not None and now <= self._last_stamp:
            now = self._last_stamp + timedelta(seconds=1)
        self._last_stamp = now
        return now.isoformat()

    def add_scene(self, updated_at: str | None = None, **fields: Any) -> int:
        unknown = set(fields) - SCENE_FIELDS
        if unknown:
            raise TypeError(f"unknown scene fields: {sorted(unknown)}")
        with self._lock:
            scene_id = self._next_id
            self._next_id += 1
            stamp = self._stamp()
            scene = FakeScene(id=scene_id, created_at=stamp, updated_at=updated_at or stamp)
            apply_fields(scene, fields)
            self._scenes[scene_id] = scene
        return scene_id

    def edit_scene(self, scene_id: int, updated_at: str | None = None, **fields: Any) -> str:
        """Change fields and bump updated_at (no hook fires). Returns the new updated_at."""
        unknown = set(fields) - SCENE_FIELDS
        if unknown:
            raise TypeError(f"unknown scene fields: {sorted(unknown)}")
        with self._lock:
            scene = self._scenes[scene_id]
            apply_fields(scene, fields)
            scene.updated_at = updated_at or self._stamp()
            return scene.updated_at

    def delete_scene(self, scene_id: int) -> None:
        with self._lock:
            del self._scenes[scene_id]

    def scene(self, scene_id: int) -> FakeScene:
        with self._lock:
            return replace(self._scenes[scene_id])

    def image_of(self, scene_id: int) -> bytes:
        with self._lock:
            return scene_image(self._scenes[scene_id])

    def set_plugin_settings(self, plugin_id: str, settings: dict[str, Any]) -> None:
        with self._lock:
            self._plugin_settings[plugin_id] = dict(settings)

    # ------------------------------------------------------------------ test API: faults, log

    def fail_next(self, n: int, status: int = 500) -> None:
        """The next n requests (any path) answer ``status`` without doing anything."""
        with self._lock:
            self._fail.extend([status] * n)

    def slow_next(self, n: int, seconds: float) -> None:
        """The next n requests wait ``seconds`` before being handled."""
        with self._lock:
            self._slow.extend([seconds] * n)

    def request_count(self, path: str | None = None, operation: str | None = None) -> int:
        with self._lock:
            return sum(
                1
                for r in self.requests
                if (path is None or r.path == path)
                and (operation is None or r.operation == operation)
            )

    def clear_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    # ------------------------------------------------------------------ internals

    def _take_faults(self) -> tuple[float, int | None]:
        with self._lock:
            delay = self._slow.pop(0) if self._slow else 0.0
            status = self._fail.pop(0) if self._fail else None
        return delay, status

    def _record(self, record: RequestRecord) -> None:
        with self._lock:
            self.requests.append(record)


class _Handler(BaseHTTPRequestHandler):
    stash: FakeStash

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        self._path, self._query = parts.path, parts.query
        body = b""
        if self.command == "POST":
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._operation: str | None = None
        with contextlib.suppress(ValueError, AttributeError):
            self._operation = json.loads(body).get("operationName") if body else None
        delay, forced = self.stash._take_faults()
        if delay:
            time.sleep(delay)
        if forced is not None:
            self._send(forced, b"injected failure", "text/plain")
        elif parts.path == "/healthz" and self.command == "GET":
            self._send(200, b"ok", "text/plain")
        elif self.stash.api_key and self.headers.get("ApiKey") != self.stash.api_key:
            self._send(401, b"", "text/plain")
        else:
            self._route(parts.path, body)

    def _route(self, path: str, body: bytes) -> int:
        segments = path.strip("/").split("/")
        if path == "/graphql" and self.command == "POST":
            try:
                request = json.loads(body)
                if not isinstance(request, dict):
                    raise ValueError("not an object")
            except ValueError as exc:
                payload = {"errors": [{"message": f"json body could not be decoded: {exc}"}]}
                return self._send(400, json.dumps(payload).encode(), "application/json")
            status, result = self.stash.graphql(request)
            return self._send(status, json.dumps(result).encode(), "application/json")
        if len(segments) == 3 and segments[0] == "scene" and self.command == "GET":
            try:
                scene_id = int(segments[1])
                if segments[2] == "screenshot":
                    return self._send(200, self.stash.image_of(scene_id), "image/png")
                if segments[2] == "preview":
                    self.stash.scene(scene_id)
                    return self._send(200, PREVIEW_BYTES, "video/mp4")
            except (ValueError, KeyError):
                pass
        return self._send(404, b"404 page not found", "text/plain")

    def _send(self, status: int, payload: bytes, content_type: str) -> int:
        # recorded before answering, so a client that got its answer sees its request logged
        self.stash._record(
            RequestRecord(
                self.command,
                self._path,
                self._query,
                self._operation,
                status,
                "ApiKey" in self.headers,
            )
        )
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:  # the client gave up (timeout): nothing to answer
            pass
        return status
