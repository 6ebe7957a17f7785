"""`flashsale round create --buckets B` and `round show` with each bucket's stock (issue 15),
against the real PostgreSQL and Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from inventory import Inventory, RoundKeys
from inventory.keys import ARMED_BUCKETS, bucket_space
from tests.support.cli import create, flashsale, numbers, refused, typed
from tests.support.inventory import req


@pytest.fixture
async def inv(redis: aioredis.Redis) -> AsyncIterator[Inventory]:
    inventory = Inventory(redis, sold_out_ttl=0)
    yield inventory
    await inventory.aclose()


async def forget(redis: aioredis.Redis, rid: str, buckets: int) -> None:
    """The buckets leave Redis too (the offer fixture removes the round's own keys)."""
    for b in range(buckets):
        keys = RoundKeys(bucket_space(rid, b))
        await redis.srem(ARMED_BUCKETS, bucket_space(rid, b))  # type: ignore[misc]
        await redis.delete(*keys.script_keys())


async def test_create_splits_the_stock_and_show_lists_each_bucket(
    env: dict[str, str], offer: dict[str, Any], inv: Inventory, redis: aioredis.Redis
) -> None:
    rnd = await create(
        env, offer, "--stock", "10", "--starts", "now", "--duration", "1h", "--buckets", "4"
    )
    rid = rnd["id"]
    try:
        assert (rnd["armed"], rnd["buckets"]) == (True, 4)
        assert (await inv.reserve(req(rid, "b1"))).ok
        shown: Any = (await flashsale(env, "round", "show", rid, "--json")).json()
        assert shown["buckets"] == 4
        stock = shown["bucket_stock"]
        assert [b["stocked"] for b in stock] == [3, 3, 2, 2]
        assert sum(b["left"] for b in stock) == 9
        assert sum(b["held"] for b in stock) == 1
        text = await flashsale(env, "round", "show", rid)
        assert text.code == 0, text.err
        for b in range(4):
            assert f"bucket {b}" in text.out
        restocked = await flashsale(env, "round", "restock", rid, "6", "--json")
        assert restocked.code == 0, restocked.err
        after: Any = (await flashsale(env, "round", "show", rid, "--json")).json()
        assert [b["stocked"] for b in after["bucket_stock"]] == [5, 5, 3, 3]
        assert (await inv.stats(rid)).stocked == 16
    finally:
        await forget(redis, rid, 4)


async def test_one_bucket_is_the_default(env: dict[str, str], offer: dict[str, Any]) -> None:
    rnd = await create(env, offer, "--stock", "5", "--starts", "now", "--duration", "1h")
    assert rnd["buckets"] == 1
    shown: Any = (await flashsale(env, "round", "show", rnd["id"], "--json")).json()
    assert "bucket_stock" not in shown


async def test_bad_bucket_counts_are_refused(
    env: dict[str, str], offer: dict[str, Any], tmp_path: Any, unique: str
) -> None:
    base = f"round create --offer {offer['id']} --yes --starts +1h --duration 1h"
    refused(await typed(env, f"{base} --stock 100 --buckets 65"), "buckets", "64")
    refused(await typed(env, f"{base} --stock 100 --buckets 0"), "buckets")
    refused(await typed(env, f"{base} --stock 5 --buckets 8"), "8 buckets", "5 units")
    path = tmp_path / "n.txt"
    path.write_text("\n".join(numbers(3)) + "\n")
    pool = f"lucky-{unique}"
    assert (await flashsale(env, "numbers", "load", pool, str(path))).code == 0
    choice = f"--number-choice --number-pool {pool}"
    refused(await typed(env, f"{base} --stock 3 --buckets 2 {choice}"), "number pool")
    answer = await typed(env, f"{base} --stock 3 --buckets 2 {choice} --json")
    assert answer.code != 0
    assert '"catalog.invalid"' in answer.out
