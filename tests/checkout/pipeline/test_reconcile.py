"""End to end with the real buy path: concurrent reserves (inventory Lua) → relay → writer →
PostgreSQL; reconcile agrees, names a deleted row, and --repair puts it back — on a plain round
and on a round of stock buckets (whose outboxes and relay ledgers are the buckets')."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from redis.asyncio import Redis

from checkout.pipeline.reconcile import reconcile, repair
from checkout.pipeline.relay import Relay, RelayConfig
from checkout.pipeline.writer import Writer, WriterConfig
from flashsale.core.settings import Settings
from flashsale.core.topics import ensure_topics
from inventory import Inventory, ReserveRequest, RoundSpec
from tests.support.inventory import make_spec, req
from tests.support.offer import snapshot
from tests.support.pipeline import disarm, eventually, statuses

STOCK = 1500


def spec(round_id: str, buckets: int) -> RoundSpec:
    return make_spec(
        round_id,
        stock=STOCK,
        buckets=buckets,
        per_account_limit=1,
        per_id_limit=1,
        agreement_version="v3",
        offer=snapshot(),
    )


def request(round_id: str, n: int) -> ReserveRequest:
    return req(round_id, f"b{n}", channel="web" if n % 2 else "mobile", agreement_version="v3")


@pytest.mark.timeout(90)
@pytest.mark.parametrize("buckets", [1, 3])
async def test_sale_relay_writer_reconcile_repair(
    settings: Settings, redis: Redis, pg_pool: asyncpg.Pool, unique: str, buckets: int
) -> None:
    await ensure_topics(settings)
    r = f"e2e-{unique}"
    group = f"w-{unique}"
    inv = Inventory(redis)
    relay = Relay(settings, redis, RelayConfig(consumer=f"r-{unique}", round_prefix=r))
    writer = Writer(settings, pg_pool, WriterConfig(group=group))
    tasks = [asyncio.create_task(relay.run()), asyncio.create_task(writer.run())]
    try:
        await inv.arm(spec(r, buckets))
        results = await asyncio.gather(*(inv.reserve(request(r, n)) for n in range(2000)))
        ok = [x.order_id for x in results if x.ok]
        assert len(ok) == STOCK
        assert all(x.code == "sold_out" for x in results if not x.ok)
        for oid in ok[:500]:
            assert (await inv.confirm(r, oid, f"pay-{oid}", 2000)).ok
        for oid in ok[500:600]:
            assert await inv.release(r, oid, "cancelled")

        async def agreed() -> bool:
            return (await reconcile(settings, redis, pg_pool, r, group=group)).ok

        await eventually(agreed, within=40, every=0.3)
        report = await reconcile(settings, redis, pg_pool, r, group=group)
        assert report.source == "inventory"
        assert report.redis["stocked"] == STOCK
        got = await statuses(pg_pool, r)
        assert len(got) == STOCK
        assert sum(s == "paid" for s in got.values()) == 500
        assert sum(s == "cancelled" for s in got.values()) == 100

        # a row deliberately deleted: reconcile names it, repair brings it back
        victim = ok[3]  # a paid order: repair must restore its status too
        await pg_pool.execute("DELETE FROM orders WHERE id = $1", victim)
        broken = await reconcile(settings, redis, pg_pool, r, group=group)
        assert not broken.ok
        assert [d.code for d in broken.differences] == ["paid", "missing_in_pg"]
        assert broken.differences[1].sample == [victim]
        assert await repair(settings, redis, pg_pool, broken) == 2  # reserved + paid
        await eventually(agreed, within=30, every=0.3)
        assert await pg_pool.fetchval("SELECT status FROM orders WHERE id=$1", victim) == "paid"

        # an order the writer never got (no row, no events): repair has only the relay's
        # ledger to go by — a bucketed round's are its buckets'
        lost = ok[1000]  # held, unpaid
        held = await pg_pool.fetchval("SELECT status FROM orders WHERE id=$1", lost)
        await pg_pool.execute("DELETE FROM order_events WHERE order_id = $1", lost)
        await pg_pool.execute("DELETE FROM orders WHERE id = $1", lost)
        broken = await reconcile(settings, redis, pg_pool, r, group=group)
        assert broken.missing == [lost]
        assert await repair(settings, redis, pg_pool, broken) == 1  # its order.reserved
        await eventually(agreed, within=30, every=0.3)
        assert await pg_pool.fetchval("SELECT status FROM orders WHERE id=$1", lost) == held
    finally:
        relay.stop()
        writer.stop()
        await asyncio.wait_for(asyncio.gather(*tasks), 30)
        await disarm(redis, r)
        await inv.aclose()
