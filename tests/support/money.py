"""Helpers for the money tests: a reservation over HTTP, a signed payment callback of a chosen
amount, and a round's outbox applied to PostgreSQL as the writer applies it."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import redis.asyncio as aioredis

from checkout.payments import PaymentProvider
from checkout.pipeline._apply import apply_batch
from flashsale.core.settings import Settings
from tests.support.api import body, headers
from tests.support.inventory import events as outbox

PRICE = 2000  # tests.support.api.OFFER price_fen


async def reserve(
    client: httpx.AsyncClient,
    settings: Settings,
    rid: str,
    who: str,
    number: str | None,
    request: dict[str, Any] | None = None,
) -> httpx.Response:
    r = await client.post(
        f"/api/rounds/{rid}/orders",
        json=request or body(number=number),
        headers=headers(settings, who, f"k-{who}-{rid}"),
    )
    assert r.status_code == 201, r.text
    return r


async def callback(
    client: httpx.AsyncClient, settings: Settings, order_id: str, amount: int
) -> httpx.Response:
    provider = PaymentProvider(settings.payment_secret)
    cb = provider.confirm(provider.start(order_id, amount))
    return await client.post("/api/payments/callback", content=cb.body, headers=cb.headers)


async def to_postgres(pg_pool: asyncpg.Pool, redis: aioredis.Redis, rid: str) -> None:
    """What the writer does with the round's events (same apply function)."""
    async with pg_pool.acquire() as conn:
        await apply_batch(conn, await outbox(redis, rid))
