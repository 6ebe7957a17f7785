"""Relay: outbox → Kafka, acked and trimmed only after Kafka acknowledged; bad entries parked."""

from __future__ import annotations

import asyncio
import contextlib

import orjson
import pytest
from aiokafka.errors import KafkaError
from redis.asyncio import Redis

from checkout.pipeline.ledger import dead_letter_key, ledger_key
from checkout.pipeline.relay import GROUP, Relay, RelayConfig
from flashsale.core.settings import Settings
from flashsale.core.topics import ensure_topics
from inventory.keys import RoundKeys
from tests.support.pipeline import disarm, reserved, xadd
from tests.support.relay import orders_records


async def _consume(settings: Settings, round_id: str, want: int) -> list[dict]:
    """``want`` messages of ``round_id``, decoded, with their key."""
    records = await orders_records(
        settings,
        lambda got: len(got) >= want,
        lambda r: orjson.loads(r.value)["round_id"] == round_id,
    )
    return [orjson.loads(r.value) | {"_key": r.key.decode()} for r in records]


async def test_relay_publishes_acks_trims_and_parks(
    settings: Settings, redis: Redis, unique: str
) -> None:
    await ensure_topics(settings)
    round_id = f"relay-{unique}"
    events = [reserved(round_id, n) for n in range(1, 201)]
    await xadd(redis, events)
    outbox = RoundKeys(round_id).outbox
    await redis.xadd(outbox, {"type": "order.reserved", "order_id": "x"})  # malformed
    relay = Relay(
        settings, redis, RelayConfig(consumer=f"t-{unique}", batch=64, round_prefix=round_id)
    )
    task = asyncio.create_task(relay.run())
    try:

        async def drained() -> bool:
            return await redis.xlen(outbox) == 0

        for _ in range(300):
            if await drained():
                break
            await asyncio.sleep(0.1)
        assert await redis.xlen(outbox) == 0
    finally:
        relay.stop()
        await asyncio.wait_for(task, 20)
        await disarm(redis, round_id)
    assert relay.stats.published == 200
    assert relay.stats.parked == 1
    pending = await redis.xpending(outbox, GROUP)
    assert pending["pending"] == 0
    assert await redis.xlen(dead_letter_key(round_id)) == 1
    assert await redis.hlen(ledger_key(round_id)) == 200
    got = await _consume(settings, round_id, 200)
    assert {m["event_id"] for m in got} == {e.event_id for e in events}
    assert all(m["_key"] == m["order_id"] for m in got)


async def test_relay_reclaims_pending_of_dead_consumer(
    settings: Settings, redis: Redis, unique: str
) -> None:
    await ensure_topics(settings)
    round_id = f"claim-{unique}"
    outbox = RoundKeys(round_id).outbox
    await xadd(redis, [reserved(round_id, n) for n in range(1, 11)])
    with contextlib.suppress(Exception):
        await redis.xgroup_create(outbox, GROUP, id="0", mkstream=True)
    # a consumer that read the entries and died before acking
    await redis.xreadgroup(GROUP, f"dead-{unique}", {outbox: ">"}, count=100)
    config = RelayConfig(
        consumer=f"live-{unique}", min_idle_ms=200, round_prefix=round_id, claim_every=0.1
    )
    relay = Relay(settings, redis, config)
    task = asyncio.create_task(relay.run())
    try:
        for _ in range(200):
            if await redis.xlen(outbox) == 0:
                break
            await asyncio.sleep(0.1)
    finally:
        relay.stop()
        await asyncio.wait_for(task, 20)
        await disarm(redis, round_id)
    assert await redis.xlen(outbox) == 0
    assert relay.stats.claimed == 10
    assert (await redis.xpending(outbox, GROUP))["pending"] == 0


@pytest.mark.timeout(60)
async def test_relay_kafka_unreachable_retries_bounded_then_gives_up(
    settings: Settings, redis: Redis, unique: str
) -> None:
    import dataclasses

    from flashsale.core.retry import Backoff

    dead = dataclasses.replace(settings, kafka_bootstrap="127.0.0.1:1")
    round_id = f"down-{unique}"
    outbox = RoundKeys(round_id).outbox
    await xadd(redis, [reserved(round_id, n) for n in range(1, 6)])
    relay = Relay(
        dead,
        redis,
        RelayConfig(
            consumer=f"d-{unique}", round_prefix=round_id, backoff=Backoff(attempts=3, first=0.05)
        ),
    )
    try:
        with pytest.raises(KafkaError) as info:
            await asyncio.wait_for(relay.run(), 40)
    finally:
        await disarm(redis, round_id)
    assert info.value.retriable
    # nothing acked: the entries wait in the pending list for the next relay
    assert await redis.xlen(outbox) == 5
    assert (await redis.xpending(outbox, GROUP))["pending"] == 5
