"""CLI edges: secrets refused as flags, unexpected errors stay one redacted line."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from plexsync.cli import cli
from plexsync.redact import register_secret


@pytest.mark.parametrize("key", ["plex_token", "stash_api_key", "PLEX_TOKEN"])
def test_secrets_are_refused_on_the_command_line(key: str) -> None:
    result = CliRunner().invoke(cli, ["--set", f"{key}=abcdef123", "status"])
    assert result.exit_code == 2
    assert "secrets are not accepted on the command line" in result.stderr
    assert "abcdef123" not in result.output


def test_unexpected_error_is_one_redacted_line(monkeypatch: pytest.MonkeyPatch) -> None:
    register_secret("tok-very-secret-42")

    def broken(*args: object, **kwargs: object) -> dict[str, object]:
        raise RuntimeError("boom near http://plex/?X-Plex-Token=tok-very-secret-42")

    monkeypatch.setattr("plexsync.cli.status.health_report", broken)
    result = CliRunner().invoke(cli, ["status", "--json"])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: unexpected RuntimeError: boom")
    assert "tok-very-secret-42" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
