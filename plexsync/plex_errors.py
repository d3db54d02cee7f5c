"""Classification of everything talking to Plex can raise into plexsync's error types.

Type first (plexapi's Unauthorized/NotFound/BadRequest, requests' timeouts and connection
errors, ElementTree's ParseError), the `(NNN)` status at the start of a plexapi message second.
Neither plexapi nor requests is imported here: an exception of theirs can only exist once
they are loaded, so the checks look them up in sys.modules.
"""

from __future__ import annotations

import re
import sys
import time
from email.utils import parsedate_to_datetime
from xml.etree.ElementTree import ParseError

from plexsync.errors import (
    AuthError,
    NotFoundError,
    PermanentError,
    PlexsyncError,
    TransientError,
)
from plexsync.redact import redact

AUTH_MESSAGE = "Plex refused the token (401): set PLEXSYNC_PLEX_TOKEN"
_STATUS_RE = re.compile(r"^\((\d{3})\)")
TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date); None if absent/invalid."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def error_for_status(
    status: int, context: str, detail: str = "", retry_after: float | None = None
) -> PlexsyncError:
    """The PlexsyncError for a non-2xx HTTP answer from Plex."""
    tail = f": {detail}" if detail else ""
    if status == 401:
        return AuthError(AUTH_MESSAGE, status=401)
    if status == 404:
        return NotFoundError(f"Plex {context}: not found (404){tail}", status=404)
    if status in TRANSIENT_STATUSES or status >= 500:
        return TransientError(f"Plex {context}: ({status}){tail}", retry_after, status)
    return PermanentError(f"Plex {context}: refused ({status}){tail}", status=status)


def _requests_error_kind(exc: BaseException) -> str | None:
    req = sys.modules.get("requests.exceptions")
    if req is None or not isinstance(exc, req.RequestException):
        return None
    if isinstance(exc, req.Timeout):
        return "timed out"
    if isinstance(exc, req.ConnectionError | req.ChunkedEncodingError | req.ContentDecodingError):
        return "connection failed"
    return "request invalid"  # InvalidURL, MissingSchema, ...: retrying cannot help


def _plexapi_status(exc: BaseException) -> tuple[bool, int | None]:
    """(is a plexapi error, HTTP status if known)."""
    pex = sys.modules.get("plexapi.exceptions")
    if pex is None or not isinstance(exc, pex.PlexApiException):
        return False, None
    if isinstance(exc, pex.Unauthorized):
        return True, 401
    if isinstance(exc, pex.NotFound):
        return True, 404
    match = _STATUS_RE.match(str(exc))
    return True, int(match.group(1)) if match else None


def classify(
    exc: BaseException, context: str = "request", retry_after: float | None = None
) -> PlexsyncError:
    """Map any exception from a Plex call to TransientError/PermanentError/AuthError/....

    `context` names the operation ("GET /identity"); `retry_after` is the Retry-After of the
    failed response when the caller captured it (plexapi exceptions do not carry it).
    """
    if isinstance(exc, PlexsyncError):
        return exc
    text = redact(str(exc)).replace("\n", " ")
    is_plexapi, status = _plexapi_status(exc)
    if is_plexapi:
        if status is not None:
            detail = _STATUS_RE.sub("", text, count=1).strip(" ;")
            return error_for_status(status, context, detail[:300], retry_after)
        return PermanentError(f"Plex {context}: {text[:300]}")
    kind = _requests_error_kind(exc)
    if kind == "request invalid":
        return PermanentError(f"Plex {context}: {kind}: {text[:300]}")
    if kind is not None:
        return TransientError(f"Plex {context}: {kind}: {text[:300]}", retry_after)
    if isinstance(exc, ParseError):
        return TransientError(f"Plex {context}: answer is not XML ({text[:100]})", retry_after)
    if isinstance(exc, TimeoutError | ConnectionError):
        return TransientError(f"Plex {context}: connection failed: {text[:300]}", retry_after)
    return PermanentError(f"Plex {context}: unexpected {type(exc).__name__}: {text[:300]}")
