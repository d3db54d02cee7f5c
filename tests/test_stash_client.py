"""plexsync.stash.StashClient against the fake Stash (real HTTP, real requests)."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from plexsync.config import Config, Secret
from plexsync.errors import AuthError, NotFoundError, PermanentError, TransientError
from plexsync.scene_schema import load_scene
from plexsync.stash import StashClient
from tests.fakes.stash import FakeStash, make_png


def client_for(
    fake: FakeStash, tmp_path: Path, key: str = "", connect: float = 2.0, read: float = 2.0
) -> StashClient:
    config = Config(
        home=tmp_path,
        stash_url=fake.url,
        stash_api_key=Secret(key),
        connect_timeout=connect,
        read_timeout=read,
    )
    return StashClient.from_config(config)


@pytest.fixture
def client(fake_stash: FakeStash, tmp_path: Path) -> Iterator[StashClient]:
    with client_for(fake_stash, tmp_path) as stash:
        yield stash


def test_from_config_takes_url_timeouts_and_key(fake_stash: FakeStash, tmp_path: Path) -> None:
    stash = client_for(fake_stash, tmp_path, key="k-123456", connect=1.5, read=7.0)
    assert stash.graphql_url == fake_stash.url + "/graphql"
    assert stash.timeout == (1.5, 7.0)
    assert "k-123456" not in repr(vars(stash).get("_session").headers)  # type: ignore[union-attr]


def test_find_scene_round_trip_validates(fake_stash: FakeStash, client: StashClient) -> None:
    scene_id = fake_stash.add_scene(
        title="T", studio="S", parent_studio="N", tags=["a"], performers=["p"], files=["/m/t.mp4"]
    )
    raw = client.find_scene(scene_id)
    assert raw is not None
    scene = load_scene(raw)
    assert (scene.id, scene.title, scene.studio, scene.parent_studio) == (scene_id, "T", "S", "N")
    assert scene.files == ("/m/t.mp4",)
    assert scene.screenshot_url and "/screenshot?t=" in scene.screenshot_url
    assert scene.updated_at == fake_stash.scene(scene_id).updated_at


def test_find_scene_missing_is_none(client: StashClient) -> None:
    assert client.find_scene(404) is None


def test_api_key_header_is_sent(
    fake_stash_with_key: FakeStash, tmp_path: Path, fake_stash_api_key: str
) -> None:
    stash = client_for(fake_stash_with_key, tmp_path, key=fake_stash_api_key)
    assert stash.version() == "v0.30.1"
    assert fake_stash_with_key.requests[-1].had_api_key


@pytest.mark.parametrize("key", ["", "wrong-key-abcdef"])
def test_refused_key_is_auth_error_without_retry_or_key(
    fake_stash_with_key: FakeStash, tmp_path: Path, key: str
) -> None:
    stash = client_for(fake_stash_with_key, tmp_path, key=key)
    with pytest.raises(AuthError) as info:
        stash.find_scene(1)
    assert str(info.value) == "Stash refused the API key (401): set PLEXSYNC_STASH_API_KEY"
    assert info.value.status == 401
    assert fake_stash_with_key.request_count() == 1
    assert stash.request_count == 1


def test_read_timeout_applied_and_retried(fake_stash: FakeStash, tmp_path: Path) -> None:
    stash = client_for(fake_stash, tmp_path, key="timeout-key-123", read=0.2)
    fake_stash.slow_next(3, 1.0)
    with pytest.raises(TransientError) as info:
        stash.version()
    assert str(info.value) == "Stash Version: read timeout after 0.2s"
    assert "timeout-key-123" not in str(info.value)
    assert stash.request_count == 3


def test_slow_answer_within_read_timeout_succeeds(fake_stash: FakeStash, tmp_path: Path) -> None:
    stash = client_for(fake_stash, tmp_path, read=3.0)
    fake_stash.slow_next(1, 0.3)
    assert stash.version() == "v0.30.1"
    assert stash.request_count == 1


def test_timeouts_then_success_within_attempts(fake_stash: FakeStash, tmp_path: Path) -> None:
    stash = client_for(fake_stash, tmp_path, read=0.2)
    fake_stash.slow_next(2, 0.6)
    assert stash.version() == "v0.30.1"
    assert stash.request_count == 3


def test_connect_timeout_applied(fake_stash: FakeStash, tmp_path: Path) -> None:
    # A listener that never accepts, with its backlog filled: further SYNs go unanswered.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        stash = StashClient(f"http://127.0.0.1:{port}", connect_timeout=0.2, attempts=1)
        with pytest.raises(TransientError) as info:
            stash.version()
        assert str(info.value) == "Stash Version: connect timeout after 0.2s"
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


def test_5xx_retried_then_succeeds(fake_stash: FakeStash, client: StashClient) -> None:
    fake_stash.fail_next(2, 502)
    assert client.version() == "v0.30.1"
    assert fake_stash.request_count(path="/graphql") == 3


def test_5xx_exhausts_attempts(fake_stash: FakeStash, client: StashClient) -> None:
    fake_stash.fail_next(5, 500)
    with pytest.raises(TransientError) as info:
        client.find_scene(1)
    assert info.value.status == 500
    assert str(info.value) == "Stash FindScene: HTTP 500"
    assert fake_stash.request_count() == 3


def test_body_not_json_is_transient(fake_stash: FakeStash, client: StashClient) -> None:
    fake_stash.fail_next(3, 200)  # 200 with a text body
    with pytest.raises(TransientError, match="answer is not JSON"):
        client.version()
    assert client.request_count == 3


def test_connection_refused_is_transient(fake_stash: FakeStash, client: StashClient) -> None:
    fake_stash.stop()
    with pytest.raises(TransientError, match=r"^Stash FindScene: cannot connect to http://"):
        client.find_scene(1)
    assert client.request_count == 3


def test_validation_error_422_is_permanent_without_retry(
    fake_stash: FakeStash, client: StashClient
) -> None:
    with pytest.raises(PermanentError) as info:
        client.graphql("query Bad { findScene(id: 1) { rating } }")
    assert info.value.status == 422
    assert "Cannot query field 'rating' on type 'Scene'" in str(info.value)
    assert fake_stash.request_count() == 1


def test_graphql_error_in_200_is_permanent(fake_stash: FakeStash, client: StashClient) -> None:
    with pytest.raises(PermanentError, match=r"^Stash Missing: scene with id 77 not found$"):
        client.graphql('query Missing { findScenes(ids: ["77"]) { count } }')
    assert fake_stash.request_count() == 1


def test_wrong_base_path_is_permanent(fake_stash: FakeStash) -> None:
    stash = StashClient(fake_stash.url + "/nope")
    with pytest.raises(PermanentError, match="not found \\(404\\): check PLEXSYNC_STASH_URL"):
        stash.version()


def test_updated_since_pages_in_order(fake_stash: FakeStash, client: StashClient) -> None:
    ids = [fake_stash.add_scene(title=str(i)) for i in range(5)]
    since = fake_stash.scene(ids[1]).updated_at
    got = [s["id"] for s in client.iter_scenes_updated_since(since, per_page=2)]
    assert got == [str(i) for i in ids[2:]]
    assert fake_stash.request_count(operation="FindScenesUpdated") == 2


def test_updated_since_none_yields_everything(fake_stash: FakeStash, client: StashClient) -> None:
    ids = [fake_stash.add_scene() for _ in range(3)]
    assert [s["id"] for s in client.iter_scenes_updated_since(None, per_page=2)] == [
        str(i) for i in ids
    ]


def test_updated_since_pages_through_ties(fake_stash: FakeStash, client: StashClient) -> None:
    same = "2026-11-25T10:00:00+00:00"
    ids = [fake_stash.add_scene(updated_at=same) for _ in range(5)]
    ids.append(fake_stash.add_scene(updated_at="2026-11-25T10:00:01+00:00"))
    got = [s["id"] for s in client.iter_scenes_updated_since("2026-11-25T09:00:00+00:00", 2)]
    assert got == [str(i) for i in ids]


def test_updated_since_loses_nothing_when_scenes_change_while_paging(
    fake_stash: FakeStash, client: StashClient
) -> None:
    ids = [fake_stash.add_scene(updated_at=f"2026-11-25T10:00:0{i}+00:00") for i in range(6)]
    got: list[str] = []
    for scene in client.iter_scenes_updated_since("2026-11-25T09:00:00+00:00", per_page=2):
        got.append(scene["id"])
        if len(got) == 2:  # after page 1: one seen and one unseen scene change (no hook)
            fake_stash.edit_scene(ids[0], title="edited", updated_at="2026-11-25T10:00:09+00:00")
            fake_stash.edit_scene(ids[2], title="edited", updated_at="2026-11-25T10:00:08+00:00")
    assert sorted(got, key=int) == [str(i) for i in ids]
    assert len(got) == len(set(got))


def test_iter_all_scenes_full_and_light(fake_stash: FakeStash, client: StashClient) -> None:
    ids = [fake_stash.add_scene(files=[f"/m/{i}.mp4"], title="t") for i in range(3)]
    full = list(client.iter_all_scenes(per_page=2))
    assert [s["id"] for s in full] == [str(i) for i in ids]
    assert full[0]["title"] == "t"
    light = list(client.iter_all_scenes(per_page=50, light=True))
    assert set(light[0]) == {"id", "updated_at", "files"}
    assert light[2]["files"] == [{"path": f"/m/{ids[2] - 1}.mp4"}]
    with pytest.raises(ValueError, match="per_page"):
        list(client.iter_all_scenes(per_page=0))


def test_fetch_image_from_0000_host_with_key(
    make_fake_stash: Callable[..., FakeStash], tmp_path: Path
) -> None:
    fake = make_fake_stash(api_key="img-key-98765", url_host="0.0.0.0")
    image = make_png((10, 20, 30), size=4)
    scene_id = fake.add_scene(image=image)
    stash = client_for(fake, tmp_path, key="img-key-98765")
    raw = stash.find_scene(scene_id)
    assert raw is not None and raw["paths"]["screenshot"].startswith("http://0.0.0.0:")
    assert stash.fetch_image(raw["paths"]["screenshot"]) == image
    assert fake.requests[-1].path == f"/scene/{scene_id}/screenshot"
    assert fake.requests[-1].had_api_key


def test_fetch_image_never_sends_key_to_another_origin(
    make_fake_stash: Callable[..., FakeStash], tmp_path: Path
) -> None:
    stash_server = make_fake_stash(api_key="origin-key-555")
    elsewhere = make_fake_stash(api_key="origin-key-555")
    elsewhere.add_scene()
    stash = client_for(stash_server, tmp_path, key="origin-key-555")
    with pytest.raises(AuthError):
        stash.fetch_image(f"{elsewhere.url}/scene/1/screenshot")
    assert not elsewhere.requests[-1].had_api_key


def test_fetch_image_errors(fake_stash: FakeStash, client: StashClient) -> None:
    scene_id = fake_stash.add_scene()
    with pytest.raises(PermanentError, match="video"):
        client.fetch_image(f"{fake_stash.url}/scene/{scene_id}/preview")
    with pytest.raises(NotFoundError):
        client.fetch_image(f"{fake_stash.url}/scene/999/screenshot")
    fake_stash.fail_next(1, 503)
    assert client.fetch_image(f"/scene/{scene_id}/screenshot") == fake_stash.image_of(scene_id)


def test_version_and_plugin_settings(fake_stash: FakeStash, client: StashClient) -> None:
    assert client.plugin_settings() == {}
    fake_stash.set_plugin_settings("plexsync", {"plex_url": "http://plex:32400", "retries": 2})
    assert client.plugin_settings() == {"plex_url": "http://plex:32400", "retries": 2}
    assert client.plugin_settings("other") == {}
    fake_stash.version = "v0.31.0"
    assert client.version() == "v0.31.0"


def test_healthz(fake_stash: FakeStash, client: StashClient) -> None:
    assert client.healthz() is True
    fake_stash.stop()
    assert client.healthz() is False
    assert client.request_count == 2
