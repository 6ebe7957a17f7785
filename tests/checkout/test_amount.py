"""Money is exact (DESIGN invariant 10): a chosen number's surcharge is part of the amount due,
charged by pay, checked at confirmation and stored with the order in Redis, in its events and in
PostgreSQL; a callback of another amount is not applied and is recorded for refund."""

from __future__ import annotations

import asyncpg
import redis.asyncio as aioredis

from flashsale.core.settings import Settings
from inventory import Inventory
from tests.support.api import api_client, arm, body, buyer, spec
from tests.support.inventory import events as outbox
from tests.support.money import PRICE, callback, reserve, to_postgres

LUCKY, PLAIN = "13988888888", "13912345670"
SURCHARGE = 8800  # ¥88 for the lucky number


async def lucky_round(settings: Settings, redis: aioredis.Redis, rid: str) -> None:
    await arm(settings, spec(rid, stock=5, number_choice=True))
    await Inventory(redis).load_numbers(rid, [LUCKY, PLAIN], {LUCKY: SURCHARGE})


async def test_surcharge_is_charged_end_to_end(
    settings: Settings, redis: aioredis.Redis, pg_pool: asyncpg.Pool, unique: str
) -> None:
    rid = f"money{unique}"
    await lucky_round(settings, redis, rid)
    total = PRICE + SURCHARGE
    async with api_client(settings) as client:
        request = body(number=LUCKY)
        lucky = (await reserve(client, settings, rid, "m1", LUCKY, request)).json()
        plain = (await reserve(client, settings, rid, "m2", PLAIN)).json()
        assert lucky["amount_due"] == {
            "price_fen": PRICE,
            "surcharge_fen": SURCHARGE,
            "total_fen": total,
        }
        assert plain["amount_due"] == {"price_fen": PRICE, "surcharge_fen": 0, "total_fen": PRICE}
        oid = lucky["order_id"]
        view = (await client.get(f"/api/orders/{oid}", headers=buyer(settings, "m1"))).json()
        assert view["amount_due"]["total_fen"] == total
        # a replayed reservation shows the same amount
        again = await reserve(client, settings, rid, "m1", LUCKY, request)
        assert again.headers.get("Idempotent-Replayed") == "true"
        assert again.json()["amount_due"] == lucky["amount_due"]
        paid = await client.post(
            f"/api/orders/{oid}/pay", json={"instant": True}, headers=buyer(settings, "m1")
        )
        assert paid.status_code == 200, paid.text
        assert paid.json()["status"] == "paid"
        view = (await client.get(f"/api/orders/{oid}", headers=buyer(settings, "m1"))).json()
    assert (view["status"], view["amount"]) == ("paid", total)
    order = await Inventory(redis).order(rid, oid)
    assert order is not None
    assert (order["amount"], order["amount_due"]["total_fen"]) == (total, total)
    events = {(e.order_id, e.type): e for e in await outbox(redis, rid)}
    reserved = events[(oid, "order.reserved")].data
    assert (reserved["price_fen"], reserved["number_surcharge"], reserved["total_fen"]) == (
        PRICE,
        SURCHARGE,
        total,
    )
    assert events[(oid, "order.paid")].data["amount"] == total
    await to_postgres(pg_pool, redis, rid)
    rows = {
        r["id"]: r
        for r in await pg_pool.fetch(
            "SELECT id, status, surcharge_fen, total_fen FROM orders WHERE round_id = $1", rid
        )
    }
    assert (rows[oid]["status"], rows[oid]["surcharge_fen"], rows[oid]["total_fen"]) == (
        "paid",
        SURCHARGE,
        total,
    )
    plain_row = rows[plain["order_id"]]
    assert (plain_row["surcharge_fen"], plain_row["total_fen"]) == (0, PRICE)


async def test_callback_with_another_amount_is_not_applied(
    settings: Settings, redis: aioredis.Redis, pg_pool: asyncpg.Pool, unique: str
) -> None:
    rid = f"mismatch{unique}"
    await lucky_round(settings, redis, rid)
    async with api_client(settings) as client:
        oid = (await reserve(client, settings, rid, "w1", LUCKY)).json()["order_id"]
        # the price without the surcharge: what the old amount_due charged
        r = await callback(client, settings, oid, PRICE)
        assert r.status_code == 200, r.text
        answer = r.json()
        assert (answer["status"], answer["payment"], answer["refund_reason"]) == (
            "reserved",
            "refund_required",
            "amount_mismatch",
        )
        view = (await client.get(f"/api/orders/{oid}", headers=buyer(settings, "w1"))).json()
        assert view["status"] == "reserved"  # still payable, for the right amount
        assert view["payment_id"] is None
        right = await client.post(
            f"/api/orders/{oid}/pay", json={"instant": True}, headers=buyer(settings, "w1")
        )
        assert right.json()["status"] == "paid"
    refund = [e for e in await outbox(redis, rid) if e.type == "payment.refund_required"]
    assert len(refund) == 1
    assert (refund[0].status, refund[0].seq) == ("reserved", 2)
    assert refund[0].data["amount"] == PRICE
    assert refund[0].data["reason"] == "amount_mismatch"
    stats = await Inventory(redis).stats(rid)
    assert (stats.paid, stats.held) == (1, 0)
    await to_postgres(pg_pool, redis, rid)
    row = await pg_pool.fetchrow(
        "SELECT order_id, amount_fen, reason, state FROM refunds WHERE payment_id = $1",
        refund[0].data["payment_id"],
    )
    assert row is not None
    assert dict(row) == {
        "order_id": oid,
        "amount_fen": PRICE,
        "reason": "amount_mismatch",
        "state": "required",
    }
    assert await pg_pool.fetchval("SELECT status FROM orders WHERE id = $1", oid) == "paid"
