"""plexsync.path_index: path mapping/normalisation (pure) and the SQLite index built from the
fake Plex over real HTTP."""

from __future__ import annotations

import sqlite3
import time
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plexsync.errors import TransientError
from plexsync.path_index import (
    index_age,
    indexed_items,
    lookup,
    lookup_paths,
    map_path,
    path_key,
    refresh_index,
    unclaimed_items,
)
from plexsync.plex import PlexClient
from tests.fakes.plex import FakePlex
from tests.fakes.plex_fixtures import FAKE_PLEX_TOKEN

# ------------------------------------------------------------------ pure


@pytest.mark.parametrize(
    ("stash", "expected"),
    [
        ("/data/videos/a.mp4", "/plex/videos/a.mp4"),
        ("/data/videos/special/b.mp4", "/mnt/special/b.mp4"),  # longest prefix wins
        ("/database/c.mp4", "/database/c.mp4"),  # whole components only
        ("/other/d.mp4", "/other/d.mp4"),  # no prefix: unchanged
        ("/win/sub/e.mp4", "D:\\Media\\sub\\e.mp4"),  # Windows Plex
        ("C:\\Stash\\f.mp4", "/srv/f.mp4"),  # Windows Stash, Linux Plex
        ("C:/Stash/g.mp4", "/srv/g.mp4"),
    ],
)
def test_map_path(stash: str, expected: str) -> None:
    path_map = [
        ("/data", "/plex"),
        ("/data/videos/special/", "/mnt/special"),
        ("/win", "D:\\Media\\"),
        ("C:\\Stash", "/srv"),
    ]
    assert map_path(stash, path_map) == expected


def test_path_key_normalises() -> None:
    nfd = unicodedata.normalize("NFD", "/m/Café Ñ.mp4")
    nfc = unicodedata.normalize("NFC", "/m/Café Ñ.mp4")
    assert nfd != nfc and path_key(nfd) == path_key(nfc) == nfc
    assert path_key("D:\\Media\\\\x.mp4") == "D:/Media/x.mp4"
    assert path_key("\\\\nas\\share\\x.mp4") == "//nas/share/x.mp4"
    assert path_key("/A/B.MP4") != path_key("/a/b.mp4")
    assert path_key("/A/B.MP4", case_insensitive=True) == path_key("/a/b.mp4", True)
    assert path_key("/Straße", True) == path_key("/STRASSE", True)


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30))
def test_path_key_is_idempotent(text: str) -> None:
    once = path_key("/x/" + text)
    assert path_key(once) == once
    folded = path_key("/x/" + text, True)
    assert path_key(folded, True) == folded


# ------------------------------------------------------------------ index over HTTP


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    db = sqlite3.connect(tmp_path / "state.db")
    yield db
    db.close()


@pytest.fixture
def client(fake_plex: FakePlex) -> Iterator[PlexClient]:
    c = PlexClient(fake_plex.url, FAKE_PLEX_TOKEN, read_timeout=5)
    yield c
    c.close()


def test_build_over_several_pages_and_lookup(
    fake_plex: FakePlex, client: PlexClient, conn: sqlite3.Connection
) -> None:
    sid = fake_plex.add_section("Movies", locations=["/plex"])
    keys = fake_plex.bulk_add(sid, 2300, "/plex/m/{i:05d}.mp4")
    fake_plex.clear_log()
    stats = refresh_index(conn, client, client.movie_sections())
    listing = [r for r in fake_plex.reads() if r.path.endswith("/all")]
    assert len(listing) == 3  # 1,000 per page, one pass
    assert [r.headers["X-Plex-Container-Size"] for r in listing] == ["1000"] * 3
    assert (stats.items_seen, stats.files_indexed, stats.sections_full) == (2300, 2300, 1)
    assert not any(r.path.startswith("/library/metadata") for r in fake_plex.log)
    found = lookup_paths(conn, ["/stash/m/01999.mp4"], [("/stash", "/plex")])
    assert [(m.section_id, m.rating_key, m.file) for m in found] == [
        (str(sid), str(keys[1999]), "/plex/m/01999.mp4")
    ]
    assert lookup_paths(conn, ["/stash/m/99999.mp4"], [("/stash", "/plex")]) == []


