"""Helpers for the fulfillment tests: order events shaped like the front's (offer snapshots from
:mod:`tests.support.offer`), a private topic prefix per test (and the ``own`` fixture that
gives it), paid SIM orders with their stock, in-process workers, and queries."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from checkout.events import OrderEvent
from flashsale.core.settings import Settings
from flashsale.core.topics import ensure_topics
from fulfillment import CarrierConfig, FulfillConfig, Fulfiller, SimulatedCarrier, seed_stock
from tests.support.pipeline import later, produce, reserved


def order(
    round_id: str,
    n: int,
    offer: dict[str, Any],
    *,
    number: str | None = None,
    quantity: int = 1,
    address: str = "1 Chang'an Ave, Beijing",
    paid: bool = True,
) -> list[OrderEvent]:
    """order.reserved (+ order.paid) of one order: the pipeline's reserved event with this
    offer, number and a delivery address."""
    base = reserved(round_id, n, quantity=quantity)
    pii = {"real_name": "Z*** San", "address": address, "national_id_masked": "1101**********1234"}
    data = {**base.data, "id_hash": hashlib.sha256(f"{n}".encode()).hexdigest(),
            "number": number, "offer": offer, "pii": pii}  # fmt: skip
    events = [dataclasses.replace(base, data=data)]
    if paid:
        events.append(
            later(events[0], "order.paid", "paid", 2,
                  payment_id=f"pay-{base.order_id}", amount=offer["price_fen"], late=False)
        )  # fmt: skip
    return events


async def private(settings: Settings, unique: str) -> Settings:
    """Settings with a topic prefix of this test's own (its topics created)."""
    own = dataclasses.replace(settings, topic_prefix=f"{settings.topic_prefix}-{unique}")
    await ensure_topics(own)
    return own


@pytest.fixture
async def own(settings: Settings, unique: str) -> Settings:
    """The session's settings with a topic prefix of this test's own (:func:`private`)."""
    return await private(settings, unique)


async def paid_sim_orders(
    settings: Settings,
    pool: asyncpg.Pool,
    round_id: str,
    n: int,
    offer: dict[str, Any],
    *,
    seed: int,
) -> None:
    """Stock for ``n`` SIM orders (``n`` cards and ``n`` numbers), and orders 1 to ``n`` of
    ``round_id`` with ``offer``, reserved and paid, on the orders topic."""
    await seed_stock(pool, sim_cards=n, numbers=n, seed=seed)
    await produce(settings, [e for i in range(1, n + 1) for e in order(round_id, i, offer)])


async def shipment_counts(pool: asyncpg.Pool, round_id: str) -> dict[str, int]:
    rows = await pool.fetch(
        "SELECT order_id, count(*) AS n FROM shipments WHERE round_id = $1 GROUP BY order_id",
        round_id,
    )
    return {r["order_id"]: r["n"] for r in rows}


async def booked(pool: asyncpg.Pool, round_id: str) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM shipments WHERE round_id = $1", round_id))


async def dead(pool: asyncpg.Pool, round_id: str) -> list[asyncpg.Record]:
    return list(
        await pool.fetch(
            "SELECT * FROM fulfillment_dead_letters WHERE round_id = $1 "
            "AND requeued_at IS NULL ORDER BY id",
            round_id,
        )
    )


async def carrier_requests(pool: asyncpg.Pool, round_id: str) -> dict[str, int]:
    rows = await pool.fetch(
        "SELECT idempotency_key, requests FROM sim_carrier_bookings WHERE idempotency_key LIKE $1",
        f"order:{round_id}-%",
    )
    return {r["idempotency_key"]: r["requests"] for r in rows}


@asynccontextmanager
async def workers(
    settings: Settings, pool: asyncpg.Pool, carrier: CarrierConfig, n: int = 1, **config: object
) -> AsyncIterator[list[Fulfiller]]:
    """``n`` in-process workers of one group; stopped gracefully (and checked) at the end."""
    cfg = {
        "group": f"ff-{settings.topic_prefix}",
        "track_every": 0.2,
        "poll_ms": 100,
        "retry_first": 0.05,
        "retry_cap": 0.5,
        **config,
    }
    fs = [
        Fulfiller(
            settings,
            pool,
            SimulatedCarrier(pool, carrier),
            FulfillConfig(worker=f"w{i}", seed=i, **cfg),
        )  # type: ignore[arg-type]
        for i in range(n)
    ]
    tasks = [asyncio.create_task(f.run()) for f in fs]
    try:
        yield fs
    finally:
        for f in fs:
            f.stop()
        await asyncio.wait_for(asyncio.gather(*tasks), 30)


def ready(pool: asyncpg.Pool, round_id: str, n: int) -> Callable[[], object]:
    async def check() -> bool:
        return await booked(pool, round_id) >= n

    return check


async def topic_messages(
    settings: Settings,
    topic: str,
    n: int,
    match: Callable[[dict[str, Any]], bool] = lambda m: True,
    within: float = 30.0,
) -> list[dict[str, Any]]:
    """The messages of ``topic`` that ``match``, decoded, once ``n`` are in (or after
    ``within`` seconds)."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    got: list[dict[str, Any]] = []
    try:
        deadline = asyncio.get_running_loop().time() + within
        while len(got) < n and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            got += [v for ms in batch.values() for m in ms if match(v := orjson.loads(m.value))]
    finally:
        await consumer.stop()
    return got
