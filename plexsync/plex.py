"""The Plex adapter the worker uses: one requests.Session, raw requests, classified errors.

Request budget (checked by tests/test_plex_adapter.py):
- `read_item()`: exactly one GET /library/metadata/{key}.
- `apply()`: one edit PUT (if any params) [+ one PUT /:/rate] [+ one poster POST].
- `iter_listing()`: one GET per 1,000 items, in a stable order (``LISTING_SORT``): Plex's
  default order is by title, so a title edited during a paged rebuild would move an item
  across pages (skipped or listed twice). addedAt never changes on an edit; the ratingKey
  (``id``, a sort plexapi knows Plex accepts) breaks ties between items added together.

`requests` and `plexapi` are imported only when a client is built (`plexapi.server` only in
`plex_server()`), so importing this module costs nothing at hook or CLI start-up.
Every request carries the configured (connect, read) timeout; Retry-After is captured by a
response hook so plexapi exceptions (which do not carry the response) can honour it too.
"""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import quote

from plexsync import __version__
from plexsync.errors import PermanentError, PlexsyncError
from plexsync.model import PlexEdit, PlexItemState
from plexsync.plex_errors import classify, error_for_status, parse_retry_after
from plexsync.plex_xml import (
    ListedItem,
    PlexSection,
    parse_item_state,
    parse_listing_page,
    parse_sections,
)

if TYPE_CHECKING:
    import requests
    from plexapi.server import PlexServer

    from plexsync.config import Config, Secret

__all__ = ["ListedItem", "PlexClient", "PlexSection", "ServerInfo", "classify"]

LIBRARY_IDENTIFIER = "com.plexapp.plugins.library"
CLIENT_IDENTIFIER = "plexsync"
LISTING_PAGE_SIZE = 1000
LISTING_SORT = "addedAt:asc,id:asc"


class ServerInfo(NamedTuple):
    name: str
    version: str
    machine_identifier: str


def _make_session(timeout: tuple[float, float], verify: bool) -> requests.Session:
    import requests

    class TimeoutSession(requests.Session):
        """A Session that sends every request with the configured (connect, read) timeout."""

        def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
            kwargs["timeout"] = timeout
            return super().request(method, url, *args, **kwargs)

    session = TimeoutSession()
    session.verify = verify
    return session