def test_nfd_plex_path_matches_nfc_stash_path_and_case_option(
    fake_plex: FakePlex, client: PlexClient, conn: sqlite3.Connection
) -> None:
    sid = fake_plex.add_section("Movies")
    nfd_file = unicodedata.normalize("NFD", "D:\\Vidéos\\Été.MP4")
    key = fake_plex.add_item(sid, title="E", files=[nfd_file])
    sections = client.movie_sections()
    refresh_index(conn, client, sections)
    path_map = [("/data", "D:\\Vidéos")]
    stash_nfc = unicodedata.normalize("NFC", "/data/Été.MP4")
    assert [m.rating_key for m in lookup_paths(conn, [stash_nfc], path_map)] == [str(key)]
    assert lookup_paths(conn, ["/data/été.mp4"], path_map) == []
    stats = refresh_index(conn, client, sections, case_insensitive=True)
    assert stats.sections_full == 1  # mode change forces a rebuild
    found = lookup_paths(conn, ["/data/été.mp4"], path_map, case_insensitive=True)
    assert [m.file for m in found] == [nfd_file]


def test_multi_part_and_multi_media_items(
    fake_plex: FakePlex, client: PlexClient, conn: sqlite3.Connection
) -> None:
    sid = fake_plex.add_section("Movies")
    key = fake_plex.add_item(
        sid, title="M", medias=[["/p/a-cd1.mp4", "/p/a-cd2.mp4"], ["/p/a.mkv"]]
    )
    other = fake_plex.add_item(sid, title="O", files=["/p/o.mp4"])
    stats = refresh_index(conn, client, client.movie_sections())
    assert (stats.items_seen, stats.files_indexed) == (2, 4)
    for file in ("/p/a-cd2.mp4", "/p/a.mkv"):
        assert [m.rating_key for m in lookup(conn, [path_key(file)])] == [str(key)]
    both = lookup(conn, [path_key("/p/a-cd1.mp4"), path_key("/p/a.mkv"), path_key("/p/o.mp4")])
    assert [m.rating_key for m in both] == [str(key), str(key), str(other)]
    assert sorted(indexed_items(conn)) == sorted([str(key), str(other)])
    assert [m.rating_key for m in unclaimed_items(conn, [str(key)])] == [str(other)]


def test_two_items_with_one_file_are_both_returned(
    fake_plex: FakePlex, client: PlexClient, conn: sqlite3.Connection
) -> None:
    a = fake_plex.add_section("A")
    b = fake_plex.add_section("B")
    ka = fake_plex.add_item(a, title="x", files=["/same.mp4"])
    kb = fake_plex.add_item(b, title="x", files=["/same.mp4"])
    refresh_index(conn, client, client.movie_sections())
    found = lookup(conn, [path_key("/same.mp4")])
    assert {(m.section_id, m.rating_key) for m in found} == {(str(a), str(ka)), (str(b), str(kb))}


def test_incremental_refresh_picks_up_new_and_changed_items(
    fake_plex: FakePlex, client: PlexClient, conn: sqlite3.Connection
) -> None:
    sid = fake_plex.add_section("Movies")
    fake_plex.bulk_add(sid, 1500, "/p/{i}.mp4")
    fake_plex.advance_clock(300)  # the bulk is older than the incremental safety margin
    moved = fake_plex.add_item(sid, title="Moved", files=["/p/old-name.mp4"])
    sections = client.movie_sections()
    refresh_index(conn, client, sections, now=1_000)
    fake_plex.advance_clock(300)
    new = fake_plex.add_item(sid, title="New", files=["/p/new.mp4"])
    fake_plex.edit_by_hand(moved, medias=[["/p/new-name.mp4"]])
    fake_plex.clear_log()
    stats = refresh_index(conn, client, sections, now=2_000)
    assert stats.sections_incremental == 1 and stats.sections_full == 0
    # only what changed within INCREMENTAL_MARGIN_SECONDS of the newest updatedAt came back
    assert stats.items_seen == 2
    assert "updatedAt>>" in fake_plex.reads()[-1].query
    assert [m.rating_key for m in lookup(conn, [path_key("/p/new.mp4")])] == [str(new)]
    assert [m.rating_key for m in lookup(conn, [path_key("/p/new-name.mp4")])] == [str(moved)]
    assert lookup(conn, [path_key("/p/old-name.mp4")]) == []
    assert len(indexed_items(conn)) == 1502
    assert index_age(conn, now=2_500) == 500


