"""Tracking: the pass that polls the carrier and records state changes, what the shopper sees
(:func:`tracking`) and the delivery SLA report (:func:`overdue`)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, date, datetime
from typing import Any

import asyncpg

from checkout.events import RANKS, shipment_event
from fulfillment._outbox import enqueue
from fulfillment.carrier import FINAL_STATES, Carrier
from fulfillment.errors import CarrierError

log = logging.getLogger("flashsale.fulfillment")


def _rank(state: str) -> int:
    return 99 if state == "failed" else RANKS[state]


async def track_once(
    pool: asyncpg.Pool, carrier: Carrier, limit: int = 200, concurrency: int = 16
) -> int:
    """Poll the carrier for open shipments; returns how many changed state."""
    rows = await pool.fetch(
        "SELECT order_id, round_id, tracking_no, state FROM shipments "
        "WHERE carrier = $1 AND state NOT IN ('delivered', 'failed') "
        "ORDER BY updated_at LIMIT $2",
        carrier.name,
        limit,
    )
    gate = asyncio.Semaphore(concurrency)

    async def one(row: asyncpg.Record) -> bool:
        async with gate:
            try:
                t = await carrier.track(row["tracking_no"])
            except CarrierError as exc:
                log.warning("track %s failed: %s", row["order_id"], exc.code)
                return False
        new = [(s, at) for s, at in t.history if _rank(s) > _rank(row["state"])]
        if not new:
            return False
        async with pool.acquire() as conn, conn.transaction():
            state, at = new[-1]
            done = await conn.fetchval(
                "UPDATE shipments SET state = $3, updated_at = now(), delivered_at = "
                "CASE WHEN $3 = 'delivered' THEN $4 ELSE delivered_at END "
                "WHERE order_id = $1 AND state = $2 RETURNING id",
                row["order_id"],
                row["state"],
                state,
                at,
            )
            if done is None:  # another worker moved it first
                return False
            for s, when in new:
                await conn.execute(
                    "INSERT INTO shipment_history (order_id, state, at) "
                    "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                    row["order_id"],
                    s,
                    when,
                )
                data = {"carrier": carrier.name, "tracking_no": row["tracking_no"]}
                if s == "failed":
                    data["reason"] = "carrier reported the parcel lost"
                await enqueue(
                    conn,
                    "shipments",
                    row["order_id"],
                    shipment_event(
                        row["order_id"], row["round_id"], s, when, data, keeps="shipped"
                    ),
                )
        return True

    return sum(await asyncio.gather(*(one(r) for r in rows)))


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
