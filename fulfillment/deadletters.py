"""Dead letters: orders fulfillment could not ship, with the reason, for operators."""

from __future__ import annotations

from typing import Any

import asyncpg

from flashsale.core.audit import Operator, audit
from flashsale.core.parked import as_dict


class DeadLetterNotFound(LookupError):
    code = "dead_letter.not_found"


async def dead_letters(
    pool: asyncpg.Pool,
    *,
    include_requeued: bool = False,
    round_id: str | None = None,
    limit: int = 1000,
) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT id, order_id, round_id, code, reason, attempts, created_at, requeued_at, "
        "requeued_by FROM fulfillment_dead_letters "
        "WHERE ($1 OR requeued_at IS NULL) AND ($2::text IS NULL OR round_id = $2) "
        "ORDER BY id LIMIT $3",
        include_requeued,
        round_id,
        limit,
    )
    return [as_dict(r) for r in rows]


async def requeue(pool: asyncpg.Pool, dead_letter_id: int, operator: Operator) -> dict[str, Any]:
    """Put the order back in the queue (attempts reset); audited. Idempotent: a dead letter
    already re-queued is returned unchanged with ``changed`` false."""
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "SELECT * FROM fulfillment_dead_letters WHERE id = $1 FOR UPDATE", dead_letter_id
        )
        if row is None:
            raise DeadLetterNotFound(f"no dead letter {dead_letter_id}")
        if row["requeued_at"] is not None:
            return {**as_dict(row), "changed": False}
        row = await conn.fetchrow(
            "UPDATE fulfillment_dead_letters SET requeued_at = now(), requeued_by = $2 "
            "WHERE id = $1 RETURNING *",
            dead_letter_id,
            operator.actor,
        )
        await conn.execute(
            "UPDATE fulfillment_orders SET state = 'pending', attempts = 0, "
            "next_attempt_at = now(), last_error = NULL, updated_at = now() "
            "WHERE order_id = $1 AND state = 'dead'",
            row["order_id"],
        )
        await audit(
            conn,
            operator,
            "fulfillment.retry",
            row["order_id"],
            {"dead_letter": dead_letter_id, "code": row["code"]},
        )
    return {**as_dict(row), "changed": True}
