"""pytest fixtures for the fake Plex server (filled in with tests/fakes/plex.py)."""
