"""Archive and purge of a round of stock buckets (issue 15): settled only when every bucket is,
the snapshot covers every bucket's orders, every bucket's keys and the round's own leave Redis
(one purge per bucket's slot, each with its own outbox last id), safe to repeat and to resume
after a crash midway; the outbox figures of observe sum over the buckets."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncpg
import orjson
import pytest
import redis.asyncio as aioredis

from checkout.pipeline import observe
from checkout.pipeline.ledger import dead_letter_key
from checkout.pipeline.reconcile import reconcile
from checkout.pipeline.relay import Relay, RelayConfig
from flashsale.core.settings import Settings
from flashsale.core.topics import ensure_topics
from inventory import ARMED_ROUNDS, Inventory, RoundKeys
from inventory.keys import ARMED_BUCKETS, MAX_BUCKETS, bucket_space
from inventory.purge import outbox_last_id, pattern, purge, round_keys
from tests.checkout.pipeline.test_archive import Sale
from tests.support.api import api_client
from tests.support.buckets import relay_and_writer
from tests.support.inventory import make_spec, req
from tests.support.pipeline import eventually

B = 3
pytestmark = pytest.mark.timeout(120)


def bucket_of(order_id: str) -> int:
    """The bucket an order of a bucketed round is in (its number is ``n * 64 + bucket``)."""
    return int(order_id.rpartition("-")[2]) % MAX_BUCKETS


def spaces(round_id: str) -> list[str]:
    return [round_id, *(bucket_space(round_id, b) for b in range(B))]


async def keys_left(redis: aioredis.Redis, round_id: str) -> dict[str, int]:
    """Keys under the round's own tag and each bucket's (SCAN of each tag)."""
    return {
        s: len([k async for k in redis.scan_iter(match=pattern(s), count=1000)])
        for s in spaces(round_id)
    }


async def listed(redis: aioredis.Redis, round_id: str) -> tuple[bool, int]:
    """(the round in fs:armed, how many of its buckets in fs:armed-buckets)."""
    armed = bool(await redis.sismember(ARMED_ROUNDS, round_id))  # type: ignore[misc]
    found = await redis.smismember(ARMED_BUCKETS, spaces(round_id)[1:])  # type: ignore[misc]
    return armed, sum(bool(x) for x in found)


@pytest.fixture
async def sale(
    settings: Settings, redis: aioredis.Redis, pg_pool: asyncpg.Pool, unique: str
) -> AsyncIterator[Sale]:
    prefix = f"ab{unique}-"
    inventory = Inventory(redis)
    try:
        async with (
            relay_and_writer(settings, redis, pg_pool, prefix, unique) as group,
            api_client(settings) as client,
        ):
            yield Sale(settings, redis, pg_pool, inventory, client, prefix, group)
    finally:
        await inventory.aclose()
        for rid in [m.decode() for m in await redis.smembers(ARMED_ROUNDS)]:  # type: ignore[misc]
            if rid.startswith(prefix):
                await redis.srem(ARMED_ROUNDS, rid)  # type: ignore[misc]
                await redis.srem(ARMED_BUCKETS, *spaces(rid)[1:])  # type: ignore[misc]
                for space in spaces(rid):
                    with contextlib.suppress(Exception):
                        found = await round_keys(redis, space)
                        if found:
                            await redis.delete(*found)


async def test_a_bucketed_round_is_archived_and_leaves_no_key(sale: Sale) -> None:
    rid = await sale.round(stock=9, buckets=B)
    orders: dict[str, str] = {}  # order id -> buyer
    for n in range(7):
        who = f"{rid}-b{n}"
        orders[await sale.reserve(rid, who)] = who
    ids = sorted(orders)
    paid, cancelled, expired, = ids[0:3], ids[3:5], ids[5:7]  # fmt: skip
    for oid in paid:
        await sale.pay(oid, orders[oid])
    for oid in cancelled:
        await sale.cancel(oid, orders[oid])
    for oid in expired:
        assert await sale.inventory.release(rid, oid, "expired")
    assert len({bucket_of(o) for o in ids}) >= 2  # the orders are spread over several buckets
    before = await keys_left(sale.redis, rid)
    assert all(before[s] > 0 for s in spaces(rid)), before
    await sale.close(rid)
    await sale.settled(rid)
    seen = {oid: (await sale.view(oid, who)).json() for oid, who in orders.items()}
    assert {v["status"] for v in seen.values()} == {"paid", "cancelled", "expired"}

    outcome = await sale.archiver().archive(rid)
    assert (outcome.state, outcome.orders) == ("archived", 7), outcome
    assert outcome.deleted_keys >= sum(before.values())
    assert await keys_left(sale.redis, rid) == dict.fromkeys(spaces(rid), 0)
    assert await listed(sale.redis, rid) == (False, 0)
    for oid, who in orders.items():  # every bucket's orders read the same from the archive
        r = await sale.view(oid, who)
        assert r.status_code == 200, r.text
        assert r.json() == seen[oid]
    archived = await sale.pool.fetch(
        "SELECT order_id, record::text AS record FROM order_archive WHERE round_id = $1", rid
    )
    assert sorted(r["order_id"] for r in archived) == ids
    row = await sale.pool.fetchrow(
        "SELECT paid, held, orders, dropped::text, counters::text, bucket_last_ids::text "
        "FROM round_archive WHERE round_id = $1",
        rid,
    )
    assert (row["paid"], row["held"], row["orders"]) == (3, 0, 7)
    assert orjson.loads(row["dropped"])["relay_ledger"] == 7  # the buckets' ledgers, summed
    assert sorted(orjson.loads(row["counters"])["buckets"]) == spaces(rid)[1:]
    last_ids = orjson.loads(row["bucket_last_ids"])
    assert sorted(last_ids) == spaces(rid)[1:]
    assert sum(bool(v) for v in last_ids.values()) == len({bucket_of(o) for o in ids})
    pg = await sale.pool.fetch("SELECT id, status FROM orders WHERE round_id = $1", rid)
    assert {r["id"]: r["status"] for r in pg} == {o: seen[o]["status"] for o in ids}

    again = await sale.archiver().archive(rid)  # a re-run: nothing to do, nothing comes back
    assert (again.state, again.reasons, again.deleted_keys) == (
        "archived",
        ["already archived"],
        0,
    )
    assert await keys_left(sale.redis, rid) == dict.fromkeys(spaces(rid), 0)


async def test_an_open_hold_in_one_bucket_keeps_the_round(sale: Sale) -> None:
    rid = await sale.round(stock=9, buckets=B)
    orders = {await sale.reserve(rid, f"{rid}-h{n}"): f"{rid}-h{n}" for n in range(4)}
    held, *rest = sorted(orders)
    for oid in rest:
        await sale.pay(oid, orders[oid])
    await sale.close(rid)
    await sale.settled(rid)
    outcome = await sale.archiver().archive(rid)
    assert outcome.state == "not_finished", outcome
    assert outcome.reasons == ["1 unpaid hold(s) open"]
    left = await keys_left(sale.redis, rid)
    assert all(left[s] > 0 for s in [rid, bucket_space(rid, bucket_of(held))]), left
    assert await listed(sale.redis, rid) == (True, B)
    assert (await sale.view(held, orders[held])).json()["status"] == "reserved"
    assert not await sale.pool.fetchval(
        "SELECT count(*) FROM round_archive WHERE round_id = $1", rid
    )


async def test_a_purge_resumed_after_a_crash_and_one_refused(sale: Sale) -> None:
    rid = await sale.round(stock=9, buckets=B)
    orders = {await sale.reserve(rid, f"{rid}-c{n}"): f"{rid}-c{n}" for n in range(6)}
    ids = sorted(orders)
    for oid in ids[:-1]:
        await sale.pay(oid, orders[oid])
    late = ids[-1]
    assert await sale.inventory.release(rid, late, "expired")
    await sale.close(rid)
    await sale.settled(rid)
    # step 1-2 only (the keys are deleted on a later pass)
    first = await sale.archiver(settle=60, wait_settle=False).archive(rid)
    assert first.state == "unlisted", first
    assert await listed(sale.redis, rid) == (False, 0)

    # a late payment lands in one bucket after the archive was taken: no bucket is deleted
    order = await sale.inventory.order(rid, late)
    assert order is not None
    await sale.inventory.confirm(rid, late, "late-pay", order["amount_due"]["total_fen"])
    before = await keys_left(sale.redis, rid)
    refused = await sale.archiver(settle=0).archive(rid)
    assert refused.state == "not_finished", refused
    assert refused.reasons[0].startswith("changed after the archive")
    assert await keys_left(sale.redis, rid) == before  # checked everywhere before deleting
    assert await listed(sale.redis, rid) == (True, B)  # the relay sees its buckets again
    await sale.settled(rid)

    # taken again; then the purge "crashes" after deleting one bucket: the next pass resumes
    assert (await sale.archiver(settle=60, wait_settle=False).archive(rid)).state == "unlisted"
    gone = bucket_space(rid, bucket_of(ids[0]))
    keys = await round_keys(sale.redis, gone)
    assert (await purge(sale.redis, gone, keys, await outbox_last_id(sale.redis, gone))).ok
    resumed = await sale.archiver(settle=0).archive(rid)
    assert resumed.state == "archived", resumed
    assert await keys_left(sale.redis, rid) == dict.fromkeys(spaces(rid), 0)
    assert await listed(sale.redis, rid) == (False, 0)
    late_view = await sale.view(late, orders[late])
    assert late_view.status_code == 200
    assert late_view.json()["payment_id"] == "late-pay"


async def test_outbox_figures_sum_over_the_buckets(
    settings: Settings, redis: aioredis.Redis, pg_pool: asyncpg.Pool, unique: str
) -> None:
    r, plain = f"ob{unique}", f"op{unique}"
    inv = Inventory(redis)
    try:
        await inv.arm(make_spec(r, stock=8, buckets=4, per_account_limit=1))
        await inv.arm(make_spec(plain, stock=3))
        for n in range(6):
            assert (await inv.reserve(req(r, f"b{n}"))).ok
        assert (await inv.reserve(req(plain, "p0"))).ok
        per_bucket = [int(await redis.xlen(RoundKeys(bucket_space(r, b)).outbox)) for b in range(4)]
        assert sum(per_bucket) == 6
        assert sum(n > 0 for n in per_bucket) >= 2
        assert await redis.xlen(RoundKeys(r).outbox) == 0  # the round's own outbox stays empty
        assert await observe.outbox_backlog(redis, r) == {"length": 6, "pending": 0}
        assert await observe.outbox_lengths(redis, [r, plain, f"none{unique}"]) == {
            r: 6,
            plain: 1,
            f"none{unique}": 0,
        }
        await redis.xadd(dead_letter_key(bucket_space(r, 3)), {"_reason": "malformed"})
        report = await reconcile(settings, redis, pg_pool, r, group=f"w-{unique}")
        assert report.outbox == {"length": 6, "pending": 0}
        assert report.parked == 1  # a bucket's dead stream counts for the round
    finally:
        await inv.aclose()
        await redis.srem(ARMED_ROUNDS, r, plain)  # type: ignore[misc]
        await redis.srem(ARMED_BUCKETS, *(bucket_space(r, b) for b in range(4)))  # type: ignore[misc]


async def test_a_bucket_entry_is_parked_under_its_round(
    settings: Settings, redis: aioredis.Redis, pg_pool: asyncpg.Pool, unique: str
) -> None:
    await ensure_topics(settings)
    r = f"pk{unique}"
    buckets = [bucket_space(r, b) for b in (1, 2)]
    for space in buckets:  # the same entry id in two buckets' streams: two parked records
        await redis.xadd(RoundKeys(space).outbox, {"type": "order.reserved"}, id="1-1")
    await redis.sadd(ARMED_BUCKETS, *buckets)  # type: ignore[misc]
    config = RelayConfig(consumer=f"pk-{unique}", round_prefix=r, claim_every=0.1)
    relay = Relay(settings, redis, config, pg_pool)
    task = asyncio.create_task(relay.run())
    query = "SELECT round_id, entry_id, message FROM parked_events WHERE round_id LIKE $1"
    try:

        async def moved() -> bool:
            return len(await pg_pool.fetch(query, f"{r}%")) == 2

        await eventually(moved, within=30, every=0.2)
    finally:
        relay.stop()
        await asyncio.wait_for(task, 20)
        await redis.srem(ARMED_BUCKETS, *buckets)  # type: ignore[misc]
    rows = await pg_pool.fetch(query + " ORDER BY message", f"{r}%")
    assert [(x["round_id"], x["entry_id"]) for x in rows] == [(r, "1-1"), (r, "1-1")]
    assert [x["message"] for x in rows] == [
        "outbox entry parked by the relay: malformed (bucket 1)",
        "outbox entry parked by the relay: malformed (bucket 2)",
    ]
    report = await reconcile(settings, redis, pg_pool, r, group=f"w-{unique}")
    assert report.parked == 2  # reconcile (and so the archiver) sees them under the round
