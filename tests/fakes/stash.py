"""A fake Stash server: real HTTP on 127.0.0.1, real GraphQL execution (graphql-core).

Queries are parsed, validated and executed against ``SUBSET_SDL`` below: our own small schema
holding only the types, fields and arguments plexsync uses, with the names real Stash uses (the
real schema check is ``tests/test_stash_schema.py``). Behaviour copied from Stash on purpose:

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
import struct
import threading
import time
import zlib
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from graphql import GraphQLError, build_schema, execute_sync, parse, validate

SUBSET_SDL = """
scalar Time
scalar PluginConfigMap

enum SortDirectionEnum { ASC DESC }
enum CriterionModifier { EQUALS NOT_EQUALS GREATER_THAN LESS_THAN IS_NULL NOT_NULL BETWEEN }

input FindFilterType { q: String page: Int per_page: Int sort: String direction: SortDirectionEnum }
input TimestampCriterionInput { value: String! value2: String modifier: CriterionModifier! }
input SceneFilterType { updated_at: TimestampCriterionInput }

type VideoFile { id: ID! path: String! basename: String! }
type Studio { id: ID! name: String! parent_studio: Studio }
type Tag { id: ID! name: String! }
type Performer { id: ID! name: String! }
type ScenePathsType { screenshot: String preview: String stream: String }

type Scene {
  id: ID!
  title: String
  details: String
  date: String
  rating100: Int
  created_at: Time!
  updated_at: Time!
  files: [VideoFile!]!
  paths: ScenePathsType!
  studio: Studio
  tags: [Tag!]!
  performers: [Performer!]!
}

type FindScenesResultType { count: Int! scenes: [Scene!]! }
type Version { version: String hash: String! build_time: String! }
type ConfigResult { plugins(include: [ID!]): PluginConfigMap! }

type Query {
  findScene(id: ID, checksum: String): Scene
  findScenes(
    scene_filter: SceneFilterType, ids: [ID!], filter: FindFilterType
  ): FindScenesResultType!
  version: Version!
  configuration: ConfigResult!
}
"""

SCHEMA = build_schema(SUBSET_SDL)
SORTS = ("id", "title", "date", "rating100", "created_at", "updated_at")
PREVIEW_BYTES = b"\x00\x00\x00\x18ftypmp42fake-preview-not-artwork"


def make_png(rgb: tuple[int, int, int], size: int = 8) -> bytes:
    """A valid solid-colour PNG, written by hand (no imaging library needed)."""
    row = b"\x00" + bytes(rgb) * size
    raw = row * size

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


@dataclass
class FakeScene:
    id: int
    created_at: str
    updated_at: str
    title: str | None = None
    details: str | None = None
    date: str | None = None
    rating100: int | None = None
    studio: str | None = None
    parent_studio: str | None = None
    tags: list[str] = field(default_factory=list)
    performers: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    image: bytes = b""


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    query: str
    operation: str | None
    status: int
    had_api_key: bool


SCENE_FIELDS = frozenset(
    {"title", "details", "date", "rating100", "studio", "parent_studio"}
    | {"tags", "performers", "files", "image"}
)


class FakeStash:
    """Start with ``start()`` (or use as a context manager); ``url`` is the base URL."""

    def __init__(
        self,
        api_key: str | None = None,
        version: str = "v0.30.1",
        utc_offset_minutes: int = 0,
        url_host: str = "127.0.0.1",
    ) -> None:
        self.api_key = api_key
        self.version = version
        self.url_host = url_host  # host written into paths.* (Stash often reports 0.0.0.0)
        self._tz = timezone(timedelta(minutes=utc_offset_minutes))
        self._lock = threading.Lock()
        self._scenes: dict[int, FakeScene] = {}
        self._next_id = 1
        self._last_stamp: datetime | None = None
        self._plugin_settings: dict[str, dict[str, Any]] = {}
        self._fail: list[int] = []
        self._slow: list[float] = []
        self.requests: list[RequestRecord] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

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

    @property
    def public_url(self) -> str:
        return f"http://{self.url_host}:{self.port}"

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
            _apply(scene, fields)
            self._scenes[scene_id] = scene
        return scene_id

    def edit_scene(self, scene_id: int, updated_at: str | None = None, **fields: Any) -> str:
        """Change fields and bump updated_at (no hook fires). Returns the new updated_at."""
        unknown = set(fields) - SCENE_FIELDS
        if unknown:
            raise TypeError(f"unknown scene fields: {sorted(unknown)}")
        with self._lock:
            scene = self._scenes[scene_id]
            _apply(scene, fields)
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
            return _image(self._scenes[scene_id])

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

    def _scene_dict(self, scene: FakeScene) -> dict[str, Any]:
        base = f"{self.public_url}/scene/{scene.id}"
        stamp = int(datetime.fromisoformat(scene.updated_at).timestamp())
        studio = None
        if scene.studio is not None:
            parent = None
            if scene.parent_studio is not None:
                parent = {"id": "p1", "name": scene.parent_studio, "parent_studio": None}
            studio = {"id": "s1", "name": scene.studio, "parent_studio": parent}
        return {
            "id": str(scene.id),
            "title": scene.title,
            "details": scene.details,
            "date": scene.date,
            "rating100": scene.rating100,
            "created_at": scene.created_at,
            "updated_at": scene.updated_at,
            "studio": studio,
            "tags": [{"id": str(i + 1), "name": n} for i, n in enumerate(scene.tags)],
            "performers": [{"id": str(i + 1), "name": n} for i, n in enumerate(scene.performers)],
            "files": [
                {"id": str(i + 1), "path": p, "basename": p.rsplit("/", 1)[-1]}
                for i, p in enumerate(scene.files)
            ],
            "paths": {
                "screenshot": f"{base}/screenshot?t={stamp}",
                "preview": f"{base}/preview",
                "stream": f"{base}/stream",
            },
        }

    # resolvers (graphql-core's default resolver calls these with (info, **args))

    def _find_scene(self, _info: Any, id: str | None = None, checksum: str | None = None) -> Any:
        with self._lock:
            scene = self._scenes.get(_int_id(id))
            return self._scene_dict(scene) if scene else None

    def _find_scenes(
        self,
        _info: Any,
        scene_filter: dict[str, Any] | None = None,
        ids: list[str] | None = None,
        filter: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        with self._lock:
            if ids is not None:
                picked = []
                for raw in ids:
                    scene = self._scenes.get(_int_id(raw))
                    if scene is None:
                        raise GraphQLError(f"scene with id {raw} not found")
                    picked.append(scene)
                return {"count": len(picked), "scenes": [self._scene_dict(s) for s in picked]}
            scenes = list(self._scenes.values())
            criterion = (scene_filter or {}).get("updated_at")
            if criterion:
                scenes = [s for s in scenes if _matches(s.updated_at, criterion)]
            page_scenes = _sort_and_page(scenes, filter or {})
            return {"count": len(scenes), "scenes": [self._scene_dict(s) for s in page_scenes]}

    def _configuration(self, _info: Any) -> dict[str, Any]:
        def plugins(_info: Any, include: list[str] | None = None) -> dict[str, Any]:
            with self._lock:
                return {
                    pid: dict(values)
                    for pid, values in self._plugin_settings.items()
                    if include is None or pid in include
                }

        return {"plugins": plugins}

    def _version(self, _info: Any) -> dict[str, Any]:
        return {"version": self.version, "hash": "fake0000", "build_time": "2026-01-11 00:00:00"}

    def graphql(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Run one GraphQL request body; returns (HTTP status, response JSON)."""
        try:
            document = parse(str(body.get("query") or ""))
        except GraphQLError as exc:
            return 422, {"errors": [exc.formatted]}
        errors = validate(SCHEMA, document)
        if errors:
            return 422, {"errors": [e.formatted for e in errors]}
        root = {
            "findScene": self._find_scene,
            "findScenes": self._find_scenes,
            "version": self._version,
            "configuration": self._configuration,
        }
        variables = body.get("variables") or {}
        operation = body.get("operationName")
        result = execute_sync(SCHEMA, document, root, None, variables, operation)
        if result.data is None and all(e.path is None for e in result.errors or ()):
            # bad variables or unknown operation: a request error, as Stash answers it
            return 422, {"errors": [e.formatted for e in result.errors or ()]}
        out: dict[str, Any] = {"data": result.data}
        if result.errors:
            out["errors"] = [e.formatted for e in result.errors]
        return 200, out


