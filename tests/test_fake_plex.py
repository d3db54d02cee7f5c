"""The fake Plex server against real, unmodified python-plexapi and requests."""

from __future__ import annotations

import socket
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from plexapi.exceptions import BadRequest, NotFound, Unauthorized
from plexapi.server import PlexServer

from tests.fakes.plex import FakePlex
from tests.fakes.plex_fixtures import FAKE_PLEX_TOKEN


def connect(fake: FakePlex, timeout: float | tuple[float, float] = 5) -> PlexServer:
    return PlexServer(fake.url, FAKE_PLEX_TOKEN, session=requests.Session(), timeout=timeout)


@pytest.fixture
def movies(fake_plex: FakePlex) -> int:
    return fake_plex.add_section("Movies", locations=["/media/movies"])


def test_server_info_and_sections(fake_plex: FakePlex, movies: int) -> None:
    fake_plex.add_section("Shows", type="show", locations=["/media/tv"])
    plex = connect(fake_plex)
    assert plex.friendlyName == "Fake Plex"
    assert plex.machineIdentifier and plex.version
    sections = {s.title: s for s in plex.library.sections()}
    assert sections["Movies"].type == "movie"
    assert sections["Movies"].locations == ["/media/movies"]
    assert sections["Shows"].type == "show"
    identity = ET.fromstring(
        requests.get(f"{fake_plex.url}/identity", headers={"X-Plex-Token": FAKE_PLEX_TOKEN}).text
    )
    assert identity.get("machineIdentifier") == plex.machineIdentifier


def test_paged_listing_returns_every_item(fake_plex: FakePlex, movies: int) -> None:
    keys = fake_plex.bulk_add(movies, 250, "/media/movies/m{i:04d}.mp4")
    items = connect(fake_plex).library.sectionByID(movies).all()
    assert sorted(int(i.ratingKey) for i in items) == sorted(keys)
    assert {i.locations[0] for i in items} == {f"/media/movies/m{i:04d}.mp4" for i in range(250)}
    listing = [r for r in fake_plex.reads() if r.path.endswith("/all")]
    assert len(listing) == 3  # plexapi's page size is 100
    assert [r.headers["X-Plex-Container-Start"] for r in listing] == ["0", "100", "200"]


def test_paging_by_query_params_and_container_attributes(fake_plex: FakePlex, movies: int) -> None:
    fake_plex.bulk_add(movies, 5, "/m/{i}.mp4")
    params = {"type": 1, "X-Plex-Container-Start": 3, "X-Plex-Container-Size": 10}
    answer = requests.get(
        f"{fake_plex.url}/library/sections/{movies}/all",
        params=params,
        headers={"X-Plex-Token": FAKE_PLEX_TOKEN},
    )
    root = ET.fromstring(answer.content)
    assert (root.get("size"), root.get("totalSize"), root.get("offset")) == ("2", "5", "3")
    assert [v.find("Media/Part").get("file") for v in root] == ["/m/3.mp4", "/m/4.mp4"]


def test_fetch_item_full_state(fake_plex: FakePlex, movies: int) -> None:
    key = fake_plex.add_item(
        movies, title="Alpha", summary="About", studio="Acme", year=2021,
        originally_available_at="2021-03-04", user_rating=8.0,
        genres=["g1", "g2", "g3"], actors=["Ann", "Bob"], collections=["Site: X"],
        locked={"title", "genre"}, medias=[["/m/a1.mp4", "/m/a2.mp4"], ["/m/a-4k.mkv"]],
    )  # fmt: skip
    movie = connect(fake_plex).fetchItem(key)
    assert (movie.title, movie.summary, movie.studio, movie.year) == (
        "Alpha",
        "About",
        "Acme",
        2021,
    )
    assert movie.originallyAvailableAt.strftime("%Y-%m-%d") == "2021-03-04"
    assert movie.userRating == 8.0
    assert [g.tag for g in movie.genres] == ["g1", "g2", "g3"]
    assert [r.tag for r in movie.roles] == ["Ann", "Bob"]
    assert [c.tag for c in movie.collections] == ["Site: X"]
    assert {f.name for f in movie.fields if f.locked} == {"title", "genre"}
    assert movie.locations == ["/m/a1.mp4", "/m/a2.mp4", "/m/a-4k.mkv"]
    assert len(movie.media) == 2
    with pytest.raises(NotFound):
        connect(fake_plex).fetchItem(99999)