def test_full_rebuild_drops_deleted_items_and_sections(
    fake_plex: FakePlex, client: PlexClient, conn: sqlite3.Connection
) -> None:
    sid = fake_plex.add_section("Movies")
    gone = fake_plex.add_item(sid, title="Gone", files=["/p/gone.mp4"])
    kept = fake_plex.add_item(sid, title="Kept", files=["/p/kept.mp4"])
    other = fake_plex.add_section("Other")
    fake_plex.add_item(other, title="O", files=["/o/x.mp4"])
    refresh_index(conn, client, client.movie_sections(), now=1_000)
    fake_plex.remove_item(gone)
    incremental = refresh_index(conn, client, client.movie_sections(), now=1_100)
    assert incremental.sections_full == 0
    assert lookup(conn, [path_key("/p/gone.mp4")])  # incremental cannot see deletions
    stale = refresh_index(conn, client, client.movie_sections(), now=1_000 + 7 * 3600)
    assert stale.sections_full == 2  # older than max_age_hours: full rebuild
    assert stale.items_removed == 1
    assert lookup(conn, [path_key("/p/gone.mp4")]) == []
    assert [m.rating_key for m in lookup(conn, [path_key("/p/kept.mp4")])] == [str(kept)]
    only_movies = [s for s in client.movie_sections() if s.title == "Movies"]
    dropped = refresh_index(conn, client, only_movies, full=True)
    assert dropped.items_removed == 1
    assert lookup(conn, [path_key("/o/x.mp4")]) == []


def test_failed_refresh_keeps_the_previous_index(
    fake_plex: FakePlex, client: PlexClient, conn: sqlite3.Connection
) -> None:
    sid = fake_plex.add_section("Movies")
    fake_plex.bulk_add(sid, 1200, "/p/{i}.mp4")
    sections = client.movie_sections()
    refresh_index(conn, client, sections)
    fake_plex.fail_next(1, 503, after=1)  # page 1 answers, page 2 fails: roll back
    with pytest.raises(TransientError):
        refresh_index(conn, client, sections, full=True)
    assert [r.status for r in fake_plex.reads()[-2:]] == [200, 503]
    assert len(indexed_items(conn)) == 1200
    assert lookup(conn, [path_key("/p/5.mp4")])


def test_other_writers_are_not_blocked_while_plex_pages_slowly(
    fake_plex: FakePlex, tmp_path: Path
) -> None:
    """The listing is read before the write transaction opens: a heartbeat or a dead letter
    written meanwhile (busy timeout far shorter than the listing) goes through."""
    import threading

    section = fake_plex.add_section("Movies", locations=["/m"])
    fake_plex.bulk_add(section, 30, "/m/{i}.mp4")
    client = PlexClient(fake_plex.url, FAKE_PLEX_TOKEN, connect_timeout=2, read_timeout=5)
    db = tmp_path / "state.db"
    conn = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    conn.execute("pragma journal_mode=wal")
    conn.execute("create table other (x)")
    fake_plex.slow_next(3, 1.2)  # slow listing: the old code held the write lock > 2 s
    sections = client.movie_sections()
    worker = threading.Thread(
        target=lambda: refresh_index(conn, client, sections, full=True), daemon=True
    )
    worker.start()
    other = sqlite3.connect(db, timeout=1.0, isolation_level=None)
    writes = 0
    while worker.is_alive():
        other.execute("insert into other values (1)")  # raises "database is locked" if held
        writes += 1
        time.sleep(0.05)
    worker.join()
    assert writes > 0
    assert len(lookup(conn, [path_key("/m/7.mp4")])) == 1
