"""The writer's side of shipment events: shipped / delivered whatever the arrival order across
the orders and shipments topics; shipment.failed recorded without changing the status. And the
fulfillment side of writer lag: a paid order whose order.reserved fulfillment never saw takes
its snapshot from the orders row."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import orjson

from checkout.events import OrderEvent, shipment_event
from checkout.pipeline._apply import apply_batch, shipment_from_json
from flashsale.core.settings import Settings
from fulfillment import CarrierConfig, seed_stock
from tests.support.fulfillment import booked, order, workers
from tests.support.offer import sim_offer
from tests.support.pipeline import eventually, produce


def ship(e: OrderEvent, state: str, n: int = 0, keeps: str = "paid") -> OrderEvent:
    at = datetime.fromtimestamp(e.at / 1000 + 60 * (n + 1), UTC)
    msg = shipment_event(
        e.order_id, e.round_id, state, at, {"carrier": "simexpress"}, failure_no=n, keeps=keeps
    )
    return shipment_from_json(orjson.dumps(msg))


async def test_shipment_events_order_status_any_arrival(pg_pool: asyncpg.Pool, unique: str) -> None:
    r = f"ws-{unique}"
    a_res, a_paid = order(r, 1, sim_offer())
    b_res, b_paid = order(r, 2, sim_offer())
    c_res, c_paid = order(r, 3, sim_offer())
    async with pg_pool.acquire() as conn:
        # a: booked arrives before the order's own events
        await apply_batch(conn, [ship(a_res, "booked")])
        await apply_batch(conn, [a_paid, a_res])
        # b: delivered before in_transit, in one batch with a booking failure (recorded only)
        await apply_batch(conn, [b_res, b_paid, ship(b_res, "failed", 1)])
        assert (
            await conn.fetchval("SELECT status FROM orders WHERE id=$1", b_res.order_id) == "paid"
        )
        await apply_batch(conn, [ship(b_res, "delivered"), ship(b_res, "in_transit")])
        await apply_batch(conn, [ship(b_res, "booked")])  # late duplicate-ish
        # c: lost in transit after being shipped: stays shipped
        await apply_batch(
            conn, [c_res, c_paid, ship(c_res, "booked"), ship(c_res, "failed", 9, keeps="shipped")]
        )
        rows = {
            x["id"]: x
            for x in await conn.fetch(
                "SELECT id, status, seq, reserved_at, paid_at FROM orders WHERE round_id=$1", r
            )
        }
        types = await conn.fetch("SELECT type FROM order_events WHERE order_id=$1", b_res.order_id)
    assert rows[a_res.order_id]["status"] == "shipped"
    assert rows[a_res.order_id]["reserved_at"] is not None
    assert rows[a_res.order_id]["paid_at"] is not None
    assert rows[b_res.order_id]["status"] == "delivered"
    assert rows[b_res.order_id]["seq"] == 104
    assert rows[c_res.order_id]["status"] == "shipped"
    assert sorted(t["type"] for t in types) == sorted(
        [
            "order.reserved",
            "order.paid",
            "shipment.failed",
            "shipment.delivered",
            "shipment.in_transit",
            "shipment.booked",
        ]
    )


async def test_snapshot_from_orders_row_when_reserved_never_seen(
    own: Settings, pg_pool: asyncpg.Pool, unique: str
) -> None:
    r = f"bf-{unique}"
    await seed_stock(pg_pool, sim_cards=1, numbers=1, seed=9)
    reserved, paid = order(r, 1, sim_offer([]))
    async with pg_pool.acquire() as conn:
        await apply_batch(conn, [reserved, paid])  # the writer has the whole order
    await produce(own, [paid])  # fulfillment only ever sees order.paid
    async with workers(own, pg_pool, CarrierConfig(), backfill_after=0.3):

        async def shipped() -> bool:
            return await booked(pg_pool, r) == 1

        await eventually(shipped, within=30)
