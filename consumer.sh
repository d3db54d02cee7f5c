#!/usr/bin/env sh
# Start the plexsync worker. On a fresh machine this bootstraps ./.venv with plexsync
# installed, then runs `python -m plexsync worker "$@"` (SQLite queue, no other service).
set -eu
cd "$(dirname "$0")"
if python3 -c 'import plexsync, huey, plexapi' >/dev/null 2>&1; then
    exec python3 -m plexsync worker "$@"
fi
VENV="${PLEXSYNC_VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import plexsync, huey, plexapi' >/dev/null 2>&1; then
    echo "plexsync: installing into $VENV (first run)" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check .
fi
exec "$VENV/bin/python" -m plexsync worker "$@"
