"""`round report`: stock and order figures of one round (Redis counters + PostgreSQL orders;
once the round is archived out of Redis, the counters archived with it).

What the figures mean is decided in :mod:`checkout.pipeline.observe` (the stage a round is in,
its selling rate), the one place the ops dashboard reads too, so every reader tells the same
story at every stage: upcoming, live, paused, sold out, units returned (sold out, then holds
expired or stock was added), closed. ``held`` is units reserved and awaiting payment now;
``orders`` every reservation ever acknowledged. A round never armed reads the catalog's stock
and 0 for the rest; its status is then the catalog's, else the inventory's (the live one).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from redis.exceptions import RedisError

from catalog.control import InventoryPort
from catalog.errors import RoundStateUnavailable
from catalog.rounds import get_round
from catalog.times import show
from checkout.archived import archived_round, is_purged
from checkout.pipeline.observe import rate, stage, timeline
from inventory.errors import InventoryError

_FIGURES = ("stocked", "left", "held", "paid", "expired", "refund_required", "orders")
_COUNTERS = ("stocked", "left", "held", "paid", "released", "refund_required", "orders")
_ARCHIVED = ("stocked", "left_units", "held", "paid", "released", "refund_required", "orders")


def _figures(*values: int) -> dict[str, int]:
    """The report's unit figures (its names for the inventory's counters)."""
    return dict(zip(_FIGURES, values, strict=True))


async def round_report(
    conn: asyncpg.Connection,
    inv: InventoryPort | None,
    round_id: str,
    tz: ZoneInfo,
    now: datetime | None = None,
) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    rnd = await get_round(conn, round_id)
    figures = _figures(rnd["stocked"], rnd["stocked"], 0, 0, 0, 0, 0)
    sold_out_at = rnd["sold_out_at"]
    status = rnd["status"]
    source = "catalog"
    archive = await archived_round(conn, round_id)
    if is_purged(archive):  # the round left Redis: its final counters are in the archive
        assert archive is not None
        source = "archive"
        figures = _figures(*(archive[k] for k in _ARCHIVED))
        sold_out_at = archive["sold_out_at"] or sold_out_at
    elif inv is not None and rnd["armed"]:
        try:
            stats = await inv.stats(round_id)
        except InventoryError as exc:
            raise RoundStateUnavailable(f"Redis: {exc.message}") from exc
        except (RedisError, OSError) as exc:
            raise RoundStateUnavailable(f"Redis unavailable: {exc}") from exc
        source = "redis"
        status = stats.status
        figures = _figures(*(getattr(stats, k) for k in _COUNTERS))
        if stats.sold_out_at_ms is not None:
            sold_out_at = datetime.fromtimestamp(stats.sold_out_at_ms / 1000, UTC)
    orders = await timeline(conn, round_id)
    selling = rate(orders.per_minute)
    return {
        "round_id": round_id,
        "status": status,
        "stage": stage(
            status,
            figures["left"],
            None if sold_out_at is None else sold_out_at.timestamp(),
            rnd["starts_at"].timestamp(),
            rnd["ends_at"].timestamp(),
            now.timestamp(),
        ),
        "armed": rnd["armed"],
        "source": source,
        **figures,
        "sold": figures["held"] + figures["paid"],
        "sold_out_at": show(sold_out_at, tz),
        "starts_at": show(rnd["starts_at"], tz),
        "ends_at": show(rnd["ends_at"], tz),
        "orders_per_minute": selling.per_minute,
        "peak_minute": show(selling.peak_minute, tz),
        "peak_minute_orders": selling.peak_orders,
        "per_minute": [{"minute": show(m, tz), "orders": n} for m, n in orders.per_minute],
        "by_channel": orders.by_channel,
    }
