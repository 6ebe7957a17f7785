"""The buy-path invariants of the inventory, run again on a 3-master Redis Cluster (issue 15):
every test of :mod:`tests.inventory.test_reserve` and :mod:`tests.inventory.test_lifecycle`
(no oversell under concurrent buyers, per-account and per-ID limits, idempotent reservations
and confirmations, expiry and release returning units once, late payment, restock, numbers)
with the ``redis`` fixture replaced by the cluster client the processes use. Each test's
round lands on whichever master owns its hash tag; a concurrency test over several rounds
checks that they spread across the masters."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis
from redis.crc import key_slot

from inventory import Inventory, RoundKeys
from tests.inventory import on_cluster
from tests.inventory.test_lifecycle import *  # noqa: F403 - the same tests, on the cluster
from tests.inventory.test_reserve import *  # noqa: F403
from tests.inventory.test_reserve import test_redis_failure_fails_only_that_batch
from tests.support.inventory import make_spec, req

# A client on a closed port proves nothing about the cluster.
del test_redis_failure_fails_only_that_batch


cluster = on_cluster.cluster
redis = on_cluster.redis


async def test_many_buyers_many_rounds_spread_over_the_masters(
    redis: aioredis.Redis, unique: str
) -> None:
    rounds = [f"c{unique}{i}" for i in range(12)]
    slots = {key_slot(RoundKeys(r).meta.encode()) // (16384 // 3) for r in rounds}
    assert len(slots) > 1  # the rounds live on more than one master
    inv = Inventory(redis)
    try:
        for r in rounds:
            await inv.arm(make_spec(r, stock=5, per_account_limit=1, per_id_limit=1))
        results = await asyncio.gather(
            *(inv.reserve(req(r, f"b{n}")) for r in rounds for n in range(40))
        )
        for r in rounds:
            mine = [x for x in results if x.order_id and x.order_id.startswith(f"{r}-")]
            assert len(mine) == 5  # no oversell, no undersell, on every master
            stats = await inv.stats(r)
            assert (stats.left, stats.held, stats.orders) == (0, 5, 5)
    finally:
        await inv.aclose()
