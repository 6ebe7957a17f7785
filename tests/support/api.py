"""Helpers for HTTP tests: an in-process app with its lifespan, buyers, armed rounds."""

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
