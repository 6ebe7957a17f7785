"""Refunds: payments that are not kept (migration 0006 ``refunds``), for operators.

The writer inserts one row per refund event (``checkout.pipeline._apply``): a late payment whose
units
were gone (``late_payment``), a second payment of a paid order (``duplicate_payment``), a payment
of another amount than the order's due (``amount_mismatch``). A row starts ``required``; an
operator marks it ``refunded`` once the provider has paid the money back (:func:`settle`,
audited in the same transaction).

Exceptions::

    LookupError
    └── RefundNotFound      code "refund.not_found"
"""

from __future__ import annotations

from typing import Any

import asyncpg

from flashsale.core.audit import Operator, audit
from flashsale.core.db import record_dict

STATES = ("required", "refunded")
_COLUMNS = (
    "payment_id, order_id, round_id, amount_fen, reason, detail, state, required_at, "
    "refunded_at, refunded_by"
)
_LIST = (
    "SELECT " + _COLUMNS + " FROM refunds "  # noqa: S608 (constants only)
    "WHERE ($1::text IS NULL OR state = $1) AND ($2::text IS NULL OR round_id = $2) "
    "ORDER BY required_at, payment_id LIMIT $3"
)
_SETTLE = (
    "UPDATE refunds SET state = 'refunded', refunded_at = now(), refunded_by = $2 "  # noqa: S608
    "WHERE payment_id = $1 AND state = 'required' RETURNING " + _COLUMNS
)
_ONE = "SELECT " + _COLUMNS + " FROM refunds WHERE payment_id = $1"  # noqa: S608 (constants)


class RefundNotFound(LookupError):
    code = "refund.not_found"


async def list_refunds(
    pool: asyncpg.Pool,
    *,
    state: str | None = None,
    round_id: str | None = None,
    limit: int = 1000,
) -> list[dict[str, Any]]:
    """Refund rows, oldest first; ``state`` one of :data:`STATES` (None: all)."""
    if state is not None and state not in STATES:
        raise ValueError(f"unknown refund state {state!r}")
    return [record_dict(r) for r in await pool.fetch(_LIST, state, round_id, limit)]


async def settle(pool: asyncpg.Pool, payment_id: str, operator: Operator) -> dict[str, Any]:
    """Mark the refund of ``payment_id`` refunded (audited). Idempotent: a refund already
    settled is returned unchanged with ``changed`` false."""
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(_SETTLE, payment_id, operator.actor)
        if row is None:
            current = await conn.fetchrow(_ONE, payment_id)
            if current is None:
                raise RefundNotFound(f"no refund for payment {payment_id}")
            return {**record_dict(current), "changed": False}
        await audit(
            conn,
            operator,
            "refund.settle",
            row["order_id"],
            {"payment_id": payment_id, "amount_fen": row["amount_fen"], "reason": row["reason"]},
        )
    return {**record_dict(row), "changed": True}
