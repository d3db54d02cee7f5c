"""Configuration.

Precedence: CLI flag > environment > $PLEXSYNC_HOME/config.toml > Stash plugin settings >
default.

Every key is validated by one marshmallow schema; a bad value raises ConfigError whose
message is one line naming the key and the problem, e.g.
``PLEXSYNC_RETRY_BASE: not a number: 'abc'``.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import platformdirs
from marshmallow import Schema, ValidationError, validates_schema
from marshmallow import fields as mf

from plexsync.errors import ConfigError
from plexsync.redact import register_secret

ENV_PREFIX = "PLEXSYNC_"
CONFIG_FILE = "config.toml"


class Secret:
    """A string that never shows itself in a repr, str or f-string."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        register_secret(value)

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return "Secret('***')" if self._value else "Secret('')"

    __str__ = __repr__

    def masked(self) -> str:
        return "***" if self._value else ""


def default_home() -> Path:
    return Path(platformdirs.user_data_dir("plexsync", appauthor=False))


# ---------------------------------------------------------------- field types


class _Float(mf.Float):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kw: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
        try:
            return super()._deserialize(value, attr, data, **kw)
        except ValidationError:
            raise ValidationError(f"not a number: {value!r}") from None


class _Int(mf.Integer):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kw: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
        if isinstance(value, bool):
            raise ValidationError(f"not a whole number: {value!r}")
        try:
            return super()._deserialize(value, attr, data, **kw)
        except ValidationError:
            raise ValidationError(f"not a whole number: {value!r}") from None


class _Bool(mf.Field):
    TRUE = frozenset({"1", "true", "yes", "on"})
    FALSE = frozenset({"0", "false", "no", "off"})

    def _deserialize(self, value: Any, attr: Any, data: Any, **kw: Any) -> bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in self.TRUE:
            return True
        if text in self.FALSE:
            return False
        raise ValidationError(f"not a boolean (true/false): {value!r}")


class _Url(mf.Field):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kw: Any) -> str | None:
        text = str(value).strip()
        if not text:
            return None
        if not text.startswith(("http://", "https://")) or len(text) < 10:
            raise ValidationError(f"not an http(s) URL: {text!r}")
        return text.rstrip("/")


class _CsvList(mf.Field):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kw: Any) -> tuple[str, ...]:
        items = value if isinstance(value, list) else str(value).split(",")
        return tuple(s for s in (str(i).strip() for i in items) if s)


class _PathMap(mf.Field):
    def _deserialize(
        self, value: Any, attr: Any, data: Any, **kw: Any
    ) -> tuple[tuple[str, str], ...]:
        pairs = value if isinstance(value, list) else str(value).split(";")
        out = []
        for raw in pairs:
            raw = str(raw).strip()
            if not raw:
                continue
            if "=" not in raw:
                raise ValidationError(f"expected stash_prefix=plex_prefix, got {raw!r}")
            stash, plex = (p.strip() for p in raw.split("=", 1))
            if not stash or not plex:
                raise ValidationError(f"empty prefix in {raw!r}")
            out.append((stash, plex))
        return tuple(out)


class _Secret(mf.Field):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kw: Any) -> Secret:
        return Secret(str(value).strip())


def _positive(name: str) -> Any:
    def check(value: float) -> None:
        if value <= 0:
            raise ValidationError(f"must be greater than 0, got {value!r}")

    return check


def _non_negative(value: float) -> None:
    if value < 0:
        raise ValidationError(f"must not be negative, got {value!r}")


class ConfigSchema(Schema):
    """Raw strings (env, flags) or TOML values in, typed values out."""

    home = mf.String()
    plex_url = _Url(allow_none=True)
    plex_token = _Secret()
    plex_sections = _CsvList()
    plex_verify_tls = _Bool()
    stash_url = _Url()
    stash_api_key = _Secret()
    path_map = _PathMap()
    path_case_insensitive = _Bool()
    ignore_tags = _CsvList()
    connect_timeout = _Float(validate=_positive("connect_timeout"))
    read_timeout = _Float(validate=_positive("read_timeout"))
    retries = _Int(validate=_non_negative)
    retry_base = _Float(validate=_positive("retry_base"))
    retry_max = _Float(validate=_positive("retry_max"))
    unmatched_retries = _Int(validate=_non_negative)
    unmatched_delay = _Float(validate=_positive("unmatched_delay"))
    breaker_threshold = _Int(validate=_positive("breaker_threshold"))
    breaker_cooldown = _Float(validate=_positive("breaker_cooldown"))
    reconcile_minutes = _Int(validate=_non_negative)
    alert_hours = _Float(validate=_positive("alert_hours"))
    shutdown_grace = _Float(validate=_non_negative)

    @validates_schema
    def _retry_bounds(self, data: dict[str, Any], **kw: Any) -> None:
        base, cap = data.get("retry_base"), data.get("retry_max")
        if base is not None and cap is not None and cap < base:
            raise ValidationError(f"must be >= retry_base ({base}), got {cap}", "retry_max")


