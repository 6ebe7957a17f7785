"""Order and shipment events: the contract between the Lua scripts (which XADD them to a
round's outbox stream), the relay (outbox → Kafka, key = order id), the writers (Kafka →
PostgreSQL) and fulfillment (which reads orders and writes shipment events).

A stream entry / Kafka message carries these fields:

=============  =================================================================================
``event_id``   unique, ``<order_id>:<seq>``; the writer's idempotency key
``type``       one of :data:`EVENT_TYPES`
``order_id``   ``<round_id>-<n>``, unique
``round_id``   the round
``seq``        per-order sequence, 1 for ``order.reserved``, +1 per later event of that order;
               writers apply an event only when its seq is above the stored one, so arrival
               order does not matter
``status``     the order's status after this event
``at``         milliseconds since the epoch (Redis TIME inside the script)
``data``       JSON object with the event's details (see below)
=============  =================================================================================

``order.reserved`` data: buyer_id, id_hash, quantity, number (or null), channel,
agreement_version, offer (the offer snapshot: price, plan terms, gifts — not the round's
surcharge table), pay_before (ms), the money of the order — price_fen (unit price),
number_surcharge (fen, or null without a chosen number with a surcharge), total_fen (the
amount due: price_fen * quantity + surcharge) — plus the PII block the front passes in (real
name, address, masked and encrypted national ID) — never the raw ID number.
``order.paid``: payment_id, amount, late (bool: paid after expiry and re-reserved).
``order.expired`` / ``order.cancelled``: reason.
``order.refund_required`` (a late payment with no units left; the order's status becomes
refund_required): payment_id, amount, reason (why the units could not be re-taken).
``payment.refund_required`` (a payment that is not applied: the order's status is unchanged,
seq + 1): payment_id, amount, reason — ``duplicate_payment`` (the order was already paid by
another payment) or ``amount_mismatch`` (not the order's amount due). Both refund events
become a ``refunds`` row (writer); fulfillment ignores ``payment.refund_required``.

Shipment events on ``Topics.shipments`` (key = order id), in the order-event shape the writer
already reads::

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

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

EVENT_TYPES = (
    "order.reserved",
    "order.paid",
    "order.expired",
    "order.cancelled",
    "order.refund_required",
    "payment.refund_required",
)
#: Events that announce a payment to refund (data: payment_id, amount, reason).
REFUND_TYPES = ("order.refund_required", "payment.refund_required")
STATUSES = ("reserved", "paid", "expired", "cancelled", "refund_required", "shipped", "delivered")


class EventFormatError(ValueError):
    """A stream entry or Kafka message that is not a valid order event."""


@dataclass(frozen=True)
class OrderEvent:
    event_id: str
    type: str
    order_id: str
    round_id: str
    seq: int
    status: str
    at: int
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_fields(cls, fields: dict[bytes, bytes] | dict[str, str]) -> OrderEvent:
        """Parse a Redis stream entry (bytes or str keys/values)."""
        f = {
            (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
            for k, v in fields.items()
        }
        try:
            event = cls(
                event_id=f["event_id"],
                type=f["type"],
                order_id=f["order_id"],
                round_id=f["round_id"],
                seq=int(f["seq"]),
                status=f["status"],
                at=int(f["at"]),
                data=orjson.loads(f.get("data") or "{}"),
            )
        except (KeyError, ValueError, orjson.JSONDecodeError) as exc:
            raise EventFormatError(f"malformed order event {f!r}: {exc}") from exc
        event.validate()
        return event

    def validate(self) -> None:
        for name in ("event_id", "type", "order_id", "round_id", "status"):
            if not isinstance(getattr(self, name), str):
                raise EventFormatError(f"{name} must be a string")
        for name in ("seq", "at"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise EventFormatError(f"{name} must be an integer")
        if not isinstance(self.data, dict):
            raise EventFormatError("data must be an object")
        if self.type not in EVENT_TYPES:
            raise EventFormatError(f"unknown event type {self.type!r}")
        if self.status not in STATUSES:
            raise EventFormatError(f"unknown status {self.status!r}")
        if self.seq < 1:
            raise EventFormatError(f"seq must be >= 1, got {self.seq}")
        if self.type in REFUND_TYPES:
            pid, amount = self.data.get("payment_id"), self.data.get("amount")
            if not isinstance(pid, str) or not pid:
                raise EventFormatError(f"{self.type} needs a payment_id")
            if not isinstance(amount, int) or isinstance(amount, bool) or amount < 0:
                raise EventFormatError(f"{self.type} needs an integer amount >= 0")

    def to_json(self) -> bytes:
        """The Kafka message value."""
        return orjson.dumps(
            {
                "event_id": self.event_id,
                "type": self.type,
                "order_id": self.order_id,
                "round_id": self.round_id,
                "seq": self.seq,
                "status": self.status,
                "at": self.at,
                "data": self.data,
            }
        )

    @classmethod
    def from_json(cls, raw: bytes) -> OrderEvent:
        try:
            obj = orjson.loads(raw)
            event = cls(**obj)
        except (orjson.JSONDecodeError, TypeError) as exc:
            raise EventFormatError(f"malformed order event message: {exc}") from exc
        event.validate()
        return event


# -- shipment events (written by fulfillment, read by the writer) --------------------
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
