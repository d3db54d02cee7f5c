"""Reconciliation at scale: 10,000 unchanged scenes, incremental and full.

The fake Stash and fake Plex run in their own process (spawned), so the figures below are
the reconcile process's alone. Set-up, kept honest:
- 10,000 scenes in fake Stash (stamps spread over ~17 days), each with its own file;
- the parent reads every scene through the real StashClient, maps it with the real
  ``desired_state``, and the fake Plex gets one item per scene whose data (title, summary,
  studio, date, year, rating, genres, actors, collections, locks) IS that desired state;
- ``applied`` rows are seeded with ``StateStore.set_applied`` and the real fingerprints, and
  the watermark with the newest stamp (as after an earlier pass);
- 50 random items are checked with a real GET + ``compute_edit``: the edit must be empty.
Each pass then runs in a fresh spawned process: wall time of ``run_reconcile``, peak RSS of
that process, Stash and Plex requests as the fakes logged them.

    python benchmarks/reconcile.py [--scenes 10000]

Goal: full reconcile of 10,000 unchanged scenes < 20 s, < 100 Plex requests, 0 writes.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from _measure import peak_rss_mb

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TOKEN = "bench-plex-token"
MOVIES = "/media/movies"
LOCKED = ["title", "summary", "studio", "originallyAvailableAt", "year", "genre", "actor",
          "collection"]  # fmt: skip


def serve_fakes(conn: Connection, scenes: int) -> None:
    """Child process: the fakes, driven by (command, payload) messages over ``conn``."""
    from tests.fakes.plex import FakePlex
    from tests.fakes.stash import FakeStash

    stash = FakeStash().start()
    plex = FakePlex(token=TOKEN).start()
    section = plex.add_section("Movies", locations=[MOVIES])
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(days=20)
    rng = random.Random(7)
    tags = [f"Tag {n}" for n in range(300)]
    for i in range(scenes):
        stash.add_scene(
            updated_at=(base + timedelta(seconds=150 * i)).isoformat(),
            title=f"Scene {i}",
            details=f"Details of scene {i}. " * 8,
            date=f"20{10 + i % 14}-{1 + i % 12:02d}-{1 + i % 28:02d}",
            rating100=i % 101 if i % 7 else None,
            studio=f"Site {i % 40}",
            parent_studio=f"Network {i % 5}" if i % 3 else None,
            tags=rng.sample(tags, 6),
            performers=[f"Performer {i % 900}", f"Performer {(i * 7) % 900}"],
            files=[f"{MOVIES}/{i // 1000:02d}/scene{i:05d}.mp4"],
        )
    conn.send((stash.url, plex.url))
    while True:
        command, payload = conn.recv()
        if command == "items":
            conn.send([plex.add_item(section, **fields) for fields in payload])
        elif command == "clear":
            stash.clear_requests()
            plex.clear_log()
            conn.send(None)
        elif command == "counts":
            conn.send({
                "stash_requests": len(stash.requests),
                "plex_reads": len(plex.reads()),
                "plex_writes": len(plex.writes()),
                "plex_metadata_gets": sum(
                    1 for r in plex.reads() if r.path.startswith("/library/metadata/")
                ),
            })  # fmt: skip
        elif command == "stop":
            stash.stop()
            plex.stop()
            conn.send(None)
            return


def _services(home: str, stash_url: str, plex_url: str) -> Any:
    from plexsync.config import load_config
    from plexsync.services import Services

    config = load_config(
        {"home": home, "stash_url": stash_url, "plex_url": plex_url, "plex_token": TOKEN},
        environ={},
    )
    return Services(config)


def seed(conn: Connection, home: str, stash_url: str, plex_url: str) -> int:
    """Plex items equal to each scene's desired state, applied rows, watermark. Returns N."""
    from plexsync import matching
    from plexsync.diff import compute_edit
    from plexsync.mapping import desired_state
    from plexsync.reconcile import WATERMARK_KEY, newest_stamp
    from plexsync.scene_schema import load_scene

    services = _services(home, stash_url, plex_url)
    scenes = [load_scene(raw) for raw in services.stash.iter_all_scenes(per_page=1000)]
    desired = {s.id: desired_state(s, services.config.ignore_tags) for s in scenes}
    items = []
    for s in scenes:
        d = desired[s.id]
        items.append({
            "title": d.title or "", "files": list(s.files), "summary": d.summary,
            "studio": d.studio, "originally_available_at": d.originally_available_at,
            "year": d.year, "user_rating": d.user_rating, "genres": list(d.genres),
            "actors": list(d.actors), "collections": list(d.collections), "locked": LOCKED,
        })  # fmt: skip
    conn.send(("items", items))
    conn.recv()
    matching.refresh_index(services, full=True)
    state = services.state
    db = services.db.conn()
    db.execute("begin")
    for s in scenes:
        match = matching.match_scene(services, s)
        state.set_applied(s.id, match.rating_key, match.section_id, desired[s.id].fingerprint())
    db.execute("commit")
    state.set_meta(WATERMARK_KEY, newest_stamp(s.updated_at for s in scenes) or "")
    for s in random.Random(3).sample(scenes, 50):  # honesty check: Plex really is in step
        applied = state.get_applied(s.id)
        current = services.plex.read_item(applied.rating_key, applied.section_id)
        edit = compute_edit(desired[s.id], current, None, None)
        assert edit.empty, f"scene {s.id}: seeded Plex item differs: {edit.changes}"
    return len(scenes)


