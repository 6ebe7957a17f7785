"""Helpers for the pipeline tests: well-formed outbox entries (exactly the fields of
checkout/events.py), as the inventory's Lua scripts will XADD them, and polling helpers."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable, Iterable

import asyncpg
from aiokafka import AIOKafkaProducer
from redis.asyncio import Redis

from checkout.events import OrderEvent
from flashsale.core.settings import Settings
from flashsale.core.topics import Topics
from inventory.keys import ARMED_ROUNDS, RoundKeys
from tests.support.offer import snapshot

T0 = 1_790_000_000_000


def reserved(round_id: str, n: int, *, at: int = T0, quantity: int = 1) -> OrderEvent:
    order_id = f"{round_id}-{n}"
    return OrderEvent(
        event_id=f"{order_id}:1",
        type="order.reserved",
        order_id=order_id,
        round_id=round_id,
        seq=1,
        status="reserved",
        at=at + n,
        data={
            "buyer_id": f"buyer-{n}",
            "id_hash": hashlib.sha256(f"id-{n}".encode()).hexdigest(),
            "quantity": quantity,
            "number": f"1380000{n:04d}",
            "channel": "web",
            "agreement_version": "2026-01",
            "offer": snapshot(),
            "pay_before": at + n + 900_000,
            "pii": {
                "name": "Z*** San",
                "national_id_masked": "1101**********1234",
                "national_id_enc": "gAAAAB-opaque",
            },
        },
    )


def later(event: OrderEvent, type_: str, status: str, seq: int, **data: object) -> OrderEvent:
    return OrderEvent(
        event_id=f"{event.order_id}:{seq}",
        type=type_,
        order_id=event.order_id,
        round_id=event.round_id,
        seq=seq,
        status=status,
        at=event.at + seq * 1000,
        data=dict(data),
    )


def paid(event: OrderEvent, seq: int = 2) -> OrderEvent:
    return later(
        event,
        "order.paid",
        "paid",
        seq,
        payment_id=f"pay-{event.order_id}",
        amount=2000,
        late=False,
    )


def expired(event: OrderEvent, seq: int = 2) -> OrderEvent:
    return later(event, "order.expired", "expired", seq, reason="hold_expired")


def fields(event: OrderEvent) -> dict[str, str]:
    raw = event.to_json()
    import orjson

    obj = orjson.loads(raw)
    return {k: (orjson.dumps(v).decode() if k == "data" else str(v)) for k, v in obj.items()}


async def xadd(redis: Redis, events: Iterable[OrderEvent], chunk: int = 500) -> int:
    """XADD events to their round's outbox and arm the rounds (SADD ARMED_ROUNDS)."""
    events = list(events)
    for i in range(0, len(events), chunk):
        async with redis.pipeline(transaction=False) as pipe:
            for e in events[i : i + chunk]:
                pipe.xadd(RoundKeys(e.round_id).outbox, fields(e))  # type: ignore[arg-type]
            await pipe.execute()
    rounds = {e.round_id for e in events}
    if rounds:
        await redis.sadd(ARMED_ROUNDS, *rounds)  # type: ignore[misc]
    return len(events)


async def disarm(redis: Redis, *round_ids: str) -> None:
    await redis.srem(ARMED_ROUNDS, *round_ids)  # type: ignore[misc]


async def eventually(
    check: Callable[[], Awaitable[bool]], within: float = 30.0, every: float = 0.1
) -> None:
    deadline = time.monotonic() + within
    while True:
        if await check():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(every)


async def order_count(pool: asyncpg.Pool, round_id: str) -> int:
    return int(
        await pool.fetchval(
            "SELECT count(*) FROM orders WHERE round_id = $1 AND reserved_at IS NOT NULL", round_id
        )
    )


async def statuses(pool: asyncpg.Pool, round_id: str) -> dict[str, str]:
    rows = await pool.fetch("SELECT id, status FROM orders WHERE round_id = $1", round_id)
    return {r["id"]: r["status"] for r in rows}


async def produce(settings: Settings, events: list[OrderEvent], times: int = 1) -> None:
    """Publish like the relay: idempotent producer, acks=all, key = order id."""
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, enable_idempotence=True, acks="all", linger_ms=5
    )
    await producer.start()
    try:
        topic = Topics(settings.topic_prefix).orders
        futures = [
            await producer.send(topic, e.to_json(), key=e.order_id.encode())
            for _ in range(times)
            for e in events
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
