"""Per-worker sold-out knowledge (inventory/_soldout.py): once a round is sold out a worker
answers new Idempotency-Keys with no round trip, and a key with a stored outcome — a retried
success above all — still gets that outcome (invariant 5), on any worker, under load."""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aioredis

from flashsale.core.settings import Settings
from inventory import Inventory, RoundKeys
from inventory.scripts import script
from tests.inventory.test_reserve import one_unit
from tests.support.inventory import make_spec, req
from tests.support.soldout import until_known


class CountingRedis(aioredis.Redis):
    """A client that counts the commands it sends (round trips of one worker)."""

    sent = 0

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        type(self).sent += 1
        return await super().execute_command(*args, **options)


def counting(settings: Settings) -> CountingRedis:
    class Counted(CountingRedis):
        sent = 0

    return Counted.from_url(settings.redis_url)


async def lease(redis: aioredis.Redis, rid: str, ms: int) -> list[int]:
    found = await script("sold_out")(redis, RoundKeys(rid).script_keys(), [rid, f'{{"ms":{ms}}}'])
    return [int(x) for x in found]


async def sell_the_unit(seller: Inventory, learner: Inventory, rid: str) -> str:
    """A round of one unit sold by ``seller``; ``learner`` saw it sold out and knows it."""
    await seller.arm(make_spec(rid, stock=1))
    won = await seller.reserve(req(rid, "w"))
    assert won.ok
    assert won.order_id
    assert (await learner.reserve(req(rid, "x"))).code == "sold_out"
    await until_known(learner, rid)
    return won.order_id


async def test_retries_replay_and_new_keys_cost_no_round_trip_under_load(
    redis: aioredis.Redis, settings: Settings, unique: str
) -> None:
    """Two workers, 20 units, 300 buyers at once; then, sold out, 600 new keys and every
    winner's retry (on the other worker) at once, three times over."""
    rid = f"t{unique}"
    clients = [counting(settings), counting(settings)]
    workers = [Inventory(c, max_batch=32, sold_out_ttl=5) for c in clients]
    try:
        await workers[0].arm(make_spec(rid, stock=20, per_account_limit=1, per_id_limit=1))
        first = await asyncio.gather(
            *(workers[i % 2].reserve(req(rid, f"b{i}")) for i in range(300))
        )
        won = {i: r.order_id for i, r in enumerate(first) if r.ok}
        assert len(won) == 20  # no oversell, nothing left
        assert {r.code for r in first if not r.ok} == {"sold_out"}
        for w in workers:
            if not w.sold_out_hint(rid):
                await w.reserve(req(rid, "probe"))  # a script answer: sold out, learn it
            await until_known(w, rid)
        for wave in range(3):
            sent = [type(c).sent for c in clients]
            calls = [w.batch_stats.calls for w in workers]
            news = [workers[i % 2].reserve(req(rid, f"n{wave}-{i}")) for i in range(600)]
            retries = [workers[(i + 1) % 2].reserve(req(rid, f"b{i}")) for i in won]
            answers = await asyncio.gather(*news, *retries)
            assert {a.code for a in answers[:600]} == {"sold_out"}
            for i, a in zip(won, answers[600:], strict=True):
                assert (a.ok, a.replay, a.order_id) == (True, True, won[i]), (wave, i, a)
            scripts = sum(w.batch_stats.calls - c for w, c in zip(workers, calls, strict=True))
            round_trips = sum(type(c).sent - s for c, s in zip(clients, sent, strict=True))
            # only the 20 retries reached Redis (batched; a lease extension may ride along)
            assert 1 <= scripts <= 20
            assert round_trips <= scripts + 2
        stats = await workers[0].stats(rid)
        assert (stats.orders, stats.left, stats.held) == (20, 0, 20)
    finally:
        for w in workers:
            await w.aclose()
        for c in clients:
            await c.aclose()


