"""Helpers for the parking tests: raw Kafka messages (poisoned ones included), the parked
records of a round, and the CLI."""

from __future__ import annotations

import asyncio

import asyncpg
import orjson
from aiokafka import AIOKafkaProducer

from checkout.events import OrderEvent


async def produce_raw(
    bootstrap: str, topic: str, messages: list[tuple[bytes | None, bytes]]
) -> None:
    """Publish (key, value) pairs as they are, in order (one partition per key)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key) for key, value in messages]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def message(event: OrderEvent) -> tuple[bytes, bytes]:
    return event.order_id.encode(), event.to_json()


def with_nul(event: OrderEvent) -> OrderEvent:
    """The shopper's ``real_name`` of issue 12: "\\u0000a" (jsonb refuses NUL)."""
    data = {**event.data, "pii": {**event.data.get("pii", {}), "real_name": "\u0000a"}}
    return OrderEvent(**{**event.__dict__, "data": data})


def wrong_types(event: OrderEvent) -> bytes:
    """Valid JSON, an order event in shape, but seq is a string."""
    obj = orjson.loads(event.to_json())
    obj["seq"] = "1"
    return orjson.dumps(obj)


async def parked_rows(pool: asyncpg.Pool, **where: str) -> list[asyncpg.Record]:
    clauses = " AND ".join(f"{k} = ${i}" for i, k in enumerate(where, 1)) or "true"
    return list(
        await pool.fetch(
            f"SELECT * FROM parked_events WHERE {clauses} ORDER BY id",  # noqa: S608 (test keys)
            *where.values(),
        )
    )
