"""Retry delays: exponential backoff with jitter, Retry-After honoured."""

from __future__ import annotations

import random


def backoff_delay(
    attempt: int,
    base: float,
    cap: float,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Delay before retry number ``attempt`` (1-based).

    The ceiling grows as base * 2**(attempt-1), capped at ``cap``; the delay is drawn
    uniformly between ``base`` and that ceiling (jitter spreads a burst of failed tasks
    so they do not return to Plex in lockstep). A server's Retry-After is a floor.
    """
    uniform = rng.uniform if rng is not None else random.uniform
    ceiling = min(cap, base * (2 ** max(attempt - 1, 0)))
    delay = uniform(base, ceiling) if ceiling > base else min(base, cap)
    if retry_after is not None and retry_after > delay:
        delay = retry_after
    return delay


def unmatched_delay(attempt: int, base: float, cap: float = 6 * 3600.0) -> float:
    """The longer schedule for a file Plex has not scanned yet: base, 2*base, 4*base, ..."""
    return min(cap, base * (2 ** max(attempt - 1, 0)))
