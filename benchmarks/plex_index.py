"""Benchmark: building the path index vs plexapi's section.all() on a large section.

    python benchmarks/plex_index.py [--items 50000] [--repeat 1]

Starts the fake Plex with one movie section of N items, then measures in separate
subprocesses (each reports its own peak RSS, VmHWM):
  index     plexsync.path_index.refresh_index(full=True): raw paged GETs (1,000/page),
            iterparse, rows into a fresh SQLite file;
  baseline  plexapi: PlexServer(...).library.sectionByID(id).all().
Goal: index >= 4x faster than baseline and < 100 MB peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _measure import peak_rss_mb

REPO = Path(__file__).resolve().parent.parent
TOKEN = "benchmark-token-7c1e"
PATTERN = "/media/stash/Some Studio Name/Scene Title Number {i:05d} - 1080p [WEB].mp4"


def child_index(url: str, section_id: str, db: str) -> dict[str, object]:
    import sqlite3

    from plexsync.path_index import refresh_index
    from plexsync.plex import PlexClient

    client = PlexClient(url, TOKEN, read_timeout=120)
    started = time.perf_counter()
    sections = [s for s in client.movie_sections() if s.id == section_id]
    conn = sqlite3.connect(db)
    stats = refresh_index(conn, client, sections, full=True)
    conn.close()
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "items": stats.items_seen, "peak_rss_mb": peak_rss_mb()}


def child_baseline(url: str, section_id: str, db: str) -> dict[str, object]:
    from plexapi.server import PlexServer

    started = time.perf_counter()
    server = PlexServer(url, TOKEN, timeout=120)
    items = server.library.sectionByID(int(section_id)).all()
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "items": len(items), "peak_rss_mb": peak_rss_mb()}


def run_child(mode: str, url: str, section_id: str, db: str) -> dict[str, object]:
    cmd = [sys.executable, __file__, "--child", mode, url, section_id, db]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env, cwd=REPO)
    assert proc.stdout is not None
    out = proc.stdout.read()
    if proc.wait() != 0:
        raise SystemExit(f"{mode} child failed with exit code {proc.returncode}")
    result: dict[str, object] = json.loads(out)
    result["process_seconds"] = time.perf_counter() - started
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--child", nargs=4, metavar=("MODE", "URL", "SECTION", "DB"))
    args = parser.parse_args()
    if args.child:
        mode, url, section_id, db = args.child
        fn = child_index if mode == "index" else child_baseline
        print(json.dumps(fn(url, section_id, db)))
        return

    sys.path.insert(0, str(REPO))
    from tests.fakes.plex import FakePlex

    fake = FakePlex(token=TOKEN).start()
    try:
        section_id = str(fake.add_section("Movies", locations=["/media/stash"]))
        t = time.perf_counter()
        fake.bulk_add(int(section_id), args.items, PATTERN)
        print(f"fake Plex: {args.items} items staged in {time.perf_counter() - t:.2f} s")
        results: dict[str, list[dict[str, object]]] = {"index": [], "baseline": []}
        with tempfile.TemporaryDirectory() as tmp:
            for n in range(args.repeat):
                for mode in ("index", "baseline"):
                    db = str(Path(tmp) / f"state-{mode}-{n}.db")
                    results[mode].append(run_child(mode, fake.url, section_id, db))
    finally:
        fake.stop()

    best = {m: min(r, key=lambda x: float(x["seconds"])) for m, r in results.items()}  # type: ignore[arg-type]
    for mode in ("index", "baseline"):
        r = best[mode]
        print(
            f"{mode:9s} items={r['items']:>6}  work={float(r['seconds']):6.2f} s  "
            f"process={float(r['process_seconds']):6.2f} s  "
            f"peak RSS={float(r['peak_rss_mb']):6.1f} MB"
        )
    speedup = float(best["baseline"]["seconds"]) / float(best["index"]["seconds"])
    memory = float(best["baseline"]["peak_rss_mb"]) / float(best["index"]["peak_rss_mb"])
    print(f"index is {speedup:.1f}x faster and uses {memory:.1f}x less memory than section.all()")
    ok = speedup >= 4 and float(best["index"]["peak_rss_mb"]) < 100
    print("goal (>= 4x faster, < 100 MB):", "met" if ok else "NOT met")


if __name__ == "__main__":
    main()
