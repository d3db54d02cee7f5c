"""stash_plugin/plexsync.yml loads under Stash's strict rules and matches what the hook handles."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from plexsync.config import KEYS
from plexsync.plugin_settings import translate
from tests.hook_helpers import PLUGIN_DIR, hook_module

YML = PLUGIN_DIR / "plexsync.yml"
# Stash's PluginConfig (pkg/plugin/config.go) parsed with KnownFields: anything else fails.
STASH_TOP_LEVEL_KEYS = {
    "name",
    "description",
    "url",
    "version",
    "exec",
    "interface",
    "errLog",
    "tasks",
    "hooks",
    "ui",
    "settings",
}
HOOK_KEYS = {"name", "description", "triggeredBy", "defaultArgs"}
TASK_KEYS = {"name", "description", "defaultArgs", "execArgs"}
SETTING_KEYS = {"displayName", "description", "type"}
TRIGGER_RE = re.compile(r"^[A-Z][A-Za-z]+\.(Create|Update|Destroy)\.Post$")
SCENE_HOOKS = {"Scene.Create.Post", "Scene.Update.Post", "Scene.Destroy.Post"}


@pytest.fixture(scope="module")
def plugin() -> dict[str, Any]:
    loaded = yaml.safe_load(YML.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def test_only_keys_stash_knows(plugin: dict[str, Any]) -> None:
    assert set(plugin) <= STASH_TOP_LEVEL_KEYS
    assert plugin["name"] and plugin["description"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", str(plugin["version"]))
    for hook in plugin["hooks"]:
        assert set(hook) <= HOOK_KEYS
    for task in plugin["tasks"]:
        assert set(task) <= TASK_KEYS
    for setting in plugin["settings"].values():
        assert set(setting) <= SETTING_KEYS


def test_exec_runs_the_hook_with_stashs_python(plugin: dict[str, Any]) -> None:
    assert plugin["interface"] == "raw"
    assert plugin["exec"][0] == "python"
    assert plugin["exec"][-1] == "{pluginDir}/plexsync_hook.py"
    assert (PLUGIN_DIR / "plexsync_hook.py").is_file()
    raw_text = YML.read_text(encoding="utf-8")
    unquoted = [
        ln for ln in raw_text.splitlines() if "{pluginDir}" in ln and '"{pluginDir}' not in ln
    ]
    assert unquoted == [], "an unquoted {pluginDir} is a YAML flow mapping, not a string"
    assert plugin["errLog"] in {"trace", "debug", "info", "warning", "error"}


def test_hooks_are_exactly_the_three_scene_triggers(plugin: dict[str, Any]) -> None:
    triggers = [t for hook in plugin["hooks"] for t in hook["triggeredBy"]]
    assert all(TRIGGER_RE.match(t) for t in triggers), triggers
    assert sorted(triggers) == sorted(SCENE_HOOKS)
    assert set(hook_module().HOOK_TRIGGERS) == SCENE_HOOKS
    for hook in plugin["hooks"]:
        assert hook["name"] and hook["description"]
        assert "mode" not in (hook.get("defaultArgs") or {})


def test_every_task_mode_is_dispatched_by_the_hook(plugin: dict[str, Any]) -> None:
    hook_module()
    from plexsync_tasks import TASK_MODES

    modes = []
    for task in plugin["tasks"]:
        assert task["name"] and task["description"]
        modes.append(task["defaultArgs"]["mode"])
    assert len(modes) == len(set(modes))
    assert set(modes) == set(TASK_MODES)
    expected = {"start_worker", "restart_worker", "sync_all", "reconcile", "status", "requeue_dlq"}
    assert expected <= set(modes)
    names = {task["name"] for task in plugin["tasks"]}
    assert {"Start worker", "Restart worker", "Sync all scenes", "Reconcile now"} <= names


# A value the user sets in Stash's UI, and what the UI shows for a setting never touched
# (an unset BOOLEAN looks "off", an unset NUMBER looks like 0).
SET_VALUE: dict[str, Any] = {"STRING": "some value", "BOOLEAN": True, "NUMBER": 15}
UI_UNSET_VALUES: dict[str, list[Any]] = {
    "STRING": ["", None],
    "BOOLEAN": [False, None],
    "NUMBER": [0, None],
}


def config_key(setting_id: str, setting_type: str) -> str:
    """The config key the package maps a set plugin setting onto (exactly one)."""
    mapped = translate({setting_id: SET_VALUE[setting_type]})
    assert len(mapped) == 1, f"{setting_id} maps onto {sorted(mapped)}, not one config key"
    (key,) = mapped
    return key


def test_settings_are_typed_and_map_onto_config_keys(plugin: dict[str, Any]) -> None:
    settings = plugin["settings"]
    keys = set()
    for setting_id, setting in settings.items():
        assert setting["type"] in {"STRING", "NUMBER", "BOOLEAN"}, setting_id
        assert setting["displayName"] and setting["description"]
        key = config_key(setting_id, setting["type"])
        assert key in KEYS, f"{setting_id} maps onto unknown config key {key}"
        assert f"({key}" in setting["description"], "description names its config key"
        keys.add(key)
    assert {"plex_url", "plex_token", "plex_sections", "path_map", "ignore_tags"} <= keys
    assert {"plex_verify_tls", "reconcile_minutes"} <= keys


def test_what_the_ui_shows_for_an_unset_setting_means_the_default(plugin: dict[str, Any]) -> None:
    for setting_id, setting in plugin["settings"].items():
        for shown in UI_UNSET_VALUES[setting["type"]]:
            assert translate({setting_id: shown}) == {}, (setting_id, shown)
    assert translate({"plexSkipTlsVerify": True}) == {"plex_verify_tls": False}
    assert plugin["settings"]["plexSkipTlsVerify"]["type"] == "BOOLEAN"
    reconcile = " ".join(plugin["settings"]["reconcileMinutes"]["description"].split())
    assert "0 or empty = default (60)" in reconcile
    assert "PLEXSYNC_RECONCILE_MINUTES=0" in reconcile


def test_readme_documents_every_setting_and_the_precedence(plugin: dict[str, Any]) -> None:
    readme = (PLUGIN_DIR / "README.md").read_text(encoding="utf-8")
    for setting_id, setting in plugin["settings"].items():
        assert f"`{setting_id}` | `{config_key(setting_id, setting['type'])}`" in readme
    assert "plexVerifyTls" not in readme
    flat = " ".join(readme.split())
    assert (
        "CLI flag > environment variable > `$PLEXSYNC_HOME/config.toml` > Stash plugin setting "
        "> default" in flat
    )


def test_readme_tells_docker_users_to_put_the_home_on_a_volume() -> None:
    flat = " ".join((PLUGIN_DIR / "README.md").read_text(encoding="utf-8").split())
    assert "Docker" in flat and "PLEXSYNC_HOME=/root/.stash/plexsync" in flat
    assert "PLEXSYNC_PYTHON" in flat and "Restart worker" in flat


def test_plugin_dir_is_inside_the_repository() -> None:
    assert (PLUGIN_DIR.parent / "plexsync" / "enqueue.py").is_file()
    assert Path(hook_module().REPO_DIR) == PLUGIN_DIR.parent
