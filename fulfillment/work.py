"""A claimed unit of fulfillment work: one paid order with what order.reserved told us."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import asyncpg
import orjson

from checkout.offer import OfferSnapshot


@dataclass(frozen=True)
class Work:
    order_id: str
    round_id: str
    offer: dict[str, Any]  # the offer snapshot as the order stored it
    quantity: int
    number: str | None
    channel: str | None
    pii: dict[str, Any]
    paid_seq: int
    attempts: int

    @cached_property
    def snapshot(self) -> OfferSnapshot:
        """The typed snapshot (:class:`checkout.offer.SnapshotError` if the stored one is not:
        :func:`fulfillment._allocate.allocate` refuses such an order before anything else)."""
        return OfferSnapshot.from_dict(self.offer)

    @property
    def idempotency_key(self) -> str:
        """The carrier idempotency key: one per order, so every retry names the same booking."""
        return f"order:{self.order_id}"

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Work:
        def js(v: Any) -> Any:
            return orjson.loads(v) if isinstance(v, str | bytes) else v

        return cls(
            order_id=row["order_id"],
            round_id=row["round_id"],
            offer=js(row["offer"]) or {},
            quantity=row["quantity"] or 1,
            number=row["number"],
            channel=row["channel"],
            pii=js(row["pii"]) or {},
            paid_seq=row["paid_seq"],
            attempts=row["attempts"],
        )
