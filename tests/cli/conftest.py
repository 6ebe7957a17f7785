"""Fixtures of the CLI tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis

from catalog import OfferTerms, add_offer, add_product
from inventory import ARMED_ROUNDS, RoundKeys
from tests.support.cli import OP


@pytest.fixture
async def offer(
    pg_pool: asyncpg.Pool, unique: str, redis: aioredis.Redis
) -> AsyncIterator[dict[str, Any]]:
    """A fresh offer; afterwards its rounds leave Redis (relay tests read armed rounds)."""
    async with pg_pool.acquire() as conn:
        product = await add_product(conn, OP, "sim_card", f"card {unique}")
        created = await add_offer(
            conn,
            OP,
            OfferTerms(
                product_id=product["id"],
                name="20-yuan card",
                price_fen=2000,
                data_mb=1024,
                agreement_version="v1",
                gifts=[{"kind": "credit", "amount": 1000, "unit": "CNY"}],
            ),
        )
    yield created
    async with pg_pool.acquire() as conn:
        ids = [
            r["id"]
            for r in await conn.fetch("SELECT id FROM rounds WHERE offer_id = $1", created["id"])
        ]
    for rid in ids:
        keys = RoundKeys(rid)
        await redis.srem(ARMED_ROUNDS, rid)  # type: ignore[misc]
        await redis.delete(*keys.script_keys(), keys.outbox)
