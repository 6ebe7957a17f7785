"""The expiry sweeper: releases unpaid holds past their deadline in every armed round.

A script error for one round (a key of the wrong type, a bug the data triggers: ``ScriptFailed``
or a raw ``ResponseError``) is that round's problem: it is handed to ``on_round_error`` (the
CLI records it: log, metric, a parked record at most once per round per minute, see
``flashsale/core/parked.py``) and the sweep goes on with the other rounds. Only outages (Redis
unreachable) back off and, after ``max_failures`` in a row, stop the sweeper.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
from redis.exceptions import RedisClusterException, RedisError, ResponseError

from flashsale.core.redis import is_outage
from flashsale.core.retry import Backoff, pause, sleep_unless_stopped
from inventory.errors import InventoryUnavailable, ScriptFailed
from inventory.keys import ARMED_BUCKETS, ARMED_ROUNDS
from inventory.service import Inventory

log = logging.getLogger(__name__)
#: Called with the round and the error when one round's script fails; must not raise.
RoundFailed = Callable[[str, Exception], Awaitable[object]]


def logged(every: float = 60.0) -> RoundFailed:
    """The default ``on_round_error``: a log line, at most once per round per ``every`` s."""
    last: dict[str, float] = {}

    async def report(round_id: str, exc: Exception) -> None:
        now = time.monotonic()
        if now - last.get(round_id, -every) >= every:
            last[round_id] = now
            log.error("sweep.round_error round=%s error=%s", round_id, type(exc).__name__)

    return report


async def sweep_all(
    inventory: Inventory,
    redis: aioredis.Redis,
    *,
    limit: int = 500,
    max_passes: int = 20,
    on_round_error: RoundFailed | None = None,
) -> int:
    """One pass over ARMED_ROUNDS and ARMED_BUCKETS (a bucketed round's buckets hold its
    holds; its own tag its limit tokens); per key space at most ``max_passes`` script calls of
    ``limit``. A round whose script fails goes to ``on_round_error`` and the pass goes on."""
    released = 0
    rounds = await redis.smembers(ARMED_ROUNDS)  # type: ignore[misc]
    buckets = await redis.smembers(ARMED_BUCKETS)  # type: ignore[misc]
    for raw in sorted(set(rounds) | set(buckets)):
        round_id = raw.decode() if isinstance(raw, bytes) else str(raw)
        try:
            for _ in range(max_passes):
                n = await inventory.sweep(round_id, limit)
                released += n
                if n < limit:
                    break
        except (ScriptFailed, ResponseError) as exc:
            if is_outage(exc):  # the round's node is down: the sweeper backs off, parks nothing
                raise
            await (on_round_error or _DEFAULT)(round_id, exc)
    return released


_DEFAULT = logged()


async def run_sweeper(
    inventory: Inventory,
    redis: aioredis.Redis,
    *,
    stop: asyncio.Event,
    interval: float = 0.5,
    limit: int = 500,
    max_failures: int = 40,
    on_round_error: RoundFailed | None = None,
) -> int:
    """Sweep every ``interval`` seconds until ``stop`` is set; returns how many orders it released.

    Redis outages are logged and retried with exponential backoff (``core.retry.pause``, capped
    at 2 s and never shorter than ``interval``, so a Redis restart of about a minute is ridden
    out); ``max_failures`` in a row re-raise. A script error
    for one round goes to ``on_round_error`` (default: :func:`logged`) and never stops the sweep.
    """
    report = on_round_error or logged()
    backoff = Backoff(attempts=max_failures, first=0.2, cap=2.0)
    total = 0
    failures = 0
    while not stop.is_set():
        try:
            total += await sweep_all(inventory, redis, limit=limit, on_round_error=report)
        except (InventoryUnavailable, RedisError, RedisClusterException) as exc:
            failures += 1
            await pause(backoff, failures, stop, log, "sweep", exc, at_least=interval)
            continue
        failures = 0
        await sleep_unless_stopped(stop, interval)
    return total
