"""Order lifecycle in Redis: confirm, late payment, release, arming, restock, numbers."""

from __future__ import annotations

from typing import Any

import pytest
import redis.asyncio as aioredis

from checkout.events import OrderEvent
from inventory import Inventory, ReserveRequest, RoundKeys, RoundNotArmed
from tests.support.inventory import make_spec, req


async def events(redis: aioredis.Redis, round_id: str) -> list[OrderEvent]:
    return [OrderEvent.from_fields(f) for _, f in await redis.xrange(RoundKeys(round_id).outbox)]


async def armed(redis: aioredis.Redis, rid: str, **over: Any) -> Inventory:
    inv = Inventory(redis, sold_out_ttl=0)
    await inv.arm(make_spec(rid, **over))
    return inv


async def expire(redis: aioredis.Redis, rid: str, order_id: str) -> None:
    """Move a hold's deadline into the past (the clock, as the sweeper sees it)."""
    assert await redis.zadd(RoundKeys(rid).holds, {order_id: 0}, xx=True, ch=True) == 1


async def expired_order(redis: aioredis.Redis, rid: str, stock: int) -> tuple[Inventory, str]:
    """Round ``rid`` of ``stock`` units where buyer b1's order (its id returned) expired."""
    inv = await armed(redis, rid, stock=stock)
    oid = (await inv.reserve(req(rid, "b1"))).order_id
    assert oid is not None
    await expire(redis, rid, oid)
    assert await inv.sweep(rid) == 1
    return inv, oid


async def test_confirm_is_idempotent(redis: aioredis.Redis, unique: str) -> None:
    rid = f"t{unique}"
    inv = await armed(redis, rid)
    oid = (await inv.reserve(req(rid, "b1"))).order_id
    assert oid is not None
    first = await inv.confirm(rid, oid, "pay-1", 2000)
    assert (first.ok, first.code, first.status, first.late, first.replay) == (
        True, None, "paid", False, False)  # fmt: skip
    again = await inv.confirm(rid, oid, "pay-1", 2000)
    assert (again.ok, again.status, again.replay) == (True, "paid", True)
    other = await inv.confirm(rid, oid, "pay-2", 2000)
    assert (other.code, other.refund) == ("already_paid", "duplicate_payment")
    assert (await inv.confirm(rid, f"{rid}-99", "pay-3", 1)).code == "unknown_order"
    evs = await events(redis, rid)
    assert [(e.type, e.seq, e.status) for e in evs] == [
        ("order.reserved", 1, "reserved"), ("order.paid", 2, "paid"),
        ("payment.refund_required", 3, "paid")]  # fmt: skip
    assert evs[1].data == {"payment_id": "pay-1", "amount": 2000, "late": False}
    assert evs[1].event_id == f"{oid}:2"
    assert evs[2].data == {"payment_id": "pay-2", "amount": 2000, "reason": "duplicate_payment"}
    stats = await inv.stats(rid)
    assert (stats.held, stats.paid, stats.left) == (0, 1, 9)
    assert not await inv.release(rid, oid)  # paid orders are not released
    assert await redis.zcard(RoundKeys(rid).holds) == 0


async def test_release_returns_units_once(redis: aioredis.Redis, unique: str) -> None:
    rid = f"t{unique}"
    inv = await armed(redis, rid, per_account_limit=1, per_id_limit=1)
    oid = (await inv.reserve(req(rid, "b1"))).order_id
    assert oid is not None
    assert await inv.release(rid, oid, "cancelled")
    assert not await inv.release(rid, oid, "cancelled")
    assert not await inv.release(rid, oid, "expired")
    assert not await inv.release(rid, "nope")
    stats = await inv.stats(rid)
    assert (stats.left, stats.held, stats.released) == (10, 0, 1)
    evs = await events(redis, rid)
    assert [(e.type, e.seq, e.status, e.data) for e in evs[1:]] == [
        ("order.cancelled", 2, "cancelled", {"reason": "cancelled"})]  # fmt: skip
    # the account/ID limit counts only held+paid units: the buyer may buy again
    assert (await inv.reserve(req(rid, "b1", idempotency_key="k2"))).ok


async def test_late_payment_re_reserves_when_stock_remains(
    redis: aioredis.Redis, unique: str
) -> None:
    rid = f"t{unique}"
    inv, oid = await expired_order(redis, rid, stock=2)
    assert (await inv.stats(rid)).left == 2
    late = await inv.confirm(rid, oid, "pay-1", 2000)
    assert (late.ok, late.status, late.late) == (True, "paid", True)
    assert (await inv.confirm(rid, oid, "pay-1", 2000)).replay
    stats = await inv.stats(rid)
    assert (stats.left, stats.paid, stats.held, stats.released) == (1, 1, 0, 1)
    evs = await events(redis, rid)
    assert [(e.type, e.seq) for e in evs] == [
        ("order.reserved", 1), ("order.expired", 2), ("order.paid", 3)]  # fmt: skip
    assert evs[2].data["late"] is True
    order = await inv.order(rid, oid)
    assert order is not None
    assert (order["status"], order["late"], order["payment_id"]) == ("paid", True, "pay-1")


