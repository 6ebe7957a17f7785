"""A second payment is refunded, never kept (DESIGN invariant 4): a callback with a new payment
id for a paid order becomes payment.refund_required, a ``refunds`` row, and is listed and
settled with `flashsale refunds` (operator credential, audited)."""

from __future__ import annotations

import asyncpg
import redis.asyncio as aioredis

from checkout.events import OrderEvent
from flashsale.core.settings import Settings
from fulfillment._intake import intake
from inventory import Inventory
from tests.support.api import api_client, arm, buyer, spec
from tests.support.cli import flashsale, refused
from tests.support.inventory import events as outbox
from tests.support.money import PRICE, callback, reserve, to_postgres


async def test_second_payment_is_recorded_for_refund_and_settled(
    settings: Settings,
    redis: aioredis.Redis,
    pg_pool: asyncpg.Pool,
    env: dict[str, str],
    unique: str,
) -> None:
    rid = f"dup{unique}"
    await arm(settings, spec(rid, stock=3))
    async with api_client(settings) as client:
        oid = (await reserve(client, settings, rid, "d1", None)).json()["order_id"]
        first = await callback(client, settings, oid, PRICE)
        assert first.json()["status"] == "paid"
        assert "refund_reason" not in first.json()
        # a second tab / a provider retry with a new payment id
        second = await callback(client, settings, oid, PRICE)
        assert second.status_code == 200, second.text
        assert (second.json()["status"], second.json()["refund_reason"]) == (
            "paid",
            "duplicate_payment",
        )
        # the HTTP pay button on a paid order answers paid and charges nothing
        before = len(await outbox(redis, rid))
        again = await client.post(
            f"/api/orders/{oid}/pay", json={"instant": True}, headers=buyer(settings, "d1")
        )
        assert again.json() == {
            "order_id": oid,
            "status": "paid",
            "payment_id": first.json()["payment_id"],
        }
        assert len(await outbox(redis, rid)) == before
    events: list[OrderEvent] = [e for e in await outbox(redis, rid) if e.order_id == oid]
    assert [(e.type, e.seq, e.status) for e in events] == [
        ("order.reserved", 1, "reserved"),
        ("order.paid", 2, "paid"),
        ("payment.refund_required", 3, "paid"),
    ]
    dup_pid = second.json()["payment_id"]
    assert events[2].data == {"payment_id": dup_pid, "amount": PRICE, "reason": "duplicate_payment"}
    order = await Inventory(redis).order(rid, oid)
    assert order is not None
    assert (order["payment_id"], order["refunds"]) == (
        first.json()["payment_id"],
        {dup_pid: "duplicate_payment"},
    )
    # the same duplicate confirmed again is a replay: no second event
    replay = await Inventory(redis).confirm(rid, oid, dup_pid, PRICE)
    assert (replay.code, replay.refund, replay.replay) == (
        "already_paid",
        "duplicate_payment",
        True,
    )
    assert len(await outbox(redis, rid)) == before

    await to_postgres(pg_pool, redis, rid)
    await to_postgres(pg_pool, redis, rid)  # redelivered: still one row
    row = await pg_pool.fetchrow("SELECT * FROM orders WHERE id = $1", oid)
    assert (row["status"], row["seq"], row["payment_id"]) == ("paid", 3, first.json()["payment_id"])
    assert await pg_pool.fetchval("SELECT count(*) FROM refunds WHERE order_id = $1", oid) == 1

    listed = (await flashsale(env, "refunds", "list", "--state", "required", "--json")).json()
    mine = [r for r in listed if r["order_id"] == oid]  # type: ignore[union-attr]
    assert len(mine) == 1
    assert (mine[0]["payment_id"], mine[0]["amount_fen"], mine[0]["reason"]) == (
        dup_pid,
        PRICE,
        "duplicate_payment",
    )
    table = await flashsale(env, "refunds", "list", "--round", rid, COLUMNS="200")
    assert table.code == 0, table.err
    assert "1 refund(s)" in table.out
    assert dup_pid in table.out

    refused(await flashsale(env, "refunds", "settle", dup_pid, admin=False), "credential")
    assert await pg_pool.fetchval("SELECT state FROM refunds WHERE payment_id = $1", dup_pid) == (
        "required"
    )
    settled = (
        await flashsale(env, "refunds", "settle", dup_pid, "--json", FLASHSALE_OPERATOR="ops-1")
    ).json()
    assert (settled["state"], settled["refunded_by"], settled["changed"]) == (  # type: ignore[index]
        "refunded",
        "ops-1",
        True,
    )
    audit = await pg_pool.fetchrow(
        "SELECT actor, subject, details->>'payment_id' AS pid FROM audit_log "
        "WHERE action = 'refund.settle' AND subject = $1",
        oid,
    )
    assert (audit["actor"], audit["pid"]) == ("ops-1", dup_pid)
    twice = (await flashsale(env, "refunds", "settle", dup_pid, "--json")).json()
    assert twice["changed"] is False  # type: ignore[index]
    said = await flashsale(env, "refunds", "settle", dup_pid)  # the operator's one-line answer
    assert f"payment {dup_pid}: already refunded" in " ".join(said.out.split()), said.out
    refunded = (await flashsale(env, "refunds", "list", "--state", "refunded", "--json")).json()
    assert dup_pid in {r["payment_id"] for r in refunded}  # type: ignore[union-attr]
    refused(await flashsale(env, "refunds", "settle", f"pay_none_{unique}"), "no refund")

    # fulfillment ignores the refund of a second payment: the order stays paid, to be shipped
    async with pg_pool.acquire() as conn:
        await intake(conn, events)
    ff = await pg_pool.fetchrow(
        "SELECT paid_seq, void_seq FROM fulfillment_orders WHERE order_id = $1", oid
    )
    assert (ff["paid_seq"], ff["void_seq"]) == (2, None)


async def test_late_payment_refund_is_a_refund_row(
    settings: Settings, redis: aioredis.Redis, pg_pool: asyncpg.Pool, unique: str
) -> None:
    rid = f"lateref{unique}"
    await arm(settings, spec(rid, stock=1))
    inv = Inventory(redis, sold_out_ttl=0)
    async with api_client(settings) as client:
        oid = (await reserve(client, settings, rid, "l1", None)).json()["order_id"]
        assert await inv.release(rid, oid, "cancelled")
        await reserve(client, settings, rid, "l2", None)  # the unit goes to someone else
        late = await callback(client, settings, oid, PRICE)
        assert (late.json()["status"], late.json()["refund_reason"]) == (
            "refund_required",
            "late_payment",
        )
        # and a second payment of that refund-required order is refunded too
        extra = await callback(client, settings, oid, PRICE)
        assert (extra.json()["status"], extra.json()["refund_reason"]) == (
            "refund_required",
            "duplicate_payment",
        )
    await to_postgres(pg_pool, redis, rid)
    rows = await pg_pool.fetch(
        "SELECT payment_id, amount_fen, reason, detail, state FROM refunds WHERE order_id = $1 "
        "ORDER BY required_at",
        oid,
    )
    assert [(r["payment_id"], r["amount_fen"], r["reason"], r["detail"]) for r in rows] == [
        (late.json()["payment_id"], PRICE, "late_payment", "sold_out"),
        (extra.json()["payment_id"], PRICE, "duplicate_payment", None),
    ]
    assert await pg_pool.fetchval("SELECT status FROM orders WHERE id = $1", oid) == (
        "refund_required"
    )
