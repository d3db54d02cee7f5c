"""The Stash plugin's settings as a configuration source (below config.toml, above defaults).

Stash stores plugin settings under camelCase ids (see stash_plugin/plexsync.yml) and serves
them only through GraphQL ``configuration { plugins }``. Each setting is validated on its
own: one bad value is reported and dropped, the others (the token, say) still apply.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loguru import logger

from plexsync.config import Config, load_config
from plexsync.errors import ConfigError, PlexsyncError

PLUGIN_ID = "plexsync"


def translate(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Stash setting ids and values → config keys and values (unset/empty ones dropped)."""
    out: dict[str, Any] = {}
    simple = {
        "plexUrl": "plex_url",
        "plexToken": "plex_token",
        "plexSections": "plex_sections",
        "pathMap": "path_map",
        "ignoreTags": "ignore_tags",
    }
    for setting, key in simple.items():
        value = settings.get(setting)
        if isinstance(value, str) and value.strip():
            out[key] = value
    # Stash shows an unset BOOLEAN as "off": the setting is phrased so that off = default.
    if settings.get("plexSkipTlsVerify") is True:
        out["plex_verify_tls"] = False
    # Stash shows an unset NUMBER as 0: 0 means "default" here (turn reconciling off with
    # PLEXSYNC_RECONCILE_MINUTES=0 instead).
    minutes = settings.get("reconcileMinutes")
    if isinstance(minutes, int | float) and not isinstance(minutes, bool) and minutes > 0:
        out["reconcile_minutes"] = str(int(minutes)) if float(minutes).is_integer() else minutes
    return out


def with_plugin_settings(config: Config, overrides: Mapping[str, Any] | None = None) -> Config:
    """``config`` with the Stash plugin's settings merged in, when Stash answers."""
    from plexsync.stash import StashClient

    try:
        with StashClient.from_config(config) as stash:
            raw = stash.plugin_settings(PLUGIN_ID)
    except PlexsyncError as exc:
        logger.info("Stash plugin settings not read ({}); using env/config.toml", exc.message)
        return config
    settings = translate(raw)
    good: dict[str, Any] = {}
    for key, value in settings.items():
        try:
            load_config(overrides, plugin_settings={key: value})
        except ConfigError as exc:
            logger.error("ignoring Stash plugin setting: {}", exc.message)
        else:
            good[key] = value
    if not good:
        return config
    merged = load_config(overrides, plugin_settings=good)
    used = sorted(k for k, src in merged.sources.items() if src == "stash plugin")
    if used:
        logger.info("using Stash plugin settings for: {}", ", ".join(used))
    return merged
