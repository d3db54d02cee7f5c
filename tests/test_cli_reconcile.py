"""`plexsync reconcile` (human and --json, dry run and real) against the fake servers."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from plexsync.cli import cli
from plexsync.cli.reconcile import summary_lines
from plexsync.config import load_config
from plexsync.services import Services
from tests.fakes.plex_fixtures import FAKE_PLEX_TOKEN


@pytest.fixture
def library(fake_plex, fake_stash, monkeypatch):  # type: ignore[no-untyped-def]
    section = fake_plex.add_section("Movies", locations=["/media"])
    fake_plex.add_item(section, title="a", files=["/media/a.mp4"])
    fake_plex.add_item(section, title="b", files=["/media/b.mp4"])
    matched = [fake_stash.add_scene(title=n, files=[f"/data/{n}.mp4"]) for n in ("a", "b")]
    missing = fake_stash.add_scene(title="gone", files=["/data/nowhere.mp4"])
    monkeypatch.setenv("PLEXSYNC_STASH_URL", fake_stash.url)
    monkeypatch.setenv("PLEXSYNC_PLEX_URL", fake_plex.url)
    monkeypatch.setenv("PLEXSYNC_PLEX_TOKEN", FAKE_PLEX_TOKEN)
    monkeypatch.setenv("PLEXSYNC_PATH_MAP", "/data=/media")
    return matched, missing


def _json(*args: str) -> tuple[int, dict]:
    result = CliRunner().invoke(cli, ["reconcile", *args, "--json", "--no-progress"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    data = json.loads(result.stdout)
    for key in ("checked", "enqueued", "unmatched", "errors"):
        assert type(data[key]) is int and data[key] >= 0, key
    return result.exit_code, data


def test_dry_run_json_enqueues_nothing(library) -> None:  # type: ignore[no-untyped-def]
    matched, _missing = library
    code, data = _json("--full", "--dry-run")
    assert code == 0
    assert data["checked"] == 3 and data["enqueued"] == 2 and data["unmatched"] == 1
    assert sorted(item["scene_id"] for item in data["would_change"]) == sorted(matched)
    services = Services(load_config())
    assert services.huey.pending_count() == 0 and services.pending.count() == 0


def test_real_run_enqueues_and_human_summary(library) -> None:  # type: ignore[no-untyped-def]
    matched, missing = library
    result = CliRunner().invoke(cli, ["reconcile", "--full", "--no-progress"])
    assert result.exit_code == 0, result.output
    first = result.stdout.splitlines()[0]
    assert "checked 3 scene(s); enqueued 2, 1 unmatched, 0 error(s)." in first
    assert f"unmatched: scene {missing}: Plex has no /media/nowhere.mp4" in result.stdout
    services = Services(load_config())
    assert services.pending.count() == 2 and services.huey.pending_count() == 2
    queued = services.pending.conn().execute("select scene_id from pending").fetchall()
    assert sorted(r[0] for r in queued) == sorted(matched)


def test_invalid_scene_counts_as_error_exit_1(library, fake_stash) -> None:  # type: ignore[no-untyped-def]
    fake_stash.add_scene(title="bad", rating100=150, files=["/data/a2.mp4"])
    code, data = _json("--full", "--dry-run")
    assert code == 1 and data["errors"] == 1 and data["checked"] == 4


def test_stash_down_is_one_error_exit_1(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PLEXSYNC_STASH_URL", "http://127.0.0.1:9")
    result = CliRunner().invoke(cli, ["reconcile", "--no-progress"])
    assert result.exit_code == 1 and "cannot connect" in result.stderr
    assert result.stdout == ""


def test_summary_lines_dry_run() -> None:
    report = {"checked": 4, "enqueued": 1, "unmatched": 0, "errors": 0, "mode": "full",
              "would_change": [{"scene_id": 3, "reason": "never applied"}]}  # fmt: skip
    lines = summary_lines(report, dry_run=True)
    assert lines[0] == (
        "Reconcile (full, dry run): checked 4 scene(s); would enqueue 1, 0 unmatched, 0 error(s)."
    )
    assert lines[1] == "  scene 3: never applied"


def test_second_reconcile_refused_while_one_runs(library) -> None:  # type: ignore[no-untyped-def]
    from plexsync.leases import RECONCILE, lease

    services = Services(load_config())
    with lease(services.db, RECONCILE):  # e.g. the worker's periodic reconcile
        result = CliRunner().invoke(cli, ["reconcile", "--no-progress"])
    assert result.exit_code == 1
    assert "a reconcile is already running" in result.stderr
    assert services.pending.count() == 0
    result = CliRunner().invoke(cli, ["reconcile", "--no-progress"])  # lease released
    assert result.exit_code == 0, result.output