class PlexClient:
    def __init__(
        self,
        base_url: str,
        token: Secret | str,
        *,
        connect_timeout: float = 4.0,
        read_timeout: float = 10.0,
        verify_tls: bool = True,
        sections: tuple[str, ...] = (),
    ) -> None:
        from plexsync.config import Secret

        self.base_url = base_url.rstrip("/")
        self._token = token if isinstance(token, Secret) else Secret(token)
        self.timeout = (float(connect_timeout), float(read_timeout))
        self.section_titles = tuple(sections)
        self._local = threading.local()
        self._server: PlexServer | None = None
        self.session = _make_session(self.timeout, verify_tls)
        self.session.headers.update(
            {
                "X-Plex-Token": self._token.reveal(),
                "Accept": "application/xml",
                "X-Plex-Product": "plexsync",
                "X-Plex-Version": __version__,
                "X-Plex-Client-Identifier": CLIENT_IDENTIFIER,
            }
        )
        self.session.hooks["response"].append(self._capture_retry_after)

    @classmethod
    def from_config(cls, config: Config) -> PlexClient:
        if not config.plex_configured():
            raise PermanentError(
                "Plex is not configured: set PLEXSYNC_PLEX_URL and PLEXSYNC_PLEX_TOKEN"
            )
        return cls(
            str(config.plex_url),
            config.plex_token,
            connect_timeout=config.connect_timeout,
            read_timeout=config.read_timeout,
            verify_tls=config.plex_verify_tls,
            sections=config.plex_sections,
        )

    def __repr__(self) -> str:
        return f"PlexClient({self.base_url!r}, timeout={self.timeout})"

    def close(self) -> None:
        self.session.close()

    # ------------------------------------------------------------ plumbing

    def _capture_retry_after(self, response: Any, *args: Any, **kwargs: Any) -> None:
        self._local.retry_after = parse_retry_after(response.headers.get("Retry-After"))

    @property
    def last_retry_after(self) -> float | None:
        """Retry-After (seconds) of the last response this thread received, if it had one."""
        return getattr(self._local, "retry_after", None)

    def classify(self, exc: BaseException, context: str = "request") -> PlexsyncError:
        """classify() with the Retry-After captured from this thread's last response."""
        return classify(exc, context, self.last_retry_after)

    def plex_server(self) -> PlexServer:
        """A plexapi PlexServer on this client's session (built once; costs GET /)."""
        if self._server is None:
            try:
                from plexapi.server import PlexServer

                self._server = PlexServer(
                    self.base_url, self._token.reveal(), session=self.session, timeout=self.timeout
                )
            except Exception as exc:
                raise self.classify(exc, "GET /") from None
        return self._server

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        data: bytes | None = None,
    ) -> bytes:
        context = f"{method} {path.split('?', 1)[0]}"
        self._local.retry_after = None
        try:
            # Redirects are not followed: the X-Plex-Token header would go along.
            response = self.session.request(
                method,
                self.base_url + path,
                params=params,
                headers=headers,
                data=data,
                allow_redirects=False,
            )
        except Exception as exc:
            raise self.classify(exc, context) from None
        if response.status_code not in (200, 201, 204):
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise error_for_status(response.status_code, context, response.reason, retry_after)
        return response.content

    def _get_xml(self, path: str, **kwargs: Any) -> ET.Element:
        body = self._request("GET", path, **kwargs)
        try:
            return ET.fromstring(body)
        except ET.ParseError as exc:
            raise classify(exc, f"GET {path}") from None

    # ------------------------------------------------------------ reads

    def identity(self) -> str:
        """Cheap probe (GET /identity): the server's machineIdentifier."""
        return self._get_xml("/identity").attrib.get("machineIdentifier", "")

    def server_info(self) -> ServerInfo:
        attrib = self._get_xml("/").attrib
        return ServerInfo(
            attrib.get("friendlyName", ""),
            attrib.get("version", ""),
            attrib.get("machineIdentifier", ""),
        )

    def movie_sections(self) -> list[PlexSection]:
        """Sections to match in: the configured titles (in that order), else every movie one."""
        entries = parse_sections(self._get_xml("/library/sections"))
        if not self.section_titles:
            return [PlexSection(e.id, e.title, e.locations) for e in entries if e.type == "movie"]
        chosen = []
        for title in self.section_titles:
            entry = next((e for e in entries if e.title == title), None)
            if entry is None:
                known = ", ".join(repr(e.title) for e in entries if e.type == "movie") or "none"
                raise PermanentError(
                    f"PLEXSYNC_PLEX_SECTIONS: Plex has no library section {title!r} "
                    f"(movie sections: {known})"
                )
            if entry.type != "movie":
                raise PermanentError(
                    f"PLEXSYNC_PLEX_SECTIONS: Plex section {title!r} is a {entry.type!r} "
                    "section, not a movie section"
                )
            chosen.append(PlexSection(entry.id, entry.title, entry.locations))
        return chosen

    def read_item(self, rating_key: str, section_id: str) -> PlexItemState:
        """The item's full state with exactly one GET /library/metadata/{key}."""
        root = self._get_xml(f"/library/metadata/{quote(str(rating_key), safe='')}")
        return parse_item_state(root, str(rating_key), str(section_id))

    def iter_listing(
        self,
        section_id: str,
        *,
        updated_since: int | None = None,
        page_size: int = LISTING_PAGE_SIZE,
    ) -> Iterator[ListedItem]:
        """Every movie of a section (ratingKey, updatedAt, part files), paged; optionally only
        those updated after `updated_since` (epoch seconds, Plex's `updatedAt>>=` filter)."""
        params = {"type": "1", "sort": LISTING_SORT}
        if updated_since is not None:
            params["updatedAt>>"] = str(int(updated_since))
        path = f"/library/sections/{quote(str(section_id), safe='')}/all"
        start = 0
        while True:
            headers = {
                "X-Plex-Container-Start": str(start),
                "X-Plex-Container-Size": str(page_size),
            }
            body = self._request("GET", path, params=params, headers=headers)
            try:
                page = parse_listing_page(body)
            except ET.ParseError as exc:
                raise classify(exc, f"GET {path}") from None
            yield from page.items
            start += len(page.items)
            if not page.items or (page.total_size is not None and start >= page.total_size):
                return
            if page.total_size is None and len(page.items) < page_size:
                return

    # ------------------------------------------------------------ writes

    def apply(self, edit: PlexEdit, poster: bytes | None = None) -> None:
        """Write one PlexEdit: the poster, the edit PUT, then /:/rate, each only if needed.

        The poster goes first so that the edit's ``thumb.locked=1`` locks the new image (an
        upload made after the lock could be taken as unlocked by Plex).
        """
        key = str(edit.rating_key)
        if edit.upload_poster and not poster:
            raise ValueError("PlexEdit.upload_poster is set but no poster bytes were given")
        if edit.upload_poster and poster:
            self._request("POST", f"/library/metadata/{quote(key, safe='')}/posters", data=poster)
        if edit.params:
            args: dict[str, object] = {
                k: v for k, v in edit.params.items() if k not in ("id", "type")
            }
            args.update({"type": 1, "id": key})
            query = "&".join(
                f"{name}={quote(str(args[name]), safe='')}" for name in sorted(args, key=str.lower)
            )
            self._request(
                "PUT", f"/library/sections/{quote(str(edit.section_id), safe='')}/all?{query}"
            )
        if edit.set_rating:
            rating = -1.0 if edit.rating is None else float(edit.rating)
            if rating != -1 and not 0 <= rating <= 10:
                raise PermanentError(f"rating {edit.rating!r} is outside 0-10")
            value = "-1" if rating == -1 else f"{rating:g}"
            params = {"key": key, "identifier": LIBRARY_IDENTIFIER, "rating": value}
            self._request("PUT", "/:/rate", params=params)
