"""Config precedence, validation messages, secrets, and file permissions."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from plexsync.config import Config, ensure_home, load_config, touch_private
from plexsync.errors import ConfigError


def _env(home: Path, **values: str) -> dict[str, str]:
    env = {"PLEXSYNC_HOME": str(home)}
    env.update({f"PLEXSYNC_{k.upper()}": v for k, v in values.items()})
    return env


def test_defaults_match_interface(tmp_path: Path) -> None:
    cfg = load_config(environ=_env(tmp_path))
    assert cfg.stash_url == "http://localhost:9999"
    assert (cfg.connect_timeout, cfg.read_timeout) == (4.0, 10.0)
    assert (cfg.retries, cfg.retry_base, cfg.retry_max) == (5, 5.0, 300.0)
    assert cfg.reconcile_minutes == 60
    assert cfg.plex_verify_tls is True
    assert cfg.plex_url is None and not cfg.plex_token
    assert cfg.sources["retries"] == "default"


def test_precedence_flag_env_toml(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        'retries = 2\nread_timeout = 3.5\nplex_url = "http://toml:32400"\n'
    )
    env = _env(tmp_path, read_timeout="7")
    cfg = load_config({"retries": "9"}, environ=env)
    assert cfg.retries == 9 and cfg.sources["retries"] == "flag"
    assert cfg.read_timeout == 7.0 and cfg.sources["read_timeout"] == "env"
    assert cfg.plex_url == "http://toml:32400" and cfg.sources["plex_url"] == "config.toml"


def test_plugin_settings_rank_below_config_toml(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('plex_url = "http://toml:32400"\n')
    cfg = load_config(
        environ=_env(tmp_path),
        plugin_settings={"plex_url": "http://plugin:32400", "ignore_tags": "a, b"},
    )
    assert cfg.plex_url == "http://toml:32400"
    assert cfg.ignore_tags == ("a", "b") and cfg.sources["ignore_tags"] == "stash plugin"


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("retry_base", "abc", "PLEXSYNC_RETRY_BASE: not a number: 'abc'"),
        ("retries", "1.5", "PLEXSYNC_RETRIES: not a whole number: '1.5'"),
        ("read_timeout", "-1", "PLEXSYNC_READ_TIMEOUT: must be greater than 0"),
        ("plex_url", "localhost:32400", "PLEXSYNC_PLEX_URL: not an http(s) URL"),
        ("plex_verify_tls", "maybe", "PLEXSYNC_PLEX_VERIFY_TLS: not a boolean"),
        ("path_map", "/a/b", "PLEXSYNC_PATH_MAP: expected stash_prefix=plex_prefix"),
    ],
)
def test_bad_value_is_one_line_naming_the_key(
    tmp_path: Path, key: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(environ=_env(tmp_path, **{key: value}))
    text = str(err.value)
    assert text.startswith(message), text
    assert "\n" not in text


def test_retry_max_below_base_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^PLEXSYNC_RETRY_MAX: must be >= retry_base"):
        load_config(environ=_env(tmp_path, retry_base="10", retry_max="5"))


def test_bad_toml_value_names_the_file_key(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('retries = "many"\n')
    with pytest.raises(ConfigError, match=r"^retries \(config.toml\): not a whole number"):
        load_config(environ=_env(tmp_path))


def test_unknown_toml_key_rejected(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("plex_tokn = 'x'\n")
    with pytest.raises(ConfigError, match="unknown key 'plex_tokn'"):
        load_config(environ=_env(tmp_path))


def test_path_map_and_lists_parse(tmp_path: Path) -> None:
    cfg = load_config(
        environ=_env(
            tmp_path,
            path_map="/data/=/media/ ; /other=D:\\Media",
            ignore_tags=" a ,b,, c ",
            plex_sections="Movies,Scenes",
        )
    )
    assert cfg.path_map == (("/data/", "/media/"), ("/other", "D:\\Media"))
    assert cfg.ignore_tags == ("a", "b", "c")
    assert cfg.plex_sections == ("Movies", "Scenes")


def test_secrets_never_in_repr_or_masked_view(tmp_path: Path) -> None:
    cfg = load_config(
        environ=_env(tmp_path, plex_token="tok-SECRET-123", stash_api_key="key-SECRET-456")
    )
    assert cfg.plex_token.reveal() == "tok-SECRET-123"
    for text in (repr(cfg), str(cfg), f"{cfg.plex_token}", str(cfg.masked())):
        assert "SECRET" not in text
    assert cfg.masked()["plex_token"] == "***"


def test_state_dir_0700_and_files_0600(tmp_path: Path) -> None:
    home = tmp_path / "state"
    cfg = Config(home=home)
    ensure_home(cfg)
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    touch_private(cfg.queue_db)
    assert stat.S_IMODE(cfg.queue_db.stat().st_mode) == 0o600
    home.chmod(0o755)
    ensure_home(cfg)
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
