"""Validation of a raw Stash scene (``stash_queries.SCENE_FIELDS`` shape) into ``model.Scene``.

``load_scene(raw)`` raises ``ValidationFailed`` with one line naming the field, e.g.
``scene 12: rating100: must be between 0 and 100, got 150``.

Decisions:
- ``id`` arrives as a string in GraphQL ("123"); ints are accepted too; it must be > 0.
- ``title``/``details``: null -> "". Only control characters are removed (C0 and C1, except
  ``\\n`` and ``\\t``; ``\\r\\n`` and lone ``\\r`` become ``\\n``). Unicode, emoji, curly quotes,
  line breaks, inner and surrounding spacing are kept exactly: Plex gets what Stash has.
- names (studio, parent studio, tags, performers) are cleaned the same way, then line breaks
  and tabs become spaces and leading/trailing whitespace is trimmed; empty names are dropped,
  duplicates removed (first one wins, order kept).
- ``date``: ``YYYY-MM-DD``, and also ``YYYY-MM`` / ``YYYY`` (Stash >= 0.30 stores partial dates);
  it must be a real calendar date; "" or null -> None. The string is kept as given.
- ``rating100``: whole number 0-100 or null.
- ``files``: zero files is valid here. A scene without a file cannot be matched to Plex: the
  matcher raises that (clear, permanent) error, not the validation.
- ``paths.screenshot`` -> ``screenshot_url``; ``paths.preview`` is never read.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load

from plexsync.errors import ValidationFailed
from plexsync.model import Scene

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
MAX_MESSAGE = 300
_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


def clean_text(text: str) -> str:
    """Remove control characters only; normalise line endings to ``\\n``."""
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def clean_name(text: str) -> str:
    return clean_text(text).replace("\n", " ").replace("\t", " ").strip()


def _unique(names: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(n for n in names if n))


class _SceneId(fields.Field):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kw: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValidationError(f"must be a positive whole number, got {value!r}")
        text = str(value).strip()
        if not text.isdigit() or int(text) <= 0:
            raise ValidationError(f"must be a positive whole number, got {value!r}")
        return int(text)


class _Text(fields.Field):
    """A string; null -> ""."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(allow_none=True, load_default="", **kw)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kw: Any) -> str:
        if not isinstance(value, str):
            raise ValidationError(f"must be a string, got {value!r}")
        return clean_text(value)


class _Name(fields.Field):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kw: Any) -> str:
        if not isinstance(value, str):
            raise ValidationError(f"must be a string, got {value!r}")
        return clean_name(value)


class _Date(fields.Field):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kw: Any) -> str | None:
        if not isinstance(value, str):
            raise ValidationError(f"must be a date string, got {value!r}")
        text = value.strip()
        if not text:
            return None
        match = _DATE.match(text)
        try:
            if not match:
                raise ValueError
            year, month, day = (int(g) if g else 1 for g in match.groups())
            date(year, month, day)
        except ValueError:
            raise ValidationError(f"must be YYYY-MM-DD (or YYYY-MM, YYYY), got {value!r}") from None
        return text


class _Rating(fields.Field):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kw: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError(f"must be a whole number between 0 and 100, got {value!r}")
        if not 0 <= value <= 100:
            raise ValidationError(f"must be between 0 and 100, got {value}")
        return value


class _Url(fields.Field):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kw: Any) -> str | None:
        if not isinstance(value, str):
            raise ValidationError(f"must be a URL string, got {value!r}")
        return value.strip() or None


class _Path(fields.Field):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kw: Any) -> str:
        if not isinstance(value, str) or not value:
            raise ValidationError(f"must be a non-empty path string, got {value!r}")
        return value


class _Base(Schema):
    class Meta:
        unknown = EXCLUDE


class NamedSchema(_Base):
    name = _Name(required=True)


class StudioSchema(_Base):
    name = _Name(required=True)
    parent_studio = fields.Nested(NamedSchema, allow_none=True, load_default=None)


class FileSchema(_Base):
    path = _Path(required=True)


class PathsSchema(_Base):
    screenshot = _Url(allow_none=True, load_default=None)


class SceneSchema(_Base):
    id = _SceneId(required=True)
    title = _Text()
    details = _Text()
    date = _Date(allow_none=True, load_default=None)
    rating100 = _Rating(allow_none=True, load_default=None)
    updated_at = _Text()
    studio = fields.Nested(StudioSchema, allow_none=True, load_default=None)
    tags = fields.List(fields.Nested(NamedSchema), allow_none=True, load_default=None)
    performers = fields.List(fields.Nested(NamedSchema), allow_none=True, load_default=None)
    files = fields.List(fields.Nested(FileSchema), allow_none=True, load_default=None)
    paths = fields.Nested(PathsSchema, allow_none=True, load_default=None)

    @post_load
    def _to_scene(self, data: dict[str, Any], **kw: Any) -> Scene:
        studio = data["studio"] or {}
        parent = studio.get("parent_studio") or {}
        return Scene(
            id=data["id"],
            title=data["title"] or "",
            details=data["details"] or "",
            date=data["date"],
            rating100=data["rating100"],
            studio=studio.get("name") or None,
            parent_studio=parent.get("name") or None,
            tags=_unique([t["name"] for t in data["tags"] or ()]),
            performers=_unique([p["name"] for p in data["performers"] or ()]),
            files=tuple(dict.fromkeys(f["path"] for f in data["files"] or ())),
            screenshot_url=(data["paths"] or {}).get("screenshot"),
            updated_at=(data["updated_at"] or "").strip(),
        )


_SCHEMA = SceneSchema()


def _first_error(messages: Any, path: str = "") -> tuple[str, str]:
    """(dotted field path, message) of the first error in marshmallow's nested messages."""
    if isinstance(messages, dict):
        key = sorted(messages, key=str)[0]
        if key == "_schema":
            part = path
        elif isinstance(key, int):
            part = f"{path}[{key}]"
        else:
            part = f"{path}.{key}" if path else str(key)
        return _first_error(messages[key], part)
    if isinstance(messages, list) and messages:
        return _first_error(messages[0], path)
    return path or "scene", str(messages)


def _label(raw: dict[str, Any]) -> str:
    value = raw.get("id")
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).strip():
        return "?"
    return clean_name(str(value))[:40]


def load_scene(raw: Any) -> Scene:
    """Validate a raw Stash scene dict into a Scene; ValidationFailed (one line) otherwise."""
    if not isinstance(raw, dict):
        raise ValidationFailed(f"scene ?: expected an object, got {type(raw).__name__}")
    try:
        scene: Scene = _SCHEMA.load(raw)
    except ValidationError as exc:
        field, message = _first_error(exc.messages)
        if message == "Missing data for required field.":
            message = "missing"
        elif message == "Invalid input type.":
            message = "wrong type"
        elif message == "Field may not be null.":
            message = "must not be null"
        text = clean_name(f"scene {_label(raw)}: {field}: {message}")
        if len(text) > MAX_MESSAGE:
            text = text[: MAX_MESSAGE - 3] + "..."
        raise ValidationFailed(text) from None
    return scene
