"""The outcomes of one order's work, each in one transaction: booked (shipment, history, gift
activations, events), rescheduled after a retriable failure, or dead-lettered with the reason.

Every update of the work row is guarded by ``state = 'working'``: a worker whose lease expired
and whose order was finished by another never overwrites that outcome. ``shipments.order_id`` is
unique, so two workers that both got the (same, idempotent) booking record one shipment.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import orjson

from checkout.events import shipment_event
from fulfillment._outbox import enqueue
from fulfillment.carrier import Booking
from fulfillment.errors import FulfillmentError
from fulfillment.work import Work


def gift_code(order_id: str, index: int) -> str:
    return hashlib.sha256(f"gift:{order_id}:{index}".encode()).hexdigest()[:16].upper()


async def record_booking(
    pool: asyncpg.Pool, work: Work, booking: Booking, items: list[dict[str, Any]], zone: ZoneInfo
) -> bool:
    """Record the shipment; returns False when it was already recorded (a duplicate)."""
    promised_date = booking.estimate.astimezone(zone).date()
    line = next((it.get("number") for it in items if it.get("number")), None)
    async with pool.acquire() as conn, conn.transaction():
        sid = await conn.fetchval(
            """INSERT INTO shipments (order_id, round_id, carrier, tracking_no, state,
                   promised_by, promised_date, booked_at, manifest)
               VALUES ($1, $2, $3, $4, 'booked', $5, $6, $7, $8::jsonb)
               ON CONFLICT (order_id) DO NOTHING RETURNING id""",
            work.order_id,
            work.round_id,
            booking.carrier,
            booking.tracking_no,
            booking.estimate,
            promised_date,
            booking.booked_at,
            orjson.dumps(items).decode(),
        )
        await conn.execute(
            "UPDATE fulfillment_orders SET state = 'booked', lease_until = NULL, "
            "last_error = NULL, updated_at = now() WHERE order_id = $1 AND state = 'working'",
            work.order_id,
        )
        if sid is None:
            return False
        await conn.execute(
            "INSERT INTO shipment_history (order_id, state, at) "
            "VALUES ($1, 'booked', $2) ON CONFLICT DO NOTHING",
            work.order_id,
            booking.booked_at,
        )
        gifts = work.snapshot.gifts  # allocate refused the order if it has no valid snapshot
        await conn.executemany(
            "INSERT INTO gift_activations (order_id, gift_index, kind, amount, unit, number, "
            "code) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
            [
                (
                    work.order_id,
                    i,
                    g.kind,
                    str(g.amount),
                    g.unit,
                    None if g.kind == "item" else line,
                    gift_code(work.order_id, i),
                )
                for i, g in enumerate(gifts)
            ],
        )
        await enqueue(
            conn,
            "shipments",
            work.order_id,
            shipment_event(
                work.order_id,
                work.round_id,
                "booked",
                booking.booked_at,
                {
                    "carrier": booking.carrier,
                    "tracking_no": booking.tracking_no,
                    "promised_date": promised_date.isoformat(),
                    "gifts": len(gifts),
                },
            ),
        )
    return True


async def reschedule(pool: asyncpg.Pool, work: Work, error: FulfillmentError, delay: float) -> None:
    await pool.execute(
        "UPDATE fulfillment_orders SET state = 'pending', attempts = attempts + 1, "
        "next_attempt_at = now() + make_interval(secs => $2), lease_until = NULL, "
        "last_error = $3, updated_at = now() WHERE order_id = $1 AND state = 'working'",
        work.order_id,
        delay,
        error.code,
    )


async def dead_letter(pool: asyncpg.Pool, work: Work, error: FulfillmentError) -> int | None:
    """Park the order with the reason; returns the dead letter's id (None if not ours)."""
    now = datetime.now(UTC)
    async with pool.acquire() as conn, conn.transaction():
        attempts = await conn.fetchval(
            "UPDATE fulfillment_orders SET state = 'dead', attempts = attempts + 1, "
            "lease_until = NULL, last_error = $2, updated_at = now() "
            "WHERE order_id = $1 AND state = 'working' RETURNING attempts",
            work.order_id,
            error.code,
        )
        if attempts is None:
            return None
        dlq_id = await conn.fetchval(
            "INSERT INTO fulfillment_dead_letters (order_id, round_id, code, reason, attempts) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (order_id) WHERE requeued_at IS NULL "
            "DO NOTHING RETURNING id",
            work.order_id,
            work.round_id,
            error.code,
            str(error)[:500],
            attempts,
        )
        if dlq_id is None:
            return None
        reason = {"code": error.code, "reason": str(error)[:500]}
        await enqueue(
            conn,
            "dead_letter",
            work.order_id,
            {
                "event_id": f"{work.order_id}:dlq:{dlq_id}",
                "id": dlq_id,
                "order_id": work.order_id,
                "round_id": work.round_id,
                "attempts": attempts,
                "at": int(now.timestamp() * 1000),
                **reason,
            },
        )
        await enqueue(
            conn,
            "shipments",
            work.order_id,
            shipment_event(work.order_id, work.round_id, "failed", now, reason, failure_no=dlq_id),
        )
    return int(dlq_id)
