"""Money in fen (1 yuan = 100 fen, integers only) and the offer terms marketers type."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from catalog.errors import InvalidInput
from checkout.offer import GIFT_KINDS

_DATA = re.compile(r"^(\d+(?:\.\d+)?)\s*(MB|GB|TB)$", re.IGNORECASE)
_MB = {"MB": 1, "GB": 1024, "TB": 1024 * 1024}


def parse_yuan(text: str, what: str = "price") -> int:
    """``"19.9"`` → 1990 fen; at most two decimals, never negative."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise InvalidInput(f"bad {what} {text!r} (yuan, e.g. 20 or 19.90)", value=text) from None
    if not value.is_finite() or value < 0 or value != value.quantize(Decimal("0.01")):
        raise InvalidInput(
            f"bad {what} {text!r} (yuan, at most two decimals, not negative)", value=text
        )
    return int(value * 100)


def yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def parse_data(text: str) -> int:
    """``"1 GB"`` → 1024 (MB); a bare number is MB."""
    raw = text.strip()
    if raw.isascii() and raw.isdigit():  # "²".isdigit() is true, int("²") raises
        return int(raw)
    match = _DATA.match(raw)
    if match is None:
        raise InvalidInput(f"bad data allowance {text!r} (e.g. 500MB, 1GB)", value=text)
    return int(Decimal(match[1]) * _MB[match[2].upper()])


def parse_gift(text: str) -> dict[str, Any]:
    """``data=1 GB``, ``credit=1000`` (yuan), ``voice=100`` (minutes), ``item=phone case``."""
    kind, sep, amount = text.partition("=")
    kind, amount = kind.strip().lower(), amount.strip()
    if not sep or kind not in GIFT_KINDS or not amount:
        raise InvalidInput(
            f"bad gift {text!r} (use data=1 GB, credit=1000, voice=100 or item=NAME)", value=text
        )
    if kind == "data":
        parse_data(amount)
        return {"kind": "data", "amount": amount}
    if kind == "item":
        return {"kind": "item", "amount": amount}
    if not (amount.isascii() and amount.isdigit()) or int(amount) <= 0:
        raise InvalidInput(f"bad gift {text!r}: {kind} needs a positive whole number", value=text)
    unit = "CNY" if kind == "credit" else "minutes"
    return {"kind": kind, "amount": int(amount), "unit": unit}


def parse_gifts_json(text: str) -> list[dict[str, Any]]:
    try:
        gifts = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise InvalidInput("gifts JSON does not parse", value=text) from None
    if not isinstance(gifts, list) or not all(
        isinstance(g, dict) and g.get("kind") in GIFT_KINDS and "amount" in g for g in gifts
    ):
        raise InvalidInput(
            'gifts JSON must be a list of {"kind": ..., "amount": ...} with kind '
            f"in {', '.join(GIFT_KINDS)}",
            value=text,
        )
    return gifts
