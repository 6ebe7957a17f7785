"""Relay pipelining: the next batch is read and sent while the previous one waits for Kafka's
acknowledgements; nothing is acked in Redis before Kafka has it; each key's partition is the
one Kafka's default partitioner picks."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as kafka_murmur2
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from checkout.pipeline.partition import murmur2, partition
from checkout.pipeline.relay import GROUP, Relay, RelayConfig
from flashsale.core.settings import Settings
from flashsale.core.topics import Topics, ensure_topics
from inventory.keys import RoundKeys
from tests.support.pipeline import disarm, eventually, later, reserved, xadd
from tests.support.relay import orders_records


class _Held:
    """The relay's real producer, with every delivery's confirmation held until ``release``:
    the messages go to Kafka, the relay only learns it later."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self.producer = producer
        self.gate = asyncio.Event()
        self.sent = 0

    async def send(self, topic: str, value: bytes, **kw: Any) -> asyncio.Future[Any]:
        delivery = await self.producer.send(topic, value, **kw)
        self.sent += 1

        async def held() -> Any:
            await self.gate.wait()
            return await delivery

        return asyncio.ensure_future(held())

    async def partitions_for(self, topic: str) -> set[int]:
        return await self.producer.partitions_for(topic)

    async def stop(self) -> None:
        await self.producer.stop()


class _HeldRelay(Relay):
    held: _Held | None = None

    async def _producer_ready(self) -> Any:
        if self.held is None:
            self.held = _Held(await super()._producer_ready())
        return self.held

    async def aclose(self) -> None:
        self.held = None
        await super().aclose()


async def test_next_batch_is_sent_while_the_first_waits_for_kafka(
    settings: Settings, redis: Redis, unique: str
) -> None:
    counts = await ensure_topics(settings)
    partitions = list(range(counts[Topics(settings.topic_prefix).orders]))
    round_id = f"pipe-{unique}"
    first = [reserved(round_id, n) for n in range(1, 121)]
    events = first + [later(e, "order.paid", "paid", 2) for e in first[:30]]
    await xadd(redis, events)
    outbox = RoundKeys(round_id).outbox
    relay = _HeldRelay(
        settings, redis, RelayConfig(consumer=f"p-{unique}", batch=50, round_prefix=round_id)
    )
    task = asyncio.create_task(relay.run())
    try:

        async def two_batches_out() -> bool:
            return relay.held is not None and relay.held.sent >= 100

        await eventually(two_batches_out, within=20)
        # Kafka has not confirmed anything yet: every entry read is still pending, none acked
        assert (await redis.xpending(outbox, GROUP))["pending"] == relay.held.sent  # type: ignore[union-attr]
        assert await redis.xlen(outbox) == len(events)
        assert relay.stats.published == 0
        relay.held.gate.set()  # type: ignore[union-attr]

        async def drained() -> bool:
            return await redis.xlen(outbox) == 0

        await eventually(drained, within=30)
    finally:
        if relay.held is not None:
            relay.held.gate.set()
        relay.stop()
        await asyncio.wait_for(task, 20)
        await disarm(redis, round_id)
    assert relay.stats.published == len(events)
    assert (await redis.xpending(outbox, GROUP))["pending"] == 0
    got = await orders_records(
        settings,
        lambda got: len(got) >= len(events),
        lambda r: orjson.loads(r.value)["round_id"] == round_id,
    )
    assert sorted(orjson.loads(r.value)["event_id"] for r in got) == sorted(
        e.event_id for e in events
    )
    by_key: dict[bytes, list[int]] = {}
    for r in got:
        assert r.partition == DefaultPartitioner()(r.key, partitions, partitions)
        by_key.setdefault(r.key, []).append(orjson.loads(r.value)["seq"])
    assert all(seqs == sorted(seqs) for seqs in by_key.values())  # stream order per key


@hyp_settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300) | st.text().map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_murmur2_is_kafkas(key: bytes) -> None:
    assert murmur2(key) == kafka_murmur2(key) & 0xFFFFFFFF


@hyp_settings(max_examples=100, deadline=None)
@given(st.binary(max_size=100), st.integers(min_value=1, max_value=64))
def test_partition_is_the_default_partitioners(key: bytes, count: int) -> None:
    partitions = list(range(count))
    assert partition(key, partitions) == DefaultPartitioner()(key, partitions, partitions)
