"""Where reconcile reads each side of a round (small functions, swappable).

Redis: the inventory package's ``Inventory(redis).stats(round_id)`` / ``order_ids(round_id)``
when it is available; otherwise the relay ledger (reservations the relay has seen) and no stock
figures. Kafka: the writer group's lag on the orders topic (end offset - committed offset).
"""

from __future__ import annotations

import contextlib
import importlib
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from checkout.pipeline.ledger import reserved_ids
from flashsale.core.settings import Settings
from inventory.keys import RoundKeys
from inventory.spec import RoundStats


@dataclass
class RedisSide:
    source: str  # "inventory" | "relay-ledger"
    stats: RoundStats | None
    order_ids: set[str]


def _inventory(redis: Redis) -> Any | None:
    try:
        module = importlib.import_module("inventory")
    except ImportError:
        return None
    cls = getattr(module, "Inventory", None)
    if cls is None or not hasattr(cls, "stats") or not hasattr(cls, "order_ids"):
        return None
    return cls(redis)


async def redis_side(redis: Redis, round_id: str) -> RedisSide:
    inventory = _inventory(redis)
    ledger = await reserved_ids(redis, round_id)
    if inventory is not None:
        from inventory.errors import RoundNotArmed

        try:
            stats = await inventory.stats(round_id)
        except RoundNotArmed:
            return RedisSide("relay-ledger", None, ledger)
        ids = set(await inventory.order_ids(round_id))
        return RedisSide("inventory", stats, ids | ledger)
    return RedisSide("relay-ledger", None, ledger)


async def redis_states(
    redis: Redis, round_id: str, order_ids: set[str]
) -> dict[str, tuple[str, int]] | None:
    """(status, seq) of each order per the inventory; None when it is not available."""
    inventory = _inventory(redis)
    if inventory is None:
        return None
    return await inventory.order_states(round_id, sorted(order_ids))  # type: ignore[no-any-return]


async def outbox_backlog(redis: Redis, round_id: str, group: str) -> dict[str, int]:
    key = RoundKeys(round_id).outbox
    length = int(await redis.xlen(key))
    pending = 0
    with contextlib.suppress(ResponseError):  # no such group yet: nothing was ever read
        pending = int((await redis.xpending(key, group))["pending"])
    return {"length": length, "pending": pending}


async def kafka_lag(settings: Settings, topic: str, group: str) -> int | None:
    """Messages on ``topic`` not yet committed by ``group``; None if Kafka is unreachable."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=5000)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        request_timeout_ms=5000,
        enable_auto_commit=False,
    )
    try:
        await admin.start()
        await consumer.start()
        await consumer.topics()  # refreshes metadata
        parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        ends = await consumer.end_offsets(tps)
        committed = await admin.list_consumer_group_offsets(group, partitions=tps)
        return sum(
            max(0, ends[tp] - max(committed[tp].offset, 0) if tp in committed else ends[tp])
            for tp in tps
        )
    except (KafkaError, OSError):
        return None
    finally:
        await consumer.stop()
        await admin.close()
