"""The offer snapshot each order keeps carries what that order needs: with a pool of 20,000
lucky numbers an order's ``order.reserved`` outbox entry stays under 4 KB, and the chosen
number's surcharge is in the order itself."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis

from catalog import (
    OfferTerms,
    PoolNumber,
    RoundInput,
    add_offer,
    add_product,
    add_variant,
    arm,
    create_round,
    load_pool,
)
from catalog.rounds import build_spec, get_round, offer_snapshot
from checkout.events import OrderEvent
from checkout.offer import OfferSnapshot
from flashsale.core.audit import Operator
from inventory import ARMED_ROUNDS, Inventory, ReserveRequest, ReserveResult, RoundKeys
from tests.support.catalog import sim_card_offer

OP = Operator(actor="test")
POOL_SIZE = 20_000
MAX_EVENT_BYTES = 4 * 1024


@pytest.fixture
async def inv(redis: aioredis.Redis) -> AsyncIterator[Inventory]:
    inventory = Inventory(redis, sold_out_ttl=0)
    yield inventory
    await inventory.aclose()


async def _live_round(conn: asyncpg.Connection, offer_id: int, stock: int, **more: Any) -> str:
    now = datetime.now(UTC)
    rnd = await create_round(
        conn,
        OP,
        RoundInput(
            offer_id=offer_id,
            stock=stock,
            starts_at=now - timedelta(minutes=1),
            ends_at=now + timedelta(hours=1),
            **more,
        ),
    )
    return str(rnd["id"])


async def _buy(
    inv: Inventory, rid: str, unique: str, agreement: str, number: str | None = None
) -> ReserveResult:
    return await inv.reserve(
        ReserveRequest(
            round_id=rid,
            buyer_id=f"buyer-{unique}",
            id_hash="f" * 64,
            quantity=1,
            idempotency_key="k1",
            channel="web",
            agreement_version=agreement,
            number=number,
            pii={
                "real_name": "张伟",
                "address": "北京市朝阳区建国路 88 号 " * 4,
                "id_masked": "110105********0021",
                "id_encrypted": "x" * 200,
            },
        )
    )


async def test_order_event_stays_small_with_a_big_lucky_pool(
    pg_pool: asyncpg.Pool, redis: aioredis.Redis, inv: Inventory, unique: str
) -> None:
    rng = random.Random(unique)
    numbers = sorted({f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}" for _ in range(25_000)})
    pool = [PoolNumber(n, 100 * rng.randrange(1, 200)) for n in numbers[:POOL_SIZE]]
    async with pg_pool.acquire() as conn:
        offer = await sim_card_offer(
            conn,
            OP,
            f"lucky card {unique}",
            name="20-yuan card, pick your number",
            gifts=[{"kind": "data", "amount": 1024, "unit": "MB"}],
        )
        await load_pool(conn, OP, f"lucky-{unique}", pool)
        rid = await _live_round(
            conn, offer["id"], 100, number_choice=True, number_pool=f"lucky-{unique}"
        )
        await arm(conn, inv, rid)
    try:
        chosen = pool[123]
        res = await _buy(inv, rid, unique, "v1", chosen.number)
        assert res.ok, res
        assert res.amount is not None
        assert res.amount.total_fen == 2000 + chosen.surcharge_fen
        [(_, fields)] = await redis.xrange(RoundKeys(rid).outbox)
        size = sum(len(k) + len(v) for k, v in fields.items())
        assert size < MAX_EVENT_BYTES, size
        event = OrderEvent.from_fields(fields)
        assert event.type == "order.reserved"
        assert event.data["number_surcharge"] == chosen.surcharge_fen
        assert event.data["total_fen"] == 2000 + chosen.surcharge_fen
        assert event.data["offer"]["price_fen"] == 2000
        assert "number_surcharges_fen" not in event.data["offer"]
        assert len(event.to_json()) < MAX_EVENT_BYTES
        # the free-number view still shows each number's surcharge (from the round's numfee)
        fee = await redis.hget(RoundKeys(rid).number_fees, pool[7].number)  # type: ignore[misc]
        assert int(fee) == pool[7].surcharge_fen
    finally:
        await redis.srem(ARMED_ROUNDS, rid)  # type: ignore[misc]
        await redis.delete(*RoundKeys(rid).script_keys())


async def test_the_armed_snapshot_is_the_documented_object(
    pg_pool: asyncpg.Pool, redis: aioredis.Redis, inv: Inventory, unique: str
) -> None:
    """What a round of a handset offer keeps in every order: the documented keys in their
    order, the same values the catalog holds, read back into the same typed snapshot."""
    name = "小米 14 Pro \u200f«عرض» 🎉"
    gifts = [{"kind": "item", "amount": "手机壳 case"}, {"kind": "credit", "amount": 50}]
    async with pg_pool.acquire() as conn:
        product = await add_product(conn, OP, "handset", f"Phone {unique}")
        offer = await add_offer(
            conn,
            OP,
            OfferTerms(
                product_id=product["id"],
                name=name,
                price_fen=399_900,
                agreement_version="v7",
                gifts=gifts,
            ),
        )
        await add_variant(conn, OP, product["id"], f"px-{unique}", "黑色", "256GB", offer["id"])
        rid = await _live_round(conn, offer["id"], 3, variant_sku=f"px-{unique}")
        spec = await build_spec(conn, await get_round(conn, rid))
        typed = await offer_snapshot(conn, offer["id"], f"px-{unique}")
        await arm(conn, inv, rid)
    try:
        assert spec.offer == {
            "offer_id": str(offer["id"]),
            "offer_name": name,
            "product_id": str(product["id"]),
            "product_name": f"Phone {unique}",
            "product_kind": "handset",
            "price_fen": 399_900,
            "currency": "CNY",
            "monthly_fee_fen": 0,
            "data_mb": None,
            "voice_minutes": None,
            "gifts": gifts,
            "agreement_version": "v7",
            "variant": {"sku": f"px-{unique}", "colour": "黑色", "storage": "256GB"},
        }
        assert list(spec.offer) == [  # the order the JSON text has always had
            "offer_id", "offer_name", "product_id", "product_name", "product_kind", "price_fen",
            "currency", "monthly_fee_fen", "data_mb", "voice_minutes", "gifts",
            "agreement_version", "variant",
        ]  # fmt: skip
        assert spec.offer == typed.to_dict()
        res = await _buy(inv, rid, unique, "v7")
        assert res.ok, res
        [(_, fields)] = await redis.xrange(RoundKeys(rid).outbox)
        kept = OrderEvent.from_fields(fields).data["offer"]
        assert kept == spec.offer
        assert OfferSnapshot.from_dict(kept) == typed
        assert typed.sku == f"px-{unique}"
    finally:
        await redis.srem(ARMED_ROUNDS, rid)  # type: ignore[misc]
        await redis.delete(*RoundKeys(rid).script_keys())
