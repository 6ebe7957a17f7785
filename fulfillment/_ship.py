"""The outcomes of a batch's work: the booked orders recorded together in one transaction
(shipments, history, gift activations, events, a few statements for the whole batch), retriable
failures rescheduled in one statement, and each refused order dead-lettered with its reason.

Every update of the work row is guarded by ``state = 'working'``: a worker whose lease expired
and whose order was finished by another never overwrites that outcome. ``shipments.order_id`` is
unique, so two workers that both got the (same, idempotent) booking record one shipment.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import orjson

from checkout.events import shipment_event
from fulfillment._outbox import enqueue, enqueue_many
from fulfillment.carrier import Booking
from fulfillment.errors import FulfillmentError
from fulfillment.work import Work


def gift_code(order_id: str, index: int) -> str:
    return hashlib.sha256(f"gift:{order_id}:{index}".encode()).hexdigest()[:16].upper()


@dataclass(frozen=True)
class Booked:
    """One order of the batch the carrier booked, with its manifest."""

    work: Work
    booking: Booking
    items: list[dict[str, Any]]


_SHIPMENTS = """
INSERT INTO shipments (order_id, round_id, carrier, tracking_no, state, promised_by,
                       promised_date, booked_at, manifest)
SELECT o, r, c, t, 'booked', p, d, b, m::jsonb
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::date[],
            $7::timestamptz[], $8::text[]) AS x(o, r, c, t, p, d, b, m)
ORDER BY o
ON CONFLICT (order_id) DO NOTHING RETURNING order_id"""
_GIFTS = """
INSERT INTO gift_activations (order_id, gift_index, kind, amount, unit, number, code)
SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[],
                     $7::text[])
ON CONFLICT DO NOTHING"""


async def record_bookings(pool: asyncpg.Pool, batch: list[Booked], zone: ZoneInfo) -> set[str]:
    """Record the batch's shipments, history, gift activations and events in one transaction;
    returns the orders recorded now (the others were recorded before: duplicates)."""
    if not batch:
        return set()
    batch = sorted(batch, key=lambda b: b.work.order_id)  # one lock order for every worker
    dates = {b.work.order_id: b.booking.estimate.astimezone(zone).date() for b in batch}
    oids = [b.work.order_id for b in batch]
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            _SHIPMENTS,
            oids,
            [b.work.round_id for b in batch],
            [b.booking.carrier for b in batch],
            [b.booking.tracking_no for b in batch],
            [b.booking.estimate for b in batch],
            [dates[b.work.order_id] for b in batch],
            [b.booking.booked_at for b in batch],
            [orjson.dumps(b.items).decode() for b in batch],
        )
        await conn.execute(
            "UPDATE fulfillment_orders SET state = 'booked', lease_until = NULL, "
            "last_error = NULL, updated_at = now() "
            "WHERE order_id = ANY($1::text[]) AND state = 'working'",
            oids,
        )
        new = {r["order_id"] for r in rows}
        fresh = [b for b in batch if b.work.order_id in new]
        if not fresh:
            return new
        await conn.execute(
            "INSERT INTO shipment_history (order_id, state, at) "
            "SELECT o, 'booked', a FROM unnest($1::text[], $2::timestamptz[]) AS t(o, a) "
            "ON CONFLICT DO NOTHING",
            [b.work.order_id for b in fresh],
            [b.booking.booked_at for b in fresh],
        )
        gifts = [row for b in fresh for row in _gift_rows(b)]
        if gifts:
            await conn.execute(_GIFTS, *(list(col) for col in zip(*gifts, strict=True)))
        await enqueue_many(conn, [_booked_event(b, dates[b.work.order_id]) for b in fresh])
    return new


def _gift_rows(b: Booked) -> list[tuple[Any, ...]]:
    oid = b.work.order_id
    line = next((it.get("number") for it in b.items if it.get("number")), None)
    gifts = b.work.snapshot.gifts  # allocate refused the order if it has no valid snapshot
    return [
        (oid, i, g.kind, str(g.amount), g.unit, None if g.kind == "item" else line,
         gift_code(oid, i))
        for i, g in enumerate(gifts)
    ]  # fmt: skip


def _booked_event(b: Booked, promised: date) -> tuple[str, str, dict[str, Any]]:
    w, bk = b.work, b.booking
    data = {
        "carrier": bk.carrier,
        "tracking_no": bk.tracking_no,
        "promised_date": promised.isoformat(),
        "gifts": len(w.snapshot.gifts),
    }
    return "shipments", w.order_id, shipment_event(w.order_id, w.round_id, "booked",
                                                    bk.booked_at, data)  # fmt: skip


async def reschedule(
    pool: asyncpg.Pool, retries: list[tuple[Work, FulfillmentError, float]]
) -> None:
    """Put orders back in the queue after a retriable failure, each after its own delay."""
    if not retries:
        return
    await pool.execute(
        "UPDATE fulfillment_orders f SET state = 'pending', attempts = attempts + 1, "
        "next_attempt_at = now() + make_interval(secs => t.d), lease_until = NULL, "
        "last_error = t.c, updated_at = now() "
        "FROM unnest($1::text[], $2::float8[], $3::text[]) AS t(o, d, c) "
        "WHERE f.order_id = t.o AND f.state = 'working'",
        [w.order_id for w, _, _ in retries],
        [d for _, _, d in retries],
        [e.code for _, e, _ in retries],
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
