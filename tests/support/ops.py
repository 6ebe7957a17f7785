"""Helpers for the ops dashboard tests: a live round in the catalog, armed into Redis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg

import catalog
from catalog.connections import LazyInventory
from flashsale.core.settings import Settings
from tests.support.catalog import sim_card_offer
from tests.support.cli import OP


async def live_round(pg_pool: asyncpg.Pool, settings: Settings, unique: str) -> str:
    """A 3-unit round of a new offer, live from now for an hour, armed; its id."""
    now = datetime.now(UTC)
    async with pg_pool.acquire() as conn:
        offer = await sim_card_offer(conn, OP, f"ops {unique}", gifts=[])
        rnd = await catalog.create_round(
            conn,
            OP,
            catalog.RoundInput(
                offer_id=offer["id"], stock=3, starts_at=now, ends_at=now + timedelta(hours=1)
            ),
        )
        inv = LazyInventory(settings)
        try:
            await catalog.arm(conn, inv, rnd["id"], OP)
        finally:
            await inv.aclose()
    rid: str = rnd["id"]
    return rid
