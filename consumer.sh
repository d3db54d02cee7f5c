#!/usr/bin/env sh
# Start the plexsync worker. On a fresh machine this bootstraps ./.venv with plexsync
# installed, then runs `python -m plexsync worker "$@"` (SQLite queue, no other service).
# $PYTHON: the interpreter to try first and to build the venv with (default python3);
# $PLEXSYNC_VENV: the worker venv (default ./.venv).
set -eu
cd "$(dirname "$0")"
PY="${PYTHON:-python3}"
# Every runtime dependency of the worker, not just the top-level packages.
CHECK='import plexsync.cli, plexsync.worker, huey, plexapi.server'
if "$PY" -c "$CHECK" >/dev/null 2>&1; then
    exec "$PY" -m plexsync worker "$@"
fi
VENV="${PLEXSYNC_VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "$CHECK" >/dev/null 2>&1; then
    echo "plexsync: installing into $VENV (first run)" >&2
    if [ -x "$VENV/bin/python" ] && ! "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
        "$PY" -m venv --clear "$VENV"  # a venv without pip (python3-venv was missing)
    else
        "$PY" -m venv "$VENV"
    fi
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check .
fi
exec "$VENV/bin/python" -m plexsync worker "$@"
