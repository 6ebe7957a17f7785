"""The offer snapshot every order keeps (checkout/offer.py): the JSON object is exactly the
documented one, reads back into the same snapshot whatever the text, and anything else is a
SnapshotError with a stable code (fulfillment parks the order with it)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checkout.offer import GIFT_KINDS, PRODUCT_KINDS, Gift, OfferSnapshot, SnapshotError, Variant
from tests.support.offer import snapshot

KEYS = [
    "offer_id", "offer_name", "product_id", "product_name", "product_kind", "price_fen",
    "currency", "monthly_fee_fen", "data_mb", "voice_minutes", "gifts", "agreement_version",
    "variant",
]  # fmt: skip

# every Unicode category, lone surrogates, private use, RTL marks, emoji, long strings
ANY_TEXT = st.text(st.characters(codec=None), max_size=300) | st.sampled_from(
    ["\u202e\u200f", "\ud800", "\ue000", "👩‍👩‍👧‍👦" * 50, "x" * 5000]
)
WHOLE = st.integers(min_value=-(2**53), max_value=2**53)
GIFT_VALUE = st.none() | st.booleans() | WHOLE | ANY_TEXT


@st.composite
def snapshots(draw: st.DrawFn) -> OfferSnapshot:
    gifts = draw(
        st.lists(
            st.tuples(
                st.dictionaries(ANY_TEXT, GIFT_VALUE, max_size=4),
                st.sampled_from(GIFT_KINDS),
                GIFT_VALUE,
            ).map(lambda t: {**t[0], "kind": t[1], "amount": t[2]}),
            max_size=4,
        )
    )
    variant = draw(st.none() | st.builds(Variant, ANY_TEXT, ANY_TEXT, ANY_TEXT))
    return OfferSnapshot(
        offer_id=draw(ANY_TEXT.filter(bool)),
        offer_name=draw(ANY_TEXT.filter(bool)),
        product_id=draw(ANY_TEXT.filter(bool)),
        product_name=draw(ANY_TEXT.filter(bool)),
        product_kind=draw(st.sampled_from(PRODUCT_KINDS)),
        price_fen=draw(WHOLE),
        currency=draw(ANY_TEXT.filter(bool)),
        monthly_fee_fen=draw(st.none() | WHOLE),
        data_mb=draw(st.none() | WHOLE),
        voice_minutes=draw(st.none() | WHOLE),
        gifts=tuple(Gift(tuple(g.items())) for g in gifts),
        agreement_version=draw(ANY_TEXT),
        variant=variant,
    )


def test_the_stored_object_is_the_documented_one() -> None:
    data = snapshot(product_kind="handset", variant={"sku": "px", "colour": "black", "storage": ""})
    assert list(data) == KEYS
    snap = OfferSnapshot.from_dict(data)
    assert snap.to_dict() == data
    assert list(snap.to_dict()) == KEYS
    assert snap.sku == "px"
    assert [g.kind for g in snap.gifts] == [g["kind"] for g in data["gifts"]]


@settings(max_examples=120, deadline=None)
@given(snapshots())
def test_any_snapshot_reads_back_the_same(snap: OfferSnapshot) -> None:
    data = snap.to_dict()
    assert OfferSnapshot.from_dict(data) == snap
    # what Redis/Kafka/PostgreSQL hand back: the JSON text, parsed again (text that JSON
    # cannot carry, a lone surrogate, is refused by orjson before it is ever stored)
    try:
        text = orjson.dumps(data)
    except TypeError:
        return
    assert OfferSnapshot.from_dict(orjson.loads(text)) == snap


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"product_kind": "toaster"}, "snapshot.kind"),
        ({"product_kind": None}, "snapshot.kind"),
        ({"price_fen": "2000"}, "snapshot.invalid"),
        ({"price_fen": True}, "snapshot.invalid"),
        ({"price_fen": 19.9}, "snapshot.invalid"),
        ({"offer_name": ""}, "snapshot.invalid"),
        ({"offer_id": 7}, "snapshot.invalid"),
        ({"gifts": "1GB"}, "snapshot.gifts"),
        ({"gifts": ["1GB"]}, "snapshot.gifts"),
        ({"gifts": [{"kind": "phone", "amount": 1}]}, "snapshot.gifts"),
        ({"gifts": [{"kind": "data"}]}, "snapshot.gifts"),
        ({"gifts": [{"kind": "data", "amount": 1.5}]}, "snapshot.gifts"),
        ({"variant": "px"}, "snapshot.variant"),
        ({"variant": {"sku": 7}}, "snapshot.variant"),
    ],
)
def test_malformed_snapshots_are_refused_with_a_code(change: dict[str, Any], code: str) -> None:
    with pytest.raises(SnapshotError) as info:
        OfferSnapshot.from_dict({**snapshot(), **change})
    assert info.value.code == code


@pytest.mark.parametrize("missing", ["offer_id", "monthly_fee_fen", "agreement_version"])
def test_a_missing_field_is_refused(missing: str) -> None:
    data = snapshot()
    del data[missing]
    with pytest.raises(SnapshotError) as info:
        OfferSnapshot.from_dict(data)
    assert info.value.code == "snapshot.invalid"


@settings(max_examples=80, deadline=None)
@given(st.none() | st.booleans() | WHOLE | ANY_TEXT | st.lists(ANY_TEXT, max_size=3))
def test_not_an_object_is_refused(value: object) -> None:
    with pytest.raises(SnapshotError) as info:
        OfferSnapshot.from_dict(value)
    assert info.value.code == "snapshot.invalid"


def test_gifts_are_equal_whatever_their_key_order() -> None:
    """The reserve script and jsonb hand a gift's keys back in orders of their own."""
    a = OfferSnapshot.from_dict(snapshot(gifts=[{"kind": "data", "amount": "1GB", "unit": "MB"}]))
    b = OfferSnapshot.from_dict(snapshot(gifts=[{"unit": "MB", "amount": "1GB", "kind": "data"}]))
    assert a == b
    assert hash(a.gifts) == hash(b.gifts)
    other = snapshot(gifts=[{"kind": "data", "amount": "2GB", "unit": "MB"}])
    assert OfferSnapshot.from_dict(other) != a
    assert a.gifts[0].unit == "MB"
    assert a.gifts[0].amount == "1GB"
