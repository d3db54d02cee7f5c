"""The fake Stash behaves like Stash where plexsync depends on it (raw HTTP, no client)."""

from __future__ import annotations

import io
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
from PIL import Image

from plexsync.stash_queries import ALL_DOCUMENTS, FIND_SCENE, FIND_SCENES_UPDATED
from tests.fakes.stash import FakeStash, make_png


def post(fake: FakeStash, query: str, variables: Any = None, **kw: Any) -> requests.Response:
    body = {"query": query, "variables": variables or {}, "operationName": None}
    return requests.post(fake.url + "/graphql", json=body, timeout=5, **kw)


def gql(fake: FakeStash, query: str, variables: Any = None) -> dict[str, Any]:
    response = post(fake, query, variables)
    assert response.status_code == 200, response.text
    payload: dict[str, Any] = response.json()
    assert "errors" not in payload, payload
    return payload["data"]


def test_healthz(fake_stash: FakeStash) -> None:
    response = requests.get(fake_stash.url + "/healthz", timeout=5)
    assert response.status_code == 200


def test_find_scene_returns_every_mapped_field(fake_stash: FakeStash) -> None:
    scene_id = fake_stash.add_scene(
        title="A",
        details="d",
        date="2025-01-02",
        rating100=60,
        studio="Site",
        parent_studio="Network",
        tags=["t1", "t2"],
        performers=["P"],
        files=["/m/a.mp4", "/m/b.mp4"],
    )
    scene = gql(fake_stash, FIND_SCENE, {"id": str(scene_id)})["findScene"]
    assert scene["id"] == str(scene_id)
    assert (scene["title"], scene["details"], scene["date"], scene["rating100"]) == (
        "A",
        "d",
        "2025-01-02",
        60,
    )
    assert scene["studio"] == {"name": "Site", "parent_studio": {"name": "Network"}}
    assert scene["tags"] == [{"name": "t1"}, {"name": "t2"}]
    assert scene["performers"] == [{"name": "P"}]
    assert scene["files"] == [{"path": "/m/a.mp4"}, {"path": "/m/b.mp4"}]
    assert scene["paths"]["screenshot"].startswith(
        f"{fake_stash.url}/scene/{scene_id}/screenshot?t="
    )
    assert scene["updated_at"].endswith("+00:00")


def test_find_scene_missing_is_null(fake_stash: FakeStash) -> None:
    assert gql(fake_stash, FIND_SCENE, {"id": "999"}) == {"findScene": None}


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("query { findScene(id: 1) { ", "Syntax Error"),
        ("query { findScene(id: 1) { rating } }", "Cannot query field 'rating'"),
        ("query Q($id: ID!) { findScene(id: $id) { id } }", "Variable '$id'"),
    ],
)
def test_parse_validation_and_variable_errors_are_422(
    fake_stash: FakeStash, query: str, fragment: str
) -> None:
    response = post(fake_stash, query)
    assert response.status_code == 422
    assert fragment in response.json()["errors"][0]["message"]


def test_not_json_body_is_400(fake_stash: FakeStash) -> None:
    response = requests.post(fake_stash.url + "/graphql", data=b"{nope", timeout=5)
    assert response.status_code == 400


def test_every_project_document_executes_on_the_fake(fake_stash: FakeStash) -> None:
    fake_stash.add_scene(title="x", files=["/m/x.mp4"])
    variables = {"id": "1", "since": "2000-01-01T00:00:00+00:00", "page": 1, "per_page": 10}
    variables["ids"] = ["plexsync"]
    for name, document in ALL_DOCUMENTS.items():
        response = post(fake_stash, document, variables)
        assert response.status_code == 200, (name, response.text)
        assert "errors" not in response.json(), name


def test_api_key_required_when_configured(make_fake_stash: Callable[..., FakeStash]) -> None:
    fake = make_fake_stash(api_key="sekret-key-1")
    denied = post(fake, "query { version { version } }")
    assert denied.status_code == 401 and denied.content == b""
    wrong = post(fake, "query { version { version } }", headers={"ApiKey": "other"})
    assert wrong.status_code == 401
    ok = post(fake, "query { version { version } }", headers={"ApiKey": "sekret-key-1"})
    assert ok.json() == {"data": {"version": {"version": "v0.30.1"}}}
    assert requests.get(fake.url + "/healthz", timeout=5).status_code == 200
    assert requests.get(fake.url + "/scene/1/screenshot", timeout=5).status_code == 401


