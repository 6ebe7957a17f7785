"""The typed buy request (checkout.purchase.BuyRequest): msgspec decoding plus the rules it
cannot express, over arbitrary Unicode (every category, lone surrogates as escapes and as raw
bytes, RTL marks, emoji, very long strings)."""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from checkout.purchase import MAX_QUANTITY, MESSAGES, BuyRequest, InvalidPurchase
from flashsale.core import text
from tests.support.api import body
from tests.support.edge import json_bytes, nfc, storable, texts

RULES = {
    "real_name": text.REAL_NAME,
    "address": text.ADDRESS,
    "agreement_version": text.AGREEMENT_VERSION,
}
DECODER = msgspec.json.Decoder(BuyRequest)


def outcome(raw: bytes) -> BuyRequest | str:
    """The checked request, or where it was refused: "json", "type:<reason>" or the field."""
    try:
        return DECODER.decode(raw).checked()
    except msgspec.DecodeError:
        return "json"
    except msgspec.ValidationError as exc:
        return f"type:{exc}"
    except InvalidPurchase as exc:
        return exc.field if exc.code == "invalid_request" and exc.message else "bad refusal"


@settings(max_examples=150, deadline=None)
@given(field=st.sampled_from(sorted(RULES)), value=texts(), ascii_only=st.booleans())
def test_free_text_is_checked_after_decoding_exactly_like_the_text_rule(
    field: str, value: str, ascii_only: bool
) -> None:
    rule = RULES[field]
    got = outcome(json_bytes(body(**{field: value}), ascii_only=ascii_only))
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in value):
        assert got == "json"  # msgspec refuses lone surrogates, escaped or as raw bytes
    elif storable(value, rule.min_chars, rule.max_chars, rule.max_bytes):
        assert isinstance(got, BuyRequest), got
        assert getattr(got, field) == nfc(value) == rule.clean(value)
    else:
        assert got == field


@settings(max_examples=100, deadline=None)
@given(
    field=st.sampled_from(sorted(MESSAGES)),
    value=st.one_of(
        st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False),
        st.lists(st.integers(), max_size=3),
        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
        texts(20),
    ),
)  # fmt: skip
def test_any_value_in_any_field_is_a_typed_request_or_a_refusal_naming_it(
    field: str, value: Any
) -> None:
    raw = json_bytes(body(**{field: value}), ascii_only=True)
    got = outcome(raw)
    if isinstance(got, BuyRequest):
        if field == "quantity":
            assert type(value) is int
            assert 1 <= value <= MAX_QUANTITY
        return
    assert got in ("json", field) or (got.startswith("type:") and f"$.{field}" in got), got


def test_the_schema_is_generated_from_the_type() -> None:
    schema = msgspec.json.schema(BuyRequest)["$defs"]["BuyRequest"]
    props = schema["properties"]
    assert set(schema["required"]) == {"real_name", "id_number", "address", "agreement_version"}
    assert schema["additionalProperties"] is False
    assert props["quantity"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": MAX_QUANTITY,
        "default": 1,
    }
    assert props["real_name"]["maxLength"] == text.REAL_NAME.max_chars
    assert props["address"]["minLength"] == text.ADDRESS.min_chars
    assert props["channel"]["enum"] == ["web", "mobile", "sms"]
