"""The one builder of offer snapshots for tests: the JSON object ``catalog.build_spec`` stores
(:class:`checkout.offer.OfferSnapshot`), a 20-yuan SIM card unless told otherwise."""

from __future__ import annotations

from typing import Any

from checkout.offer import Gift, OfferSnapshot, Variant

DEFAULT_GIFTS: list[dict[str, Any]] = [
    {"kind": "data", "amount": "1GB"},
    {"kind": "credit", "amount": 1000, "unit": "CNY"},
]


def offer(
    product_kind: str = "sim_card",
    *,
    gifts: list[dict[str, Any]] | None = None,
    sku: str | None = None,
    **terms: Any,
) -> OfferSnapshot:
    """A typed snapshot; ``sku`` makes it a handset variant's (black, 128GB)."""
    fields: dict[str, Any] = {
        "offer_id": "1",
        "offer_name": "20-yuan 3G card",
        "product_id": "1",
        "product_name": "3G SIM",
        "product_kind": product_kind,
        "price_fen": 2000,
        "currency": "CNY",
        "monthly_fee_fen": 0,
        "data_mb": 1024,
        "voice_minutes": 100,
        "agreement_version": "2026-01",
        **terms,
    }
    return OfferSnapshot(
        **fields,
        gifts=tuple(Gift(tuple(g.items())) for g in (DEFAULT_GIFTS if gifts is None else gifts)),
        variant=None if sku is None else Variant(sku, "black", "128GB"),
    )


def snapshot(**changes: Any) -> dict[str, Any]:
    """The stored JSON object of the default snapshot with ``changes`` (any value: tests of
    malformed snapshots change it into what no catalog would build)."""
    return {**offer().to_dict(), **changes}


def sim_offer(gifts: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return offer(gifts=gifts).to_dict()


def handset_offer(sku: str, gifts: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return offer(
        "handset",
        gifts=gifts or [],
        sku=sku,
        product_name="Phone X",
        price_fen=99_900,
        data_mb=None,
        voice_minutes=None,
    ).to_dict()
