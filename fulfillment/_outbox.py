"""The PostgreSQL outbox towards Kafka: rows are written in the transaction that makes a change
and published afterwards, so no event is lost between a commit and a crash (at least once;
consumers dedupe on ``event_id``)."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import orjson
from aiokafka import AIOKafkaProducer

from flashsale.core.topics import Topics


async def enqueue(conn: asyncpg.Connection, topic: str, key: str, value: dict[str, Any]) -> None:
    """Add one message (``topic`` is ``shipments`` or ``dead_letter``); duplicates are no-ops."""
    await enqueue_many(conn, [(topic, key, value)])


async def enqueue_many(
    conn: asyncpg.Connection, messages: list[tuple[str, str, dict[str, Any]]]
) -> None:
    """Add many ``(topic, key, value)`` messages in one statement; duplicates are no-ops."""
    if not messages:
        return
    await conn.execute(
        "INSERT INTO fulfillment_outbox (topic, key, event_id, value) "
        "SELECT t, k, e, v::jsonb FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) "
        "AS m(t, k, e, v) ON CONFLICT (event_id) DO NOTHING",
        [m[0] for m in messages],
        [m[1] for m in messages],
        [m[2]["event_id"] for m in messages],
        [orjson.dumps(m[2]).decode() for m in messages],
    )


async def publish(
    pool: asyncpg.Pool, producer: AIOKafkaProducer, topics: Topics, limit: int = 500
) -> int:
    """Publish unpublished rows (locked, so two workers do not both send them); returns count."""
    names = {"shipments": topics.shipments, "dead_letter": topics.dead_letter}
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            "SELECT id, topic, key, value FROM fulfillment_outbox WHERE published_at IS NULL "
            "ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
            limit,
        )
        if not rows:
            return 0
        futures = [
            await producer.send(names[r["topic"]], _raw(r["value"]), key=r["key"].encode())
            for r in rows
        ]
        await asyncio.gather(*futures)
        await conn.execute(
            "UPDATE fulfillment_outbox SET published_at = now() WHERE id = ANY($1::bigint[])",
            [r["id"] for r in rows],
        )
    return len(rows)


def _raw(value: Any) -> bytes:
    return value.encode() if isinstance(value, str) else orjson.dumps(value)
