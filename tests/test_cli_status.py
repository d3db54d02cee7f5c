"""`plexsync status` (human, --json) and the health/stall logic behind it, on real stores."""

from __future__ import annotations

import io
import json
import time
from datetime import datetime

import pytest
from click.testing import CliRunner
from rich.console import Console

from plexsync.cli import cli
from plexsync.cli.status import render_status
from plexsync.config import load_config
from plexsync.enqueue import SYNC_TASK_NAME
from plexsync.health import CIRCUIT_STATES, health_report, stall_alert
from plexsync.services import Services

INTERFACE_KEYS = {"queued", "scheduled", "dlq", "last_success", "last_failure", "circuit", "worker"}


@pytest.fixture
def services() -> Services:
    return Services(load_config())


def _iso_or_none(value: object) -> datetime | None:
    if value is None:
        return None
    assert isinstance(value, str)
    parsed = datetime.fromisoformat(value)
    assert parsed.tzinfo is not None, f"timestamp without zone: {value}"
    return parsed


def _status_json() -> dict:
    result = CliRunner().invoke(cli, ["status", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # only JSON on stdout


def _check_interface_shape(data: dict) -> None:
    assert set(data) >= INTERFACE_KEYS
    for key in ("queued", "scheduled", "dlq"):
        assert type(data[key]) is int and data[key] >= 0
    _iso_or_none(data["last_success"])
    _iso_or_none(data["last_failure"])
    assert data["circuit"] in CIRCUIT_STATES
    assert set(data["worker"]) == {"alive", "last_heartbeat"}
    assert type(data["worker"]["alive"]) is bool
    _iso_or_none(data["worker"]["last_heartbeat"])


def test_status_json_empty_home() -> None:
    data = _status_json()
    _check_interface_shape(data)
    assert data["queued"] == data["scheduled"] == data["dlq"] == 0
    assert data["last_success"] is None and data["last_failure"] is None
    assert data["circuit"] == "closed"
    assert data["worker"] == {"alive": False, "last_heartbeat": None}
    assert data["alert"] is None


def test_status_json_reflects_seeded_state(services: Services) -> None:
    for scene_id in (11, 12, 13):
        services.pending.record(scene_id, "test")
    services.pending.record(11, "test")  # coalesced: still 3 tasks
    services.dlq.add("d1", SYNC_TASK_NAME, 9, {"args": [9], "kwargs": {}}, "boom", "X", 3, None)
    services.state.mark_success(now=1_700_000_000.0)
    services.state.mark_failure(now=1_700_000_500.0)
    services.state.heartbeat("w1", started_at=time.time())
    for _ in range(services.config.breaker_threshold):
        services.breaker.record_failure()
    services.state.record_unmatched(13, "no Plex item", ("/x.mp4",))

    data = _status_json()
    _check_interface_shape(data)
    assert data["queued"] == 3
    assert data["pending"] == 3
    assert data["dlq"] == 1
    assert _iso_or_none(data["last_success"]).timestamp() == 1_700_000_000.0
    assert _iso_or_none(data["last_failure"]).timestamp() == 1_700_000_500.0
    assert data["circuit"] == "open"
    assert data["worker"]["alive"] is True
    assert abs(_iso_or_none(data["worker"]["last_heartbeat"]).timestamp() - time.time()) < 60
    assert data["unmatched"] == 1


def test_status_human_shows_values(services: Services) -> None:
    services.pending.record(5, "test")
    services.dlq.add("d1", SYNC_TASK_NAME, 9, {"args": [9], "kwargs": {}}, "boom", "X", 3, None)
    result = CliRunner().invoke(cli, ["status"])
    assert result.exit_code == 0
    lines = {line.strip("│ ").split("│")[0].strip(): line for line in result.stdout.splitlines()}
    assert "1" in lines["Queued tasks"] and "1" in lines["Dead letters"]
    assert "not running" in lines["Worker"]
    assert "closed" in lines["Plex circuit"]
    assert "\x1b[" not in result.stdout  # no colour codes without a terminal


def test_status_render_fits_80_columns_with_alert(services: Services) -> None:
    services.pending.record(5, "test")
    services.pending.conn().execute("update pending set first_at = first_at - 86400 * 3")
    report = health_report(services)
    console = Console(record=True, width=80, file=io.StringIO(), force_terminal=True)
    console.print(render_status(report))
    text = console.export_text()
    assert all(len(line) <= 80 for line in text.splitlines())
    assert "STALLED" in text and "no worker is running" in text
    assert "Pending scenes" in text and "Queued tasks" in text


# ------------------------------------------------------------------ stall alert


def test_no_alert_without_work(services: Services) -> None:
    assert stall_alert(services, now=time.time() + 10 * 86400) is None


def test_alert_when_nothing_ever_synced_and_oldest_pending_is_old(services: Services) -> None:
    services.pending.record(1, "test")
    hours = services.config.alert_hours
    oldest = services.pending.oldest()
    assert oldest is not None
    assert stall_alert(services, now=oldest + hours * 3600 - 60) is None
    alert = stall_alert(services, now=oldest + hours * 3600 + 60)
    assert alert is not None
    assert "nothing has synced yet" in alert and "1 scene(s) pending" in alert
    assert "no worker is running" in alert


def test_alert_when_last_success_is_old(services: Services) -> None:
    services.pending.record(1, "test")
    services.pending.conn().execute("update pending set first_at = first_at - 86400")
    now = time.time()
    services.state.mark_success(now=now - 3600)  # recent success after the oldest event
    assert stall_alert(services, now=now) is None
    services.state.mark_success(now=now - 8 * 3600)
    services.state.heartbeat("w1", started_at=now)
    alert = stall_alert(services, now=now)
    assert alert is not None and "nothing has synced for 8.0 h" in alert
    assert "no worker is running" not in alert  # the heartbeat is fresh


def test_fresh_event_after_quiet_spell_is_no_stall(services: Services) -> None:
    now = time.time()
    services.state.mark_success(now=now - 30 * 86400)
    services.pending.record(1, "test")
    assert stall_alert(services, now=now + 60) is None


def test_status_json_alert_names_breaker_and_dlq(services: Services) -> None:
    services.pending.record(1, "test")
    services.pending.conn().execute("update pending set first_at = first_at - 86400")
    for _ in range(services.config.breaker_threshold):
        services.breaker.record_failure()
    services.dlq.add("d1", SYNC_TASK_NAME, 9, {"args": [9], "kwargs": {}}, "boom", "X", 3, None)
    alert = _status_json()["alert"]
    assert "circuit breaker is open" in alert and "1 task(s) in the dead-letter queue" in alert
