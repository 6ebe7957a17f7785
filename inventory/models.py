"""Requests and answers of the buy path."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import orjson


@dataclass(frozen=True)
class ReserveRequest:
    round_id: str
    buyer_id: str
    id_hash: str  # hash of the national ID number (never the raw number)
    quantity: int
    idempotency_key: str
    channel: str
    agreement_version: str
    number: str | None = None  # chosen phone number, when the round offers number choice
    pii: dict[str, Any] = field(default_factory=dict)  # opaque; copied into order.reserved

    def fingerprint(self) -> str:
        """What a retry with the same Idempotency-Key must repeat (PII may be re-encrypted)."""
        raw = orjson.dumps(
            [self.id_hash, self.quantity, self.channel, self.agreement_version, self.number]
        )
        return hashlib.sha256(raw).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Amount:
    """What an order costs, in fen, fixed by the reserve script from the order's snapshot:
    ``price_fen`` is the unit price times the quantity, ``surcharge_fen`` the chosen number's
    surcharge (0 without one), ``total_fen`` their sum: the amount due, charged and checked."""

    price_fen: int
    surcharge_fen: int
    total_fen: int

    def as_dict(self) -> dict[str, int]:
        return {
            "price_fen": self.price_fen,
            "surcharge_fen": self.surcharge_fen,
            "total_fen": self.total_fen,
        }


@dataclass(frozen=True)
class ReserveResult:
    ok: bool
    code: str | None = None  # None on success, else a code of inventory.refusals
    order_id: str | None = None
    pay_before_ms: int | None = None
    offer: dict[str, Any] | None = None  # offer snapshot of the order
    replay: bool = False  # the stored outcome of an earlier request with this Idempotency-Key
    left: int | None = None  # units left when the answer was made, when known
    amount: Amount | None = None  # what the order costs (successes only)


@dataclass(frozen=True)
class ConfirmResult:
    ok: bool  # True when the order is paid
    code: str | None  # None or one of inventory.errors.CONFIRM_CODES
    order_id: str
    status: str | None  # the order's status after the call
    late: bool = False  # paid after its hold expired, re-reserved
    replay: bool = False  # the same payment confirmed before; nothing changed
    refund: str | None = None  # this payment must be refunded: REFUND_REASONS