@pytest.mark.parametrize("plex_tag_mode", ["replace", "append"], indirect=True)
def test_edit_fields_tags_and_removals(
    fake_plex: FakePlex, movies: int, plex_tag_mode: str
) -> None:
    key = fake_plex.add_item(movies, title="Old", genres=["Keep", "A,B", "Drop me"], actors=["X"])
    movie = connect(fake_plex).fetchItem(key)
    removal = ",".join(quote(n, safe="") for n in ["A,B", "Drop me"])
    movie.edit(**{
        "title.value": "New", "title.locked": 1, "summary.value": "S", "studio.value": "St",
        "originallyAvailableAt.value": "2020-01-02", "year.value": 2020, "thumb.locked": 1,
        "genre[0].tag.tag": "Keep", "genre[1].tag.tag": "Fresh", "genre[].tag.tag-": removal,
        "genre.locked": 1, "actor[0].tag.tag": "Y", "collection[0].tag.tag": "Site: Z",
    })  # fmt: skip
    state = fake_plex.item(key)
    assert (state.title, state.summary, state.studio) == ("New", "S", "St")
    assert (state.originally_available_at, state.year) == ("2020-01-02", 2020)
    assert {"title", "thumb", "genre"} <= state.locked
    assert state.genres == ["Keep", "Fresh"]  # removals apply in both modes
    assert state.actors == (["X", "Y"] if plex_tag_mode == "append" else ["Y"])
    assert state.collections == ["Site: Z"]
    assert len(fake_plex.writes()) == 1


@pytest.mark.parametrize("plex_tag_mode", ["replace", "append"], indirect=True)
def test_tags_are_library_wide_and_matched_case_insensitively(
    fake_plex: FakePlex, movies: int, plex_tag_mode: str
) -> None:
    fake_plex.add_item(movies, title="First", genres=["Blonde"], actors=["ann"])
    key = fake_plex.add_item(movies, title="B", genres=["Outdoor", "Stra\u00dfe"], actors=["Bo"])
    assert fake_plex.item(key).genres == ["Outdoor", "Stra\u00dfe"]
    removal = ",".join(quote(n, safe="") for n in ["OUTDOOR", "bo"])
    connect(fake_plex).fetchItem(key).edit(**{
        "genre[0].tag.tag": "BLONDE", "genre[1].tag.tag": "Strasse", "genre[2].tag.tag": "blonde",
        "genre[].tag.tag-": removal, "actor[0].tag.tag": "ANN", "actor[].tag.tag-": "bo",
    })  # fmt: skip
    state = fake_plex.item(key)
    # The library's spelling wins; one tag per key; removals match by key (not casefold).
    expected = (
        ["Blonde", "Strasse"] if plex_tag_mode == "replace" else ["Straße", "Blonde", "Strasse"]
    )
    assert state.genres == expected
    assert state.actors == ["ann"]
    xml = connect(fake_plex).fetchItem(key)
    assert [g.tag for g in xml.genres] == expected


def test_year_and_actor_locks_are_never_reported(fake_plex: FakePlex, movies: int) -> None:
    key = fake_plex.add_item(movies, title="A", locked={"title", "year", "actor"})
    movie = connect(fake_plex).fetchItem(key)
    movie.edit(**{"year.value": 2020, "year.locked": 1, "actor.locked": 1, "genre.locked": 1})
    fake_plex.edit_by_hand(key, lock=True, year=2021, actors=["X"])
    state = fake_plex.item(key)
    assert state.locked == {"title", "genre"} and state.year == 2021
    fields = {f.name for f in connect(fake_plex).fetchItem(key).fields if f.locked}
    assert fields == {"title", "genre"}


def test_listing_is_in_title_order_unless_sorted(fake_plex: FakePlex, movies: int) -> None:
    b = fake_plex.add_item(movies, title="banana")
    fake_plex.advance_clock(5)
    a = fake_plex.add_item(movies, title="Apple")
    c = fake_plex.add_item(movies, title="cherry")

    def listed(**params: object) -> list[int]:
        answer = requests.get(
            f"{fake_plex.url}/library/sections/{movies}/all",
            params={"type": 1, **params},
            headers={"X-Plex-Token": FAKE_PLEX_TOKEN},
        )
        if answer.status_code != 200:
            return [answer.status_code]
        return [int(v.get("ratingKey")) for v in ET.fromstring(answer.content)]

    assert listed() == [a, b, c]
    assert [i.ratingKey for i in connect(fake_plex).library.sectionByID(movies).all()] == [a, b, c]
    assert listed(sort="addedAt") == listed(sort="addedAt:asc,id:asc") == [b, a, c]
    assert listed(sort="movie.addedAt:desc,id:desc") == [c, a, b]
    assert listed(sort="id:desc") == [c, a, b]
    assert listed(sort="nonsense") == listed(sort="addedAt:sideways") == [400]


def test_edit_without_id_is_refused(fake_plex: FakePlex, movies: int) -> None:
    key = fake_plex.add_item(movies, title="Untouched")
    plex = connect(fake_plex)
    with pytest.raises(BadRequest, match=r"^\(400\)"):
        plex.query(f"/library/sections/{movies}/all?type=1&title.value=X", method=plex._session.put)
    assert fake_plex.item(key).title == "Untouched"
    assert fake_plex.writes()[-1].status == 400


def test_edit_by_hand_keeps_locks_unless_asked(fake_plex: FakePlex, movies: int) -> None:
    key = fake_plex.add_item(movies, title="A")
    before = fake_plex.item(key).updated_at
    fake_plex.advance_clock(5)
    fake_plex.edit_by_hand(key, title="B", genres=["x"])
    assert fake_plex.item(key).locked == set()
    fake_plex.edit_by_hand(key, lock=True, studio="S")
    state = fake_plex.item(key)
    assert (state.title, state.genres, state.studio, state.locked) == ("B", ["x"], "S", {"studio"})
    assert state.updated_at >= before + 5
    assert fake_plex.writes() == []  # by hand: nothing over HTTP


