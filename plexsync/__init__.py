"""plexsync: keep a Plex library in step with Stash."""

__version__ = "0.1.0"
