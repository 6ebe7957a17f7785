"""The PostgreSQL outbox towards Kafka: rows are written in the transaction that makes a change
and published afterwards, so no event is lost between a commit and a crash (at least once;
consumers dedupe on ``event_id``). A row is deleted in the transaction that published it."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import orjson
from aiokafka import AIOKafkaProducer

from checkout.pipeline.partition import partition
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


# Taken and deleted in one statement, in the transaction that waits for Kafka: a failed send
# rolls the deletion back, so the rows stay for the next pass (a published row is never
# written again: no second row version, no index entries for it).
_TAKE = """
DELETE FROM fulfillment_outbox WHERE id IN (
    SELECT id FROM fulfillment_outbox ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
RETURNING id, topic, key, value"""


async def publish(
    pool: asyncpg.Pool, producer: AIOKafkaProducer, topics: Topics, limit: int = 500
) -> int:
    """Publish unpublished rows, oldest first, and delete them once Kafka acknowledged all of
    them (locked meanwhile, so two workers do not both send them); returns the count."""
    names = {"shipments": topics.shipments, "dead_letter": topics.dead_letter}
    async with pool.acquire() as conn, conn.transaction():
        rows = sorted(await conn.fetch(_TAKE, limit), key=lambda r: r["id"])
        if not rows:
            return 0
        partitions = {
            t: sorted(await producer.partitions_for(t)) for t in {names[r["topic"]] for r in rows}
        }
        futures = []
        for r in rows:
            topic, key = names[r["topic"]], r["key"].encode()
            where = partition(key, partitions[topic])  # the default partitioner's, faster
            futures.append(await producer.send(topic, _raw(r["value"]), key=key, partition=where))
        await asyncio.gather(*futures)
    return len(rows)


def _raw(value: Any) -> bytes:
    return value.encode() if isinstance(value, str) else orjson.dumps(value)
