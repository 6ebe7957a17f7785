"""Tracking: the pass that polls the carrier and records state changes, what the shopper sees
(:func:`tracking`) and the delivery SLA report (:func:`overdue`)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, date, datetime
from typing import Any

import asyncpg

from checkout.events import RANKS, shipment_event
from fulfillment._outbox import enqueue_many
from fulfillment.carrier import FINAL_STATES, Carrier
from fulfillment.errors import CarrierError

log = logging.getLogger("flashsale.fulfillment")


def _rank(state: str) -> int:
    return 99 if state == "failed" else RANKS[state]


_MOVE = """
UPDATE shipments s SET state = t.new, updated_at = now(),
       delivered_at = CASE WHEN t.new = 'delivered' THEN t.at ELSE s.delivered_at END
FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) AS t(o, old, new, at)
WHERE s.order_id = t.o AND s.state = t.old
RETURNING s.order_id"""
_HISTORY = """
INSERT INTO shipment_history (order_id, state, at)
SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[]) ON CONFLICT DO NOTHING"""


async def track_once(
    pool: asyncpg.Pool, carrier: Carrier, limit: int = 200, concurrency: int = 64
) -> int:
    """Poll the carrier for open shipments (``concurrency`` requests in flight) and record the
    state changes of the whole pass in one transaction; returns how many changed state."""
    rows = await pool.fetch(
        "SELECT order_id, round_id, tracking_no, state FROM shipments "
        "WHERE carrier = $1 AND state NOT IN ('delivered', 'failed') "
        "ORDER BY updated_at LIMIT $2",
        carrier.name,
        limit,
    )
    gate = asyncio.Semaphore(concurrency)

    async def ask(row: asyncpg.Record) -> tuple[asyncpg.Record, list[tuple[str, datetime]]]:
        async with gate:
            try:
                t = await carrier.track(row["tracking_no"])
            except CarrierError as exc:
                log.warning("track %s failed: %s", row["order_id"], exc.code)
                return row, []
        return row, [(s, at) for s, at in t.history if _rank(s) > _rank(row["state"])]

    moves = sorted(
        (m for m in await asyncio.gather(*(ask(r) for r in rows)) if m[1]),
        key=lambda m: m[0]["order_id"],  # one lock order for every worker
    )
    if not moves:
        return 0
    async with pool.acquire() as conn, conn.transaction():
        done = await conn.fetch(
            _MOVE,
            [row["order_id"] for row, _ in moves],
            [row["state"] for row, _ in moves],
            [new[-1][0] for _, new in moves],
            [new[-1][1] for _, new in moves],
        )
        moved = {r["order_id"] for r in done}  # another worker may have moved some first
        steps = [(row, s, at) for row, new in moves if row["order_id"] in moved for s, at in new]
        if steps:
            await conn.execute(
                _HISTORY,
                [row["order_id"] for row, _, _ in steps],
                [s for _, s, _ in steps],
                [at for _, _, at in steps],
            )
            await enqueue_many(conn, [_event(carrier.name, row, s, at) for row, s, at in steps])
    return len(moved)


def _event(
    carrier: str, row: asyncpg.Record, state: str, at: datetime
) -> tuple[str, str, dict[str, Any]]:
    data = {"carrier": carrier, "tracking_no": row["tracking_no"]}
    if state == "failed":
        data["reason"] = "carrier reported the parcel lost"
    event = shipment_event(row["order_id"], row["round_id"], state, at, data, keeps="shipped")
    return "shipments", row["order_id"], event


def _iso(v: datetime | date | None) -> str | None:
    return None if v is None else v.isoformat()


_TIMES = ("promised_date", "promised_by", "booked_at")  # of a shipment row, shown as ISO text


def _times(row: asyncpg.Record, *more: str) -> dict[str, str | None]:
    return {k: _iso(row[k]) for k in (*_TIMES, *more)}


async def tracking(pool: asyncpg.Pool, order_id: str) -> dict[str, Any] | None:
    """What the shopper sees about delivery, or None when fulfillment has not seen the order.

    ``state`` is a shipment state (booked, picked_up, in_transit, delivered, failed), or
    ``preparing`` (paid, not booked yet) or ``on_hold`` (refused or undeliverable; operators
    are on it). ``overdue`` is true past the promised time until delivered.
    """
    row = await pool.fetchrow("SELECT * FROM shipments WHERE order_id = $1", order_id)
    if row is None:
        work = await pool.fetchrow(
            "SELECT state FROM fulfillment_orders WHERE order_id = $1 AND paid_at IS NOT NULL",
            order_id,
        )
        if work is None:
            return None
        return {
            "order_id": order_id,
            "state": "on_hold" if work["state"] == "dead" else "preparing",
            "carrier": None,
            "tracking_no": None,
            "promised_date": None,
            "history": [],
        }
    history = await pool.fetch(
        "SELECT state, at FROM shipment_history WHERE order_id = $1 ORDER BY at, state", order_id
    )
    gifts = await pool.fetch(
        "SELECT kind, amount, unit, number FROM gift_activations "
        "WHERE order_id = $1 ORDER BY gift_index",
        order_id,
    )
    now = datetime.now(UTC)
    return {
        "order_id": order_id,
        "state": row["state"],
        "carrier": row["carrier"],
        "tracking_no": row["tracking_no"],
        **_times(row, "delivered_at"),
        "overdue": row["state"] != "delivered" and row["promised_by"] < now,
        "history": [{"state": h["state"], "at": _iso(h["at"])} for h in history],
        "gifts": [dict(g) for g in gifts],
    }


async def overdue(
    pool: asyncpg.Pool, now: datetime | None = None, round_id: str | None = None, limit: int = 1000
) -> list[dict[str, Any]]:
    """Shipments past their promised time and not delivered, most overdue first."""
    rows = await pool.fetch(
        "SELECT order_id, round_id, carrier, tracking_no, state, promised_date, promised_by, "
        "booked_at, $1::timestamptz - promised_by AS late_by FROM shipments "
        "WHERE state <> 'delivered' AND promised_by < $1 AND ($2::text IS NULL OR round_id = $2)"
        " ORDER BY promised_by LIMIT $3",
        now or datetime.now(UTC),
        round_id,
        limit,
    )
    out = []
    for r in rows:
        d = dict(r)
        late = d.pop("late_by")
        out.append(
            {
                **d,
                **_times(r),
                "late_seconds": int(late.total_seconds()),
            }
        )
    return out


__all__ = ["FINAL_STATES", "overdue", "track_once", "tracking"]
