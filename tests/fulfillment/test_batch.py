"""Fulfillment in batches: one allocation for many orders whose outcomes are per order (a short
kind leaves the orders it could not serve for later and hoards nothing, a snapshot mismatch
refuses that order only, a retry reuses what is bound); a worker batch that ships the rest
when part of it cannot ship; two workers whose leases expire mid-batch still ship each order
once."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import asyncpg

from flashsale.core.settings import Settings
from flashsale.core.topics import Topics
from fulfillment import CarrierConfig, FulfillConfig, Fulfiller, SimulatedCarrier, seed_stock
from fulfillment._allocate import allocate
from fulfillment.errors import Mismatch, OutOfStock
from fulfillment.identifiers import make_imei
from fulfillment.stock import register_model
from fulfillment.work import Work
from tests.support.fulfillment import (
    booked,
    carrier_requests,
    dead,
    order,
    ready,
    shipment_counts,
    topic_messages,
    workers,
)
from tests.support.offer import handset_offer, sim_offer
from tests.support.pipeline import eventually, produce


def work(oid: str, offer: dict[str, Any], quantity: int = 1, number: str | None = None) -> Work:
    return Work(
        order_id=oid,
        round_id=oid.rsplit("-", 1)[0],
        offer=offer,
        quantity=quantity,
        number=number,
        channel="web",
        pii={"real_name": "Z*** San", "address": "1 Chang'an Ave"},
        paid_seq=2,
        attempts=0,
    )


async def free_handsets(pool: asyncpg.Pool, sku: str) -> int:
    return int(
        await pool.fetchval(
            "SELECT count(*) FROM handsets WHERE sku = $1 AND order_id IS NULL AND defect IS NULL",
            sku,
        )
    )


async def test_one_allocation_many_orders_outcomes_per_order(
    pg_pool: asyncpg.Pool, unique: str
) -> None:
    r = f"ab-{unique}"
    sku, bad_sku = f"ab-x-{unique}", f"ab-y-{unique}"
    await seed_stock(pg_pool, handsets={sku: 4}, sim_cards=2, numbers=2, seed=11)
    await register_model(pg_pool, bad_sku, "35333333")
    wrong = make_imei(random.Random(12), "35444444")  # labelled bad_sku, not its model
    await pg_pool.execute("INSERT INTO handsets (imei, sku) VALUES ($1, $2)", wrong, bad_sku)
    gift_on_handset = handset_offer(sku, [{"kind": "data", "amount": "1GB"}])
    batch = [
        work(f"{r}-1", handset_offer(sku)),
        work(f"{r}-2", handset_offer(sku), quantity=2),
        work(f"{r}-3", handset_offer(sku), quantity=2),  # 1 left for 2 units: short
        work(f"{r}-4", handset_offer(sku)),  # nothing left: short
        work(f"{r}-5", handset_offer(bad_sku)),  # the wrong model: refused
        work(f"{r}-6", gift_on_handset),  # a snapshot that cannot be honoured: refused
        work(f"{r}-7", sim_offer()),  # a SIM card and a spare number
    ]
    async with pg_pool.acquire() as conn:
        got = await allocate(conn, list(reversed(batch)))  # any order in, one lock order
    assert set(got.items) == {f"{r}-1", f"{r}-2", f"{r}-7"}
    assert [len(got.items[f"{r}-{n}"]) for n in (1, 2, 7)] == [1, 2, 1]
    assert {it["sku"] for n in (1, 2) for it in got.items[f"{r}-{n}"]} == {sku}
    sim = got.items[f"{r}-7"][0]
    assert sim["kind"] == "sim"
    assert sim["number"]
    assert isinstance(got.failed[f"{r}-3"], OutOfStock)
    assert isinstance(got.failed[f"{r}-4"], OutOfStock)
    assert isinstance(got.failed[f"{r}-5"], Mismatch)
    assert got.failed[f"{r}-5"].code == "allocation.variant"
    assert got.failed[f"{r}-6"].code == "gift.no_line"
    # the short order gave back the unit it took; the refused one's handset is defective
    assert await free_handsets(pg_pool, sku) == 1
    held = await pg_pool.fetch("SELECT order_id FROM handsets WHERE order_id LIKE $1", f"{r}-%")
    assert sorted(h["order_id"] for h in held) == [f"{r}-1", f"{r}-2", f"{r}-2"]
    row = await pg_pool.fetchrow("SELECT order_id, defect FROM handsets WHERE imei = $1", wrong)
    assert row["order_id"] is None
    assert row["defect"].startswith("allocation.variant")
    card = await pg_pool.fetchrow("SELECT order_id, number FROM sim_cards WHERE iccid = $1",
                                  sim["iccid"])  # fmt: skip
    assert (card["order_id"], card["number"]) == (f"{r}-7", sim["number"])

    # a retry of the served orders allocates nothing new: the same items come back
    async with pg_pool.acquire() as conn:
        again = await allocate(conn, [batch[0], batch[1], batch[6]])
    assert again.items == got.items
    assert not again.failed
    assert await free_handsets(pg_pool, sku) == 1


async def test_chosen_numbers_in_one_batch(pg_pool: asyncpg.Pool, unique: str) -> None:
    r = f"cn-{unique}"
    digits = unique[:4].translate(str.maketrans("abcdef", "123456"))
    mine, other = f"138{digits}0001", f"138{digits}0002"
    await seed_stock(pg_pool, sim_cards=3, numbers=3, seed=13)
    await pg_pool.execute(
        "INSERT INTO phone_numbers (number, order_id, unit, bound_at) VALUES ($1, $2, 1, now())",
        other,
        f"{r}-elsewhere",
    )
    batch = [
        work(f"{r}-1", sim_offer(), number=mine),
        work(f"{r}-2", sim_offer(), number=mine),  # the same number, a later order: refused
        work(f"{r}-3", sim_offer(), number=other),  # bound to another order: refused
        work(f"{r}-4", sim_offer(), quantity=2, number=f"138{digits}0003"),
    ]
    async with pg_pool.acquire() as conn:
        got = await allocate(conn, batch)
    assert set(got.items) == {f"{r}-1", f"{r}-4"}
    assert got.items[f"{r}-1"][0]["number"] == mine
    four = got.items[f"{r}-4"]
    assert four[0]["number"] == f"138{digits}0003"
    assert four[1]["number"] not in (None, mine, other, four[0]["number"])  # a spare one
    assert {got.failed[f"{r}-{n}"].code for n in (2, 3)} == {"number.taken"}
    assert f"{r}-elsewhere" in str(got.failed[f"{r}-3"])
    assert not await pg_pool.fetch(
        "SELECT 1 FROM sim_cards WHERE order_id = ANY($1::text[])", [f"{r}-2", f"{r}-3"]
    )


async def test_a_batch_ships_what_it_can_and_leaves_the_rest_for_later(
    own: Settings, pg_pool: asyncpg.Pool, unique: str
) -> None:
    r = f"bs-{unique}"
    sku, bad_sku = f"bs-x-{unique}", f"bs-y-{unique}"
    await seed_stock(pg_pool, handsets={sku: 3}, sim_cards=4, numbers=4, seed=14)
    await register_model(pg_pool, bad_sku, "35555555")
    wrong = make_imei(random.Random(15), "35666666")
    await pg_pool.execute("INSERT INTO handsets (imei, sku) VALUES ($1, $2)", wrong, bad_sku)
    events = [e for n in range(1, 6) for e in order(r, n, handset_offer(sku))]
    events += order(r, 6, handset_offer(bad_sku))
    events += [e for n in range(7, 11) for e in order(r, n, sim_offer())]
    await produce(own, events)
    async with workers(own, pg_pool, CarrierConfig(latency_ms=5), batch=32) as (f,):

        async def settled() -> bool:
            return await booked(pg_pool, r) == 7 and len(await dead(pg_pool, r)) == 1

        await eventually(settled, within=30)
        waiting = await pg_pool.fetch(
            "SELECT order_id, state, last_error FROM fulfillment_orders "
            "WHERE round_id = $1 AND order_id NOT IN (SELECT order_id FROM shipments) "
            "AND state <> 'dead'",
            r,
        )
        assert len(waiting) == 2  # two handset orders wait for stock, not dead
        assert {w["last_error"] for w in waiting} == {"stock.empty"}
        assert not await pg_pool.fetch(
            "SELECT 1 FROM handsets WHERE order_id = ANY($1::text[])",
            [w["order_id"] for w in waiting],
        )  # nothing hoarded
        await seed_stock(pg_pool, handsets={sku: 2}, seed=16)
        await eventually(ready(pg_pool, r, 9), within=30)
        assert f.stats.dead == 1
    [letter] = await dead(pg_pool, r)
    assert letter["order_id"] == f"{r}-6"
    assert letter["code"] == "allocation.variant"
    counts = await shipment_counts(pg_pool, r)
    assert set(counts) == {f"{r}-{n}" for n in (1, 2, 3, 4, 5, 7, 8, 9, 10)}
    assert set(counts.values()) == {1}
    gifts = await pg_pool.fetchval(
        "SELECT count(*) FROM gift_activations WHERE order_id LIKE $1", f"{r}-%"
    )
    assert gifts == 8  # data + credit for each of the four SIM orders, none for handsets
    booked_events = await topic_messages(
        own, Topics(own.topic_prefix).shipments, len(counts),
        lambda m: m["type"] == "shipment.booked",
    )  # fmt: skip
    assert sorted(e["order_id"] for e in booked_events) == sorted(counts)
    # a published row is deleted in the transaction that published it
    assert not await pg_pool.fetchval(
        "SELECT count(*) FROM fulfillment_outbox WHERE event_id = ANY($1::text[])",
        [e["event_id"] for e in booked_events],
    )


_EXPIRED = """SELECT count(*) FROM fulfillment_orders
WHERE round_id = $1 AND state = 'working' AND lease_until < now()"""


async def test_leases_expire_mid_batch_still_one_shipment_each(
    own: Settings, pg_pool: asyncpg.Pool, unique: str
) -> None:
    r = f"le-{unique}"
    await seed_stock(pg_pool, sim_cards=30, numbers=30, seed=17)
    # each booking takes 1-3 s, a lease 0.1 s: the other worker's pass takes over what the
    # first worker still has at the carrier and books it again under the same keys
    ccfg = CarrierConfig(latency_ms=2000, seed=3)
    cfg = {"batch": 30, "concurrency": 30, "lease_seconds": 0.1}
    other = Fulfiller(
        own,
        pg_pool,
        SimulatedCarrier(pg_pool, ccfg),
        FulfillConfig(worker="other", seed=1, group=f"ff-{own.topic_prefix}", **cfg),  # type: ignore[arg-type]
    )
    async with workers(own, pg_pool, ccfg, **cfg):
        await produce(own, [e for n in range(1, 31) for e in order(r, n, sim_offer())], times=2)

        async def lease_expired_at_the_carrier() -> bool:
            return bool(await pg_pool.fetchval(_EXPIRED, r))

        await eventually(lease_expired_at_the_carrier, within=30, every=0.02)
        assert await other.work_once() >= 1  # (the first worker's bookings take 1 s at least)
        await eventually(ready(pg_pool, r, 30), within=40)
        await asyncio.sleep(1.0)  # bookings still in flight land
    counts = await shipment_counts(pg_pool, r)
    assert len(counts) == 30
    assert set(counts.values()) == {1}
    requests = await carrier_requests(pg_pool, r)
    assert len(requests) == 30  # one booking per order at the carrier
    assert max(requests.values()) >= 2  # taken over while its first booking was in flight
    manifests = await pg_pool.fetch(
        "SELECT s.order_id, c.order_id AS holder FROM shipments s "
        "JOIN sim_cards c ON c.iccid = s.manifest->0->>'iccid' WHERE s.round_id = $1",
        r,
    )
    assert len(manifests) == 30
    assert all(m["order_id"] == m["holder"] for m in manifests)  # the card shipped is the order's
    assert (
        await pg_pool.fetchval("SELECT count(*) FROM sim_cards WHERE order_id LIKE $1", f"{r}-%")
        == 30
    )  # no unit allocated twice
