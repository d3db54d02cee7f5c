"""The Stash GraphQL client: every request plexsync makes to Stash goes through here.

- ``(connect_timeout, read_timeout)`` from the config on every request;
- a short retry (``attempts`` tries, small jittered wait) for TransientError only: connection
  errors, timeouts, 429 and 5xx, bodies that are not JSON. The worker's own backoff handles
  longer outages;
- errors classified into ``plexsync.errors``: 401/403 -> AuthError, 422 and GraphQL errors ->
  PermanentError (first message), 404 on an image -> NotFoundError;
- the API key goes in the ``ApiKey`` header, and only to Stash's own origin; it never appears in
  a message.

Scenes come back raw (dicts shaped by ``stash_queries.SCENE_FIELDS``); validate them with
``plexsync.scene_schema.load_scene``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests
from loguru import logger
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from plexsync import stash_queries as q
from plexsync.config import Config
from plexsync.errors import AuthError, NotFoundError, PermanentError, TransientError

AUTH_MESSAGE = "Stash refused the API key ({status}): set PLEXSYNC_STASH_API_KEY"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "0.0.0.0"})
T = TypeVar("T")
_OPERATION = re.compile(r"\b(?:query|mutation)\s+(\w+)")


def operation_name(document: str) -> str | None:
    match = _OPERATION.search(document)
    return match.group(1) if match else None


def _log_retry(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    logger.debug("Stash request failed ({}); attempt {} retrying", exc, state.attempt_number)


class StashClient:
    def __init__(
        self,
        base_url: str,
        api_key: str = "",
        connect_timeout: float = 4.0,
        read_timeout: float = 10.0,
        attempts: int = 3,
        wait_max: float = 0.5,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.graphql_url = self.base_url + "/graphql"
        self.timeout = (connect_timeout, read_timeout)
        self.attempts = max(1, attempts)
        self.wait_max = wait_max
        self.request_count = 0  # HTTP requests sent, retries included
        self._count_lock = threading.Lock()
        self._api_key = api_key
        self._session = requests.Session()
        self._session.headers["User-Agent"] = "plexsync"

    @classmethod
    def from_config(cls, config: Config) -> StashClient:
        return cls(
            config.stash_url,
            api_key=config.stash_api_key.reveal(),
            connect_timeout=config.connect_timeout,
            read_timeout=config.read_timeout,
        )

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> StashClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ public API

    def find_scene(self, scene_id: int | str) -> dict[str, Any] | None:
        """The raw scene, or None when Stash has no scene with this id."""
        data = self.graphql(q.FIND_SCENE, {"id": str(scene_id)})
        scene = data.get("findScene")
        return scene if isinstance(scene, dict) else None

    def iter_scenes_updated_since(
        self, ts: str | None, per_page: int = 100
    ) -> Iterator[dict[str, Any]]:
        """Scenes with updated_at > ts (a Stash timestamp string), oldest change first.

        ``ts=None`` yields every scene. Each id is yielded once per call. Paging is by page
        number, so a scene edited while we page can shift the pages: poll with an overlap window.
        """
        if ts is None:
            yield from self.iter_all_scenes(per_page=per_page)
            return
        yield from self._updated_since(ts, per_page)

    def iter_all_scenes(self, per_page: int = 100, light: bool = False) -> Iterator[dict[str, Any]]:
        """Every scene in id order; ``light`` fetches only id, updated_at and file paths."""
        document = q.FIND_SCENES_ALL_LIGHT if light else q.FIND_SCENES_ALL
        yield from self._paged(document, {}, per_page)

    def fetch_image(self, url: str) -> bytes:
        """The bytes of a Stash image URL (the scene screenshot)."""
        target = self._local_url(url)
        headers = {"ApiKey": self._api_key} if self._api_key and self._same_origin(target) else {}
        response = self._request("GET", target, "screenshot", _response, headers=headers)
        content_type = response.headers.get("Content-Type", "")
        if content_type.startswith("video/"):
            raise PermanentError(f"Stash image URL returned a video ({content_type}), not an image")
        if not response.content:
            raise PermanentError("Stash image URL returned an empty body")
        return response.content

    def version(self) -> str:
        data = self.graphql(q.VERSION)
        return str((data.get("version") or {}).get("version") or "")

    def plugin_settings(self, plugin_id: str = "plexsync") -> dict[str, Any]:
        """The plugin's saved settings (empty when none were saved)."""
        data = self.graphql(q.PLUGIN_SETTINGS, {"ids": [plugin_id]})
        plugins = (data.get("configuration") or {}).get("plugins") or {}
        settings = plugins.get(plugin_id) if isinstance(plugins, dict) else None
        return dict(settings) if isinstance(settings, dict) else {}

    def healthz(self) -> bool:
        """One GET /healthz, no retry: True when Stash answers 200."""
        self._count()
        try:
            response = self._session.get(
                self.base_url + "/healthz", timeout=self.timeout, allow_redirects=False
            )
        except requests.RequestException:
            return False
        return response.status_code == 200

    def graphql(self, document: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run one document; returns its ``data`` object."""
        operation = operation_name(document) or "query"
        body = {"query": document, "variables": variables or {}, "operationName": operation}
        headers = {"ApiKey": self._api_key} if self._api_key else {}
        payload = self._request(
            "POST", self.graphql_url, operation, _json_object, json=body, headers=headers
        )
        errors = payload.get("errors")
        if errors:
            raise PermanentError(f"Stash {operation}: {_first_message(errors)}")
        data = payload.get("data")
        if not isinstance(data, dict):
            raise TransientError(f"Stash {operation}: answer has no data")
        return data

    # ------------------------------------------------------------------ internals

    def _paged(
        self, document: str, variables: dict[str, Any], per_page: int
    ) -> Iterator[dict[str, Any]]:
        if per_page < 1:
            raise ValueError(f"per_page must be at least 1, got {per_page}")
        seen: set[str] = set()
        page = 1
        while True:
            data = self.graphql(document, {**variables, "page": page, "per_page": per_page})
            result = data.get("findScenes") or {}
            scenes = result.get("scenes") or []
            yield from _unseen(scenes, seen)
            if not scenes or page * per_page >= int(result.get("count") or 0):
                return
            page += 1

    def _updated_since(self, since: str, per_page: int) -> Iterator[dict[str, Any]]:
        if per_page < 1:
            raise ValueError(f"per_page must be at least 1, got {per_page}")
        seen: set[str] = set()
        cursor, page = since, 1
        while True:
            variables = {"since": cursor, "page": page, "per_page": per_page}
            result = self.graphql(q.FIND_SCENES_UPDATED, variables).get("findScenes") or {}
            scenes = result.get("scenes") or []
            yield from _unseen(scenes, seen)
            if len(scenes) < per_page or page * per_page >= int(result.get("count") or 0):
                return
            stamps = [str(s.get("updated_at") or "") for s in scenes]
            earlier = [t for t in stamps if t < stamps[-1]]
            if earlier:  # restart after the last stamp we have seen completely
                cursor, page = max(earlier), 1
            else:  # one timestamp fills the whole page (bulk edit): page through it
                page += 1

    def _count(self) -> None:
        with self._count_lock:
            self.request_count += 1

    def _request(
        self,
        method: str,
        url: str,
        what: str,
        read: Callable[[requests.Response, str], T],
        **kwargs: Any,
    ) -> T:
        """One request with the short retry; ``read`` turns the answer into the result (and may
        raise TransientError, e.g. for a body that is not JSON, which is retried too)."""
        retrying = Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_random_exponential(multiplier=0.1, max=self.wait_max),
            retry=retry_if_exception_type(TransientError),
            before_sleep=_log_retry,
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                return read(self._send_once(method, url, what, **kwargs), what)
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    def _send_once(self, method: str, url: str, what: str, **kwargs: Any) -> requests.Response:
        self._count()
        try:
            response = self._session.request(
                method, url, timeout=self.timeout, allow_redirects=False, **kwargs
            )
        except requests.Timeout as exc:
            kind = "connect" if isinstance(exc, requests.ConnectTimeout) else "read"
            seconds = self.timeout[0] if kind == "connect" else self.timeout[1]
            raise TransientError(f"Stash {what}: {kind} timeout after {seconds:g}s") from None
        except requests.ConnectionError:
            raise TransientError(f"Stash {what}: cannot connect to {self.base_url}") from None
        except requests.RequestException as exc:
            raise TransientError(f"Stash {what}: {type(exc).__name__}") from None
        _raise_for_status(response, what)
        return response

    def _local_url(self, url: str) -> str:
        """Absolute URL; Stash's ``0.0.0.0`` (listen-anywhere) host means 127.0.0.1."""
        parts = urlsplit(urljoin(self.base_url + "/", url))
        if parts.hostname == "0.0.0.0":
            netloc = "127.0.0.1" + (f":{parts.port}" if parts.port else "")
            parts = parts._replace(netloc=netloc)
        return urlunsplit(parts)

    def _same_origin(self, url: str) -> bool:
        """True when the URL is Stash itself (a loopback alias of a loopback base counts)."""
        target, base = urlsplit(url), urlsplit(self.base_url)
        if (target.scheme, target.port) != (base.scheme, base.port):
            return False
        if target.hostname == base.hostname:
            return True
        return target.hostname in LOOPBACK_HOSTS and base.hostname in LOOPBACK_HOSTS


def _response(response: requests.Response, what: str) -> requests.Response:
    return response


def _json_object(response: requests.Response, what: str) -> dict[str, Any]:
    try:
        payload = response.json()
    except ValueError:
        raise TransientError(
            f"Stash {what}: answer is not JSON", status=response.status_code
        ) from None
    if not isinstance(payload, dict):
        raise TransientError(f"Stash {what}: answer is not a JSON object")
    return payload


def _first_message(errors: object) -> str:
    if isinstance(errors, list) and errors:
        first = errors[0]
        if isinstance(first, dict) and first.get("message"):
            return str(first["message"]).splitlines()[0]
        return str(first).splitlines()[0]
    return "unknown error"


def _raise_for_status(response: requests.Response, what: str) -> None:
    status = response.status_code
    if 300 <= status < 400:
        # Not followed: the ApiKey header would go along to wherever it points.
        where = response.headers.get("Location", "?")
        raise PermanentError(
            f"Stash {what}: redirected ({status}) to {where}: set PLEXSYNC_STASH_URL to the "
            "final address",
            status=status,
        )
    if status < 400:
        return
    if status in (401, 403):
        raise AuthError(AUTH_MESSAGE.format(status=status), status=status)
    if status == 429 or status >= 500:
        retry_after = _retry_after(response.headers.get("Retry-After"))
        raise TransientError(f"Stash {what}: HTTP {status}", retry_after=retry_after, status=status)
    if status == 404 and what == "screenshot":
        raise NotFoundError(f"Stash {what}: not found (404)", status=status)
    if status == 404:
        raise PermanentError(
            f"Stash {what}: {response.url} not found (404): check PLEXSYNC_STASH_URL", status=status
        )
    detail = ""
    try:
        payload = response.json()
        if isinstance(payload, dict) and payload.get("errors"):
            detail = ": " + _first_message(payload["errors"])
    except ValueError:
        pass
    raise PermanentError(f"Stash {what}: HTTP {status}{detail}", status=status)


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _unseen(scenes: list[dict[str, Any]], seen: set[str]) -> Iterator[dict[str, Any]]:
    """Scenes not yielded before (pages overlap when Stash data changes while we read)."""
    for scene in scenes:
        key = str(scene.get("id"))
        if key not in seen:
            seen.add(key)
            yield scene
