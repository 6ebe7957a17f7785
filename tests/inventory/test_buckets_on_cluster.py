"""The bucket tests of :mod:`tests.inventory.test_buckets` on a private 3-master Redis Cluster:
8 buckets of one round spread over the masters, many concurrent buyers and little stock."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis
from redis.crc import key_slot

from inventory import RoundKeys
from inventory.keys import bucket_space
from tests.inventory import on_cluster
from tests.inventory.test_buckets import *  # noqa: F403 - the same tests, on the cluster
from tests.inventory.test_buckets import B, armed, used
from tests.support.inventory import req

pytestmark = pytest.mark.cluster


cluster = on_cluster.cluster
redis = on_cluster.redis


async def test_buckets_spread_over_the_masters_and_hold_the_invariants(
    redis: aioredis.Redis, unique: str
) -> None:
    rid = f"c{unique}"
    masters = {key_slot(RoundKeys(bucket_space(rid, b)).meta.encode()) * 3 // 16384
               for b in range(B)}  # fmt: skip
    assert len(masters) > 1  # one round's stock on more than one master
    inv = await armed(redis, rid, stock=11, per_account_limit=2, per_id_limit=3)
    try:
        crowd = [req(rid, f"b{n % 60}", idempotency_key=f"k{n}", id_hash=f"id{n % 45}")
                 for n in range(300)]  # fmt: skip
        results = await asyncio.gather(*(inv.reserve(r) for r in crowd))
        assert sum(r.ok for r in results) == 11  # no oversell, no undersell
        assert {r.code for r in results if not r.ok} <= {"sold_out", "limit_reached"}
        stats = await inv.stats(rid)
        assert (stats.left, stats.held, stats.orders) == (0, 11, 11)
        for n in range(60):
            assert await used(redis, rid, f"b{n}") <= 2
    finally:
        await inv.aclose()
