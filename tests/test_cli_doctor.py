"""`plexsync doctor` against the fake Plex and fake Stash servers: each broken setup gives
the right ✗ and hint; the pure path helpers behind the path-mapping answer."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import pytest
from click.testing import CliRunner

from plexsync.cli import cli
from plexsync.config import load_config
from plexsync.doctor_remote import closest_path, suggest_path_map
from plexsync.services import Services
from tests.fakes.plex_fixtures import FAKE_PLEX_TOKEN


@pytest.fixture
def setup(fake_plex, fake_stash, monkeypatch):  # type: ignore[no-untyped-def]
    """A healthy setup: Plex has the Stash files under /media, the map says /data=/media,
    and a worker heartbeat from this (live) process."""
    section = fake_plex.add_section("Movies", locations=["/media"])
    for name in ("a", "b", "c"):
        fake_plex.add_item(section, title=name, files=[f"/media/films/{name}.mp4"])
        fake_stash.add_scene(title=name, files=[f"/data/films/{name}.mp4"])
    fake_plex.add_section("Music", type="artist", locations=["/music"])
    monkeypatch.setenv("PLEXSYNC_STASH_URL", fake_stash.url)
    monkeypatch.setenv("PLEXSYNC_PLEX_URL", fake_plex.url)
    monkeypatch.setenv("PLEXSYNC_PLEX_TOKEN", FAKE_PLEX_TOKEN)
    monkeypatch.setenv("PLEXSYNC_PATH_MAP", "/data=/media")
    Services(load_config()).state.heartbeat("w1", started_at=time.time())
    return fake_plex, fake_stash


def run_doctor(*extra: str) -> tuple[int, dict[str, Any], dict[str, dict[str, Any]]]:
    result = CliRunner().invoke(cli, [*extra, "doctor", "--json"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    data = json.loads(result.stdout)
    assert set(data) == {"ok", "checks"} and type(data["ok"]) is bool
    for check in data["checks"]:
        assert {"name", "ok", "detail", "hint"} <= set(check)
        assert type(check["ok"]) is bool and isinstance(check["detail"], str)
    return result.exit_code, data, {c["name"]: c for c in data["checks"]}


def test_healthy(setup) -> None:  # type: ignore[no-untyped-def]
    code, data, checks = run_doctor()
    failed = [c for c in data["checks"] if not c["ok"]]
    assert code == 0 and data["ok"] is True, failed
    assert "Fake Plex" in checks["Plex token"]["detail"]
    assert "'Movies'" in checks["Plex sections"]["detail"]
    assert "Music" not in checks["Plex sections"]["detail"]
    assert checks["path mapping"]["detail"] == "3/3 sampled Stash scenes found in Plex"
    assert "v0.30.1" in checks["Stash API key"]["detail"]
    assert checks["worker"]["ok"] is True


def test_healthy_human(setup) -> None:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(cli, ["doctor"])
    assert result.exit_code == 0
    assert "✓ Plex token" in result.stdout and "✗" not in result.stdout
    _, data, _ = run_doctor()
    assert f"All {len(data['checks'])} checks passed." in result.stdout


def test_plex_down(setup) -> None:  # type: ignore[no-untyped-def]
    fake_plex, _ = setup
    fake_plex.stop()
    code, data, checks = run_doctor()
    assert code == 1 and data["ok"] is False
    assert checks["Plex reachable"]["ok"] is False
    assert "PLEXSYNC_PLEX_URL" in checks["Plex reachable"]["hint"]
    assert checks["Plex token"]["skipped"] and checks["Plex sections"]["skipped"]
    assert checks["path mapping"]["skipped"] and "Plex" in checks["path mapping"]["detail"]
    assert checks["Stash API key"]["ok"] is True  # the rest still answers


def test_wrong_plex_token(setup, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PLEXSYNC_PLEX_TOKEN", "wrong-token-4711")
    result = CliRunner().invoke(cli, ["doctor"])
    assert result.exit_code == 1
    assert "wrong-token-4711" not in result.output and FAKE_PLEX_TOKEN not in result.output
    code, _, checks = run_doctor()
    assert code == 1
    assert checks["Plex reachable"]["ok"] is True
    assert checks["Plex token"]["ok"] is False
    assert checks["Plex token"]["detail"] == "Plex refused the token (401): set PLEXSYNC_PLEX_TOKEN"
    assert "PLEXSYNC_PLEX_TOKEN" in checks["Plex token"]["hint"]


def test_wrong_path_map(setup, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PLEXSYNC_PATH_MAP", "/data=/mnt/plex")
    code, _, checks = run_doctor()
    assert code == 1
    check = checks["path mapping"]
    assert check["ok"] is False
    assert "0/3 sampled Stash scenes found in Plex" in check["detail"]
    assert "Stash path:   /data/films/a.mp4" in check["detail"]
    assert "mapped path:  /mnt/plex/films/a.mp4" in check["detail"]
    assert "closest Plex: /media/films/a.mp4" in check["detail"]
    assert check["hint"].endswith("PLEXSYNC_PATH_MAP=/data=/media")


def test_file_missing_from_plex(setup) -> None:  # type: ignore[no-untyped-def]
    _, fake_stash = setup
    fake_stash.add_scene(title="new", files=["/data/elsewhere/zzz.mp4"])
    _, _, checks = run_doctor()
    check = checks["path mapping"]
    assert check["ok"] is False and "3/4" in check["detail"]
    assert "Plex has no file by that name" in check["hint"] and "/media" in check["hint"]


def test_stash_api_key_refused(setup, make_fake_stash, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    locked = make_fake_stash(api_key="the-right-key-123")
    monkeypatch.setenv("PLEXSYNC_STASH_URL", locked.url)
    monkeypatch.setenv("PLEXSYNC_STASH_API_KEY", "a-wrong-key-456")
    code, _, checks = run_doctor()
    assert code == 1
    assert checks["Stash reachable"]["ok"] is True
    assert checks["Stash API key"]["detail"] == (
        "Stash refused the API key (401): set PLEXSYNC_STASH_API_KEY"
    )
    assert checks["path mapping"]["skipped"]


def test_stash_down_and_no_worker(setup, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PLEXSYNC_STASH_URL", "http://127.0.0.1:9")
    Services(load_config()).state.remove_worker("w1")
    _, _, checks = run_doctor()
    assert checks["Stash reachable"]["ok"] is False
    assert "PLEXSYNC_STASH_URL" in checks["Stash reachable"]["hint"]
    assert checks["worker"]["ok"] is False and "plexsync worker" in checks["worker"]["hint"]


def test_unknown_section(setup, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PLEXSYNC_PLEX_SECTIONS", "Films")
    _, _, checks = run_doctor()
    assert checks["Plex sections"]["ok"] is False
    assert "'Films'" in checks["Plex sections"]["detail"]
    assert "PLEXSYNC_PLEX_SECTIONS" in checks["Plex sections"]["hint"]
    monkeypatch.setenv("PLEXSYNC_PLEX_SECTIONS", "Music")
    _, _, checks = run_doctor()
    assert "not a movie section" in checks["Plex sections"]["detail"]


def test_invalid_config_is_a_failed_check(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PLEXSYNC_READ_TIMEOUT", "soon")
    code, data, checks = run_doctor()
    assert code == 1 and checks["config"]["ok"] is False
    assert "PLEXSYNC_READ_TIMEOUT" in checks["config"]["detail"]
    assert data["checks"][-1]["skipped"] is True


def test_loose_modes_and_state_problems(setup, _isolated_env) -> None:  # type: ignore[no-untyped-def]
    services = Services(load_config())
    services.dlq.add("d1", "plexsync.tasks.sync_scene", 1, {"args": [1]}, "boom", "X", 2, None)
    services.state.record_unmatched(9, "scene 9: no Plex item has '/media/x.mp4'", ("/x",))
    os.chmod(_isolated_env, 0o755)
    os.chmod(_isolated_env / "state.db", 0o644)
    _, _, checks = run_doctor()
    assert checks["state dir"]["ok"] is False
    assert "0755" in checks["state dir"]["detail"] and "state.db" in checks["state dir"]["detail"]
    assert "chmod 700" in checks["state dir"]["hint"]
    assert checks["dead letters"]["ok"] is False and "boom" in checks["dead letters"]["detail"]
    assert checks["unmatched scenes"]["ok"] is False
    assert "plexsync sync 9" in checks["unmatched scenes"]["hint"]


def test_plex_not_configured(monkeypatch, fake_stash) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PLEXSYNC_STASH_URL", fake_stash.url)
    monkeypatch.setenv("PLEXSYNC_PLEX_URL", "http://127.0.0.1:32400")
    _, _, checks = run_doctor()
    assert checks["Plex reachable"]["ok"] is False
    assert "PLEXSYNC_PLEX_TOKEN unset" in checks["Plex reachable"]["detail"]
    assert "PLEXSYNC_PLEX_URL" not in checks["Plex reachable"]["detail"]


# ------------------------------------------------------------------ pure helpers


def test_closest_path_prefers_same_file_name() -> None:
    candidates = ["/media/x/a.mp4", "/media/films/a.mp4", "/media/films/b.mp4"]
    assert closest_path("/mnt/films/a.mp4", candidates) == "/media/films/a.mp4"
    assert closest_path("/mnt/films/q.mp4", candidates) in candidates
    assert closest_path("/x", []) is None


@pytest.mark.parametrize(
    ("stash", "plex", "expected"),
    [
        ("/data/films/a.mp4", "/media/films/a.mp4", ("/data", "/media")),
        ("/data/a.mp4", "/srv/media/a.mp4", ("/data", "/srv/media")),
        ("/data/a.mp4", "D:\\Media\\a.mp4", ("/data", "D:\\Media")),
        ("/data/a.mp4", "/data/b.mp4", None),
        ("/a.mp4", "/x/a.mp4", None),
    ],
)
def test_suggest_path_map(stash: str, plex: str, expected: tuple[str, str] | None) -> None:
    assert suggest_path_map(stash, plex) == expected
