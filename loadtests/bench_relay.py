"""Relay benchmark (part of ``flashsale bench --writer``): events/s the outbox relay moves from a
round's Redis outbox stream to Kafka, as a ratio to a bare aiokafka producer sending the same
payloads to the same topic in the same run (not a test).

The events are XADDed to a round of the bench's own (fields as the reserve script writes them),
the round is marked armed, and one relay limited to that round drains the stream; then the same
payloads go through a bare producer (the relay's settings: idempotent, acks=all). The round's
keys are deleted afterwards.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

import orjson
from redis.asyncio import Redis

from checkout.events import OrderEvent
from checkout.pipeline.ledger import dead_letter_key, ledger_key
from checkout.pipeline.relay import Relay, RelayConfig
from flashsale.core.kafka import BENCH, started_producer
from flashsale.core.settings import Settings
from flashsale.core.topics import Topics
from inventory.keys import ARMED_ROUNDS, RoundKeys


def _fields(e: OrderEvent) -> dict[str, Any]:
    """The stream entry the reserve script XADDs (``data`` as JSON text)."""
    return {**dataclasses.asdict(e), "data": orjson.dumps(e.data).decode()}


async def relay_rate(s: Settings, round_id: str, events: list[OrderEvent]) -> float:
    """Events/s of one relay draining ``round_id``'s outbox stream of ``events``."""
    redis = Redis.from_url(s.redis_url)
    keys = RoundKeys(round_id)
    try:
        for i in range(0, len(events), 5000):
            async with redis.pipeline(transaction=False) as pipe:
                for e in events[i : i + 5000]:
                    pipe.xadd(keys.outbox, _fields(e))  # type: ignore[arg-type]
                await pipe.execute()
        relay = Relay(s, redis, RelayConfig(consumer="bench", round_prefix=round_id))
        await redis.sadd(ARMED_ROUNDS, round_id)  # type: ignore[misc]
        began = time.perf_counter()
        task = asyncio.create_task(relay.run())
        try:
            while relay.stats.published < len(events):
                if task.done():
                    await task  # raises what stopped it
                    raise RuntimeError("the relay stopped before the stream was drained")
                await asyncio.sleep(0.01)
            spent = time.perf_counter() - began
        finally:
            relay.stop()
            await task
            await relay.aclose()
        return len(events) / spent
    finally:
        await redis.srem(ARMED_ROUNDS, round_id)  # type: ignore[misc]
        await redis.delete(keys.outbox, ledger_key(round_id), dead_letter_key(round_id))
        await redis.aclose()


async def producer_rate(s: Settings, events: list[OrderEvent]) -> float:
    """Events/s of a bare producer sending the same payloads (key = order id)."""
    payloads = [(e.to_json(), e.order_id.encode()) for e in events]
    topic = Topics(s.topic_prefix).orders
    producer = await started_producer(s, client_id=BENCH)
    try:
        began = time.perf_counter()
        sends = [await producer.send(topic, value, key=key) for value, key in payloads]
        await asyncio.gather(*sends)
        return len(events) / (time.perf_counter() - began)
    finally:
        await producer.stop()
