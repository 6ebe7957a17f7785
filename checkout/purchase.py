"""What a shopper asks to buy: the typed buy request, its rules, and its OpenAPI schema.

:class:`BuyRequest` is a msgspec Struct: decoding a JSON body into it checks the types, the
quantity's range and that no unknown field is sent; its JSON Schema (``msgspec.json.schema``)
is the OpenAPI schema of the buy endpoint. What msgspec cannot check — NFC and the free-text
rules of :mod:`flashsale.core.text`, the ID number's checksum, ASCII-only whole-string patterns
(JSON Schema's ``$`` would let a final newline through) — :meth:`BuyRequest.checked` does after
decoding. Both refuse with the same wording, naming the field (:data:`MESSAGES`).

Exceptions::

    ValueError
    └── InvalidPurchase     code="invalid_request", .field
"""

from __future__ import annotations

import re
from typing import Annotated, ClassVar

import msgspec

from checkout import idnumber
from flashsale.core import text
from flashsale.core.text import TextRule
from inventory.spec import CHANNELS

MAX_QUANTITY = 10
MOBILE_PATTERN = "^1[3-9][0-9]{9}$"
# ASCII only: ``\d`` would take any script's digits (full-width ones too), ``$`` a final newline.
_MOBILE = re.compile(MOBILE_PATTERN[1:-1], re.ASCII)


class InvalidPurchase(ValueError):
    """A buy request that breaks a rule: ``field`` names the culprit."""

    code = "invalid_request"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _text_schema(rule: TextRule) -> msgspec.Meta:
    """A free-text field: the limits of :mod:`flashsale.core.text` (code points, as maxLength
    counts), documented only: they apply after NFC, which :meth:`BuyRequest.checked` does."""
    return msgspec.Meta(
        extra_json_schema={
            "minLength": rule.min_chars,
            "maxLength": rule.max_chars,
            "description": f"NFC-normalised and trimmed before the limits; at most "
            f"{rule.max_bytes} bytes of UTF-8; no control characters"
            + (" (tab and line breaks allowed)" if rule.multiline else " or line breaks")
            + ", lone surrogates, unassigned code points or noncharacters",
        }
    )


#: The message of each field's refusal when its value has the wrong type, is missing, or is
#: out of range (the checks after decoding give their own, more precise ones).
MESSAGES: dict[str, str] = {
    "quantity": f"quantity must be an integer 1-{MAX_QUANTITY}",
    "real_name": "real_name must be a string",
    "id_number": "ID number must be a string",
    "address": "address must be a string",
    "agreement_version": "agreement_version must be a string",
    "number": "number must be an 11-digit mobile number",
    "channel": f"channel must be one of {', '.join(CHANNELS)}",
}


class BuyRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The body of ``POST /api/rounds/{round_id}/orders``."""

    MESSAGES: ClassVar[dict[str, str]] = MESSAGES

    real_name: Annotated[str, _text_schema(text.REAL_NAME)]
    id_number: Annotated[
        str,
        msgspec.Meta(
            extra_json_schema={
                "pattern": "^[0-9]{17}[0-9Xx]$",
                "description": "18-character PRC resident ID (MOD 11-2 check)",
            }
        ),
    ]
    address: Annotated[str, _text_schema(text.ADDRESS)]
    agreement_version: Annotated[str, _text_schema(text.AGREEMENT_VERSION)]
    quantity: Annotated[int, msgspec.Meta(ge=1, le=MAX_QUANTITY)] = 1
    number: (
        Annotated[
            str,
            msgspec.Meta(
                extra_json_schema={
                    "pattern": MOBILE_PATTERN,
                    "description": "chosen phone number, when the round offers a choice "
                    "(null: none)",
                }
            ),
        ]
        | None
    ) = None
    channel: Annotated[str, msgspec.Meta(extra_json_schema={"enum": list(CHANNELS)})] = "web"

    def __repr__(self) -> str:  # keep the ID number and name out of any log line
        return f"BuyRequest(quantity={self.quantity}, channel={self.channel!r})"

    def checked(self) -> BuyRequest:
        """This request with its text in NFC and its ID number normalised, or
        :class:`InvalidPurchase` (the rules msgspec cannot express)."""
        try:
            id_number = idnumber.validate(self.id_number)
        except idnumber.IdNumberError as exc:
            raise InvalidPurchase("id_number", str(exc)) from None
        if self.channel not in CHANNELS:
            raise InvalidPurchase("channel", MESSAGES["channel"])
        if self.number is not None and not _MOBILE.fullmatch(self.number):
            raise InvalidPurchase("number", MESSAGES["number"])
        return msgspec.structs.replace(
            self,
            real_name=_clean(self.real_name, text.REAL_NAME),
            id_number=id_number,
            address=_clean(self.address, text.ADDRESS),
            agreement_version=_clean(self.agreement_version, text.AGREEMENT_VERSION),
        )


def _clean(value: str, rule: TextRule) -> str:
    try:
        return rule.clean(value)
    except text.TextError as exc:
        raise InvalidPurchase(rule.field, exc.message) from None
