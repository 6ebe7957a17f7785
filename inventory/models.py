"""Requests and answers of the buy path."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import orjson

from inventory.errors import Refused


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


@dataclass(frozen=True)
class ReserveResult:
    ok: bool
    code: str | None = None  # None on success, else a refusal code (inventory.errors.REFUSAL_CODES)
    order_id: str | None = None
    pay_before_ms: int | None = None
    offer: dict[str, Any] | None = None  # offer snapshot of the order
    replay: bool = False  # the stored outcome of an earlier request with this Idempotency-Key
    left: int | None = None  # units left when the answer was made, when known

    def raise_for_refusal(self) -> ReserveResult:
        if not self.ok:
            raise Refused(self.code or "invalid_request", left=self.left)
        return self


@dataclass(frozen=True)
class ConfirmResult:
    ok: bool  # True when the order is paid
    code: str | None  # None, "unknown_order", "already_paid" or "refund_required"
    order_id: str
    status: str | None  # the order's status after the call
    late: bool = False  # paid after its hold expired, re-reserved
    replay: bool = False  # the same payment confirmed before; nothing changed
