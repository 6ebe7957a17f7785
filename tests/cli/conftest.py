"""Fixtures of the CLI tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis

from inventory import ARMED_ROUNDS, RoundKeys
from tests.support.catalog import sim_card_offer
from tests.support.cli import OP


@pytest.fixture
async def offer(
    pg_pool: asyncpg.Pool, unique: str, redis: aioredis.Redis
) -> AsyncIterator[dict[str, Any]]:
    """A fresh offer; afterwards its rounds leave Redis (relay tests read armed rounds)."""
    async with pg_pool.acquire() as conn:
        created = await sim_card_offer(
            conn, OP, f"card {unique}", gifts=[{"kind": "credit", "amount": 1000, "unit": "CNY"}]
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