@dataclass(frozen=True)
class Config:
    home: Path = field(default_factory=default_home)
    plex_url: str | None = None
    plex_token: Secret = field(default_factory=lambda: Secret(""))
    plex_sections: tuple[str, ...] = ()
    plex_verify_tls: bool = True
    stash_url: str = "http://localhost:9999"
    stash_api_key: Secret = field(default_factory=lambda: Secret(""))
    path_map: tuple[tuple[str, str], ...] = ()
    path_case_insensitive: bool = False
    ignore_tags: tuple[str, ...] = ()
    connect_timeout: float = 4.0
    read_timeout: float = 10.0
    retries: int = 5
    retry_base: float = 5.0
    retry_max: float = 300.0
    unmatched_retries: int = 6
    unmatched_delay: float = 600.0
    breaker_threshold: int = 5
    breaker_cooldown: float = 30.0
    reconcile_minutes: int = 60
    alert_hours: float = 6.0
    shutdown_grace: float = 30.0
    # key -> where its value came from: "flag", "env", "config.toml", "stash plugin", "default"
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def queue_db(self) -> Path:
        return self.home / "queue.db"

    @property
    def state_db(self) -> Path:
        return self.home / "state.db"

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    def plex_configured(self) -> bool:
        return bool(self.plex_url and self.plex_token)

    def masked(self) -> dict[str, Any]:
        """Effective values for display, secrets masked."""
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name == "sources":
                continue
            value = getattr(self, f.name)
            if isinstance(value, Secret):
                value = value.masked()
            elif isinstance(value, Path):
                value = str(value)
            elif f.name == "path_map":
                value = ";".join(f"{a}={b}" for a, b in value)
            elif isinstance(value, tuple):
                value = ",".join(value)
            out[f.name] = value
        return out


KEYS: tuple[str, ...] = tuple(f.name for f in fields(Config) if f.name != "sources")
SECRET_KEYS = frozenset({"plex_token", "stash_api_key"})


def env_name(key: str) -> str:
    return ENV_PREFIX + key.upper()


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise ConfigError(f"{path}: unknown key {unknown[0]!r}")
    return data


def _home_from(overrides: Mapping[str, Any], environ: Mapping[str, str]) -> tuple[Path, str]:
    if overrides.get("home"):
        return Path(str(overrides["home"])).expanduser(), "flag"
    if environ.get(env_name("home")):
        return Path(environ[env_name("home")]).expanduser(), "env"
    return default_home(), "default"


def load_config(
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    plugin_settings: Mapping[str, Any] | None = None,
) -> Config:
    """Build the effective Config. Raises ConfigError (one line) on any bad value."""
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    environ = os.environ if environ is None else environ
    for key in overrides:
        if key not in KEYS:
            raise ConfigError(f"--set {key}: unknown setting")
    home, home_source = _home_from(overrides, environ)
    toml = _read_toml(home / CONFIG_FILE)

    raw: dict[str, Any] = {}
    sources: dict[str, str] = {"home": home_source}
    labels: dict[str, str] = {"home": env_name("home")}
    for key in KEYS:
        if key == "home":
            continue
        if key in overrides:
            raw[key], sources[key], labels[key] = overrides[key], "flag", f"--set {key}"
        elif env_name(key) in environ:
            raw[key], sources[key], labels[key] = environ[env_name(key)], "env", env_name(key)
        elif key in toml:
            raw[key], sources[key], labels[key] = toml[key], CONFIG_FILE, f"{key} ({CONFIG_FILE})"
        elif plugin_settings and plugin_settings.get(key) not in (None, ""):
            raw[key], sources[key] = plugin_settings[key], "stash plugin"
            labels[key] = f"{key} (Stash plugin setting)"
        else:
            sources[key] = "default"
    try:
        loaded = ConfigSchema().load(raw)
    except ValidationError as exc:
        messages = exc.normalized_messages()
        key = sorted(messages)[0]
        problem = messages[key]
        while isinstance(problem, list | dict):
            problem = problem[0] if isinstance(problem, list) else next(iter(problem.values()))
        raise ConfigError(f"{labels.get(key, key)}: {problem}") from None
    return Config(home=home, sources=sources, **loaded)


def ensure_home(config: Config) -> Path:
    """Create the state directory 0700 (and tighten it if it already exists)."""
    home = config.home
    try:
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        if os.name == "posix" and (home.stat().st_mode & 0o077):
            home.chmod(0o700)
        config.log_dir.mkdir(mode=0o700, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{env_name('home')}: cannot create {home}: {exc.strerror}") from None
    return home


def touch_private(path: Path) -> None:
    """Create a file 0600 if missing (SQLite then keeps -wal/-shm at the same mode).

    An existing file is never opened here: closing ANY descriptor of a file drops every POSIX
    lock this process holds on it, including SQLite's, after which another process may take
    our open WAL for abandoned and delete it (writes then vanish). Only chmod it.
    """
    if not path.exists():
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        except FileExistsError:
            pass  # another process created it just now
        else:
            os.close(fd)
    if os.name == "posix" and (path.stat().st_mode & 0o077):
        path.chmod(0o600)
