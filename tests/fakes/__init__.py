"""Fake Plex and fake Stash: real HTTP servers on 127.0.0.1 for tests and benchmarks."""
