"""Reading archived rounds back from PostgreSQL (tables of migration 0007).

Once :mod:`checkout.pipeline.archive` has moved a finished round out of Redis, its orders are read
here:
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


_REFUND = """
INSERT INTO refunds (payment_id, order_id, round_id, amount_fen, reason, detail, event_id,
                     required_at)
VALUES ($1, $2, $3, $4, $5, 'the round was archived', $2 || ':archived:' || $1, now())
ON CONFLICT (payment_id) DO NOTHING"""


async def payment_after_archive(
    db: Reader, order_id: str, payment_id: str, amount: int
) -> dict[str, Any] | None:
    """A successful payment for an order whose round left Redis: the applied payment again is
    answered as before; any other is never kept — it becomes a ``refunds`` row (idempotent per
    payment id): ``duplicate_payment`` for a paid order, else ``late_payment`` (the round is
    over, no units can be taken). None when the order was never archived."""
    order = await archived_order(db, order_id)
    if order is None:
        return None
    answer: dict[str, Any] = {
        "order_id": order_id,
        "status": order["status"],
        "payment_id": payment_id,
        "late": bool(order.get("late")) and order["status"] == "paid",
    }
    if payment_id == order.get("payment_id") and order["status"] == "paid":
        return answer
    reason = "duplicate_payment" if order["status"] == "paid" else "late_payment"
    await db.execute(_REFUND, payment_id, order_id, order["round_id"], amount, reason)
    stored = await db.fetchval("SELECT reason FROM refunds WHERE payment_id = $1", payment_id)
    return answer | {"payment": "refund_required", "refund_reason": stored or reason}