async def test_units_back_are_sold_after_the_lease_and_that_sale_replays_everywhere(
    redis: aioredis.Redis, unique: str
) -> None:
    """While the lease holds, a cancelled unit is not sold (both workers answer sold_out); once
    it ends the unit sells on one worker, and its retry on the worker that knew the round
    sold out is that sale's replay, never sold_out."""
    rid = f"t{unique}"
    a, b = Inventory(redis, sold_out_ttl=0.3), Inventory(redis, sold_out_ttl=0.3)
    try:
        won = await sell_the_unit(a, a, rid)
        assert await b.release(rid, won, "cancelled")  # a unit is back
        assert (await b.reserve(req(rid, "y"))).code == "sold_out"  # the script, leased
        assert (await a.reserve(req(rid, "z"))).code == "sold_out"  # a's knowledge
        await asyncio.sleep(0.35)
        assert not a.sold_out_hint(rid)  # extending failed: units are back
        sale = await b.reserve(req(rid, "y"))
        assert sale.ok
        assert not sale.replay
        retry = await a.reserve(req(rid, "y"))
        assert (retry.ok, retry.replay, retry.order_id) == (True, True, sale.order_id)
    finally:
        await a.aclose()
        await b.aclose()


async def test_while_leased_nothing_new_is_stored(redis: aioredis.Redis, unique: str) -> None:
    """The lease freezes the stored outcomes: a request that would be refused limit_reached
    (a stored refusal) is answered sold_out and not stored; after the lease, it is stored."""
    rid = f"t{unique}"
    inv = Inventory(redis, sold_out_ttl=0)  # the script's answers only
    await inv.arm(make_spec(rid, stock=1, per_account_limit=1))
    assert (await inv.reserve(req(rid, "w"))).ok
    assert (await lease(redis, rid, 300))[2] == 1
    over = await inv.reserve(req(rid, "w", idempotency_key="k-w-2"))
    assert over.code == "sold_out"
    idem = RoundKeys(rid).idempotency
    assert await redis.hlen(idem) == 1  # type: ignore[misc]
    replay = await inv.reserve(req(rid, "w"))
    assert replay.ok
    assert replay.replay
    await asyncio.sleep(0.35)
    assert (await inv.reserve(req(rid, "w", idempotency_key="k-w-2"))).code == "limit_reached"
    assert await redis.hlen(idem) == 2  # type: ignore[misc]


async def test_no_lease_while_units_are_left_and_a_lapsed_one_is_a_new_epoch(
    redis: aioredis.Redis, unique: str
) -> None:
    rid = f"t{unique}"
    inv = await one_unit(redis, rid, 0)
    assert (await lease(redis, rid, 1000))[2] == 0  # a unit left: no lease
    assert (await inv.reserve(req(rid, "w"))).ok
    epoch, held_ms, taken = await lease(redis, rid, 100)
    assert (epoch, taken) == (1, 1)
    assert 0 < held_ms <= 100
    assert (await lease(redis, rid, 100))[0] == 1  # extended: the same epoch
    await asyncio.sleep(0.15)
    assert (await lease(redis, rid, 100))[0] == 2  # it lapsed: outcomes may have changed
    assert (await lease(redis, f"none{unique}", 100))[2] == 0  # not armed


async def test_a_worker_relearns_after_a_lapse(redis: aioredis.Redis, unique: str) -> None:
    """Knowledge of an old epoch is not reused: a success stored while no lease held (the
    lapse) is replayed after the worker learns the round again."""
    rid = f"t{unique}"
    inv = Inventory(redis, sold_out_ttl=0.2)
    other = Inventory(redis, sold_out_ttl=0)
    try:
        won = await sell_the_unit(other, inv, rid)
        assert await other.release(rid, won, "cancelled")
        await asyncio.sleep(0.25)  # the lease lapses; the unit sells elsewhere
        sale = await other.reserve(req(rid, "late"))
        assert sale.ok
        assert (await inv.reserve(req(rid, "x2"))).code == "sold_out"  # the script again
        await until_known(inv, rid)
        retry = await inv.reserve(req(rid, "late"))
        assert (retry.ok, retry.replay, retry.order_id) == (True, True, sale.order_id)
        assert (await inv.reserve(req(rid, "x3"))).code == "sold_out"
    finally:
        await inv.aclose()
        await other.aclose()
