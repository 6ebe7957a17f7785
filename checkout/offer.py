"""The offer snapshot: the terms an order keeps (invariant 6), part of the event contract.

The catalog builds one per round when it arms it (:func:`catalog.build_spec`); the reserve
script copies it into every ``order.reserved`` event (``data.offer``) and reads its
``price_fen``; the writer stores it in ``orders.offer``; fulfillment reads it back to allocate,
check and ship what the shopper bought. :meth:`OfferSnapshot.to_dict` is the JSON object stored
in Redis, Kafka and PostgreSQL (the keys below, in this order); :meth:`OfferSnapshot.from_dict`
reads it back and raises :class:`SnapshotError` (a stable ``code``) for anything else.

==================  ===========================================================================
``offer_id``        the offer's id, as text
``offer_name``      what the shopper saw
``product_id``      the product's id, as text
``product_name``
``product_kind``    one of :data:`PRODUCT_KINDS`
``price_fen``       unit price (fen)
``currency``        ``CNY``
``monthly_fee_fen`` plan fee per month (fen), or null
``data_mb``         monthly data allowance, or null
``voice_minutes``   monthly voice allowance, or null
``gifts``           list of objects with at least ``kind`` (one of :data:`GIFT_KINDS`) and
                    ``amount``; ``unit`` and other short fields as the marketer typed them
``agreement_version``  the agreement the shopper accepted
``variant``         a handset's ``{sku, colour, storage}``, or null
==================  ===========================================================================

Not in it: a number pool's surcharges (a chosen number's surcharge is fixed in the order by
the reserve script, so an order's event stays small whatever the pool size).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PRODUCT_KINDS = ("sim_card", "plan", "handset")
GIFT_KINDS = ("data", "credit", "voice", "item")
LINE_GIFTS = ("data", "credit", "voice")  # credited to a phone line

#: What a gift field may hold (the catalog refuses anything else when an offer is added).
GiftValue = str | int | bool | None


class SnapshotError(ValueError):
    """A stored snapshot that is not an :class:`OfferSnapshot` (``code`` says which part)."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class Variant:
    """The handset variant an order of a handset offer ships."""

    sku: str
    colour: str = ""
    storage: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"sku": self.sku, "colour": self.colour, "storage": self.storage}


@dataclass(frozen=True, eq=False)
class Gift:
    """One gift of the offer: ``kind``, ``amount`` and the fields the marketer gave. Two gifts
    are equal when their fields are, in whatever order (JSON objects have none: the reserve
    script and PostgreSQL's jsonb hand the keys back in orders of their own)."""

    fields: tuple[tuple[str, GiftValue], ...]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Gift) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(frozenset(self.fields))

    @property
    def kind(self) -> str:
        return str(self.get("kind"))

    @property
    def amount(self) -> GiftValue:
        return self.get("amount")

    @property
    def unit(self) -> str | None:
        unit = self.get("unit")
        return None if unit is None else str(unit)

    def get(self, name: str) -> GiftValue:
        return next((v for k, v in self.fields if k == name), None)

    def to_dict(self) -> dict[str, GiftValue]:
        return dict(self.fields)


@dataclass(frozen=True)
class OfferSnapshot:
    offer_id: str
    offer_name: str
    product_id: str
    product_name: str
    product_kind: str
    price_fen: int
    currency: str
    monthly_fee_fen: int | None
    data_mb: int | None
    voice_minutes: int | None
    gifts: tuple[Gift, ...]
    agreement_version: str
    variant: Variant | None = None

    @property
    def sku(self) -> str | None:
        """The handset variant's SKU (None for a SIM card or plan)."""
        return None if self.variant is None else self.variant.sku

    def to_dict(self) -> dict[str, Any]:
        """The JSON object every order keeps: the fields above, in their order (the gifts and
        the variant as objects)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["gifts"] = [g.to_dict() for g in self.gifts]
        out["variant"] = None if self.variant is None else self.variant.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: object) -> OfferSnapshot:
        """The snapshot stored as ``data``; :class:`SnapshotError` if it is not one."""
        if not isinstance(data, Mapping):
            raise SnapshotError("snapshot.invalid", "the offer snapshot is not an object")
        kind = data.get("product_kind")
        if kind not in PRODUCT_KINDS:
            raise SnapshotError(
                "snapshot.kind", f"unknown product kind {kind!r} in the offer snapshot"
            )
        return cls(
            offer_id=_text(data, "offer_id"),
            offer_name=_text(data, "offer_name"),
            product_id=_text(data, "product_id"),
            product_name=_text(data, "product_name"),
            product_kind=str(kind),
            price_fen=_whole(data, "price_fen"),
            currency=_text(data, "currency"),
            monthly_fee_fen=_whole_or_none(data, "monthly_fee_fen"),
            data_mb=_whole_or_none(data, "data_mb"),
            voice_minutes=_whole_or_none(data, "voice_minutes"),
            gifts=_gifts(data.get("gifts")),
            agreement_version=_text(data, "agreement_version", allow_empty=True),
            variant=_variant(data.get("variant")),
        )


def _missing(name: str) -> SnapshotError:
    return SnapshotError("snapshot.invalid", f"offer snapshot field {name!r} is missing or wrong")


def _text(data: Mapping[str, Any], name: str, *, allow_empty: bool = False) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not (value or allow_empty):
        raise _missing(name)
    return value


def _whole(data: Mapping[str, Any], name: str) -> int:
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _missing(name)
    return value


def _whole_or_none(data: Mapping[str, Any], name: str) -> int | None:
    if name not in data:
        raise _missing(name)
    return None if data[name] is None else _whole(data, name)


def _gifts(gifts: object) -> tuple[Gift, ...]:
    if gifts is None:
        return ()
    if not isinstance(gifts, list | tuple):
        raise SnapshotError("snapshot.gifts", "gifts in the snapshot are not a list")
    out = []
    for i, g in enumerate(gifts):
        if (
            not isinstance(g, Mapping)
            or g.get("kind") not in GIFT_KINDS
            or "amount" not in g
            or not all(isinstance(k, str) for k in g)
            or not all(v is None or isinstance(v, str | int) for v in g.values())
        ):
            raise SnapshotError("snapshot.gifts", f"gift #{i} is not a known gift: {g!r}")
        out.append(Gift(tuple(g.items())))
    return tuple(out)


def _variant(variant: object) -> Variant | None:
    if variant is None:
        return None
    if not isinstance(variant, Mapping):
        raise SnapshotError("snapshot.variant", "the snapshot's variant is not an object")
    sku, colour, storage = (variant.get(k, "") for k in ("sku", "colour", "storage"))
    if not isinstance(sku, str) or not isinstance(colour, str) or not isinstance(storage, str):
        raise SnapshotError("snapshot.variant", "the snapshot's variant is malformed")
    return Variant(sku, colour, storage)
