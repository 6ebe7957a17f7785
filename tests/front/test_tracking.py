"""GET /api/orders/{id} shows the shipment and its tracking once fulfillment booked it."""

from __future__ import annotations

import asyncpg
import redis.asyncio as aioredis

from checkout.events import OrderEvent
from flashsale.core.settings import Settings
from fulfillment import seed_stock
from fulfillment.carrier import CarrierConfig
from inventory.keys import RoundKeys
from tests.support.api import api_client, arm, body, buyer, headers, spec
from tests.support.fulfillment import private, ready, workers
from tests.support.offer import sim_offer
from tests.support.pipeline import eventually, produce


async def test_paid_order_shows_tracking(
    settings: Settings, redis: aioredis.Redis, pg_pool: asyncpg.Pool, unique: str
) -> None:
    rid = f"track{unique}"
    offer = sim_offer()
    await arm(
        settings, spec(rid, stock=3, offer=offer, agreement_version=offer["agreement_version"])
    )
    async with api_client(settings) as client:
        reserved = await client.post(
            f"/api/rounds/{rid}/orders",
            json=body(agreement_version=offer["agreement_version"]),
            headers=headers(settings, "tracker", f"track-key-{unique}"),
        )
        assert reserved.status_code == 201, reserved.text
        order_id = reserved.json()["order_id"]
        paid = await client.post(
            f"/api/orders/{order_id}/pay",
            json={"instant": True},
            headers=buyer(settings, "tracker"),
        )
        assert paid.json()["status"] == "paid"
        before = (
            await client.get(f"/api/orders/{order_id}", headers=buyer(settings, "tracker"))
        ).json()
        assert before["status"] == "paid"
        assert before["shipment"] is None  # fulfillment has not seen it yet

        # The relay's job, done directly: the round's outbox events onto this test's topic.
        entries = await redis.xrange(RoundKeys(rid).outbox)
        events = [OrderEvent.from_fields(fields) for _, fields in entries]
        assert [e.type for e in events] == ["order.reserved", "order.paid"]
        own = await private(settings, unique)
        await produce(own, events)
        await seed_stock(pg_pool, sim_cards=5, numbers=5, seed=int(unique[:6], 16))
        async with workers(own, pg_pool, CarrierConfig(latency_ms=1)):
            await eventually(ready(pg_pool, rid, 1), within=30)

        seen = (
            await client.get(f"/api/orders/{order_id}", headers=buyer(settings, "tracker"))
        ).json()
        assert seen["status"] in ("shipped", "delivered")
        shipment = seen["shipment"]
        assert shipment["tracking_no"]
        assert shipment["carrier"]
        assert shipment["promised_date"]
        assert shipment["history"][0]["state"] == "booked"
        # Another buyer still sees nothing of it.
        other = await client.get(f"/api/orders/{order_id}", headers=buyer(settings, "nosy"))
        assert other.status_code == 404
