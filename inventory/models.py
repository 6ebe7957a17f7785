"""Requests and answers of the buy path."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

#: The fields of one item of the reserve script's batch, in the order of its compact form (a
#: JSON array; reserve.lua reads them by name through the generated ``ITEM`` table).
RESERVE_ITEM = (
    "buyer_id", "id_hash", "quantity", "key", "fingerprint", "channel", "agreement_version",
    "number", "pii",
)  # fmt: skip
#: What an item for a bucket of a bucketed round adds after RESERVE_ITEM's fields: the round's
#: limit token and its deadline (ms; the bucket refuses the item once it has passed).
BUCKET_ITEM = ("token", "token_until")


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

    def script_item(self) -> bytes:
        """This request as one item of the reserve script's batch (:data:`RESERVE_ITEM`).

        Raises ``TypeError`` or ``orjson.JSONEncodeError`` when it cannot be encoded (a lone
        surrogate in a string, a PII value orjson cannot serialise...)."""
        fields = {
            "buyer_id": self.buyer_id, "id_hash": self.id_hash, "quantity": self.quantity,
            "key": self.idempotency_key, "fingerprint": self.fingerprint(),
            "channel": self.channel, "agreement_version": self.agreement_version,
            "number": self.number or "", "pii": orjson.dumps(self.pii).decode(),
        }  # fmt: skip
        return orjson.dumps([fields[name] for name in RESERVE_ITEM])


def with_token(item: bytes, token: str, until_ms: int) -> bytes:
    """A reserve item (:meth:`ReserveRequest.script_item`) with its limit token and deadline
    (:data:`BUCKET_ITEM`)."""
    return item[:-1] + b"," + orjson.dumps(token) + b"," + str(int(until_ms)).encode() + b"]"


def reserve_batch(items: Sequence[bytes]) -> bytes:
    """The reserve script's named arguments for already encoded items: ``{"items": [...]}``."""
    return b'{"items":[' + b",".join(items) + b"]}"


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
