"""Fulfillment intake parks an event PostgreSQL rejects (or one that does not decode), takes in
every other event of the batch, commits the offsets and keeps shipping (issue 12)."""

from __future__ import annotations

import asyncpg
import pytest

from checkout.pipeline.observe import kafka_lag
from flashsale.core.settings import Settings
from flashsale.core.topics import Topics
from fulfillment import CarrierConfig, seed_stock
from tests.support.fulfillment import booked, order, workers
from tests.support.offer import sim_offer
from tests.support.parking import message, parked_rows, produce_raw, wrong_types
from tests.support.pipeline import eventually


@pytest.mark.timeout(120)
async def test_poisoned_intake_parked_and_fulfillment_goes_on(
    own: Settings, pg_pool: asyncpg.Pool, unique: str
) -> None:
    topic = Topics(own.topic_prefix).orders
    r = f"pf-{unique}"
    await seed_stock(pg_pool, sim_cards=30, numbers=30, seed=7)
    first = [e for n in range(1, 11) for e in order(r, n, sim_offer())]
    poisoned = order(r, 11, sim_offer(), address="Nul\u0000Street")  # jsonb refuses NUL
    odd = order(r, 12, sim_offer(), paid=False)[0]
    later = [e for n in range(13, 21) for e in order(r, n, sim_offer())]
    await produce_raw(
        own.kafka_bootstrap,
        topic,
        [message(e) for e in first[:10]]
        + [message(e) for e in poisoned]
        + [(None, b"\xff\xfe{"), (odd.order_id.encode(), wrong_types(odd))]
        + [message(e) for e in first[10:]],
    )
    group = f"ff-{own.topic_prefix}"
    async with workers(own, pg_pool, CarrierConfig(latency_ms=5, step_seconds=5)) as fs:
        await eventually(lambda: _booked(pg_pool, r, 10), within=60)
        await produce_raw(own.kafka_bootstrap, topic, [message(e) for e in later])
        await eventually(lambda: _booked(pg_pool, r, 18), within=60)

        async def committed() -> bool:
            return await kafka_lag(own, topic, group) == 0

        await eventually(committed, within=30, every=0.5)
        assert sum(f.stats.parked for f in fs) == 3
    rows = await parked_rows(pg_pool, process="fulfillment", topic=topic)
    assert sorted(x["reason"] for x in rows) == ["malformed", "malformed", "sink_rejected:22P05"]
    rejected = next(x for x in rows if x["reason"] == "sink_rejected:22P05")
    assert rejected["order_id"] == poisoned[0].order_id
    assert bytes(rejected["payload"]) == poisoned[0].to_json()
    # its order.paid was taken in; the order waits (no snapshot) and is never shipped broken
    state = await pg_pool.fetchrow(
        "SELECT offer, paid_seq FROM fulfillment_orders WHERE order_id = $1", poisoned[0].order_id
    )
    assert state["offer"] is None
    assert state["paid_seq"] == 2


async def _booked(pool: asyncpg.Pool, round_id: str, n: int) -> bool:
    return await booked(pool, round_id) == n
