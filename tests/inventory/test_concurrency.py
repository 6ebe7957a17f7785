"""Concurrency on the real Redis: no oversell, limits, numbers, sweepers, restocks, NOSCRIPT."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import redis.asyncio as aioredis

from checkout.events import OrderEvent
from inventory import Inventory, ReserveResult, RoundKeys, run_sweeper
from tests.support.inventory import make_spec, req


async def events(redis: aioredis.Redis, round_id: str) -> list[OrderEvent]:
    return [OrderEvent.from_fields(f) for _, f in await redis.xrange(RoundKeys(round_id).outbox)]


async def test_many_buyers_never_oversell_nor_exceed_limits(
    redis: aioredis.Redis, unique: str
) -> None:
    rid = f"t{unique}"
    rng = random.Random(7)
    workers = [Inventory(redis, max_batch=32, sold_out_ttl=0) for _ in range(4)]
    await workers[0].arm(make_spec(rid, stock=50, per_account_limit=2, per_id_limit=3))
    buyers = [(f"b{i}", f"id{i % 120}") for i in range(200)]  # some IDs shared by 2 accounts
    reqs = []
    for n in range(2000):
        buyer, idh = rng.choice(buyers)
        reqs.append(req(rid, buyer, id_hash=idh, quantity=rng.choice((1, 1, 2)),
                        idempotency_key=f"k{n}"))  # fmt: skip
    results: list[ReserveResult] = await asyncio.gather(
        *(workers[n % 4].reserve(r) for n, r in enumerate(reqs))
    )
    stats = await workers[1].stats(rid)
    ok = [(r, res) for r, res in zip(reqs, results, strict=True) if res.ok]
    sold = sum(r.quantity for r, _ in ok)
    assert stats.left >= 0
    assert sold <= stats.stocked == 50
    assert sold == stats.stocked - stats.left == stats.held
    assert stats.left < 2 or all(res.code for res in results if not res.ok)
    assert len({res.order_id for _, res in ok}) == len(ok) == stats.orders
    per_account = Counter[str]()
    per_id = Counter[str]()
    for r, _ in ok:
        per_account[r.buyer_id] += r.quantity
        per_id[r.id_hash] += r.quantity
    assert max(per_account.values()) <= 2
    assert max(per_id.values()) <= 3
    assert {res.code for res in results if not res.ok} <= {"limit_reached", "sold_out"}
    evs = await events(redis, rid)
    assert sorted(e.order_id for e in evs) == sorted(res.order_id for _, res in ok)
    assert sum(e.data["quantity"] for e in evs) == sold
    assert sum(w.batch_stats.calls for w in workers) < len(reqs) / 4  # they were batched


async def test_each_number_sells_once(redis: aioredis.Redis, unique: str) -> None:
    rid = f"t{unique}"
    inv = Inventory(redis, max_batch=16)
    other = Inventory(redis, max_batch=16)
    await inv.arm(make_spec(rid, stock=100, number_choice=True))
    numbers = [f"1380000{n:04d}" for n in range(10)]
    await inv.load_numbers(rid, numbers)
    rng = random.Random(3)
    reqs = [req(rid, f"b{n}", number=rng.choice(numbers)) for n in range(300)]
    results = await asyncio.gather(*((inv if n % 2 else other).reserve(r)
                                     for n, r in enumerate(reqs)))  # fmt: skip
    sold = [r.number for r, res in zip(reqs, results, strict=True) if res.ok]
    assert len(sold) == len(set(sold))
    assert set(sold) <= set(numbers)
    assert {res.code for res in results if not res.ok} == {"number_taken"}
    assert await redis.scard(RoundKeys(rid).numbers) == 10 - len(sold)


async def test_two_sweepers_return_units_exactly_once(redis: aioredis.Redis, unique: str) -> None:
    rid = f"t{unique}"
    a, b = Inventory(redis), Inventory(redis)
    await a.arm(make_spec(rid, stock=60, per_account_limit=0, per_id_limit=0))
    results = await asyncio.gather(*(a.reserve(req(rid, f"b{n}", quantity=1 + n % 2))
                                     for n in range(40)))  # fmt: skip
    assert all(r.ok for r in results)
    held = sum(1 + n % 2 for n in range(40))
    keys = RoundKeys(rid)
    await redis.zadd(keys.holds, {r.order_id: 0 for r in results if r.order_id}, xx=True)
    counts = await asyncio.gather(
        *(inv.sweep(rid, limit=3) for _ in range(15) for inv in (a, b)),
        *(inv.release(rid, r.order_id, "expired") for r in results[:10] if r.order_id
          for inv in (a, b)),
    )  # fmt: skip
    released_by_sweep = sum(counts[:30])
    released_by_call = sum(counts[30:])
    while n := await a.sweep(rid, limit=7):
        released_by_sweep += n
    assert released_by_sweep + released_by_call == 40
    stats = await a.stats(rid)
    assert (stats.left, stats.held, stats.released) == (60, 0, held)
    expired = [e for e in await events(redis, rid) if e.type == "order.expired"]
    assert Counter(e.order_id for e in expired) == Counter(r.order_id for r in results)
    assert await redis.zcard(keys.holds) == 0
    assert await redis.hlen(keys.accounts) == 0


async def test_run_sweeper_stops_gracefully(redis: aioredis.Redis, unique: str) -> None:
    rid = f"t{unique}"
    inv = Inventory(redis)
    await inv.arm(make_spec(rid, hold_seconds=0))
    assert (await inv.reserve(req(rid, "b1"))).ok
    stop = asyncio.Event()
    task = asyncio.create_task(run_sweeper(inv, redis, stop=stop, interval=0.05))
    for _ in range(100):
        if (await inv.stats(rid)).released == 1:
            break
        await asyncio.sleep(0.02)
    stop.set()
    assert await asyncio.wait_for(task, 5) >= 1
    assert (await inv.stats(rid)).left == 10


async def test_restock_concurrent_with_reserves(redis: aioredis.Redis, unique: str) -> None:
    rid = f"t{unique}"
    inv = Inventory(redis, max_batch=8, sold_out_ttl=0)
    await inv.arm(make_spec(rid, stock=5, per_account_limit=0, per_id_limit=0))
    ops = [inv.reserve(req(rid, f"b{n}")) for n in range(200)]
    ops += [inv.restock(rid, 10, f"r{n % 4}") for n in range(12)]  # 4 distinct ids, 3 times each
    random.Random(1).shuffle(ops)
    out = await asyncio.gather(*ops)
    sold = sum(1 for r in out if isinstance(r, ReserveResult) and r.ok)
    stats = await inv.stats(rid)
    assert stats.stocked == 45
    assert sold == 45 - stats.left
    assert stats.left >= 0
    assert await redis.scard(RoundKeys(rid).restocks) == 4


async def test_script_cache_loss_never_surfaces(redis: aioredis.Redis, unique: str) -> None:
    rid = f"t{unique}"
    inv = Inventory(redis, max_batch=8, sold_out_ttl=0)
    await inv.arm(make_spec(rid, stock=500, per_account_limit=0, per_id_limit=0))
    await redis.script_flush()  # between calls
    assert (await inv.reserve(req(rid, "b0"))).ok
    await redis.script_flush()
    assert (await inv.stats(rid)).orders == 1

    async def flusher() -> None:
        for _ in range(10):
            await redis.script_flush()
            await asyncio.sleep(0.003)

    results = await asyncio.gather(
        flusher(), *(inv.reserve(req(rid, f"b{n}")) for n in range(1, 400)),
        *(inv.sweep(rid) for _ in range(20)),
    )  # fmt: skip
    reserved = [r for r in results if isinstance(r, ReserveResult)]
    assert all(r.ok for r in reserved)
    assert (await inv.stats(rid)).orders == 400
