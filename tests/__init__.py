"""Tests for plexsync; fixtures live in conftest.py and tests/fakes/."""
