"""Applying a batch of order events to PostgreSQL in one transaction.

Events go to ``order_events`` (append-only, ``ON CONFLICT (event_id) DO NOTHING``). The batch is
folded per order in Python into one row (status and seq of its highest-seq event, reservation
fields from ``order.reserved``, ``paid_at`` from ``order.paid``) and upserted into ``orders``:
status/seq/updated_at change only when the incoming seq is above the stored one, reservation
fields fill in when still NULL. So arrival order and duplicates do not matter. Both tables are
loaded with COPY into ``ON COMMIT DELETE ROWS`` temp tables, then INSERT … SELECT.

Shipment events from fulfillment (``checkout/events.py``) share the shape: their seq (101 …
104) is above every lifecycle event, so booked / in transit make the order ``shipped`` and
delivered makes it ``delivered`` whatever the arrival order across the two topics.
``shipment.failed`` is recorded in ``order_events`` only (it does not change the status).

Money: ``orders.surcharge_fen`` / ``total_fen`` come from ``order.reserved``. A refund event
(``order.refund_required``: a late payment with no units left; ``payment.refund_required``: a
second payment or a wrong amount, the order's status unchanged) also becomes a ``refunds`` row
(``ON CONFLICT (payment_id) DO NOTHING``: one row per payment, state ``required``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson

from checkout.events import REFUND_TYPES, SHIPMENT_TYPES, STATUSES, EventFormatError, OrderEvent

RECORD_ONLY = ("shipment.failed",)

#: The staging tables' columns, name and type, in COPY order: the one list behind the temp
#: tables, the COPY column lists and the INSERT … SELECT statements.
_EVENT_FIELDS = (
    "event_id text, order_id text, round_id text, type text, seq integer, status text, "
    "at timestamptz, data jsonb"
)
_ORDER_FIELDS = (
    "id text, round_id text, status text, seq integer, buyer_id text, id_hash text, "
    "quantity integer, number text, channel text, agreement_version text, offer jsonb, "
    "pii jsonb, pay_before timestamptz, reserved_at timestamptz, paid_at timestamptz, "
    "payment_id text, updated_at timestamptz, surcharge_fen bigint, total_fen bigint"
)


def _names(fields: str) -> tuple[str, ...]:
    return tuple(f.split()[0] for f in fields.split(","))


EVENT_COLUMNS = _names(_EVENT_FIELDS)
ORDER_COLUMNS = _names(_ORDER_FIELDS)
_EVENTS = ", ".join(EVENT_COLUMNS)
_ORDERS = ", ".join(ORDER_COLUMNS)
_TEMP = (
    f"CREATE TEMP TABLE IF NOT EXISTS _w_events ({_EVENT_FIELDS}) ON COMMIT DELETE ROWS;\n"
    f"CREATE TEMP TABLE IF NOT EXISTS _w_orders ({_ORDER_FIELDS}) ON COMMIT DELETE ROWS;"
)
_INSERT_EVENTS = (
    f"INSERT INTO order_events ({_EVENTS}) SELECT {_EVENTS} FROM _w_events "  # noqa: S608 - constants
    "ON CONFLICT (event_id) DO NOTHING"
)
# Status, seq and updated_at follow the highest seq; reservation and payment fields fill in once.
_UPSERT_ORDERS = (
    f"INSERT INTO orders ({_ORDERS}) SELECT {_ORDERS} FROM _w_orders ORDER BY id"  # noqa: S608
    """
ON CONFLICT (id) DO UPDATE SET
    status = CASE WHEN EXCLUDED.seq > orders.seq THEN EXCLUDED.status ELSE orders.status END,
    updated_at = CASE WHEN EXCLUDED.seq > orders.seq THEN EXCLUDED.updated_at
                      ELSE orders.updated_at END,
    seq = GREATEST(orders.seq, EXCLUDED.seq),
    buyer_id = COALESCE(orders.buyer_id, EXCLUDED.buyer_id),
    id_hash = COALESCE(orders.id_hash, EXCLUDED.id_hash),
    quantity = COALESCE(orders.quantity, EXCLUDED.quantity),
    number = COALESCE(orders.number, EXCLUDED.number),
    channel = COALESCE(orders.channel, EXCLUDED.channel),
    agreement_version = COALESCE(orders.agreement_version, EXCLUDED.agreement_version),
    offer = COALESCE(orders.offer, EXCLUDED.offer),
    pii = COALESCE(orders.pii, EXCLUDED.pii),
    pay_before = COALESCE(orders.pay_before, EXCLUDED.pay_before),
    reserved_at = COALESCE(orders.reserved_at, EXCLUDED.reserved_at),
    surcharge_fen = COALESCE(orders.surcharge_fen, EXCLUDED.surcharge_fen),
    total_fen = COALESCE(orders.total_fen, EXCLUDED.total_fen),
    paid_at = COALESCE(orders.paid_at, EXCLUDED.paid_at),
    payment_id = COALESCE(orders.payment_id, EXCLUDED.payment_id)
