from __future__ import annotations

import random
from datetime import date

import pytest

from checkout import idnumber
from checkout.idnumber import IdNumberError, check_char, generate, mask, validate

# The worked example of GB 11643-1999 (a documentation number, not a person).
KNOWN = "11010519491231002X"


def test_known_checksum() -> None:
    assert check_char(KNOWN[:17]) == "X"
    assert validate(KNOWN) == KNOWN


def test_generated_numbers_are_valid() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        number = generate(rng)
        assert validate(number) == number
        assert 1955 <= idnumber.birth_date(number).year <= 2006
        assert idnumber.region_of(number) is not None


def test_generate_respects_year_range_and_rejects_bad_range() -> None:
    rng = random.Random(1)
    years = {idnumber.birth_date(generate(rng, (1990, 1991))).year for _ in range(200)}
    assert years == {1990, 1991}
    with pytest.raises(ValueError, match="birth_year_range"):
        generate(rng, (2000, 1990))


def test_every_single_character_change_is_refused() -> None:
    rng = random.Random(11)
    alphabet = "0123456789X"
    for number in [KNOWN, *(generate(rng) for _ in range(30))]:
        for i in range(18):
            for ch in alphabet:
                if ch == number[i]:
                    continue
                changed = number[:i] + ch + number[i + 1 :]
                with pytest.raises(IdNumberError):
                    validate(changed)


def test_lowercase_x_and_whitespace_are_normalised() -> None:
    assert validate(" " + KNOWN.lower() + "\n") == KNOWN


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "length"),
        (KNOWN[:17], "length"),
        (KNOWN + "1", "length"),
        ("11010519491231002Y", "characters"),
        ("1101051949123100\uff12X", "characters"),  # full-width digit
        ("X1010519491231002X", "characters"),
        ("99010519491231002X", "region"),
        ("110105194902300021", "birth_date"),  # 30 February
        ("110105194913310021", "birth_date"),  # month 13
        ("110105189901010021", "birth_date"),  # before 1900
        ("110105194912310021", "checksum"),
    ],
)
def test_refusals_have_reasons(raw: str, reason: str) -> None:
    with pytest.raises(IdNumberError) as caught:
        validate(raw)
    assert caught.value.reason == reason
    assert caught.value.code == "invalid_request"
    assert caught.value.field == "id_number"
    assert isinstance(caught.value, ValueError)


def test_future_birth_date_refused() -> None:
    body = "11010520300101001"
    with pytest.raises(IdNumberError) as caught:
        validate(body + check_char(body), today=date(2026, 1, 1))
    assert caught.value.reason == "birth_date"


def test_non_string_refused() -> None:
    with pytest.raises(IdNumberError):
        validate(11010519491231002)  # type: ignore[arg-type]


def test_mask() -> None:
    assert mask(KNOWN) == "110105********002X"
    assert mask("12345") == "*****"
    assert idnumber.is_valid(KNOWN)
    assert not idnumber.is_valid(KNOWN[:-1] + "1")


@pytest.mark.parametrize("offset", [0xFF10 - 0x30, 0x0660 - 0x30, 0x0966 - 0x30])
def test_non_ascii_digits_refused(offset: int) -> None:
    """Full-width, Arabic-Indic and Devanagari digits pass str.isdigit() and re's \\d; an ID
    number is ASCII 0-9 (and X) only, whatever int() would make of the others."""
    wide = "".join(chr(ord(c) + offset) if c.isdigit() else c for c in KNOWN)
    assert wide.isdigit() or wide[:-1].isdigit()
    with pytest.raises(IdNumberError) as caught:
        validate(wide)
    assert caught.value.reason == "characters"


def test_huge_input_refused_before_any_work() -> None:
    with pytest.raises(IdNumberError) as caught:
        validate(" " * 10_000 + KNOWN)
    assert caught.value.reason == "length"
