"""Helpers for the bucket tests (issue 15): the relay and a writer running for one test, and a
bucketed round's buckets leaving Redis afterwards."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncpg
from redis.asyncio import Redis

from checkout.pipeline.relay import Relay, RelayConfig
from checkout.pipeline.writer import Writer, WriterConfig
from flashsale.core.settings import Settings
from flashsale.core.topics import ensure_topics
from inventory.keys import ARMED_BUCKETS, ARMED_ROUNDS, bucket_space


@contextlib.asynccontextmanager
async def relay_and_writer(
    settings: Settings, redis: Redis, pool: asyncpg.Pool, round_id: str, unique: str
) -> AsyncIterator[str]:
    """A relay of ``round_id``'s outboxes and a writer in a group of their own (its name is
    yielded), stopped and awaited afterwards; the round (and its buckets) disarmed."""
    await ensure_topics(settings)
    group = f"w-{unique}"
    relay = Relay(settings, redis, RelayConfig(consumer=f"r-{unique}", round_prefix=round_id))
    writer = Writer(settings, pool, WriterConfig(group=group))
    tasks = [asyncio.create_task(relay.run()), asyncio.create_task(writer.run())]
    try:
        yield group
    finally:
        relay.stop()
        writer.stop()
        await asyncio.wait_for(asyncio.gather(*tasks), 30)
        await redis.srem(ARMED_ROUNDS, round_id)  # type: ignore[misc]
        spaces = [bucket_space(round_id, b) for b in range(64)]
        await redis.srem(ARMED_BUCKETS, *spaces)  # type: ignore[misc]
