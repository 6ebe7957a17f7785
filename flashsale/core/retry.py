"""Bounded retry with exponential backoff, and the stoppable sleep, for every long-running loop.

The loops never spin forever on a dead dependency: after ``attempts`` consecutive failures the
error propagates and the process exits with a clear message (a supervisor restarts it). Every
loop waits with :func:`sleep_unless_stopped`, so a stop is seen at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    attempts: int = 30  # consecutive failures before giving up
    first: float = 0.2  # seconds
    cap: float = 5.0

    def delay(self, attempt: int) -> float:
        return min(self.first * 2 ** (attempt - 1), self.cap)

    def jittered(self, attempt: int, rng: random.Random) -> float:
        """:meth:`delay` with full jitter in its upper half: in [d/2, d] (spreads retries of
        many items that failed together)."""
        d = self.delay(attempt)
        return d / 2 + rng.random() * d / 2


async def sleep_unless_stopped(stop: asyncio.Event, seconds: float) -> bool:
    """Wait ``seconds``, or less if ``stop`` is set meanwhile; returns whether it is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), max(0.0, seconds))
    return stop.is_set()


async def pause(
    backoff: Backoff,
    attempt: int,
    stop: asyncio.Event,
    log: logging.Logger,
    what: str,
    exc: BaseException,
    *,
    at_least: float = 0.0,
) -> None:
    """Log one failed attempt (class name only: driver messages can echo payloads) and wait
    the attempt's delay (but at least ``at_least`` seconds, e.g. the loop's own interval).

    Raises the original error once the attempts are used up; returns early if ``stop`` is set.
    """
    if attempt >= backoff.attempts:
        log.error("%s failed %d times, giving up: %s", what, attempt, type(exc).__name__)
        raise exc
    delay = max(at_least, backoff.delay(attempt))
    log.warning(
        "%s failed (attempt %d/%d, %s); retrying in %.1fs",
        what,
        attempt,
        backoff.attempts,
        type(exc).__name__,
        delay,
    )
    await sleep_unless_stopped(stop, delay)
