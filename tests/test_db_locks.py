"""Regression: a long-lived process's writes stay visible to other processes.

Closing any descriptor of a file drops every POSIX lock the process holds on it, SQLite's
included. When plexsync re-opened its DB files to "touch" them for each new thread, a CLI
process closing its connection then took the worker's WAL for abandoned and deleted it:
the worker went on writing into a deleted file and other processes never saw its dead
letters. This test runs the worker's side in a real subprocess.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

WORKER = textwrap.dedent(
    """
    import sys, threading
    from pathlib import Path
    from plexsync.db import Database

    db = Database(Path(sys.argv[1]))
    db.conn().execute("insert into meta (key, value) values ('first', '1')")
    # A second thread opens its own connection (this used to re-open the file).
    t = threading.Thread(target=lambda: db.conn().execute("select 1"))
    t.start(); t.join()
    print("ready", flush=True)
    sys.stdin.readline()  # the other process connects and disconnects meanwhile
    db.conn().execute("insert into meta (key, value) values ('second', '2')")
    print("written", flush=True)
    sys.stdin.readline()
    """
)


def _read(path: Path) -> dict[str, str]:
    conn = sqlite3.connect(path)
    try:
        return dict(conn.execute("select key, value from meta").fetchall())
    finally:
        conn.close()


def test_worker_writes_stay_visible_after_another_process_disconnects(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", WORKER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        assert proc.stdout.readline().strip() == "ready"
        assert _read(path) == {"first": "1"}  # connect + close: the "CLI" comes and goes
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "written"
        assert _read(path) == {"first": "1", "second": "2"}
        assert Path(f"{path}-wal").exists()
    finally:
        proc.stdin.write("bye\n")
        proc.stdin.flush()
        proc.wait(timeout=10)