def test_rate_and_unrate(fake_plex: FakePlex, movies: int) -> None:
    key = fake_plex.add_item(movies, title="A")
    movie = connect(fake_plex).fetchItem(key)
    movie.rate(7.5)
    assert fake_plex.item(key).user_rating == 7.5
    movie.rate()  # rating=-1
    assert fake_plex.item(key).user_rating is None
    assert [w.query["rating"] for w in fake_plex.writes()] == ["7.5", "-1"]


def test_upload_poster_by_file(fake_plex: FakePlex, movies: int, tmp_path: Path) -> None:
    import hashlib

    key = fake_plex.add_item(movies, title="A")
    image = tmp_path / "poster.jpg"
    image.write_bytes(b"\xff\xd8 fake jpeg bytes")
    plex = connect(fake_plex)
    plex.fetchItem(key).uploadPoster(filepath=str(image))
    assert fake_plex.item(key).posters == [hashlib.sha256(image.read_bytes()).hexdigest()]
    listed = plex.query(f"/library/metadata/{key}/posters")
    assert len(listed) == 1 and listed[0].get("selected") == "1"
    with pytest.raises(BadRequest, match=r"^\(400\)"):
        plex.fetchItem(key).uploadPoster(url="http://127.0.0.1:1/x.jpg")


def test_wrong_token_is_401_with_empty_body(fake_plex: FakePlex) -> None:
    answer = requests.get(fake_plex.url + "/", headers={"X-Plex-Token": "nope"})
    assert (answer.status_code, answer.content) == (401, b"")
    with pytest.raises(Unauthorized):
        PlexServer(fake_plex.url, "wrong-token")
    fake_plex.set_token("rotated-token-1")
    with pytest.raises(Unauthorized):
        connect(fake_plex)
    assert PlexServer(fake_plex.url, "rotated-token-1").friendlyName == "Fake Plex"
    ok = requests.get(fake_plex.url + "/identity", params={"X-Plex-Token": "rotated-token-1"})
    assert ok.status_code == 200


@pytest.mark.parametrize("status", [429, 503, 500, 401])
def test_fail_next_with_retry_after(fake_plex: FakePlex, status: int) -> None:
    fake_plex.fail_next(2, status, retry_after=7)
    headers = {"X-Plex-Token": FAKE_PLEX_TOKEN}
    answers = [requests.get(fake_plex.url + "/identity", headers=headers) for _ in range(3)]
    assert [a.status_code for a in answers] == [status, status, 200]
    assert answers[0].headers["Retry-After"] == "7"
    assert "Retry-After" not in answers[2].headers
    expected = Unauthorized if status == 401 else BadRequest
    fake_plex.fail_next(1, status)
    with pytest.raises(expected, match=rf"^\({status}\)"):
        connect(fake_plex)


def test_reset_next_is_a_connection_reset(fake_plex: FakePlex) -> None:
    plex = connect(fake_plex)
    fake_plex.reset_next(1)
    with pytest.raises(requests.ConnectionError):
        plex.query("/identity")
    assert plex.query("/identity").get("machineIdentifier")
    assert fake_plex.log[-2].status == 0


def test_slow_next_triggers_read_timeout(fake_plex: FakePlex) -> None:
    plex = connect(fake_plex, timeout=(2, 0.3))
    fake_plex.slow_next(1, 1.5)
    with pytest.raises(requests.ReadTimeout, match=r"read timeout=0\.3"):
        plex.query("/identity")
    fake_plex.slow_next(1, 0.05)  # shorter than the timeout: answered
    assert plex.query("/identity").get("machineIdentifier")


def test_garbage_next_is_a_parse_error(fake_plex: FakePlex) -> None:
    plex = connect(fake_plex)
    fake_plex.garbage_next(1)
    with pytest.raises(ET.ParseError):
        plex.query("/identity")


def test_stop_refuses_and_start_reuses_the_port(fake_plex: FakePlex) -> None:
    plex = connect(fake_plex)  # a pooled keep-alive connection exists now
    port = fake_plex.port
    fake_plex.stop()
    with pytest.raises(requests.ConnectionError):
        plex.query("/identity")
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), 1):
        pass
    fake_plex.start()
    assert fake_plex.port == port
    assert plex.query("/identity").get("machineIdentifier")


def test_request_log_records_and_clears(fake_plex: FakePlex, movies: int) -> None:
    key = fake_plex.add_item(movies, title="A")
    plex = connect(fake_plex)
    plex.fetchItem(key).rate(5)
    assert [(r.method, r.path) for r in fake_plex.writes()] == [("PUT", "/:/rate")]
    assert any(r.path == f"/library/metadata/{key}" for r in fake_plex.reads())
    record = fake_plex.writes()[0]
    assert record.query["key"] == str(key) and record.status == 200
    assert record.wall > 0 and record.monotonic > 0
    assert "X-Plex-Token" not in record.query and "X-Plex-Token" not in record.headers
    fake_plex.clear_log()
    assert fake_plex.log == []
