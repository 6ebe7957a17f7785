"""The armer: a bounded background loop that arms rounds shortly before they start.

Each pass arms at most ``batch`` unarmed open rounds starting within ``lead`` (arming is
idempotent and holds the round's row lock, so several armers never double-load), and marks
scheduled rounds whose window has opened as live. Failures are logged per round and retried on
the next pass; the loop ends when ``stop_event`` is set.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import asyncpg
from redis.exceptions import RedisError

from catalog import control
from catalog.errors import CatalogError
from flashsale.core.db import create_pool
from flashsale.core.redis import redis_client
from flashsale.core.retry import sleep_unless_stopped
from flashsale.core.settings import Settings
from inventory import Inventory, InventoryError

log = logging.getLogger(__name__)
_RETRIED = (CatalogError, InventoryError, RedisError, OSError, asyncpg.PostgresError)


async def arm_due(
    pool: asyncpg.Pool, inv: control.InventoryPort, lead: timedelta, batch: int = 50
) -> list[str]:
    """One pass: arm rounds starting within ``lead``; return the ids armed now."""
    async with pool.acquire() as conn:
        due = [
            r["id"]
            for r in await conn.fetch(
                "SELECT id FROM rounds WHERE armed_at IS NULL AND status IN ('scheduled', 'live', "
                "'paused') AND starts_at <= now() + $1::interval AND ends_at > now() "
                "ORDER BY starts_at LIMIT $2",
                lead,
                batch,
            )
        ]
        armed = []
        for round_id in due:
            try:
                outcome = await control.arm(conn, inv, round_id)
            except _RETRIED as exc:
                log.warning("arming round %s failed (will retry): %s", round_id, exc)
                continue
            if outcome.changed:
                armed.append(round_id)
                log.info("armed round %s", round_id)
        opened = await conn.fetch(
            "SELECT id FROM rounds WHERE status = 'scheduled' AND starts_at <= now() "
            "AND ends_at > now() ORDER BY starts_at LIMIT $1",
            batch,
        )
        for row in opened:
            try:
                await control.go_live(conn, inv, control.ARMER, row["id"])
            except _RETRIED as exc:
                log.warning("opening round %s failed (will retry): %s", row["id"], exc)
        await _sync_sold_out(conn, inv, batch)
        return armed


async def _sync_sold_out(conn: asyncpg.Connection, inv: control.InventoryPort, batch: int) -> None:
    """Live rounds whose every unit is paid (none left, none held) become sold_out."""
    live = await conn.fetch(
        "SELECT id FROM rounds WHERE status = 'live' AND armed_at IS NOT NULL "
        "AND ends_at > now() ORDER BY updated_at LIMIT $1",
        batch,
    )
    for row in live:
        try:
            stats = await inv.stats(row["id"])
            if stats.left == 0 and stats.held == 0 and stats.stocked > 0:
                at_ms = stats.sold_out_at_ms
                at = (
                    datetime.now(UTC)
                    if at_ms is None
                    else datetime.fromtimestamp(at_ms / 1000, UTC)
                )
                await control.mark_sold_out(conn, inv, row["id"], at)
        except _RETRIED as exc:
            log.warning("checking round %s failed (will retry): %s", row["id"], exc)


async def run_armer(
    settings: Settings,
    stop_event: asyncio.Event,
    lead: timedelta = timedelta(minutes=10),
    interval: float = 1.0,
    batch: int = 50,
) -> None:
    """Arm rounds starting within ``lead`` every ``interval`` seconds until ``stop_event``."""
    pool = await create_pool(settings.database_url, max_size=2)
    client = redis_client(settings.redis_url)
    try:
        inv = Inventory(client)
        while not stop_event.is_set():
            try:
                await arm_due(pool, inv, lead, batch)
            except (RedisError, OSError, asyncpg.PostgresError) as exc:
                log.warning("armer pass failed (will retry): %s", exc)
            await sleep_unless_stopped(stop_event, interval)
    finally:
        await client.aclose()
        await pool.close()
