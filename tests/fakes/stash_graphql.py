"""The fake Stash's GraphQL side: the subset schema, the scene record and the resolvers.

``SUBSET_SDL`` holds only the types, fields and arguments plexsync uses, with the names real
Stash uses (the real schema check is ``tests/test_stash_schema.py``). ``StashGraphQL`` keeps the
scenes and plugin settings and answers GraphQL request bodies; ``tests/fakes/stash.py`` puts the
HTTP server and the test API around it.
"""

from __future__ import annotations

import struct
import threading
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

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


SCENE_FIELDS = frozenset(
    {"title", "details", "date", "rating100", "studio", "parent_studio"}
    | {"tags", "performers", "files", "image"}
)


class StashGraphQL:
    """Scenes and plugin settings behind a lock, and the resolvers that read them."""

    def __init__(self, version: str, url_host: str) -> None:
        self.version = version
        self.url_host = url_host  # host written into paths.* (Stash often reports 0.0.0.0)
        self._lock = threading.Lock()
        self._scenes: dict[int, FakeScene] = {}
        self._plugin_settings: dict[str, dict[str, Any]] = {}
        self.port = 0

    @property
    def public_url(self) -> str:
        return f"http://{self.url_host}:{self.port}"

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


def apply_fields(scene: FakeScene, fields: dict[str, Any]) -> None:
    for name, value in fields.items():
        if name in ("tags", "performers", "files"):
            value = list(value)
        setattr(scene, name, value)


def scene_image(scene: FakeScene) -> bytes:
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
