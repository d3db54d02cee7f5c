"""`plexsync config show` and `plexsync sync` (enqueue, --all, --dry-run) with real stores."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from plexsync.cli import cli
from plexsync.config import KEYS, load_config
from plexsync.enqueue import SYNC_TASK_NAME
from plexsync.services import Services
from tests.fakes.plex_fixtures import FAKE_PLEX_TOKEN


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, list(args))


def _messages(services: Services) -> list[dict]:
    rows = services.pending.conn().execute("select data from task order by id").fetchall()
    return [json.loads(bytes(r[0]))["__message__"] for r in rows]


# ------------------------------------------------------------------ config show


def test_config_show_json_masks_secrets_and_names_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLEXSYNC_PLEX_TOKEN", "super-secret-token-value")
    monkeypatch.setenv("PLEXSYNC_RETRIES", "3")
    result = invoke("--set", "read_timeout=7", "config", "show", "--json")
    assert result.exit_code == 0
    assert "super-secret-token-value" not in result.output
    data = json.loads(result.stdout)
    assert set(data) == set(KEYS)
    assert data["plex_token"] == {"value": "***", "source": "env", "env": "PLEXSYNC_PLEX_TOKEN"}
    assert data["retries"]["value"] == 3 and data["retries"]["source"] == "env"
    assert data["read_timeout"]["value"] == 7.0 and data["read_timeout"]["source"] == "flag"
    assert data["stash_url"]["source"] == "default"
    assert data["stash_api_key"]["value"] == ""


def test_config_show_human_from_toml(_isolated_env) -> None:  # type: ignore[no-untyped-def]
    _isolated_env.mkdir(parents=True)
    (_isolated_env / "config.toml").write_text('path_map = "/a=/b"\nstash_api_key = "k-12345678"\n')
    result = invoke("config", "show")
    assert result.exit_code == 0
    row = next(line for line in result.stdout.splitlines() if line.startswith("path_map"))
    assert "/a=/b" in row and "config.toml" in row
    assert "k-12345678" not in result.output


def test_config_show_invalid_value_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLEXSYNC_RETRY_BASE", "abc")
    result = invoke("config", "show")
    assert result.exit_code == 1 and "PLEXSYNC_RETRY_BASE" in result.stderr


# ------------------------------------------------------------------ sync


def test_sync_ids_enqueues_and_coalesces() -> None:
    result = invoke("sync", "5", "6")
    assert result.exit_code == 0 and "Queued 2 scene(s) (2 new task(s))." in result.stdout
    result = invoke("sync", "5")
    assert result.exit_code == 0 and "1 joined a task already waiting" in result.stdout
    services = Services(load_config())
    messages = _messages(services)
    assert [(m["name"], m["args"], m["kwargs"]["event"]) for m in messages] == [
        (SYNC_TASK_NAME, [5], "cli"),
        (SYNC_TASK_NAME, [6], "cli"),
    ]
    assert services.pending.count() == 2


@pytest.mark.parametrize("args", [["sync"], ["sync", "0"], ["sync", "abc"], ["sync", "1", "--all"]])
def test_sync_usage_errors(args: list[str]) -> None:
    result = invoke(*args)
    assert result.exit_code == 2
    assert Services(load_config()).huey.pending_count() == 0


def test_sync_all_enqueues_every_stash_scene(fake_stash, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    ids = [fake_stash.add_scene(title=f"s{i}", files=[f"/d/{i}.mp4"]) for i in range(130)]
    monkeypatch.setenv("PLEXSYNC_STASH_URL", fake_stash.url)
    result = invoke("sync", "--all", "--no-progress")
    assert result.exit_code == 0, result.output
    assert "Queued 130 scene(s)" in result.stdout
    queued = sorted(m["args"][0] for m in _messages(Services(load_config())))
    assert queued == sorted(ids)


def test_sync_all_stash_down_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLEXSYNC_STASH_URL", "http://127.0.0.1:9")
    result = invoke("sync", "--all", "--no-progress")
    assert result.exit_code == 1 and "cannot connect" in result.stderr


def test_sync_dry_run_prints_plan_and_writes_nothing(fake_stash, fake_plex, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    section = fake_plex.add_section("Movies", locations=["/media"])
    key = fake_plex.add_item(section, title="old title", files=["/media/a.mp4"])
    matched = fake_stash.add_scene(title="New Title", files=["/data/a.mp4"])
    missing = fake_stash.add_scene(title="Nowhere", files=["/data/zzz.mp4"])
    monkeypatch.setenv("PLEXSYNC_STASH_URL", fake_stash.url)
    monkeypatch.setenv("PLEXSYNC_PLEX_URL", fake_plex.url)
    monkeypatch.setenv("PLEXSYNC_PLEX_TOKEN", FAKE_PLEX_TOKEN)
    monkeypatch.setenv("PLEXSYNC_PATH_MAP", "/data=/media")
    fake_plex.clear_log()
    result = invoke("sync", str(matched), str(missing), "--dry-run")
    assert result.exit_code == 0, result.output
    assert f"scene {matched} → Plex item {key}" in result.stdout
    assert "New Title" in result.stdout
    assert f"scene {missing}: unmatched: no Plex item has '/media/zzz.mp4'" in result.stdout
    assert fake_plex.writes() == []
    assert fake_plex.item(key).title == "old title"
    assert Services(load_config()).huey.pending_count() == 0
