"""checkout.pipeline.observe: the figures of a round every reader shows, read from the real
PostgreSQL, Redis and Kafka as the migrations define them."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from redis.asyncio import Redis

from checkout.pipeline import observe, relay
from flashsale.core.settings import Settings
from flashsale.core.topics import Topics, ensure_topics
from inventory import Inventory, RoundKeys
from tests.support.inventory import make_spec

T = datetime(2026, 11, 21, 12, 0, 30, tzinfo=UTC)

# (n, status, quantity, channel, reserved (order.reserved arrived), paid)
ROWS = [
    (1, "reserved", 1, "web", True, False),
    (2, "paid", 2, "mobile", True, True),
    (3, "paid", 1, "web", True, True),
    (4, "shipped", 1, "sms", True, True),
    (5, "expired", 3, "web", True, False),
    (6, "paid", None, None, False, True),  # partial: order.paid before order.reserved
]


async def _orders(pool: asyncpg.Pool, rid: str) -> None:
    await pool.executemany(
        "INSERT INTO orders (id, round_id, status, seq, quantity, channel, reserved_at, paid_at,"
        " updated_at, created_at) VALUES ($1, $2, $3, 1, $4, $5, $6, $7, $8, $9)",
        [
            (
                f"{rid}-{n}", rid, status, qty, channel,
                T + timedelta(minutes=n // 3) if reserved else None,
                T if paid else None, T, T + timedelta(minutes=5),
            )
            for n, status, qty, channel, reserved, paid in ROWS
        ],
    )  # fmt: skip


async def test_persisted_by_status_complete_and_paid(pg_pool: asyncpg.Pool, unique: str) -> None:
    rid, other = f"obs-{unique}", f"obs-none-{unique}"
    await _orders(pg_pool, rid)
    figures = await observe.persisted(pg_pool, [rid, other])
    p = figures[rid]
    assert {s: (c.orders, c.units) for s, c in p.by_status.items()} == {
        "reserved": (1, 1),
        "paid": (3, 3),  # the partial row has no quantity yet
        "shipped": (1, 1),
        "expired": (1, 3),
    }
    assert (p.orders, p.complete, p.paid) == (6, 5, 4)
    assert p.units("paid", "shipped", "delivered") == 4
    assert figures[other] == observe.Persisted()


async def test_timeline_per_minute_and_channel(pg_pool: asyncpg.Pool, unique: str) -> None:
    rid = f"obs-{unique}"
    await _orders(pg_pool, rid)
    tl = await observe.timeline(pg_pool, rid)
    minute = T.replace(second=0)
    # when the shopper reserved; the partial row counts when it was written
    assert [(m, n) for m, n in tl.per_minute] == [
        (minute, 2),
        (minute + timedelta(minutes=1), 3),
        (minute + timedelta(minutes=5), 1),
    ]
    assert tl.by_channel == {"web": 3, "mobile": 1, "sms": 1}
    empty = await observe.timeline(pg_pool, f"obs-none-{unique}")
    assert (empty.per_minute, empty.by_channel) == ([], {"web": 0, "mobile": 0, "sms": 0})


async def test_shipments_backlog_and_dead_letters(pg_pool: asyncpg.Pool, unique: str) -> None:
    rid = f"obs-{unique}"
    await _orders(pg_pool, rid)
    await pg_pool.executemany(
        "INSERT INTO shipments (order_id, round_id, carrier, tracking_no, state, promised_by,"
        " promised_date, booked_at, manifest) VALUES ($1, $2, 'sx', $3, $4, $5, $6, $5, '[]')",
        [(f"{rid}-{n}", rid, f"T{unique}{n}", state, T, T.date())
         for n, state in ((2, "booked"), (4, "delivered"))],
    )  # fmt: skip
    await pg_pool.executemany(
        "INSERT INTO fulfillment_dead_letters (order_id, round_id, code, reason, attempts,"
        " requeued_at) VALUES ($1, $2, 'x', 'y', 1, $3)",
        [(f"{rid}-3", rid, T), (f"{rid}-6", rid, None)],
    )
    ship = await observe.shipments(pg_pool, rid)
    assert ship.by_state == {"booked": 1, "delivered": 1}
    assert ship.total == 2
    assert ship.backlog == 2  # paid orders 3 and 6 have no shipment
    assert (ship.dead_letters, ship.dead_open) == (2, 1)
    everything = await observe.shipments(pg_pool)
    assert everything.by_state.get("booked", 0) >= 1
    assert everything.dead_letters >= 2
    assert everything.backlog >= 2


async def test_redis_side_of_a_round(redis: Redis, unique: str) -> None:
    rid = f"obs-{unique}"
    inventory = Inventory(redis)
    assert await observe.redis_stats(inventory, rid) is None  # never armed
    side = await observe.redis_orders(inventory, redis, rid)
    assert (side.source, side.stats, side.order_ids) == ("relay-ledger", None, set())
    await inventory.arm(make_spec(rid, stock=7))
    stats = await observe.redis_stats(inventory, rid)
    assert stats is not None
    assert observe.counters(stats) == {
        "stocked": 7, "left": 7, "held": 0, "paid": 0, "released": 0, "refund_required": 0,
    }  # fmt: skip
    assert (await observe.redis_orders(inventory, redis, rid)).source == "inventory"
    key = RoundKeys(rid).outbox
    assert await observe.outbox_backlog(redis, rid) == {"length": 0, "pending": 0}
    for i in range(3):
        await redis.xadd(key, {"n": str(i)})
    await redis.xgroup_create(key, relay.GROUP, id="0")
    await redis.xreadgroup(relay.GROUP, "c1", {key: ">"}, count=2)
    assert await observe.outbox_backlog(redis, rid) == {"length": 3, "pending": 2}
    none = f"obs-none-{unique}"
    assert await observe.outbox_lengths(redis, [rid, none]) == {rid: 3, none: 0}
    assert await observe.outbox_lengths(redis, []) == {}
    await inventory.aclose()


@pytest.mark.timeout(60)
async def test_kafka_lag_and_its_cache(settings: Settings, unique: str) -> None:
    private = dataclasses.replace(settings, topic_prefix=f"{settings.topic_prefix}-obs-{unique}")
    await ensure_topics(private)
    topic = Topics(private.topic_prefix).orders
    producer = AIOKafkaProducer(bootstrap_servers=private.kafka_bootstrap)
    await producer.start()
    try:
        for i in range(5):
            await producer.send_and_wait(topic, b"x", key=str(i).encode())
    finally:
        await producer.stop()
    group = f"obs-group-{unique}"
    assert await observe.kafka_lag(private, topic, group) == 5
    lag = observe.Lag(private, ttl=60.0, group=group)
    assert lag.peek() == (None, None)  # nothing read yet; a refresh starts
    assert await lag.read() == 5
    value, age = lag.peek()
    assert value == 5
    assert age is not None
    assert age >= 0
    await lag.aclose()
    await lag.aclose()  # idempotent
    gone = dataclasses.replace(private, kafka_bootstrap="127.0.0.1:9")
    assert await observe.kafka_lag(gone, topic, group) is None
