"""flashsale.front.body: a body decoded into its Struct; msgspec's refusals become the API's
own (400 invalid_request naming the field, with the field's message)."""

from __future__ import annotations

from typing import Any

import msgspec
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checkout.purchase import MESSAGES, BuyRequest
from flashsale.front.body import decode
from flashsale.front.errors import ApiError
from flashsale.front.schemas import OtpVerify, PayRequest
from tests.support.api import body
from tests.support.edge import json_bytes, texts


def refusal(raw: bytes, kind: type[Any] = BuyRequest) -> tuple[str, str, str | None]:
    with pytest.raises(ApiError) as caught:
        decode(raw, kind)
    return caught.value.code, caught.value.message, caught.value.field


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"quantity": 0}, "quantity"),
        ({"quantity": True}, "quantity"),
        ({"quantity": 1.0}, "quantity"),
        ({"quantity": 2**63}, "quantity"),
        ({"real_name": None}, "real_name"),
        ({"id_number": 5}, "id_number"),
        ({"address": ["x"]}, "address"),
        ({"agreement_version": {}}, "agreement_version"),
        ({"number": 13800000000}, "number"),
        ({"channel": 1}, "channel"),
    ],
)
def test_a_field_of_the_wrong_type_is_refused_by_name_with_its_message(
    change: dict[str, Any], field: str
) -> None:
    raw = orjson.dumps(body(**change))
    assert refusal(raw) == ("invalid_request", MESSAGES[field], field)


def test_a_missing_field_unknown_fields_and_not_an_object() -> None:
    data = body()
    del data["address"]
    assert refusal(orjson.dumps(data)) == ("invalid_request", MESSAGES["address"], "address")
    # Unknown fields first, the smallest name first (whatever else is wrong).
    unknown = orjson.dumps({**body(quantity=0), "zz": 1, "aa": 2})
    assert refusal(unknown) == ("invalid_request", "unknown field 'aa'", "aa")
    for raw in (b"[]", b'"x"', b"5", b"null"):
        assert refusal(raw) == ("invalid_request", "body must be a JSON object", None)
    # Bad JSON later in the body is said before the unknown field msgspec met first.
    assert refusal(b'{"zz": 1, ') == ("invalid_request", "body is not valid JSON", None)
    assert refusal(b'{"phone": "13800138000"}', OtpVerify)[2] == "code"


def test_the_pay_body_stays_lenient() -> None:
    assert decode(b'{"instant": "yes", "other": 1}', PayRequest).instant == "yes"
    assert decode(b'{"instant": true}', PayRequest).instant is True


@settings(max_examples=150, deadline=None)
@given(
    data=st.dictionaries(
        st.one_of(st.sampled_from(sorted(MESSAGES)), texts(12)),
        st.one_of(st.none(), st.booleans(), st.integers(), texts(30), st.lists(st.integers())),
        max_size=9,
    ),
    ascii_only=st.booleans(),
)
def test_any_object_is_a_request_or_a_400_naming_a_field_it_has(
    data: dict[str, Any], ascii_only: bool
) -> None:
    raw = json_bytes(data, ascii_only=ascii_only)
    error = outcome(raw)
    if error is None:
        return
    assert (error.code, error.status) == ("invalid_request", 400)
    assert error.message
    if error.field is not None:  # then the body was an object: the field is one it has
        sent = msgspec.json.decode(raw)  # (escaped surrogate pairs are one character again)
        assert error.field in sent or error.field in MESSAGES
        orjson.dumps({"field": error.field, "message": error.message})  # the answer encodes


def outcome(raw: bytes) -> ApiError | None:
    try:
        decode(raw, BuyRequest)
    except ApiError as exc:
        return exc
    return None
