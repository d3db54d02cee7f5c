"""Removal of secrets (Plex token, Stash API key) from any text that leaves the process."""

from __future__ import annotations

import re
import threading

MASK = "***"
_lock = threading.Lock()
_secrets: set[str] = set()

# Query strings and headers that carry credentials, whatever their value.
_PATTERNS = (
    re.compile(r"(?i)(x-plex-token[=:]\s*['\"]?)[^&\s'\"]+"),
    re.compile(r"(?i)(['\"]?apikey['\"]?\s*[=:]\s*['\"]?)[^&\s'\",}]+"),
)


def register_secret(value: str | None) -> None:
    """Every registered value is replaced by *** wherever redact() sees it."""
    if value and len(value) >= 4:
        with _lock:
            _secrets.add(value)


def redact(text: str) -> str:
    if not text:
        return text
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + MASK, text)
    return text
