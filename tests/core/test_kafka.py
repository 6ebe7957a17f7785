"""Kafka on the local stack: topics created idempotently, an idempotent producer and a consumer
group with manual commits round-trip messages, and a restarted consumer resumes after its last
committed offset."""

from __future__ import annotations

import dataclasses

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from flashsale.core.settings import Settings
from flashsale.core.topics import Topics, ensure_topics


async def test_topics_created_idempotently_and_grown(settings: Settings, unique: str) -> None:
    topics = Topics(f"t-{unique}")
    first = await ensure_topics(settings, partitions=2, topics=topics)
    assert first == dict.fromkeys(topics.all(), 2)
    assert await ensure_topics(settings, partitions=2, topics=topics) == first
    grown = await ensure_topics(settings, partitions=3, topics=topics)
    assert grown == dict.fromkeys(topics.all(), 3)
    # Never shrinks: asking for fewer keeps what exists.
    assert await ensure_topics(settings, partitions=1, topics=topics) == grown


async def _consume(settings: Settings, topic: str, group: str, count: int) -> list[bytes]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    got: list[bytes] = []
    try:
        while len(got) < count:
            batch = await consumer.getmany(timeout_ms=10_000, max_records=count - len(got))
            assert batch, f"timed out after {len(got)} of {count} messages"
            for records in batch.values():
                got.extend(r.value for r in records)
        await consumer.commit()
    finally:
        await consumer.stop()
    return got


async def test_idempotent_producer_and_manual_commit_resume(
    settings: Settings, unique: str
) -> None:
    cfg = dataclasses.replace(settings, topic_prefix=f"rt-{unique}")
    topic = Topics(cfg.topic_prefix).orders
    await ensure_topics(cfg, partitions=1)
    producer = AIOKafkaProducer(
        bootstrap_servers=cfg.kafka_bootstrap, enable_idempotence=True, acks="all"
    )
    await producer.start()
    try:
        for i in range(20):
            await producer.send(topic, f"m{i}".encode(), key=b"order-1")
        await producer.flush()
    finally:
        await producer.stop()

    group = f"g-{unique}"
    assert await _consume(cfg, topic, group, 10) == [f"m{i}".encode() for i in range(10)]
    # A restarted consumer of the same group resumes right after its committed offset.
    assert await _consume(cfg, topic, group, 10) == [f"m{i}".encode() for i in range(10, 20)]

    consumer = AIOKafkaConsumer(
        bootstrap_servers=cfg.kafka_bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        assert await consumer.committed(tp) == 20
    finally:
        await consumer.stop()