WHERE EXCLUDED.seq > orders.seq
   OR (orders.reserved_at IS NULL AND EXCLUDED.reserved_at IS NOT NULL)
   OR (orders.paid_at IS NULL AND EXCLUDED.paid_at IS NOT NULL)"""
)
_INSERT_REFUNDS = """
INSERT INTO refunds (payment_id, order_id, round_id, amount_fen, reason, detail, event_id,
                     required_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (payment_id) DO NOTHING"""


def _ts(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC)


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


@dataclass
class _Fold:
    top: OrderEvent
    reserved: OrderEvent | None = None
    paid: OrderEvent | None = None

    def add(self, e: OrderEvent) -> None:
        if e.seq > self.top.seq:
            self.top = e
        if e.type == "order.reserved" and self.reserved is None:
            self.reserved = e
        if e.type == "order.paid" and (self.paid is None or e.seq < self.paid.seq):
            self.paid = e

    def row(self) -> tuple[Any, ...]:
        r = self.reserved.data if self.reserved else {}
        top = self.top
        return (
            top.order_id,
            top.round_id,
            top.status,
            top.seq,
            r.get("buyer_id"),
            r.get("id_hash"),
            r.get("quantity"),
            r.get("number"),
            r.get("channel"),
            r.get("agreement_version"),
            _json(r.get("offer")),
            _json(r.get("pii")),
            _ts(r.get("pay_before")),
            _ts(self.reserved.at) if self.reserved else None,
            _ts(self.paid.at) if self.paid else None,
            self.paid.data.get("payment_id") if self.paid else None,
            _ts(top.at),
            (r.get("number_surcharge") or 0) if self.reserved else None,
            r.get("total_fen"),
        )


def shipment_from_json(raw: bytes) -> OrderEvent:
    """Parse a message of the shipments topic as an order event."""
    try:
        event = OrderEvent(**orjson.loads(raw))
    except (orjson.JSONDecodeError, TypeError) as exc:
        raise EventFormatError(f"malformed shipment event message: {exc}") from exc
    if event.type not in SHIPMENT_TYPES or event.status not in STATUSES or event.seq < 1:
        raise EventFormatError(f"not a shipment event: {event.type!r}/{event.status!r}")
    return event


def fold(events: Iterable[OrderEvent]) -> list[tuple[Any, ...]]:
    """One ``orders`` row per order of the batch, sorted by id (stable lock order)."""
    folds: dict[str, _Fold] = {}
    for e in events:
        if e.type in RECORD_ONLY:
            continue
        f = folds.get(e.order_id)
        if f is None:
            folds[e.order_id] = f = _Fold(top=e)
        f.add(e)
    return [folds[k].row() for k in sorted(folds)]


def refund_rows(events: Iterable[OrderEvent]) -> list[tuple[Any, ...]]:
    """One ``refunds`` row per refund event, sorted by payment id (stable lock order)."""
    rows = {}
    for e in events:
        if e.type not in REFUND_TYPES:
            continue
        d = e.data
        late = e.type == "order.refund_required"
        reason = "late_payment" if late else d.get("reason")
        detail = d.get("reason") if late else None
        rows[d["payment_id"]] = (
            d["payment_id"], e.order_id, e.round_id, d["amount"], reason, detail, e.event_id,
            _ts(e.at),
        )  # fmt: skip
    return [rows[k] for k in sorted(rows)]


async def _ensure_temp(conn: asyncpg.Connection) -> None:
    await conn.execute(_TEMP)


def event_rows(events: Iterable[OrderEvent]) -> list[tuple[Any, ...]]:
    """The ``order_events`` rows of ``events`` (columns :data:`EVENT_COLUMNS`)."""
    return [
        (
            e.event_id,
            e.order_id,
            e.round_id,
            e.type,
            e.seq,
            e.status,
            _ts(e.at),
            orjson.dumps(e.data).decode(),
        )
        for e in events
    ]


async def copy_batch(
    conn: asyncpg.Connection, events: list[OrderEvent], *, orders_table: str, events_table: str
) -> None:
    """COPY the batch's folded ``orders`` rows and its ``order_events`` rows into the two tables
    (the writer's staging tables; the writer bench's plain copies, to compare against)."""
    await conn.copy_records_to_table(
        events_table, records=event_rows(events), columns=EVENT_COLUMNS
    )
    await conn.copy_records_to_table(orders_table, records=fold(events), columns=ORDER_COLUMNS)


async def apply_batch(conn: asyncpg.Connection, events: list[OrderEvent]) -> int:
    """Write ``events`` in one transaction; returns the number of new ``order_events`` rows."""
    unique = list({e.event_id: e for e in events}.values())
    async with conn.transaction():
        await _ensure_temp(conn)
        await copy_batch(conn, unique, orders_table="_w_orders", events_table="_w_events")
        status = await conn.execute(_INSERT_EVENTS)
        await conn.execute(_UPSERT_ORDERS)
        refunds = refund_rows(unique)
        if refunds:
            await conn.executemany(_INSERT_REFUNDS, refunds)
    return int(status.rsplit(" ", 1)[-1])
