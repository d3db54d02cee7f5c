"""Stash plugin settings as a config source, read over GraphQL from the fake Stash."""

from __future__ import annotations

from pathlib import Path

import pytest

from plexsync.config import load_config
from plexsync.plugin_settings import translate, with_plugin_settings
from tests.fakes.stash import FakeStash


def test_translate_maps_ids_and_treats_ui_defaults_as_unset() -> None:
    assert translate(
        {
            "plexUrl": "http://plex:32400",
            "plexToken": "tok",
            "pathMap": "/a=/b",
            "ignoreTags": "",
            "plexSkipTlsVerify": False,
            "reconcileMinutes": 0,
        }
    ) == {"plex_url": "http://plex:32400", "plex_token": "tok", "path_map": "/a=/b"}
    assert translate({"plexSkipTlsVerify": True, "reconcileMinutes": 15}) == {
        "plex_verify_tls": False,
        "reconcile_minutes": "15",
    }


def test_settings_merge_below_env_and_flags(
    fake_stash: FakeStash, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake_stash.set_plugin_settings(
        "plexsync",
        {"plexUrl": "http://plugin:32400", "plexToken": "plugin-token", "ignoreTags": "x,y"},
    )
    monkeypatch.setenv("PLEXSYNC_STASH_URL", fake_stash.url)
    monkeypatch.setenv("PLEXSYNC_IGNORE_TAGS", "from-env")
    overrides = {"home": str(tmp_path / "flag-home"), "retries": "9"}
    config = with_plugin_settings(load_config(overrides), overrides)
    assert config.plex_url == "http://plugin:32400"
    assert config.sources["plex_url"] == "stash plugin"
    assert config.plex_token.reveal() == "plugin-token"
    assert config.ignore_tags == ("from-env",)  # env beats the plugin
    assert config.home == tmp_path / "flag-home" and config.retries == 9  # flags survive


def test_one_bad_setting_is_dropped_not_all(
    fake_stash: FakeStash, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_stash.set_plugin_settings(
        "plexsync", {"plexUrl": "plex:32400", "plexToken": "still-used", "pathMap": "/a=/b"}
    )
    monkeypatch.setenv("PLEXSYNC_STASH_URL", fake_stash.url)
    config = with_plugin_settings(load_config())
    assert config.plex_url is None  # "plex:32400" is not a URL: dropped, reported
    assert config.plex_token.reveal() == "still-used"
    assert config.path_map == (("/a", "/b"),)


def test_stash_down_leaves_config_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLEXSYNC_STASH_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("PLEXSYNC_CONNECT_TIMEOUT", "0.5")
    config = load_config()
    assert with_plugin_settings(config) is config