async def test_late_payment_requires_refund_when_sold_out(
    redis: aioredis.Redis, unique: str
) -> None:
    rid = f"t{unique}"
    inv, oid = await expired_order(redis, rid, stock=1)
    assert (await inv.reserve(req(rid, "b2"))).ok  # someone else takes the unit
    late = await inv.confirm(rid, oid, "pay-1", 2000)
    assert (late.ok, late.code, late.status) == (False, "refund_required", "refund_required")
    again = await inv.confirm(rid, oid, "pay-1", 2000)
    assert (again.code, again.replay) == ("refund_required", True)
    stats = await inv.stats(rid)
    assert (stats.left, stats.paid, stats.refund_required) == (0, 0, 1)
    evs = [e for e in await events(redis, rid) if e.order_id == oid]
    assert [(e.type, e.seq, e.status) for e in evs] == [
        ("order.reserved", 1, "reserved"), ("order.expired", 2, "expired"),
        ("order.refund_required", 3, "refund_required")]  # fmt: skip
    assert evs[2].data == {"payment_id": "pay-1", "amount": 2000, "reason": "sold_out"}


async def test_arming_twice_keeps_stock_and_updates_meta(
    redis: aioredis.Redis, unique: str
) -> None:
    rid = f"t{unique}"
    inv = await armed(redis, rid, stock=5)
    assert (await inv.reserve(req(rid, "b1"))).ok
    assert await inv.arm(make_spec(rid, stock=500, agreement_version="v2")) is False
    stats = await inv.stats(rid)
    assert (stats.stocked, stats.left) == (5, 4)
    assert (await inv.reserve(req(rid, "b2"))).code == "agreement_outdated"
    assert await redis.sismember("fs:armed", rid)


async def test_restock_is_idempotent_per_id(redis: aioredis.Redis, unique: str) -> None:
    rid = f"t{unique}"
    inv = await armed(redis, rid, stock=1)
    assert await inv.restock(rid, 5, "r1") == 6
    assert await inv.restock(rid, 5, "r1") == 6
    assert await inv.restock(rid, 2, "r2") == 8
    assert (await inv.stats(rid)).stocked == 8
    with pytest.raises(RoundNotArmed, match="not armed"):
        await inv.restock(f"none{unique}", 1, "r1")


async def test_status_and_extend(redis: aioredis.Redis, unique: str) -> None:
    from datetime import UTC, datetime, timedelta

    rid = f"t{unique}"
    inv = await armed(redis, rid)
    await inv.set_status(rid, "paused")
    assert (await inv.reserve(req(rid, "b1"))).code == "paused"
    await inv.set_status(rid, "live")
    await inv.extend(rid, datetime.now(UTC) - timedelta(seconds=1))
    assert (await inv.reserve(req(rid, "b1"))).code == "ended"
    await inv.extend(rid, datetime.now(UTC) + timedelta(hours=1))
    assert (await inv.reserve(req(rid, "b1"))).ok
    await inv.set_status(rid, "sold_out")
    assert (await inv.reserve(req(rid, "b2"))).code == "sold_out"
    assert (await inv.stats(rid)).status == "sold_out"


async def test_chosen_numbers(redis: aioredis.Redis, unique: str) -> None:
    rid = f"t{unique}"
    inv = await armed(redis, rid, number_choice=True)
    assert await inv.load_numbers(rid, ["13800000001", "13800000002"], {"13800000001": 500}) == 2
    assert await inv.load_numbers(rid, ["13800000001"]) == 0
    first = await inv.reserve(req(rid, "b1", number="13800000001"))
    assert first.ok
    assert first.order_id is not None
    assert (await inv.reserve(req(rid, "b2", number="13800000001"))).code == "number_taken"
    assert (await inv.reserve(req(rid, "b3", number="139"))).code == "number_unknown"
    assert (await inv.reserve(req(rid, "b4", number="13800000002", quantity=2))).code == (
        "invalid_request")  # fmt: skip
    assert await inv.load_numbers(rid, ["13800000001"]) == 0  # held: not put back
    [ev] = await events(redis, rid)
    assert (ev.data["number"], ev.data["number_surcharge"]) == ("13800000001", 500)
    assert await inv.release(rid, first.order_id)
    again = await inv.reserve(req(rid, "b2", number="13800000001", idempotency_key="k2"))
    assert again.ok


def test_request_fingerprint_ignores_pii() -> None:
    a = ReserveRequest("r", "b", "i", 1, "k", "web", "v1", None, {"n": 1})
    b = ReserveRequest("r", "b", "i", 1, "k", "web", "v1", None, {"n": 2})
    assert a.fingerprint() == b.fingerprint()
    assert a.fingerprint() != ReserveRequest("r", "b", "i", 2, "k", "web", "v1").fingerprint()


async def test_offer_versions_name_the_snapshot_each_order_keeps(
    redis: aioredis.Redis, unique: str
) -> None:
    rid = f"t{unique}"
    inv = await armed(redis, rid)
    a = (await inv.reserve(req(rid, "b1"))).order_id
    b = (await inv.reserve(req(rid, "b2"))).order_id
    await inv.arm(make_spec(rid, offer={"price_fen": 2500, "plan": "3G 25"}))
    c = (await inv.reserve(req(rid, "b3"))).order_id
    versions = await inv.offer_versions(rid, chunk=1)
    assert set(versions) == {a, b, c}
    assert versions[a] == versions[b] != versions[c]
    assert all(len(v) == 16 for v in versions.values())
    assert await inv.offer_versions(f"{rid}-none") == {}