def test_find_scenes_paging_sort_and_count(fake_stash: FakeStash) -> None:
    ids = [fake_stash.add_scene(title=f"s{i}") for i in range(5)]
    query = "query($f: FindFilterType) { findScenes(filter: $f) { count scenes { id } } }"
    page2 = gql(fake_stash, query, {"f": {"page": 2, "per_page": 2, "sort": "id"}})["findScenes"]
    assert page2 == {"count": 5, "scenes": [{"id": str(ids[2])}, {"id": str(ids[3])}]}
    desc = gql(fake_stash, query, {"f": {"per_page": -1, "sort": "title", "direction": "DESC"}})
    assert [s["id"] for s in desc["findScenes"]["scenes"]] == [str(i) for i in reversed(ids)]
    bad = post(fake_stash, query, {"f": {"sort": "nonsense"}})
    assert bad.status_code == 200 and "invalid sort" in bad.json()["errors"][0]["message"]


def test_updated_at_filter_compares_strings(fake_stash: FakeStash) -> None:
    a = fake_stash.add_scene(title="a", updated_at="2026-11-25T10:00:00+00:00")
    b = fake_stash.add_scene(title="b", updated_at="2026-11-25T10:00:05+00:00")
    c = fake_stash.add_scene(title="c", updated_at="2026-11-25T11:00:00+01:00")  # = 10:00 UTC
    variables = {"since": "2026-11-25T10:00:00+00:00", "page": 1, "per_page": 10}
    result = gql(fake_stash, FIND_SCENES_UPDATED, variables)["findScenes"]
    # string comparison, as Stash: c (same instant as a, other offset) counts as later
    assert [s["id"] for s in result["scenes"]] == [str(b), str(c)]
    assert result["count"] == 2
    assert a not in {int(s["id"]) for s in result["scenes"]}


def test_find_scenes_by_ids_ignores_paging_and_errors_on_missing(fake_stash: FakeStash) -> None:
    ids = [fake_stash.add_scene() for _ in range(3)]
    query = (
        "query($ids: [ID!]) { findScenes(ids: $ids, filter: {per_page: 1})"
        " { count scenes { id } } }"
    )
    found = gql(fake_stash, query, {"ids": [str(ids[2]), str(ids[0])]})["findScenes"]
    assert found == {"count": 2, "scenes": [{"id": str(ids[2])}, {"id": str(ids[0])}]}
    missing = post(fake_stash, query, {"ids": [str(ids[0]), "77"]}).json()
    assert missing["data"] is None and "77" in missing["errors"][0]["message"]


def test_edit_bumps_updated_at_and_screenshot_url_but_not_image(fake_stash: FakeStash) -> None:
    scene_id = fake_stash.add_scene(title="before")
    first = gql(fake_stash, FIND_SCENE, {"id": str(scene_id)})["findScene"]
    image_before = requests.get(first["paths"]["screenshot"], timeout=5).content
    stamp = fake_stash.edit_scene(scene_id, title="after")
    second = gql(fake_stash, FIND_SCENE, {"id": str(scene_id)})["findScene"]
    assert second["title"] == "after" and second["updated_at"] == stamp
    assert second["updated_at"] > first["updated_at"]
    assert second["paths"]["screenshot"] != first["paths"]["screenshot"]
    assert requests.get(second["paths"]["screenshot"], timeout=5).content == image_before
    fake_stash.edit_scene(scene_id, image=make_png((1, 2, 3)))
    assert fake_stash.image_of(scene_id) != image_before


def test_screenshot_is_a_real_image_and_preview_is_video(fake_stash: FakeStash) -> None:
    scene_id = fake_stash.add_scene()
    shot = requests.get(f"{fake_stash.url}/scene/{scene_id}/screenshot", timeout=5)
    assert shot.headers["Content-Type"] == "image/png"
    with Image.open(io.BytesIO(shot.content)) as image:
        image.load()
        assert image.size == (8, 8)
    preview = requests.get(f"{fake_stash.url}/scene/{scene_id}/preview", timeout=5)
    assert preview.headers["Content-Type"] == "video/mp4"
    assert requests.get(f"{fake_stash.url}/scene/999/screenshot", timeout=5).status_code == 404


