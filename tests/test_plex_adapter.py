"""plexsync.plex.PlexClient against the fake Plex (both tag semantics): request budget,
timeouts, error classification, secrets."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import xml.etree.ElementTree as ET
from email.utils import formatdate
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from plexapi.exceptions import BadRequest, NotFound, Unauthorized

from plexsync.config import Config, Secret
from plexsync.errors import (
    AuthError,
    NotFoundError,
    PermanentError,
    PlexsyncError,
    TransientError,
)
from plexsync.model import PlexEdit
from plexsync.plex import PlexClient
from plexsync.plex_errors import AUTH_MESSAGE, classify, parse_retry_after
from tests.fakes.plex import FakePlex
from tests.fakes.plex_fixtures import FAKE_PLEX_TOKEN


@pytest.fixture(params=["replace", "append"])
def plex_tag_mode(request: pytest.FixtureRequest) -> str:
    """Overrides the default: every test using fake_plex runs under both tag semantics."""
    return str(request.param)


REPO = Path(__file__).resolve().parent.parent


def make_client(fake: FakePlex, **overrides: object) -> PlexClient:
    values: dict[str, object] = {
        "plex_url": fake.url,
        "plex_token": Secret(FAKE_PLEX_TOKEN),
        "connect_timeout": 2.0,
        "read_timeout": 0.4,
    }
    values.update(overrides)
    return PlexClient.from_config(Config(**values))  # type: ignore[arg-type]


@pytest.fixture
def movies(fake_plex: FakePlex) -> int:
    return fake_plex.add_section("Movies", locations=["/media/movies"])


@pytest.fixture
def client(fake_plex: FakePlex) -> PlexClient:
    c = make_client(fake_plex)
    yield c
    c.close()


def assert_no_token(error: BaseException) -> None:
    for text in (str(error), repr(error), *map(str, error.args)):
        assert FAKE_PLEX_TOKEN not in text


# ------------------------------------------------------------------ construction


def test_from_config_applies_timeouts_tls_and_requires_plex(fake_plex: FakePlex) -> None:
    c = make_client(fake_plex, connect_timeout=1.5, read_timeout=9.0, plex_verify_tls=False)
    assert c.timeout == (1.5, 9.0)
    assert c.session.verify is False
    assert FAKE_PLEX_TOKEN not in repr(c)
    assert make_client(fake_plex).session.verify is True
    with pytest.raises(PermanentError, match="PLEXSYNC_PLEX_URL"):
        PlexClient.from_config(Config())


def test_plexapi_is_imported_only_when_needed(fake_plex: FakePlex) -> None:
    code = (
        "import sys\n"
        "from plexsync.plex import PlexClient\n"
        "loaded = 'plexapi.server' in sys.modules\n"
        f"c = PlexClient({fake_plex.url!r}, {FAKE_PLEX_TOKEN!r})\n"
        "c.identity()\n"
        "print(loaded, 'plexapi.server' in sys.modules)\n"
        "c.plex_server()\n"
        "print('plexapi.server' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["False", "False", "True"]


def test_read_timeout_is_the_configured_one_everywhere(fake_plex: FakePlex) -> None:
    c = make_client(fake_plex, read_timeout=0.3)
    fake_plex.slow_next(1, 1.5)
    with pytest.raises(TransientError, match=r"timed out.*read timeout=0\.3") as info:
        c.identity()
    assert_no_token(info.value)
    # plexapi objects and bare session calls get the same timeout (the session enforces it)
    server = c.plex_server()
    fake_plex.slow_next(1, 1.5)
    with pytest.raises(requests.ReadTimeout, match=r"read timeout=0\.3"):
        server.query("/identity")
    fake_plex.slow_next(1, 1.5)
    with pytest.raises(requests.ReadTimeout, match=r"read timeout=0\.3"):
        c.session.get(fake_plex.url + "/identity", timeout=60)


# ------------------------------------------------------------------ reads


def test_identity_and_server_info_cost_one_get_each(
    fake_plex: FakePlex, client: PlexClient
) -> None:
    assert client.identity() == ET.fromstring(
        requests.get(f"{fake_plex.url}/identity", headers={"X-Plex-Token": FAKE_PLEX_TOKEN}).content
    ).get("machineIdentifier")
    fake_plex.clear_log()
    info = client.server_info()
    assert (info.name, info.machine_identifier) == ("Fake Plex", client.identity())
    assert info.version
    assert [r.path for r in fake_plex.log] == ["/", "/identity"]


def test_movie_sections_all_or_configured(fake_plex: FakePlex) -> None:
    a = fake_plex.add_section("Movies", locations=["/m1", "/m2"])
    fake_plex.add_section("Shows", type="show", locations=["/tv"])
    b = fake_plex.add_section("Clips", locations=["/clips"])
    everything = make_client(fake_plex).movie_sections()
    assert [(s.id, s.title, s.locations) for s in everything] == [
        (str(a), "Movies", ("/m1", "/m2")),
        (str(b), "Clips", ("/clips",)),
    ]
    chosen = make_client(fake_plex, plex_sections=("Clips",)).movie_sections()
    assert [s.title for s in chosen] == ["Clips"]
    with pytest.raises(PermanentError, match="'Nope'") as missing:
        make_client(fake_plex, plex_sections=("Clips", "Nope")).movie_sections()
    assert "Movies" in str(missing.value)
    with pytest.raises(PermanentError, match=r"'Shows'.*not a movie section"):
        make_client(fake_plex, plex_sections=("Shows",)).movie_sections()


def test_read_item_is_one_get_with_full_state(
    fake_plex: FakePlex, client: PlexClient, movies: int
) -> None:
    key = fake_plex.add_item(
        movies, title="Alpha", summary="Long", studio="Acme", year=2020,
        originally_available_at="2020-05-06", user_rating=6.0,
        genres=["g1", "g2", "g3", "g4"], actors=["Ann"], collections=["Site: Acme", "Mine"],
        locked={"title", "genre"}, medias=[["/m/a-1.mp4", "/m/a-2.mp4"], ["/m/a.mkv"]],
    )  # fmt: skip
    state = client.read_item(str(key), str(movies))
    assert [(r.method, r.path) for r in fake_plex.log] == [("GET", f"/library/metadata/{key}")]
    assert (state.rating_key, state.section_id, state.title) == (str(key), str(movies), "Alpha")
    assert (state.summary, state.studio, state.year) == ("Long", "Acme", 2020)
    assert state.originally_available_at == "2020-05-06"
    assert state.user_rating == 6.0
    assert state.genres == ("g1", "g2", "g3", "g4")  # not the listing's truncated list
    assert state.actors == ("Ann",)
    assert state.collections == ("Site: Acme", "Mine")
    assert state.locked == frozenset({"title", "genre"})
    assert state.files == ("/m/a-1.mp4", "/m/a-2.mp4", "/m/a.mkv")
    with pytest.raises(NotFoundError):
        client.read_item("424242", str(movies))


def test_iter_listing_pages_and_filters(
    fake_plex: FakePlex, client: PlexClient, movies: int
) -> None:
    fake_plex.bulk_add(movies, 2500, "/media/movies/{i:05d}.mp4")
    fake_plex.clear_log()
    listed = list(client.iter_listing(str(movies)))
    assert len(listed) == 2500 and len({i.rating_key for i in listed}) == 2500
    assert listed[1234].files == ("/media/movies/01234.mp4",)
    starts = [r.headers["X-Plex-Container-Start"] for r in fake_plex.reads()]
    assert starts == ["0", "1000", "2000"]
    newest = max(i.updated_at for i in listed)
    fake_plex.advance_clock(10)
    late = fake_plex.add_item(movies, title="Late", files=["/media/movies/late.mp4"])
    again = list(client.iter_listing(str(movies), updated_since=newest))
    assert [i.rating_key for i in again] == [str(late)]


@pytest.mark.parametrize("pager", ["client", "tee"])
@pytest.mark.parametrize("sort", ["stable", "plex default (title)"])
def test_titles_edited_mid_listing_skip_no_item(
    fake_plex: FakePlex, client: PlexClient, movies: int, monkeypatch: pytest.MonkeyPatch,
    pager: str, sort: str,
) -> None:  # fmt: skip
    """A sync renaming items while the index is paged must not move items across pages."""
    from plexsync import plex
    from plexsync.plex_listing import ListingTee

    if sort != "stable":  # the hazard the stable sort removes: the fake pages by title too
        monkeypatch.setattr(plex, "LISTING_SORT", "titleSort")
        monkeypatch.setattr("plexsync.plex_listing.LISTING_SORT", "titleSort")
    keys = [fake_plex.add_item(movies, title=f"T{i:02d}", files=[f"/m/{i}.mp4"]) for i in range(30)]
    source = client if pager == "client" else ListingTee(client, page_size=10)
    listing = iter(source.iter_listing(str(movies), page_size=10))
    first_page = [next(listing) for _ in range(10)]
    for key in keys[:10]:  # a sync edits the titles of items already listed
        fake_plex.edit_by_hand(key, title=f"Z{key}")
    seen = {item.rating_key for item in [*first_page, *listing]}
    missing = {str(k) for k in keys} - seen
    assert fake_plex.reads()[0].query.get("sort") == (
        "addedAt:asc,id:asc" if sort == "stable" else "titleSort"
    )
    if sort == "stable":
        assert missing == set()
    else:
        assert len(missing) == 10  # title order: the renamed items pushed ten others back


# ------------------------------------------------------------------ writes


def full_edit(key: int, section: int, removals: dict[str, list[str]]) -> PlexEdit:
    params: dict[str, str | int] = {
        "title.value": "New & 100% <Title>", "title.locked": 1,
        "summary.value": "", "summary.locked": 1,
        "studio.value": "Acme/Studios", "studio.locked": 1,
        "originallyAvailableAt.value": "2021-02-03", "originallyAvailableAt.locked": 1,
        "year.value": 2021, "year.locked": 1, "thumb.locked": 1,
        "genre[0].tag.tag": "Keep", "genre[1].tag.tag": "Ünïcode, with comma", "genre.locked": 1,
        "actor[0].tag.tag": "Ann", "actor.locked": 1,
        "collection[0].tag.tag": "Site: Acme", "collection.locked": 1,
    }  # fmt: skip
    for tag, names in removals.items():
        params[f"{tag}[].tag.tag-"] = ",".join(quote(n, safe="") for n in names)
    return PlexEdit(str(key), str(section), params=params)


def test_apply_is_one_put_and_exact_in_both_tag_modes(
    fake_plex: FakePlex, client: PlexClient, movies: int
) -> None:
    key = fake_plex.add_item(
        movies, title="Old", summary="gone", genres=["Keep", "a,b", "50% off", "x/y"],
        actors=["Ann", "Bob & Co"], collections=["Site: Old", "Mine"],
    )  # fmt: skip
    removals = {
        "genre": ["a,b", "50% off", "x/y"],
        "actor": ["Bob & Co"],
        "collection": ["Site: Old"],
    }
    client.apply(full_edit(key, movies, removals))
    writes = fake_plex.writes()
    assert [(w.method, w.path) for w in writes] == [("PUT", f"/library/sections/{movies}/all")]
    assert (writes[0].query["id"], writes[0].query["type"]) == (str(key), "1")
    state = fake_plex.item(key)
    assert (state.title, state.summary, state.studio) == ("New & 100% <Title>", "", "Acme/Studios")
    assert (state.originally_available_at, state.year) == ("2021-02-03", 2021)
    assert state.genres == ["Keep", "Ünïcode, with comma"]
    assert state.actors == ["Ann"]
    # replace: the sent list wins; append: added to what was there. Removals apply in both.
    replace = fake_plex.library.tag_mode == "replace"
    assert state.collections == (["Site: Acme"] if replace else ["Mine", "Site: Acme"])
    assert {"title", "summary", "studio", "thumb", "genre", "collection"} <= state.locked
    # year.locked / actor.locked are sent; Plex (and so the fake) never reports those locks.
    assert writes[0].query["year.locked"] == writes[0].query["actor.locked"] == "1"
    assert not {"year", "actor"} & state.locked


def test_apply_rating_and_poster_only_when_asked(
    fake_plex: FakePlex, client: PlexClient, movies: int
) -> None:
    key = fake_plex.add_item(movies, title="A", user_rating=3.0)
    client.apply(PlexEdit(str(key), str(movies), set_rating=True, rating=8.5))
    assert [(w.path, w.query["rating"]) for w in fake_plex.writes()] == [("/:/rate", "8.5")]
    assert fake_plex.item(key).user_rating == 8.5
    fake_plex.clear_log()
    client.apply(PlexEdit(str(key), str(movies), set_rating=True, rating=None))
    assert [w.query["rating"] for w in fake_plex.writes()] == ["-1"]
    assert fake_plex.item(key).user_rating is None
    fake_plex.clear_log()
    poster = b"\x89PNG fake poster"
    edit = PlexEdit(str(key), str(movies), params={"thumb.locked": 1}, upload_poster=True)
    client.apply(edit, poster)
    # The poster goes first, then the edit whose thumb.locked=1 locks it.
    assert [w.method for w in fake_plex.writes()] == ["POST", "PUT"]
    assert fake_plex.item(key).posters == [hashlib.sha256(poster).hexdigest()]
    fake_plex.clear_log()
    client.apply(PlexEdit(str(key), str(movies)))  # empty edit: nothing sent
    with pytest.raises(ValueError):
        client.apply(PlexEdit(str(key), str(movies), upload_poster=True), None)
    with pytest.raises(PermanentError):
        client.apply(PlexEdit(str(key), str(movies), set_rating=True, rating=11))
    assert fake_plex.log == []


# ------------------------------------------------------------------ classification


@pytest.mark.parametrize(
    ("status", "error_class"),
    [(400, PermanentError), (403, PermanentError), (409, PermanentError), (404, NotFoundError),
     (401, AuthError), (429, TransientError), (500, TransientError), (502, TransientError),
     (503, TransientError), (504, TransientError)],
)  # fmt: skip
def test_http_failures_are_classified(
    fake_plex: FakePlex, client: PlexClient, movies: int, status: int, error_class: type
) -> None:
    key = fake_plex.add_item(movies, title="A")
    for call in (
        lambda: client.read_item(str(key), str(movies)),
        lambda: client.apply(PlexEdit(str(key), str(movies), params={"title.value": "B"})),
    ):
        fake_plex.fail_next(1, status, retry_after=7)
        with pytest.raises(error_class) as info:
            call()
        assert type(info.value) is error_class
        assert info.value.status == status
        assert_no_token(info.value)
        if error_class is TransientError:
            assert info.value.retry_after == 7.0
        if status == 401:
            assert str(info.value) == AUTH_MESSAGE
    assert fake_plex.item(key).title == "A"


def test_network_failures_are_transient(fake_plex: FakePlex, client: PlexClient) -> None:
    fake_plex.reset_next(1)
    with pytest.raises(TransientError, match="connection failed") as reset:
        client.identity()
    fake_plex.garbage_next(1)
    with pytest.raises(TransientError, match="not XML") as garbage:
        client.identity()
    fake_plex.slow_next(1, 1.5)
    with pytest.raises(TransientError, match="timed out") as slow:
        client.identity()
    fake_plex.stop()
    with pytest.raises(TransientError, match="connection failed") as refused:
        client.identity()
    fake_plex.start()
    assert client.identity()
    for info in (reset, garbage, slow, refused):
        assert_no_token(info.value)
        assert info.value.retry_after is None


def test_wrong_token_is_auth_error(fake_plex: FakePlex, client: PlexClient) -> None:
    fake_plex.set_token("another-token-xyz")
    with pytest.raises(
        AuthError, match=r"^Plex refused the token \(401\): set PLEXSYNC_PLEX_TOKEN$"
    ):
        client.server_info()


def test_plexapi_errors_via_client_classify_keep_retry_after(
    fake_plex: FakePlex, client: PlexClient
) -> None:
    server = client.plex_server()
    fake_plex.fail_next(1, 503, retry_after=12)
    with pytest.raises(BadRequest) as info:
        server.query("/identity")
    error = client.classify(info.value, "GET /identity")
    assert isinstance(error, TransientError)
    assert (error.status, error.retry_after) == (503, 12.0)
    fake_plex.set_token("rotated-xyz")
    with pytest.raises(Unauthorized) as unauth:
        server.query("/identity")
    assert isinstance(client.classify(unauth.value), AuthError)
    fake_plex.set_token("bad")  # plex_server() of a fresh client: classified at construction
    with pytest.raises(AuthError):
        make_client(fake_plex).plex_server()


def test_classify_by_type_then_status_and_redacts() -> None:
    leaky = "(502) bad_gateway; http://127.0.0.1:32400/x?X-Plex-Token=sup3rsecret <html>"
    error = classify(BadRequest(leaky), "GET /x")
    assert isinstance(error, TransientError) and error.status == 502
    assert "sup3rsecret" not in str(error)
    assert type(classify(BadRequest("Rating must be between 0 to 10."))) is PermanentError
    assert isinstance(classify(NotFound("(404) not_found; http://h/")), NotFoundError)
    assert isinstance(classify(Unauthorized("(401) unauthorized")), AuthError)
    assert type(classify(BadRequest("(403) forbidden"))) is PermanentError
    assert isinstance(classify(ET.ParseError("syntax error")), TransientError)
    assert isinstance(classify(requests.exceptions.ConnectTimeout("x")), TransientError)
    assert isinstance(classify(ConnectionResetError(104, "reset")), TransientError)
    assert type(classify(requests.exceptions.InvalidURL("bad"))) is PermanentError
    already = TransientError("already", retry_after=3)
    assert classify(already) is already
    assert isinstance(classify(ZeroDivisionError("bug")), PlexsyncError)


def test_parse_retry_after() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert parse_retry_after(formatdate(1_000_030, usegmt=True), now=1_000_000) == 30.0
    assert parse_retry_after("-5") == 0.0
