"""Re-feeding a parked event where it came from; the store itself is
:mod:`flashsale.core.parked` (re-exported here for the operators' tools).

Retry re-feeds the event where it came from: a writer or fulfillment record is re-published
(its payload, or a corrected one) to its Kafka topic; a relay record to the orders topic through
the relay's producer settings (same size limit); a sweeper record runs the round's sweep once.
If it is rejected again the consumer parks it again (a new record); the old one is ``retried``.
The sink errors and the isolating apply are :mod:`flashsale.core.sink`.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from aiokafka.errors import KafkaError
from redis.asyncio import Redis

from flashsale.core.audit import Operator
from flashsale.core.kafka import PARKED_RETRY, started_producer
from flashsale.core.parked import (
    NotFound,
    RetryFailed,
    as_dict,
    close,
    locked,
)
from flashsale.core.settings import Settings
from flashsale.core.topics import Topics
from inventory import Inventory, InventoryError


async def retry(
    settings: Settings,
    pool: asyncpg.Pool,
    redis: Redis | None,
    parked_id: int,
    operator: Operator,
    *,
    replacement: bytes | None = None,
) -> dict[str, Any]:
    """Re-feed one record (see the module docstring); audited. ``replacement`` re-publishes a
    corrected payload instead of the parked one. A record already closed is returned unchanged.
    Raises :class:`RetryFailed` (the record stays parked) when it cannot be re-fed."""
    row = await pool.fetchrow("SELECT * FROM parked_events WHERE id = $1", parked_id)
    if row is None:
        raise NotFound(f"no parked event {parked_id}")
    if row["state"] != "parked":
        return {**as_dict(row), "payload": None, "changed": False}
    details: dict[str, Any] = {"replaced": replacement is not None}
    if row["process"] == "sweeper":
        details["released"] = await _sweep(redis, row["round_id"])
    else:
        data = replacement if replacement is not None else row["payload"]
        if data is None:
            raise RetryFailed(f"parked event {parked_id} has no payload to re-publish")
        topic = row["topic"] or Topics(settings.topic_prefix).orders
        await _publish(settings, topic, bytes(data), row["order_id"])
        details["topic"] = topic
    async with pool.acquire() as conn, conn.transaction():
        current = await locked(conn, parked_id)
        if current["state"] != "parked":  # another operator closed it meanwhile
            return {**as_dict(current), "payload": None, "changed": False}
        return await close(conn, current, operator, "retried", **details)


async def _publish(settings: Settings, topic: str, data: bytes, order_id: str | None) -> None:
    try:
        producer = await started_producer(settings, client_id=PARKED_RETRY)
    except KafkaError as exc:
        raise RetryFailed(f"Kafka unavailable: {type(exc).__name__}") from exc
    try:
        future = await producer.send(
            topic, data, key=order_id.encode() if order_id is not None else None
        )
        await future
    except KafkaError as exc:
        raise RetryFailed(f"Kafka refused the event: {type(exc).__name__}") from exc
    finally:
        await producer.stop()


async def _sweep(redis: Redis | None, round_id: str | None) -> int:
    if redis is None or round_id is None:
        raise RetryFailed("a sweeper record needs Redis and its round")
    async with Inventory(redis) as inventory:
        try:
            return await inventory.sweep(round_id)
        except InventoryError as exc:
            raise RetryFailed(f"sweep of {round_id} failed again: {exc.code}") from exc
