"""Connections the catalog commands use: one PostgreSQL connection, and the inventory on a Redis
client opened only when a command touches an armed round."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from flashsale.core.redis import redis_client
from flashsale.core.settings import Settings
from inventory import Inventory, RoundSpec, RoundStats


@asynccontextmanager
async def pg(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    try:
        conn = await asyncpg.connect(settings.database_url, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        raise ConnectionError(f"PostgreSQL unreachable: {exc}") from exc
    try:
        yield conn
    finally:
        await conn.close()


class LazyInventory:
    """A :class:`catalog.control.InventoryPort` opening Redis on first use (unarmed rounds
    never need it)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: aioredis.Redis | None = None
        self._inv: Inventory | None = None

    def _get(self) -> Inventory:
        if self._inv is None:
            self._client = redis_client(self._settings.redis_url)
            self._inv = Inventory(self._client)
        return self._inv

    async def arm(self, spec: RoundSpec) -> bool:
        return await self._get().arm(spec)

    async def set_status(self, round_id: str, status: str) -> Any:
        return await self._get().set_status(round_id, status)

    async def extend(self, round_id: str, ends_at: datetime) -> Any:
        return await self._get().extend(round_id, ends_at)

    async def restock(self, round_id: str, units: int, restock_id: str) -> int:
        return await self._get().restock(round_id, units, restock_id)

    async def load_numbers(
        self, round_id: str, numbers: Sequence[str], surcharges: Mapping[str, int] | None = None
    ) -> int:
        return await self._get().load_numbers(round_id, numbers, surcharges)

    async def stats(self, round_id: str) -> RoundStats:
        return await self._get().stats(round_id)

    async def aclose(self) -> None:
        client, inv, self._client, self._inv = self._client, self._inv, None, None
        if inv is not None:
            await inv.aclose()
        if client is not None:
            await client.aclose()
