"""Refusals: an undeliverable address lands in the dead-letter list with the reason and
`fulfillment retry` (operator credential, audited) re-queues it; a handset whose IMEI is not the
ordered variant, and a snapshot asking for what cannot be shipped, are never shipped."""

from __future__ import annotations

import asyncpg
import orjson

from flashsale.core.settings import Settings
from flashsale.core.topics import Topics
from fulfillment import CarrierConfig, seed_stock, tracking
from fulfillment.identifiers import imei_valid, make_imei
from fulfillment.stock import register_model
from tests.support.cli import changes_once, cli, operator_env
from tests.support.fulfillment import booked, dead, order, topic_messages, workers
from tests.support.offer import handset_offer, sim_offer
from tests.support.pipeline import eventually, produce


async def test_permanent_failure_dead_letter_and_retry(
    own: Settings, env: dict[str, str], pg_pool: asyncpg.Pool, unique: str
) -> None:
    r = f"dl-{unique}"
    # two units more than the six orders need: the stock pool is the whole session database's,
    # and this test is about the dead letters, not about running out (one full-suite run
    # dead-lettered order 6 as stock.empty; the cause is not found)
    await seed_stock(pg_pool, sim_cards=8, numbers=8, seed=4)
    events = []
    for n in range(1, 7):
        address = "UNDELIVERABLE road 9" if n in (2, 5) else "8 Nanjing Rd, Shanghai"
        events += order(r, n, sim_offer([]), address=address)
    await produce(own, events)
    async with workers(own, pg_pool, CarrierConfig()) as (f,):

        async def settled() -> bool:
            return await booked(pg_pool, r) == 4 and len(await dead(pg_pool, r)) == 2

        await eventually(settled, within=30)
        assert f.stats.dead == 2
    letters = await dead(pg_pool, r)
    assert {x["order_id"] for x in letters} == {f"{r}-2", f"{r}-5"}
    assert {x["code"] for x in letters} == {"carrier.bad_address"}
    assert all("not deliverable" in x["reason"] for x in letters)
    t = await tracking(pg_pool, f"{r}-2")
    assert t is not None
    assert t["state"] == "on_hold"
    # published: the dead-letter topic and a shipment.failed event, with the reason
    dlq = await topic_messages(own, Topics(own.topic_prefix).dead_letter, 2)
    assert {m["order_id"] for m in dlq} == {f"{r}-2", f"{r}-5"}
    assert {m["code"] for m in dlq} == {"carrier.bad_address"}

    own_env = {**env, "FLASHSALE_TOPIC_PREFIX": own.topic_prefix}
    rc, out = await cli(own_env, "fulfillment", "failed", "--json", "--round", r)
    assert rc == 0, out
    listed = orjson.loads(out)
    assert sorted(x["order_id"] for x in listed) == [f"{r}-2", f"{r}-5"]
    assert all(x["reason"] for x in listed)

    target = next(x["id"] for x in listed if x["order_id"] == f"{r}-2")
    rc, out = await cli(
        {k: v for k, v in own_env.items() if k != "FLASHSALE_ADMIN_TOKEN"},
        "fulfillment",
        "retry",
        str(target),
    )
    assert rc == 1
    assert "credential" in out
    assert len(await dead(pg_pool, r)) == 2  # the refusal changed nothing

    # the operator corrects the address, then re-queues
    await pg_pool.execute(
        "UPDATE fulfillment_orders SET pii = pii || "
        '\'{"address": "3 Huaihai Rd, Shanghai"}\'::jsonb '
        "WHERE order_id = $1",
        f"{r}-2",
    )
    await changes_once(operator_env(own_env, own, "olivia"), "fulfillment", "retry", str(target))
    audit = await pg_pool.fetch(
        "SELECT actor FROM audit_log WHERE action = 'fulfillment.retry' AND subject = $1", f"{r}-2"
    )
    assert [a["actor"] for a in audit] == ["olivia"]
    async with workers(own, pg_pool, CarrierConfig()):
        await eventually(lambda: _booked(pg_pool, r, 5), within=30)
    assert [x["order_id"] for x in await dead(pg_pool, r)] == [f"{r}-5"]
    assert (
        await pg_pool.fetchval("SELECT count(*) FROM shipments WHERE order_id = $1", f"{r}-2") == 1
    )


async def _booked(pool: asyncpg.Pool, r: str, n: int) -> bool:
    return await booked(pool, r) == n


async def test_wrong_variant_handset_is_refused(
    own: Settings, pg_pool: asyncpg.Pool, unique: str
) -> None:
    r = f"mm-{unique}"
    sku, other = f"px-128-black-{unique}", f"px-256-white-{unique}"
    await register_model(pg_pool, sku, "35111111")
    await register_model(pg_pool, other, "35222222")
    import random

    rng = random.Random(5)
    # a mislabelled shelf: sits under the ordered SKU, but the IMEI is the other model's
    wrong = make_imei(rng, "35222222")
    await pg_pool.execute("INSERT INTO handsets (imei, sku) VALUES ($1, $2)", wrong, sku)
    events = order(r, 1, handset_offer(sku))
    # and a snapshot that cannot be honoured: a data gift on a handset (no line to credit)
    events += order(r, 2, handset_offer(sku, [{"kind": "data", "amount": "1GB"}]))
    await produce(own, events)
    async with workers(own, pg_pool, CarrierConfig()):
        await eventually(lambda: _dead_n(pg_pool, r, 2), within=30)
    letters = {x["order_id"]: x for x in await dead(pg_pool, r)}
    assert letters[f"{r}-1"]["code"] == "allocation.variant"
    assert wrong in letters[f"{r}-1"]["reason"]
    assert letters[f"{r}-2"]["code"] == "gift.no_line"
    assert await booked(pg_pool, r) == 0  # nothing shipped
    row = await pg_pool.fetchrow("SELECT order_id, defect FROM handsets WHERE imei = $1", wrong)
    assert row["order_id"] is None
    assert row["defect"].startswith("allocation.variant")  # never allocated again

    # right stock arrives; the operator re-queues order 1 → the right model ships
    await seed_stock(pg_pool, handsets={sku: 2}, seed=6)
    await pg_pool.execute(
        "UPDATE fulfillment_dead_letters SET requeued_at = now() WHERE order_id = $1", f"{r}-1"
    )
    await pg_pool.execute(
        "UPDATE fulfillment_orders SET state = 'pending', attempts = 0 WHERE order_id = $1",
        f"{r}-1",
    )
    async with workers(own, pg_pool, CarrierConfig()):
        await eventually(lambda: _booked(pg_pool, r, 1), within=30)
    got = await pg_pool.fetchrow("SELECT imei, sku FROM handsets WHERE order_id = $1", f"{r}-1")
    assert got["sku"] == sku
    assert got["imei"][:8] == "35111111"
    assert imei_valid(got["imei"])
    manifest = orjson.loads(
        await pg_pool.fetchval("SELECT manifest FROM shipments WHERE order_id = $1", f"{r}-1")
    )
    assert manifest == [{"kind": "handset", "unit": 1, "imei": got["imei"], "sku": sku}]


async def _dead_n(pool: asyncpg.Pool, r: str, n: int) -> bool:
    return len(await dead(pool, r)) == n