def test_paths_use_the_reported_host(make_fake_stash: Callable[..., FakeStash]) -> None:
    fake = make_fake_stash(url_host="0.0.0.0")
    scene_id = fake.add_scene()
    scene = gql(fake, FIND_SCENE, {"id": str(scene_id)})["findScene"]
    assert scene["paths"]["screenshot"].startswith(f"http://0.0.0.0:{fake.port}/scene/")


def test_delete_scene(fake_stash: FakeStash) -> None:
    scene_id = fake_stash.add_scene()
    fake_stash.delete_scene(scene_id)
    assert gql(fake_stash, FIND_SCENE, {"id": str(scene_id)}) == {"findScene": None}


def test_plugin_settings_map(fake_stash: FakeStash) -> None:
    fake_stash.set_plugin_settings("plexsync", {"plex_url": "http://plex:32400", "retries": 3})
    fake_stash.set_plugin_settings("other", {"x": 1})
    query = "query($ids: [ID!]) { configuration { plugins(include: $ids) } }"
    data = gql(fake_stash, query, {"ids": ["plexsync"]})
    assert data == {
        "configuration": {"plugins": {"plexsync": {"plex_url": "http://plex:32400", "retries": 3}}}
    }


def test_utc_offset_timestamps(make_fake_stash: Callable[..., FakeStash]) -> None:
    fake = make_fake_stash(utc_offset_minutes=90)
    scene_id = fake.add_scene()
    assert fake.scene(scene_id).updated_at.endswith("+01:30")


def test_fail_next_then_recovers(fake_stash: FakeStash) -> None:
    fake_stash.fail_next(2, 503)
    statuses = [post(fake_stash, "query { version { version } }").status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert fake_stash.request_count(path="/graphql") == 3


def test_slow_next_delays_the_response(fake_stash: FakeStash) -> None:
    fake_stash.slow_next(1, 0.5)
    with pytest.raises(requests.ReadTimeout):
        requests.get(fake_stash.url + "/healthz", timeout=(1, 0.1))
    assert requests.get(fake_stash.url + "/healthz", timeout=(1, 1)).status_code == 200


def test_stop_refuses_connections_and_start_reuses_port(fake_stash: FakeStash) -> None:
    port = fake_stash.port
    fake_stash.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(fake_stash.url + "/healthz", timeout=2)
    fake_stash.start()
    assert fake_stash.port == port
    assert requests.get(fake_stash.url + "/healthz", timeout=2).status_code == 200


def test_request_log_records_operation_status_and_key_presence(
    fake_stash_with_key: FakeStash, fake_stash_api_key: str
) -> None:
    fake = fake_stash_with_key
    body = {"query": ALL_DOCUMENTS["Version"], "operationName": "Version"}
    requests.post(fake.url + "/graphql", json=body, timeout=5)
    requests.post(
        fake.url + "/graphql", json=body, headers={"ApiKey": fake_stash_api_key}, timeout=5
    )
    assert fake.request_count(operation="Version") == 2
    assert [(r.status, r.had_api_key) for r in fake.requests] == [(401, False), (200, True)]
    fake.clear_requests()
    assert fake.request_count() == 0


def test_stamps_strictly_increase_within_one_second(fake_stash: FakeStash) -> None:
    ids = [fake_stash.add_scene() for _ in range(3)]
    stamps = [fake_stash.edit_scene(i, title="x") for i in ids]
    assert stamps == sorted(set(stamps))


def test_server_survives_client_that_hangs_up(fake_stash: FakeStash) -> None:
    fake_stash.slow_next(1, 0.3)
    with socket.create_connection(("127.0.0.1", fake_stash.port), timeout=1) as sock:
        sock.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
    time.sleep(0.4)
    assert requests.get(fake_stash.url + "/healthz", timeout=2).status_code == 200
