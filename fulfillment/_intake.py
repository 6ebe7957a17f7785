"""Intake: order events from the orders topic → ``fulfillment_orders`` (one transaction per
batch, idempotent, any arrival order). Only what fulfillment needs is kept, so it never waits
for the writer's ``orders`` row; the other way round, a paid order whose ``order.reserved``
fulfillment never saw (e.g. a group created after the topic was trimmed) takes its snapshot
from the ``orders`` row once the writer has it (:func:`backfill`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson

from checkout.events import OrderEvent

VOIDING = ("order.expired", "order.cancelled", "order.refund_required")

# One statement per kind for the whole batch (unnest), one row per order: duplicates and
# several events of one order are folded in Python first (a statement may not update a row
# twice).
_RESERVED = """
INSERT INTO fulfillment_orders (order_id, round_id, offer, quantity, number, channel, pii)
SELECT o, r, f::jsonb, q, n, c, p::jsonb
FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::text[], $7::text[])
     AS t(o, r, f, q, n, c, p)
ON CONFLICT (order_id) DO UPDATE SET
    offer = COALESCE(fulfillment_orders.offer, EXCLUDED.offer),
    quantity = COALESCE(fulfillment_orders.quantity, EXCLUDED.quantity),
    number = COALESCE(fulfillment_orders.number, EXCLUDED.number),
    channel = COALESCE(fulfillment_orders.channel, EXCLUDED.channel),
    pii = COALESCE(fulfillment_orders.pii, EXCLUDED.pii),
    updated_at = now()
WHERE fulfillment_orders.offer IS NULL"""
_PAID = """
INSERT INTO fulfillment_orders (order_id, round_id, paid_seq, paid_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::timestamptz[])
ON CONFLICT (order_id) DO UPDATE SET
    paid_seq = GREATEST(fulfillment_orders.paid_seq, EXCLUDED.paid_seq),
    paid_at = COALESCE(fulfillment_orders.paid_at, EXCLUDED.paid_at), updated_at = now()
WHERE fulfillment_orders.paid_seq IS DISTINCT FROM
      GREATEST(fulfillment_orders.paid_seq, EXCLUDED.paid_seq)"""
_VOID = """
INSERT INTO fulfillment_orders (order_id, round_id, void_seq, void_reason)
SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[])
ON CONFLICT (order_id) DO UPDATE SET
    void_seq = EXCLUDED.void_seq, void_reason = EXCLUDED.void_reason, updated_at = now()
WHERE fulfillment_orders.void_seq IS NULL OR fulfillment_orders.void_seq < EXCLUDED.void_seq"""


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


async def intake(conn: asyncpg.Connection, events: Iterable[OrderEvent]) -> int:
    """Apply the batch; returns how many events were relevant."""
    reserved: dict[str, tuple[Any, ...]] = {}
    paid: dict[str, tuple[Any, ...]] = {}
    void: dict[str, tuple[Any, ...]] = {}
    for e in sorted(events, key=lambda e: (e.order_id, e.seq)):  # stable lock order
        if e.type == "order.reserved" and e.order_id not in reserved:
            d = e.data
            reserved[e.order_id] = (
                e.order_id,
                e.round_id,
                _json(d.get("offer")),
                d.get("quantity"),
                d.get("number"),
                d.get("channel"),
                _json(d.get("pii")),
            )
        elif e.type == "order.paid":  # the highest seq; its time is the first payment's
            first = paid.get(e.order_id)
            at = datetime.fromtimestamp(e.at / 1000, UTC) if first is None else first[3]
            paid[e.order_id] = (e.order_id, e.round_id, e.seq, at)
        elif e.type in VOIDING:  # the highest seq wins
            void[e.order_id] = (e.order_id, e.round_id, e.seq, e.type.removeprefix("order."))
    async with conn.transaction():
        for sql, rows in ((_RESERVED, reserved), (_PAID, paid), (_VOID, void)):
            if rows:
                await conn.execute(sql, *(list(c) for c in zip(*rows.values(), strict=True)))
    return len(reserved) + len(paid) + len(void)


_BACKFILL = """
UPDATE fulfillment_orders f SET offer = o.offer, quantity = o.quantity, number = o.number,
       channel = o.channel, pii = o.pii, updated_at = now()
FROM orders o
WHERE o.id = f.order_id AND f.offer IS NULL AND f.paid_seq IS NOT NULL
  AND o.offer IS NOT NULL AND o.reserved_at IS NOT NULL
  AND f.created_at < now() - make_interval(secs => $1)"""


async def backfill(pool: asyncpg.Pool, after_seconds: float = 30.0) -> int:
    """Fill snapshots missing for longer than ``after_seconds`` from ``orders``; returns count."""
    status = await pool.execute(_BACKFILL, after_seconds)
    return int(status.rsplit(" ", 1)[-1])
