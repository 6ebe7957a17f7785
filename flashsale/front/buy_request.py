"""The body of ``POST /api/rounds/{round_id}/orders``, validated field by field."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from checkout import idnumber
from flashsale.core import text
from flashsale.front.errors import ApiError
from inventory.spec import CHANNELS

FIELDS = frozenset(
    {"quantity", "real_name", "id_number", "address", "number", "agreement_version", "channel"}
)
MAX_QUANTITY = 10
# ASCII only: ``\d`` would take any script's digits (full-width ones too), ``$`` a final newline.
_MOBILE = re.compile(r"1[3-9][0-9]{9}", re.ASCII)
_IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9_\-:.]{8,64}", re.ASCII)


@dataclass(frozen=True, slots=True)
class BuyRequest:
    quantity: int
    real_name: str
    id_number: str  # validated and normalised; never logged
    address: str
    agreement_version: str
    channel: str
    number: str | None

    def __repr__(self) -> str:  # keep the ID number and name out of any log line
        return f"BuyRequest(quantity={self.quantity}, channel={self.channel!r})"


def _text(data: dict[str, Any], rule: text.TextRule) -> str:
    """The field in NFC, or ApiError naming it (see :mod:`flashsale.core.text` for the rule)."""
    try:
        return rule.clean(data.get(rule.field))
    except text.TextError as exc:
        raise ApiError("invalid_request", exc.message, field=rule.field) from None


def parse_buy(data: dict[str, Any]) -> BuyRequest:
    unknown = data.keys() - FIELDS
    if unknown:
        name = sorted(unknown)[0]
        raise ApiError("invalid_request", f"unknown field {name!r}", field=name)
    quantity = data.get("quantity", 1)
    if type(quantity) is not int or not 1 <= quantity <= MAX_QUANTITY:
        raise ApiError(
            "invalid_request", f"quantity must be an integer 1-{MAX_QUANTITY}", field="quantity"
        )
    try:
        id_number = idnumber.validate(data.get("id_number"))  # type: ignore[arg-type]
    except idnumber.IdNumberError as exc:
        raise ApiError("invalid_request", str(exc), field="id_number") from None
    channel = data.get("channel", "web")
    if not isinstance(channel, str) or channel not in CHANNELS:
        raise ApiError(
            "invalid_request", f"channel must be one of {', '.join(CHANNELS)}", field="channel"
        )
    number = data.get("number")
    if number is not None and (not isinstance(number, str) or not _MOBILE.fullmatch(number)):
        raise ApiError(
            "invalid_request", "number must be an 11-digit mobile number", field="number"
        )
    return BuyRequest(
        quantity=quantity,
        real_name=_text(data, text.REAL_NAME),
        id_number=id_number,
        address=_text(data, text.ADDRESS),
        agreement_version=_text(data, text.AGREEMENT_VERSION),
        channel=channel,
        number=number,
    )


def idempotency_key(headers: Any) -> str:
    key = headers.get("idempotency-key")
    if not isinstance(key, str) or not _IDEMPOTENCY_KEY.fullmatch(key):
        raise ApiError(
            "invalid_request",
            "Idempotency-Key header required: 8-64 of A-Z a-z 0-9 _ - : .",
            field="Idempotency-Key",
        )
    return key
