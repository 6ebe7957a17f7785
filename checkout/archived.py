"""Reading archived rounds back from PostgreSQL (tables of migration 0007).

Once :mod:`checkout.archive` has moved a finished round out of Redis, its orders are read here:
:func:`archived_order` returns the same dict ``inventory.Inventory.order`` returned while the
round was in Redis (the offer snapshot comes back from the round's archived offers), so the
order API and the CLI show an archived order exactly as before. :func:`archived_round` gives
the round's final counters for ``round report``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeAlias

import asyncpg
import orjson

Reader: TypeAlias = asyncpg.Pool | asyncpg.Connection

_ORDER = """
SELECT a.record::text AS record, (r.offers -> a.offer_version)::text AS offer
FROM order_archive a JOIN round_archive r ON r.round_id = a.round_id
WHERE a.order_id = $1"""

_ROUND = """
SELECT round_id, stocked, left_units, held, paid, released, refund_required, orders,
       sold_out_at, redis_status, archived_at, unlisted_at, purged_at
FROM round_archive WHERE round_id = $1"""


async def archived_order(db: Reader, order_id: str) -> dict[str, Any] | None:
    """The archived order as ``Inventory.order`` gave it, or None if it was never archived."""
    row = await db.fetchrow(_ORDER, order_id)
    if row is None:
        return None
    order: dict[str, Any] = orjson.loads(row["record"])
    order["offer"] = orjson.loads(row["offer"]) if row["offer"] else {}
    return order


async def archived_round(db: Reader, round_id: str) -> dict[str, Any] | None:
    """Final counters and archive steps of a round, or None if it was never archived."""
    row = await db.fetchrow(_ROUND, round_id)
    return None if row is None else dict(row.items())


def is_purged(archive: dict[str, Any] | None) -> bool:
    """True when the round's Redis keys are gone (the archive is then its only record)."""
    return archive is not None and isinstance(archive.get("purged_at"), datetime)
