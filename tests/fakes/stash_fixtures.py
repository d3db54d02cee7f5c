"""pytest fixtures for the fake Stash server (filled in with tests/fakes/stash.py)."""
