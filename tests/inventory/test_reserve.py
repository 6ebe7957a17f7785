"""Reserve path: gates, idempotency, events, batching, the sold-out flag (real Redis)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis

from inventory import Inventory, InventoryUnavailable
from tests.support.inventory import events, make_spec, req
from tests.support.offer import snapshot
from tests.support.soldout import until_known

NOW = datetime.now(UTC)


async def test_reserve_records_order_and_event(redis: aioredis.Redis, unique: str) -> None:
    rid = f"t{unique}"
    inv = Inventory(redis)
    assert await inv.arm(make_spec(rid)) is True
    res = await inv.reserve(req(rid, "b1"))
    assert res.ok, res
    assert res.code is None
    assert res.order_id == f"{rid}-1"
    assert res.left == 9
    assert res.offer == snapshot(gifts=[])
    assert res.offer["gifts"] == []  # an empty list, not {}
    assert res.offer["variant"] is None  # a null, not dropped
    assert res.pay_before_ms is not None
    assert not res.replay
    [ev] = await events(redis, rid)
    assert ev.event_id == f"{rid}-1:1"
    assert (ev.type, ev.order_id, ev.round_id, ev.seq, ev.status) == (
        "order.reserved",
        res.order_id,
        rid,
        1,
        "reserved",
    )
    assert abs(ev.at - datetime.now(UTC).timestamp() * 1000) < 5000
    assert ev.data["pay_before"] == res.pay_before_ms
    assert ev.data["pii"] == {"name": "Zhang San", "id_masked": "1101**********123X"}
    assert ev.data["offer"] == res.offer
    assert {k: ev.data[k] for k in ("buyer_id", "id_hash", "quantity", "number", "channel",
                                     "agreement_version")} == {
        "buyer_id": "b1", "id_hash": "id-b1", "quantity": 1, "number": None, "channel": "web",
        "agreement_version": "v1"}  # fmt: skip
    order = await inv.order(rid, res.order_id)
    assert order is not None
    assert order["status"] == "reserved"
    assert order["offer"] == res.offer
    assert await inv.order_ids(rid) == {res.order_id}
    stats = await inv.stats(rid)
    assert (stats.stocked, stats.left, stats.held, stats.orders) == (10, 9, 1, 1)


@pytest.mark.parametrize(
    ("spec_over", "req_over", "code"),
    [
        ({"status": "paused"}, {}, "paused"),
        ({"status": "closed"}, {}, "ended"),
        ({"starts_at": NOW + timedelta(hours=1), "ends_at": NOW + timedelta(hours=2)}, {},
         "not_started"),
        ({"starts_at": NOW - timedelta(hours=2), "ends_at": NOW - timedelta(hours=1)}, {},
         "ended"),
        ({}, {"channel": "sms"}, "channel_not_allowed"),
        ({}, {"agreement_version": "v0"}, "agreement_outdated"),
        ({}, {"quantity": 3}, "limit_reached"),
        ({}, {"number": "13800000000"}, "number_choice_disabled"),
        ({"stock": 0}, {}, "sold_out"),
        ({}, {"quantity": 0}, "invalid_request"),
    ],
)  # fmt: skip
async def test_refusals_take_nothing(
    redis: aioredis.Redis,
    unique: str,
    spec_over: dict[str, Any],
    req_over: dict[str, Any],
    code: str,
) -> None:
    rid = f"t{unique}"
    inv = Inventory(redis, sold_out_ttl=0)
    stock = spec_over.get("stock", 10)
    await inv.arm(make_spec(rid, **spec_over))
    res = await inv.reserve(req(rid, "b1", **req_over))
    assert (res.ok, res.code) == (False, code)
    stats = await inv.stats(rid)
    assert (stats.left, stats.held, stats.orders) == (stock, 0, 0)
    assert await events(redis, rid) == []


async def test_not_armed(redis: aioredis.Redis, unique: str) -> None:
    res = await Inventory(redis).reserve(req(f"t{unique}", "b1"))
    assert res.code == "not_armed"


async def test_idempotency_replays_success_and_failure(redis: aioredis.Redis, unique: str) -> None:
    rid = f"t{unique}"
    inv = Inventory(redis)
    await inv.arm(make_spec(rid))
    first = await inv.reserve(req(rid, "b1", quantity=2))
    again = await inv.reserve(req(rid, "b1", quantity=2, pii={"name": "re-encrypted"}))
    assert first.ok
    assert again.ok
    assert again.replay
    assert again.order_id == first.order_id
    assert again.pay_before_ms == first.pay_before_ms
    assert again.offer == first.offer
    mismatch = await inv.reserve(req(rid, "b1", quantity=1))
    assert mismatch.code == "idempotency_mismatch"
    # a refusal is the stored outcome too: over the limit stays refused under that key
    refused = await inv.reserve(req(rid, "b1", idempotency_key="k2"))
    assert refused.code == "limit_reached"
    replayed = await inv.reserve(req(rid, "b1", idempotency_key="k2"))
    assert (replayed.code, replayed.replay) == ("limit_reached", True)
    # the same key of another buyer is another request
    other = await inv.reserve(req(rid, "b2", idempotency_key="k-b1"))
    assert other.ok
    assert other.order_id != first.order_id
    # a paused round still replays a stored success
    await inv.set_status(rid, "paused")
    paused = await inv.reserve(req(rid, "b1", quantity=2))
    assert (paused.ok, paused.replay, paused.order_id) == (True, True, first.order_id)
    stats = await inv.stats(rid)
    assert (stats.left, stats.orders) == (7, 2)
    assert len(await events(redis, rid)) == 2


async def test_concurrent_retries_buy_once(redis: aioredis.Redis, unique: str) -> None:
    rid = f"t{unique}"
    inv = Inventory(redis)
    await inv.arm(make_spec(rid, per_account_limit=10, per_id_limit=10))
    results = await asyncio.gather(*(inv.reserve(req(rid, "b1")) for _ in range(50)))
    assert {r.order_id for r in results} == {f"{rid}-1"}
    assert sum(not r.replay for r in results) == 1
    assert (await inv.stats(rid)).left == 9


async def test_batching_coalesces_and_answers_each(redis: aioredis.Redis, unique: str) -> None:
    rid = f"t{unique}"
    inv = Inventory(redis, max_batch=64)
    await inv.arm(make_spec(rid, stock=100, per_account_limit=1))
    reqs = [req(rid, f"b{i % 150}", idempotency_key=f"k{i}") for i in range(300)]
    reqs += [req(rid, "x", channel="sms"), req(rid, "y", agreement_version="old")]
    results = await asyncio.gather(*(inv.reserve(r) for r in reqs))
    stats = inv.batch_stats
    assert stats.requests == len(reqs)
    assert stats.calls <= len(reqs) // 64 + 2  # not one call per request
    assert results[-2].code == "channel_not_allowed"
    assert results[-1].code == "agreement_outdated"
    ok = [r for r in results if r.ok]
    assert len(ok) == 100
    assert len({r.order_id for r in ok}) == 100
    codes = {r.code for r in results if not r.ok}
    assert codes == {"limit_reached", "sold_out", "channel_not_allowed", "agreement_outdated"}
    # per-request answers: buyer i's first request (k{i}) is the one that succeeded or sold out
    for i, r in enumerate(results[:150]):
        assert r.ok or r.code == "sold_out", (i, r)
    for i, r in enumerate(results[150:300]):
        assert r.code == ("limit_reached" if results[i].ok else "sold_out"), (i, r)


async def one_unit(redis: aioredis.Redis, rid: str, sold_out_ttl: float) -> Inventory:
    """A worker with that sold-out lease, and round ``rid`` armed with a single unit."""
    inv = Inventory(redis, sold_out_ttl=sold_out_ttl)
    await inv.arm(make_spec(rid, stock=1))
    return inv


async def test_sold_out_flag_answers_locally_then_rechecks(
    redis: aioredis.Redis, unique: str
) -> None:
    rid = f"t{unique}"
    inv = await one_unit(redis, rid, 0.3)
    assert (await inv.reserve(req(rid, "b1"))).ok
    assert (await inv.reserve(req(rid, "b2"))).code == "sold_out"
    await until_known(inv, rid)
    calls = inv.batch_stats.calls
    flagged = await inv.reserve(req(rid, "b3"))
    assert (flagged.code, flagged.left) == ("sold_out", 0)
    assert inv.batch_stats.calls == calls  # answered without Redis
    await Inventory(redis).restock(rid, 1, "r1")  # another worker restocks
    await asyncio.sleep(0.35)
    assert (await inv.reserve(req(rid, "b4"))).ok


async def test_sold_out_knowledge_forgets_rounds_whose_flag_ran_out(
    redis: aioredis.Redis, unique: str
) -> None:
    """A worker that saw many rounds sell out keeps a flag only for the recent ones."""
    inv = Inventory(redis, sold_out_ttl=0.6)
    old = [f"t{unique}o{i}" for i in range(10)]
    for rid in old:
        await inv.arm(make_spec(rid, stock=0))
        assert (await inv.reserve(req(rid, "b1"))).code == "sold_out"
        await until_known(inv, rid)
    assert inv._sold_out is not None
    assert set(old) <= set(inv._sold_out._known)
    await asyncio.sleep(0.65)
    fresh = f"t{unique}new"
    await inv.arm(make_spec(fresh, stock=0))
    assert (await inv.reserve(req(fresh, "b1"))).code == "sold_out"
    await until_known(inv, fresh)
    assert set(inv._sold_out._known) == {fresh}


async def test_redis_failure_fails_only_that_batch(redis: aioredis.Redis, unique: str) -> None:
    rid = f"t{unique}"
    broken = aioredis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    try:
        inv = Inventory(broken)
        with pytest.raises(InventoryUnavailable) as info:
            await inv.reserve(req(rid, "b1"))
        assert info.value.code == "inventory_unavailable"
        assert info.value.retriable
    finally:
        await broken.aclose()
