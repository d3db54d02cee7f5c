"""pytest fixtures for the fake Stash server (tests/fakes/stash.py).

- ``fake_stash``: a started FakeStash without API key, stopped after the test.
- ``fake_stash_api_key``: the API key used by ``fake_stash_with_key``.
- ``fake_stash_with_key``: a started FakeStash that answers 401 unless ``ApiKey`` matches.
- ``make_fake_stash``: factory for other options (``url_host="0.0.0.0"``, a UTC offset, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.fakes.stash import FakeStash

FAKE_STASH_API_KEY = "stash-test-api-key-7f3a9c"


@pytest.fixture
def make_fake_stash() -> Iterator[Callable[..., FakeStash]]:
    started: list[FakeStash] = []

    def make(**options: Any) -> FakeStash:
        fake = FakeStash(**options).start()
        started.append(fake)
        return fake

    yield make
    for fake in started:
        fake.stop()


@pytest.fixture
def fake_stash(make_fake_stash: Callable[..., FakeStash]) -> FakeStash:
    return make_fake_stash()


@pytest.fixture
def fake_stash_api_key() -> str:
    return FAKE_STASH_API_KEY


@pytest.fixture
def fake_stash_with_key(
    make_fake_stash: Callable[..., FakeStash], fake_stash_api_key: str
) -> FakeStash:
    return make_fake_stash(api_key=fake_stash_api_key)
