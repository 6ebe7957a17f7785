"""The one stoppable sleep and the bounded pause every long-running loop uses."""

from __future__ import annotations

import asyncio
import logging
import random
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flashsale.core.retry import Backoff, pause, sleep_unless_stopped

log = logging.getLogger("test.retry")


async def test_sleep_waits_when_not_stopped() -> None:
    stop = asyncio.Event()
    began = time.monotonic()
    assert await sleep_unless_stopped(stop, 0.05) is False
    assert time.monotonic() - began >= 0.04


async def test_sleep_ends_as_soon_as_stopped() -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(0.02, stop.set)
    assert await asyncio.wait_for(sleep_unless_stopped(stop, 30), 2) is True


async def test_sleep_with_a_negative_delay_returns_at_once() -> None:
    stop = asyncio.Event()
    assert await asyncio.wait_for(sleep_unless_stopped(stop, -5), 1) is False


async def test_pause_waits_at_least_the_floor() -> None:
    stop = asyncio.Event()
    began = time.monotonic()
    await pause(Backoff(first=0.001), 1, stop, log, "t", OSError(), at_least=0.05)
    assert time.monotonic() - began >= 0.04


async def test_pause_raises_the_error_when_the_attempts_are_used_up() -> None:
    error = OSError("down")
    with pytest.raises(OSError, match="down") as caught:
        await pause(Backoff(attempts=3), 3, asyncio.Event(), log, "t", error)
    assert caught.value is error


@settings(max_examples=100, deadline=None)
@given(
    attempt=st.integers(min_value=1, max_value=60),
    first=st.floats(min_value=0.001, max_value=5),
    cap=st.floats(min_value=0.001, max_value=60),
    seed=st.integers(),
)
def test_jittered_delay_is_in_the_upper_half(
    attempt: int, first: float, cap: float, seed: int
) -> None:
    backoff = Backoff(attempts=100, first=first, cap=cap)
    d = backoff.delay(attempt)
    assert d <= cap
    one, two = random.Random(seed), random.Random(seed)
    assert d / 2 <= backoff.jittered(attempt, one) <= d
    # reproducible from the seed (fulfillment seeds its generator in tests)
    assert backoff.jittered(attempt, two) == backoff.jittered(attempt, random.Random(seed))
