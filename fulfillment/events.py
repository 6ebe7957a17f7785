"""Shipment events on ``Topics.shipments`` (key = order id), in the order-event shape the writer
already reads (``checkout/events.py``)::

    event_id   <order_id>:ship:<state>   (failed: <order_id>:ship:failed:<n>)
    type       shipment.booked | shipment.picked_up | shipment.in_transit | shipment.delivered
               | shipment.failed
    seq        100 + rank (booked 101 … delivered 104): above every lifecycle event from Redis,
               so the writer's seq rule moves the order to shipped / delivered whatever the
               arrival order across the two topics
    status     the order's status after the event: shipped (booked, picked_up, in_transit),
               delivered; shipment.failed carries the status the order keeps ("paid" when the
               booking failed, "shipped" when the parcel was lost) and is recorded only
    data       carrier, tracking_no, promised_date, reason (failed)

Dead letters on ``Topics.dead_letter``: {order_id, round_id, code, reason, attempts, at}.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

SEQ_BASE = 100
RANKS = {"booked": 1, "picked_up": 2, "in_transit": 3, "delivered": 4}
SHIPMENT_TYPES = tuple(f"shipment.{s}" for s in (*RANKS, "failed"))


def order_status(state: str) -> str:
    return "delivered" if state == "delivered" else "shipped"


def shipment_event(
    order_id: str,
    round_id: str,
    state: str,
    at: datetime,
    data: dict[str, Any],
    *,
    failure_no: int = 0,
    keeps: str = "paid",
) -> dict[str, Any]:
    """One message value for ``Topics.shipments``."""
    if state == "failed":
        return {
            "event_id": f"{order_id}:ship:failed:{failure_no}",
            "type": "shipment.failed",
            "order_id": order_id,
            "round_id": round_id,
            "seq": SEQ_BASE,
            "status": keeps,
            "at": int(at.timestamp() * 1000),
            "data": data,
        }
    return {
        "event_id": f"{order_id}:ship:{state}",
        "type": f"shipment.{state}",
        "order_id": order_id,
        "round_id": round_id,
        "seq": SEQ_BASE + RANKS[state],
        "status": order_status(state),
        "at": int(at.timestamp() * 1000),
        "data": data,
    }
