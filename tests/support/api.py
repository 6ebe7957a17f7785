"""Helpers for HTTP tests: an in-process app with its lifespan, buyers, armed rounds, orders."""

from __future__ import annotations

import contextlib
import random
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from starlette.applications import Starlette

from checkout import idnumber
from flashsale.core.settings import Settings
from flashsale.front import tokens
from flashsale.front.app import create_app
from inventory import Inventory
from inventory.spec import RoundSpec
from tests.support.offer import snapshot

OFFER = snapshot(gifts=[{"kind": "data", "amount": "1 GB"}], agreement_version="v3")
_rng = random.Random(20261121)


@contextlib.asynccontextmanager
async def api_client(
    settings: Settings, factory: Callable[[Settings], Starlette] = create_app
) -> AsyncIterator[httpx.AsyncClient]:
    app = factory(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://flashsale.test") as c:
            c.app = app  # type: ignore[attr-defined]
            yield c


def spec(round_id: str, stock: int = 10, **overrides: Any) -> RoundSpec:
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "round_id": round_id,
        "offer_id": "offer-1",
        "stock": stock,
        "starts_at": now - timedelta(minutes=1),
        "ends_at": now + timedelta(hours=1),
        "per_account_limit": 1,
        "per_id_limit": 1,
        "hold_seconds": 900,
        "number_choice": False,
        "channels": ("web", "mobile", "sms"),
        "status": "live",
        "agreement_version": "v3",
        "offer": OFFER,
    }
    values.update(overrides)
    return RoundSpec(**values)


async def arm(settings: Settings, round_spec: RoundSpec) -> None:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(settings.redis_url)
    try:
        await Inventory(client).arm(round_spec)
    finally:
        await client.aclose()


def buyer(settings: Settings, name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens.issue(settings.token_secret, name, 3600)}"}


def new_id() -> str:
    return idnumber.generate(_rng)


def body(id_number: str | None = None, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "quantity": 1,
        "real_name": "张伟",
        "id_number": id_number or new_id(),
        "address": "北京市朝阳区建国路 88 号",
        "agreement_version": "v3",
        "channel": "web",
    }
    data.update(overrides)
    return data


def headers(settings: Settings, who: str, key: str) -> dict[str, str]:
    return {**buyer(settings, who), "Idempotency-Key": key}


@contextlib.asynccontextmanager
async def round_client(
    settings: Settings, round_id: str, stock: int = 10, **overrides: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """:func:`api_client` on an app whose round ``round_id`` is armed (:func:`spec`'s values
    with ``stock`` and ``overrides``)."""
    await arm(settings, spec(round_id, stock=stock, **overrides))
    async with api_client(settings) as client:
        yield client


async def post_order(
    client: httpx.AsyncClient, settings: Settings, round_id: str, who: str, key: str, **fields: Any
) -> httpx.Response:
    """``POST /api/rounds/{round_id}/orders`` for buyer ``who`` under Idempotency-Key ``key``;
    the body is :func:`body` with ``fields``."""
    return await client.post(
        f"/api/rounds/{round_id}/orders", json=body(**fields), headers=headers(settings, who, key)
    )


async def reserve(
    client: httpx.AsyncClient, settings: Settings, round_id: str, who: str, key: str | None = None
) -> str:
    """One order for ``who`` that must be reserved (201): its id."""
    r = await post_order(client, settings, round_id, who, key or f"k-{who}-{round_id}")
    assert r.status_code == 201, r.text
    return str(r.json()["order_id"])


@contextlib.asynccontextmanager
async def order_client(
    settings: Settings, round_id: str, who: str, key: str | None = None, stock: int = 10
) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """:func:`round_client` with one order of ``who`` reserved in the round: the client and
    the order's id."""
    async with round_client(settings, round_id, stock=stock) as client:
        yield client, await reserve(client, settings, round_id, who, key)
