"""The buy path's cheaper checks give the answers of their plain definitions: the ID number's
MOD 11-2 check character (computed over byte values) and the verified token's claims (a frozen
msgspec Struct)."""

from __future__ import annotations

import random

import msgspec
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from checkout import idnumber
from flashsale.front import tokens
from tests.support.edge import texts

SECRET = "fast-path-secret"


def _reference(first17: str) -> str:
    """GB 11643's definition, digit by digit."""
    weights = [pow(2, 17 - i, 11) for i in range(17)]  # 2^(18-i-1) mod 11: 7, 9, 10, 5, ...
    return "10X98765432"[sum(int(c) * w for c, w in zip(first17, weights, strict=True)) % 11]


@hsettings(max_examples=100, deadline=None)
@given(st.text("0123456789", min_size=17, max_size=17))
def test_check_char_is_the_standard_one(first17: str) -> None:
    assert idnumber.check_char(first17) == _reference(first17)


@hsettings(max_examples=100, deadline=None)
@given(texts())
def test_check_char_refuses_anything_but_17_ascii_digits(value: str) -> None:
    if len(value) == 17 and all(c in "0123456789" for c in value):
        assert idnumber.check_char(value) == _reference(value)
    else:
        with pytest.raises(ValueError, match="17 ASCII digits"):
            idnumber.check_char(value)


def test_check_char_refuses_other_scripts_digits() -> None:
    # int() takes Arabic-Indic and full-width digits: the check character must not
    body = idnumber.generate(random.Random(7))[:17]
    for other in ("\u0661", "\uff11", "\u00b9"):
        with pytest.raises(ValueError, match="17 ASCII digits"):
            idnumber.check_char(body[:-1] + other)


@hsettings(max_examples=100, deadline=None)
@given(st.integers(0, 2**32))
def test_generated_numbers_validate(seed: int) -> None:
    number = idnumber.generate(random.Random(seed))
    assert idnumber.validate(number) == number
    assert number[17] == _reference(number[:17])


@hsettings(max_examples=60, deadline=None)
@given(st.text(min_size=1, max_size=80), st.one_of(st.none(), st.text(min_size=1, max_size=40)))
def test_verified_claims_are_the_issued_ones(buyer: str, round_id: str | None) -> None:
    token = tokens.issue(SECRET, buyer, 600, round_id=round_id, now=1_800_000_000)
    claims = tokens.verify(SECRET, token, now=1_800_000_100, round_id=round_id)
    assert claims == tokens.Claims(buyer, 1_800_000_000, 1_800_000_600, "buyer", round_id)
    with pytest.raises(AttributeError):
        claims.sub = "someone else"  # type: ignore[misc]
    assert msgspec.structs.asdict(claims)["sub"] == buyer
