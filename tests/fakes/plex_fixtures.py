"""pytest fixtures for the fake Plex server (tests/fakes/plex.py).

- `fake_plex`: a started FakePlex (token `FAKE_PLEX_TOKEN`), stopped after the test.
- `plex_tag_mode`: the fake's tag semantics, "replace" by default. Run a test under both:

      @pytest.mark.parametrize("plex_tag_mode", ["replace", "append"], indirect=True)
      def test_x(fake_plex): ...

  or use `both_tag_modes` below as a ready-made parametrised alias of `fake_plex`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.plex import FakePlex

FAKE_PLEX_TOKEN = "fake-plex-token-3f9a1c"


@pytest.fixture
def plex_tag_mode(request: pytest.FixtureRequest) -> str:
    return str(getattr(request, "param", "replace"))


@pytest.fixture
def fake_plex(plex_tag_mode: str) -> Iterator[FakePlex]:
    fake = FakePlex(token=FAKE_PLEX_TOKEN, tag_mode=plex_tag_mode).start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture(params=["replace", "append"])
def both_tag_modes(request: pytest.FixtureRequest) -> Iterator[FakePlex]:
    """A started FakePlex, once per tag mode (the test id shows which)."""
    fake = FakePlex(token=FAKE_PLEX_TOKEN, tag_mode=request.param).start()
    try:
        yield fake
    finally:
        fake.stop()