def _apply(scene: FakeScene, fields: dict[str, Any]) -> None:
    for name, value in fields.items():
        if name in ("tags", "performers", "files"):
            value = list(value)
        setattr(scene, name, value)


def _image(scene: FakeScene) -> bytes:
    if scene.image:
        return scene.image
    return make_png(((scene.id * 67) % 256, (scene.id * 131) % 256, 200))


def _int_id(raw: str | None) -> int:
    try:
        return int(str(raw))
    except ValueError:
        raise GraphQLError(f'strconv.Atoi: parsing "{raw}": invalid syntax') from None


def _matches(stamp: str, criterion: dict[str, Any]) -> bool:
    value, modifier = criterion["value"], criterion["modifier"]
    if modifier == "GREATER_THAN":
        return stamp > value
    if modifier == "LESS_THAN":
        return stamp < value
    if modifier == "EQUALS":
        return stamp == value
    if modifier == "NOT_EQUALS":
        return stamp != value
    if modifier == "BETWEEN":
        return bool(value <= stamp <= (criterion.get("value2") or value))
    raise GraphQLError(f"unsupported modifier for updated_at: {modifier}")


def _sort_key(value: object) -> tuple[bool, object]:
    return (value is not None, value if value is not None else "")


def _sort_and_page(scenes: list[FakeScene], find_filter: dict[str, Any]) -> list[FakeScene]:
    sort = find_filter.get("sort") or "id"
    if sort not in SORTS:
        raise GraphQLError(f"invalid sort: {sort}")
    reverse = find_filter.get("direction") == "DESC"
    scenes = sorted(scenes, key=lambda s: s.id)  # Stash breaks ties by id
    scenes.sort(key=lambda s: _sort_key(getattr(s, sort)), reverse=reverse)
    per_page = find_filter.get("per_page")
    per_page = 25 if per_page is None else per_page
    if per_page < 0:
        return scenes
    page = max(find_filter.get("page") or 1, 1)
    return scenes[(page - 1) * per_page : page * per_page]


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
