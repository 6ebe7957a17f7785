"""The expiry sweeper: releases unpaid holds past their deadline in every armed round."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from inventory.errors import InventoryUnavailable
from inventory.keys import ARMED_ROUNDS
from inventory.service import Inventory

log = logging.getLogger(__name__)


async def sweep_all(
    inventory: Inventory, redis: aioredis.Redis, *, limit: int = 500, max_passes: int = 20
) -> int:
    """One pass over ARMED_ROUNDS; per round at most ``max_passes`` script calls of ``limit``."""
    released = 0
    for raw in sorted(await redis.smembers(ARMED_ROUNDS)):  # type: ignore[misc]
        round_id = raw.decode() if isinstance(raw, bytes) else str(raw)
        for _ in range(max_passes):
            n = await inventory.sweep(round_id, limit)
            released += n
            if n < limit:
                break
    return released


async def run_sweeper(
    inventory: Inventory,
    redis: aioredis.Redis,
    *,
    stop: asyncio.Event,
    interval: float = 0.5,
    limit: int = 500,
    max_failures: int = 40,
) -> int:
    """Sweep every ``interval`` seconds until ``stop`` is set; returns how many orders it released.

    Redis errors are logged and retried with exponential backoff (capped at 2 s, so a Redis
    restart of about a minute is ridden out); ``max_failures`` in a row re-raise.
    """
    total = 0
    failures = 0
    while not stop.is_set():
        wait = interval
        try:
            total += await sweep_all(inventory, redis, limit=limit)
            failures = 0
        except (InventoryUnavailable, RedisError) as exc:
            failures += 1
            log.warning("sweep failed (%d/%d): %s", failures, max_failures, exc)
            if failures >= max_failures:
                raise
            wait = max(interval, min(2.0, 0.1 * 2**failures))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), wait)
    return total
