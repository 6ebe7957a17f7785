"""A bucketed round end to end (issue 15): concurrent reserves over 8 buckets → each bucket's
outbox → relay → writer → PostgreSQL: every acknowledged order exactly once, under the round's
id, with its final status; reconcile agrees."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from redis.asyncio import Redis

from checkout.pipeline.archive import ArchiveConfig, Archiver
from checkout.pipeline.reconcile import reconcile
from flashsale.core.settings import Settings
from inventory import Inventory
from tests.support.buckets import relay_and_writer
from tests.support.inventory import make_spec, req
from tests.support.pipeline import eventually, statuses

B = 8
STOCK = 60
PRICE = 2000


@pytest.mark.timeout(90)
async def test_bucketed_orders_reach_postgres_exactly_once(
    settings: Settings, redis: Redis, pg_pool: asyncpg.Pool, unique: str
) -> None:
    r = f"bk-{unique}"
    inv = Inventory(redis)
    try:
        async with relay_and_writer(settings, redis, pg_pool, r, unique) as group:
            await inv.arm(make_spec(r, stock=STOCK, buckets=B, per_account_limit=1))
            ok = await sell(inv, r)
            for oid in ok[:20]:
                assert (await inv.confirm(r, oid, f"pay-{oid}", PRICE)).ok
            for oid in ok[20:30]:
                assert await inv.release(r, oid, "cancelled")

            async def written() -> bool:
                got = await statuses(pg_pool, r)
                return len(got) == STOCK and sum(s != "reserved" for s in got.values()) == 30

            await eventually(written, within=40, every=0.3)
            got = await statuses(pg_pool, r)
            assert sorted(got) == sorted(ok)  # every order once, under the round's id
            assert sum(s == "paid" for s in got.values()) == 20
            assert sum(s == "cancelled" for s in got.values()) == 10
            report = await reconcile(settings, redis, pg_pool, r, group=group)
            assert report.ok, report.as_dict()
            assert report.redis["stocked"] == STOCK
            archiver = Archiver(settings, redis, pg_pool, inv, ArchiveConfig(round_prefix=r))
            skipped = await archiver.archive(r)  # not a catalog round: left in Redis
            assert (skipped.state, skipped.deleted_keys) == ("skipped", 0)
            assert skipped.reasons == ["no such round in the catalog"]
            assert (await inv.stats(r)).orders == STOCK
    finally:
        await inv.aclose()


async def sell(inv: Inventory, r: str) -> list[str]:
    """150 buyers at once for the round's STOCK units, then all of them again (replays only)."""
    results = await asyncio.gather(*(inv.reserve(req(r, f"b{n}")) for n in range(150)))
    ok = [x.order_id or "" for x in results if x.ok]
    assert len(ok) == STOCK
    again = await asyncio.gather(*(inv.reserve(req(r, f"b{n}")) for n in range(150)))
    assert sorted(x.order_id or "" for x in again if x.ok) == sorted(ok)
    return ok