def measure(home: str, stash_url: str, plex_url: str, full: bool, out: Any) -> None:
    """Child process: one reconcile pass; sends its figures to ``out``."""
    services = _services(home, stash_url, plex_url)
    from plexsync.reconcile import run_reconcile

    rss_before = peak_rss_mb()
    started = time.perf_counter()
    report = run_reconcile(services, full=full)
    wall = time.perf_counter() - started
    out.put({"wall": wall, "rss_mb": peak_rss_mb(), "rss_before_mb": rss_before,
             "report": report})  # fmt: skip


def run_pass(ctx: Any, conn: Connection, args: tuple[str, str, str], full: bool) -> dict[str, Any]:
    conn.send(("clear", None))
    conn.recv()
    queue = ctx.Queue()
    proc = ctx.Process(target=measure, args=(*args, full, queue))
    proc.start()
    result: dict[str, Any] = queue.get(timeout=600)
    proc.join()
    conn.send(("counts", None))
    result.update(conn.recv())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=10_000)
    opts = parser.parse_args()
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    fakes = ctx.Process(target=serve_fakes, args=(child, opts.scenes), daemon=True)
    fakes.start()
    stash_url, plex_url = parent.recv()
    try:
        with tempfile.TemporaryDirectory() as home:
            started = time.perf_counter()
            n = seed(parent, home, stash_url, plex_url)
            print(f"seeded {n} scenes / Plex items in {time.perf_counter() - started:.1f}s")
            args = (home, stash_url, plex_url)
            ok = True
            for label, full in (("incremental", False), ("full", True)):
                r = run_pass(ctx, parent, args, full)
                rep = r["report"]
                print(
                    f"{label:12s} wall {r['wall']:6.2f}s  peak RSS {r['rss_mb']:6.1f} MB "
                    f"(start {r['rss_before_mb']:.1f})  Stash requests {r['stash_requests']:3d}  "
                    f"Plex requests {r['plex_reads'] + r['plex_writes']:3d} "
                    f"(writes {r['plex_writes']}, item GETs {r['plex_metadata_gets']})  "
                    f"checked {rep['checked']}  enqueued {rep['enqueued']}  "
                    f"errors {rep['errors']}  unmatched {rep['unmatched']}  "
                    f"orphans {rep['orphans']}"
                )
                ok &= rep["enqueued"] == 0 and r["plex_writes"] == 0 and rep["errors"] == 0
                if full:
                    ok &= r["wall"] < 20 and r["plex_reads"] + r["plex_writes"] < 100
                    ok &= rep["checked"] == n
            print("goal met" if ok else "GOAL MISSED")
    finally:
        parent.send(("stop", None))
        parent.recv()
        fakes.join(timeout=10)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
