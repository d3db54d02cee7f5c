"""Drain N queued scene events through the real worker against fake Plex and fake Stash.

    python benchmarks/throughput.py [--events 2000] [--threads 1 4]

For each thread count: stage N scenes (Stash) and N items (Plex), record N events in the
queue, start `plexsync worker --workers T` as a subprocess, and time until every pending
record is cleared. Prints events/s and Plex requests per event (reads, writes), and the
ratio of each run to the 1-thread run. The fakes run in this process (threads), so the
figures include their cost too: they are a floor for a real Plex, not a ceiling.
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from plexsync import enqueue  # noqa: E402
from tests.fakes.plex import FakePlex  # noqa: E402
from tests.fakes.stash import FakeStash  # noqa: E402


def stage(n: int) -> tuple[FakePlex, FakeStash, list[int]]:
    plex = FakePlex(token="bench-token").start()
    stash = FakeStash().start()
    section = plex.add_section("Movies", locations=["/media"])
    ids = []
    for i in range(n):
        ids.append(
            stash.add_scene(
                title=f"Scene {i}",
                details="x" * 200,
                tags=["A", "B", f"T{i % 50}"],
                performers=[f"P{i % 300}"],
                studio="Studio",
                rating100=60,
                files=[f"/media/s{i:06d}.mp4"],
            )
        )
        plex.add_item(section, title=f"file {i}", files=[f"/media/s{i:06d}.mp4"])
    return plex, stash, ids


def pending(home: Path) -> int:
    with sqlite3.connect(home / "queue.db") as conn:
        return int(conn.execute("select count(*) from pending").fetchone()[0])


def drain(home: Path, proc: subprocess.Popen[bytes]) -> float:
    """Seconds until no scene has pending work."""
    start = time.perf_counter()
    deadline = time.monotonic() + 600
    while pending(home) > 0:
        if time.monotonic() > deadline:
            log = (home / "worker.log").read_text()[-3000:]
            raise SystemExit(f"not drained after 600 s; worker log:\n{log}")
        if proc.poll() is not None:
            raise SystemExit(f"worker exited early with {proc.returncode}")
        time.sleep(0.05)
    return time.perf_counter() - start


def record(home: Path, ids: list[int]) -> None:
    conn = enqueue.connect(str(home / "queue.db"))
    for scene_id in ids:
        enqueue.record_event(conn, scene_id, "Scene.Update.Post")
    conn.close()


def run(n: int, threads: int) -> dict[str, float]:
    """Pass 1: every scene differs from Plex. Pass 2: the same events again, nothing differs."""
    plex, stash, ids = stage(n)
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        record(home, ids)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PLEXSYNC_")}
        env.update(
            PLEXSYNC_HOME=str(home),
            PLEXSYNC_PLEX_URL=plex.url,
            PLEXSYNC_PLEX_TOKEN=plex.token,
            PLEXSYNC_STASH_URL=stash.url,
            PLEXSYNC_RECONCILE_MINUTES="0",
        )
        plex.clear_log()
        with (home / "worker.log").open("ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "plexsync", "worker", "--workers", str(threads)],
                env=env,
                cwd=REPO,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
            try:
                out["wall"] = drain(home, proc)  # includes worker start-up
                out["reads"], out["writes"] = len(plex.reads()) / n, len(plex.writes()) / n
                plex.clear_log()
                record(home, ids)
                out["wall2"] = drain(home, proc)
                out["reads2"], out["writes2"] = len(plex.reads()) / n, len(plex.writes()) / n
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=30)
    plex.stop()
    stash.stop()
    out["eps"], out["eps2"] = n / out["wall"], n / out["wall2"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 4])
    args = parser.parse_args()
    results = {t: run(args.events, t) for t in args.threads}
    base = results[args.threads[0]]
    print(f"{args.events} events per pass; pass 1 changes every scene, pass 2 changes none")
    head = ("threads", "pass", "wall s", "events/s", "reads/ev", "writes/ev", "vs 1st")
    print("{:>7} {:>9} {:>8} {:>9} {:>9} {:>9} {:>6}".format(*head))
    for t, r in results.items():
        for label, sfx in (("changed", ""), ("unchanged", "2")):
            print(
                f"{t:>7} {label:>9} {r['wall' + sfx]:>8.2f} {r['eps' + sfx]:>9.1f} "
                f"{r['reads' + sfx]:>9.2f} {r['writes' + sfx]:>9.2f} "
                f"{r['eps' + sfx] / base['eps' + sfx]:>6.2f}"
            )


if __name__ == "__main__":
    main()
