"""A claimed unit of fulfillment work: one paid order with what order.reserved told us."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson


@dataclass(frozen=True)
class Work:
    order_id: str
    round_id: str
    offer: dict[str, Any]
    quantity: int
    number: str | None
    channel: str | None
    pii: dict[str, Any]
    paid_seq: int
    attempts: int

    @property
    def kind(self) -> str:
        return str(self.offer.get("product_kind"))

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
