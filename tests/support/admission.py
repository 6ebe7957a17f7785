"""Helpers for the admission tests: apps with chosen limits, round options, a late-opening round,
rounds armed under a policy."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
import redis.asyncio as aioredis

from flashsale.core.settings import Settings
from flashsale.front.admission import AdmissionConfig, Policy
from flashsale.front.admission.policy import write
from flashsale.front.app import create_app
from inventory.spec import RoundSpec
from tests.support.api import arm


@contextlib.asynccontextmanager
async def admission_client(
    settings: Settings, config: AdmissionConfig | None = None, client_ip: str = "127.0.0.1"
) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process worker (its own lifespan, limiter and option cache) on the shared Redis."""
    app = create_app(settings, admission_config=config or AdmissionConfig())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(client_ip, 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://flashsale.test") as c:
            c.app = app  # type: ignore[attr-defined]
            yield c


async def set_policy(settings: Settings, round_id: str, policy: Policy) -> None:
    client = aioredis.Redis.from_url(settings.redis_url)
    try:
        await write(client, round_id, policy)
    finally:
        await client.aclose()


async def refresh(*clients: httpx.AsyncClient) -> None:
    """What the background task does every few hundred ms, now."""
    for c in clients:
        await c.app.state.fs.admission.policies.refresh()  # type: ignore[attr-defined]


async def sync(*clients: httpx.AsyncClient) -> None:
    for c in clients:
        await c.app.state.fs.admission.limiter.sync()  # type: ignore[attr-defined]


@contextlib.asynccontextmanager
async def policy_client(
    settings: Settings, policy: Policy, *rounds: RoundSpec
) -> AsyncIterator[httpx.AsyncClient]:
    """:func:`admission_client` once each of ``rounds`` is armed under ``policy`` (the worker
    has read the options); the rounds' options are cleared at the end."""
    for round_spec in rounds:
        await arm(settings, round_spec)
        await set_policy(settings, round_spec.round_id, policy)
    try:
        async with admission_client(settings) as client:
            await refresh(client)
            yield client
    finally:
        for round_spec in rounds:
            await set_policy(settings, round_spec.round_id, Policy())
